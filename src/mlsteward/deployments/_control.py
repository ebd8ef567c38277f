"""What a deployment's processes report, read on the machine that runs them: the live
statistics of its server (``GET /deployment`` on loopback), the supervisor's state (restarts,
pids) and the server's log."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from ..errors import InvalidArgument
from ..security import Role, fetch_project, require_project_role
from ._process import read_control_key
from ._service import get_deployment
from ._supervisor import DeploymentFolder

if TYPE_CHECKING:
    from ..platform import Platform
    from ..security import Actor
    from ._model import Deployment

STATS_TIMEOUT_SECONDS = 2.0
MAX_LOG_LINES = 10_000
# A server listening on every address is read on loopback.
_ANY_ADDRESS = {"0.0.0.0": "127.0.0.1", "::": "::1", "": "127.0.0.1"}  # noqa: S104


def stats_url(deployment: Deployment) -> str:
    """Where the deployment's server answers ``GET /deployment`` from this machine."""
    host = _ANY_ADDRESS.get(deployment.host, deployment.host)
    shown = f"[{host}]" if ":" in host else host
    return f"http://{shown}:{deployment.port}/deployment"


def read_server_stats(
    platform: Platform, deployment: Deployment, *, timeout: float = STATS_TIMEOUT_SECONDS
) -> dict[str, Any]:
    """The server's ``GET /deployment`` with ``"running": true``, or ``{"running": false}``
    (and ``"error"``) when it does not answer in ``timeout`` seconds; ``"process"``: the
    supervisor's state (no permission check: the caller did it)."""
    import httpx

    folder = DeploymentFolder.of(platform.settings.home, deployment.project, deployment.name)
    headers = {}
    key = read_control_key(folder)
    if key is not None:
        headers["X-API-Key"] = key
    result: dict[str, Any]
    try:
        response = httpx.get(stats_url(deployment), headers=headers, timeout=timeout)
        if response.status_code != 200:
            result = {"running": False, "error": f"the server answered {response.status_code}"}
        else:
            result = {"running": True, **response.json()}
    except (httpx.HTTPError, ValueError) as exc:
        result = {"running": False, "error": str(exc) or type(exc).__name__}
    result["process"] = folder.read_state()
    return result


def deployment_stats(platform: Platform, actor: Actor, project: str, name: str) -> dict[str, Any]:
    """The live statistics of the deployment's server and its supervisor's state (viewers);
    ``{"running": false, ...}`` when the server does not answer."""
    return read_server_stats(platform, get_deployment(platform, actor, project, name))


def deployment_log(
    platform: Platform, actor: Actor, project: str, name: str, *, lines: int = 100
) -> list[str]:
    """The last ``lines`` (1..10,000) lines of the server's log (maintainers: a log may name
    callers and inputs)."""
    if isinstance(lines, bool) or not isinstance(lines, int) or not 1 <= lines <= MAX_LOG_LINES:
        raise InvalidArgument(
            f"lines must be 1..{MAX_LOG_LINES}, not {lines!r}", details={"field": "lines"}
        )
    deployment = get_deployment(platform, actor, project, name)
    with platform.db.read() as conn:
        project_row = fetch_project(conn, project)
        require_project_role(conn, actor, project_row.id, Role.MAINTAINER)
    folder = DeploymentFolder.of(platform.settings.home, deployment.project, deployment.name)
    return folder.log_tail(lines)


def wait_for_revision(
    read_stats: Callable[[], dict[str, Any]], revision: int, *, timeout: float
) -> bool:
    """Poll ``read_stats`` until the server reports ``revision`` or a later one; False when it
    did not within ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        stats = read_stats()
        served = stats.get("revision")
        if stats.get("running") and isinstance(served, int) and served >= revision:
            return True
        if time.monotonic() >= deadline:
            return False
        time.sleep(0.1)
