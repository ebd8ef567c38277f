"""The server process of one deployment (started by its supervisor): loads every version of
the stored plan through the platform, serves it with the serving runtime, polls the stored plan
by revision and records automatic rollbacks.

Rules it follows: it acts as the ``system`` actor (an automatic rollback is the platform's own
decision; the audit event names the deployment); a non-loopback address is served only with
authentication (``check_protection``: platform tokens with the ``predict`` scope and/or the API
key file); when any authentication is on, a per-process control key (``control.key`` in the
deployment's folder, readable by its owner only) is accepted too, so the platform on the same
machine can read ``GET /deployment``. With the deployment's ``prediction_log`` on, it ships
prediction windows to the platform as the ``system`` actor too (``_server_options``), and with
``input_ranges`` ``reject`` each version checks its inputs against its training data's ranges.

Run as ``python -m mlsteward.deployments._process PROJECT NAME``. Exit codes: 0 after a
shutdown, ``EXIT_CONFIGURATION`` when it cannot serve until something changes.
"""

from __future__ import annotations

import ctypes
import dataclasses
import hashlib
import logging
import os
import secrets
import signal
import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING, TextIO

from ._model import InputRangesMode
from ._supervisor import EXIT_CONFIGURATION, DeploymentFolder

if TYPE_CHECKING:
    from ..platform import Platform
    from ..serving import ServedModel
    from ..serving._run import Protection
    from ._model import Deployment

log = logging.getLogger("mlsteward.deployments")

_PR_SET_PDEATHSIG = 1


def _die_with_parent() -> None:
    """Ask Linux to SIGTERM this process when its supervisor dies (even by SIGKILL), so a
    server never outlives the process that would restart or stop it."""
    if not sys.platform.startswith("linux"):
        return
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(_PR_SET_PDEATHSIG, signal.SIGTERM, 0, 0, 0)
    except (OSError, AttributeError):
        log.warning("cannot ask to be stopped with the supervisor (prctl)")


def write_control_key(folder: DeploymentFolder) -> bytes:
    """A new random control key in ``control.key`` (mode 0600); its SHA-256 digest."""
    key = secrets.token_urlsafe(32)
    path = folder.root / "control.key"
    temporary = path.with_suffix(".tmp")
    descriptor = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(descriptor, "w") as handle:
        handle.write(key)
    os.replace(temporary, path)
    return hashlib.sha256(key.encode()).digest()


def read_control_key(folder: DeploymentFolder) -> str | None:
    """The control key of the running server, if it has one."""
    try:
        return (folder.root / "control.key").read_text().strip() or None
    except OSError:
        return None


def _protection(deployment: Deployment, folder: DeploymentFolder) -> Protection:
    from ..serving._platform_tokens import PlatformTokens
    from ..serving._run import check_protection

    tokens = PlatformTokens(deployment.project) if deployment.platform_tokens else None
    key_file = Path(deployment.api_key_file) if deployment.api_key_file else None
    protection = check_protection(
        host=deployment.host,
        api_key_file=key_file,
        tls_certfile=None,
        tls_keyfile=None,
        rate_limit=None,
        burst=None,
        redis_url=None,
        platform_tokens=tokens,
    )
    if protection.api_keys is None and protection.platform_tokens is None:
        (folder.root / "control.key").unlink(missing_ok=True)
        return protection
    digests = {write_control_key(folder), *(protection.api_keys or ())}
    return dataclasses.replace(protection, api_keys=frozenset(digests))


def serve_deployment(platform: Platform, project: str, name: str) -> int:
    """Serve the deployment until SIGTERM; the process exit code."""
    from ..client import Client
    from ..errors import StewardError
    from ..security import SYSTEM
    from ..serving import ServedModel
    from ..serving._deployment import DeploymentRuntime
    from ..serving._routing import RoutingPlan
    from ..serving._run import run_deployment_server
    from ._lifecycle import stored_plan
    from ._rollouts import record_auto_rollback
    from ._server_options import (
        check_masked,
        masked_columns,
        prediction_log_options,
        with_input_ranges,
    )
    from ._service import get_deployment

    folder = DeploymentFolder.of(platform.settings.home, project, name)
    try:
        deployment = get_deployment(platform, SYSTEM, project, name)
        protection = _protection(deployment, folder)
        masked = masked_columns(platform, deployment) if deployment.prediction_log else {}
        log_options = (
            prediction_log_options(platform, deployment, masked)
            if deployment.prediction_log
            else None
        )
    except StewardError as exc:
        log.error("cannot serve deployment %s/%s: %s", project, name, exc.message)
        return EXIT_CONFIGURATION
    client = Client(platform.settings)
    model = deployment.model

    def load(version: str) -> ServedModel:
        if log_options is not None:  # before loading: a version it cannot log is refused
            check_masked(platform, deployment, version, masked)
        started = time.perf_counter()
        loaded = client.load_model(f"models:/{model}/{version}", project=project)
        served = with_input_ranges(
            ServedModel(model, version, loaded, loaded.metadata.flavor), deployment
        )
        log.info("loaded %s version %s", model, version)
        return dataclasses.replace(served, load_seconds=time.perf_counter() - started)

    def on_auto_rollback(plan: RoutingPlan, reason: str) -> None:
        recorded = record_auto_rollback(platform, SYSTEM, project, name, plan, reason)
        log.warning(
            "automatic rollback to revision %d %s: %s",
            plan.revision,
            "recorded" if recorded else "not recorded (the plan changed meanwhile)",
            reason,
        )

    runtime = DeploymentRuntime(deployment.plan, load, on_auto_rollback=on_auto_rollback)

    def plan_source() -> RoutingPlan | None:
        return stored_plan(platform, deployment.id, runtime.plan.revision)[1]

    log.info(
        "deployment %s/%s: serving %s revision %d at %s",
        project,
        name,
        model,
        deployment.revision,
        deployment.url,
    )
    if deployment.input_ranges is InputRangesMode.REJECT:
        log.info(
            "inputs are checked against the training data's value ranges of each version that "
            "carries them (tolerance %g)",
            deployment.range_tolerance,
        )
    if log_options is not None:
        log.info(
            "predictions are logged to the platform: windows of %g s, %g of the rows sampled, "
            "%d PII columns masked",
            deployment.log_window,
            deployment.log_sample_rate,
            len(masked),
        )
    run_deployment_server(
        runtime,
        host=deployment.host,
        port=deployment.port,
        protection=protection,
        plan_source=plan_source,
        prediction_log=log_options,
    )
    client.close()
    return 0


def main(argv: list[str], stderr: TextIO = sys.stderr) -> int:
    from ..platform import Platform
    from ..settings import load_settings

    _die_with_parent()
    logging.basicConfig(
        level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s", stream=stderr
    )
    if len(argv) != 2:
        print("usage: python -m mlsteward.deployments._process PROJECT NAME", file=stderr)
        return 2
    # The server predicts in parallel itself; a model's own OpenMP pool would fight it for the
    # cores (see ``mlsteward serve``). Set before the model's libraries load; yours wins.
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    platform = Platform.open(load_settings())
    try:
        return serve_deployment(platform, *argv)
    finally:
        platform.close()


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
