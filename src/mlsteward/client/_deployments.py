"""The deployments part of ``Client``: create, read, roll out, promote, roll back, stop and
start deployments, their history, live statistics and server log.

In-process it calls the deployment services and starts or stops the supervisor on this
machine; against a server it calls the deployments API (the server's machine runs them).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from ..deployments import Deployment, DeploymentEvent
    from ..platform import Platform
    from ..security import Actor
    from ..serving._routing import AutoRollbackRule
    from ._backend import Backend
    from ._remote import RemoteBackend


def _path(project: str, name: str | None = None, *parts: str) -> str:
    from ._client import _text
    from ._remote import _segment

    base = f"api/v1/projects/{_segment(_text('project', project))}/deployments"
    if name is None:
        return base
    return "/".join([base, _segment(_text("deployment name", name)), *parts])


def _deployment(data: Any) -> Deployment:
    from ..deployments import Deployment

    return Deployment.from_json(data)


def _event(data: Any) -> DeploymentEvent:
    from ..deployments import DeploymentEvent

    return DeploymentEvent.from_json(data)


class DeploymentMethods:
    """Mixed into ``Client``; every method works in-process and against a server."""

    _backend: Backend

    def _remote_deployments(self) -> RemoteBackend | None:
        from ._remote import RemoteBackend

        return self._backend if isinstance(self._backend, RemoteBackend) else None

    def _local_platform(self) -> tuple[Platform, Actor]:
        from ._local import LocalBackend

        assert isinstance(self._backend, LocalBackend)
        return self._backend._platform, self._backend._actor

    def create_deployment(
        self,
        name: str,
        model_uri: str,
        *,
        project: str = "default",
        host: str = "127.0.0.1",
        port: int | None = None,
        sticky_header: str | None = None,
        auto_rollback: AutoRollbackRule | None = None,
        api_key_file: str | None = None,
        platform_tokens: bool = False,
        prediction_log: bool = True,
        log_sample_rate: float = 0.01,
        log_window: float = 60.0,
        input_ranges: str = "reject",
        range_tolerance: float = 0.1,
    ) -> Deployment:
        """Deploy the version ``model_uri`` names (``models:/fraud@production``) as ``name``
        and start its supervised server (``port`` None: a free one). The server may still be
        loading when this returns: ``wait_for_deployment`` waits for it.

        ``prediction_log``: log predictions to the platform (windows of ``log_window``
        seconds, a ``log_sample_rate`` share of the rows, feedback labels); ``input_ranges``
        ``"reject"`` or ``"off"``: refuse inputs outside the training data's ranges widened by
        ``range_tolerance`` times their span."""
        remote = self._remote_deployments()
        if remote is not None:
            body: dict[str, Any] = {
                "name": name,
                "model": model_uri,
                "host": host,
                "port": port,
                "sticky_header": sticky_header,
                "auto_rollback": None if auto_rollback is None else auto_rollback.to_json(),
                "api_key_file": api_key_file,
                "platform_tokens": platform_tokens,
                "prediction_log": prediction_log,
                "log_sample_rate": log_sample_rate,
                "log_window": log_window,
                "input_ranges": input_ranges,
                "range_tolerance": range_tolerance,
            }
            return remote._one(_deployment, "POST", _path(project), json=body)
        from ..deployments import create_deployment
        from ..deployments._supervisor import start_supervisor

        platform, actor = self._local_platform()
        created = create_deployment(
            platform,
            actor,
            project,
            name,
            model_uri,
            host=host,
            port=port,
            sticky_header=sticky_header,
            auto_rollback=auto_rollback,
            api_key_file=api_key_file,
            platform_tokens=platform_tokens,
            prediction_log=prediction_log,
            log_sample_rate=log_sample_rate,
            log_window=log_window,
            input_ranges=input_ranges,
            range_tolerance=range_tolerance,
        )
        start_supervisor(platform.settings, created.project, created.name)
        return created

    def get_deployment(self, name: str, *, project: str = "default") -> Deployment:
        """The deployment: plan (versions and weights), status, address."""
        remote = self._remote_deployments()
        if remote is not None:
            return remote._one(_deployment, "GET", _path(project, name))
        from ..deployments import get_deployment

        return get_deployment(*self._local_platform(), project, name)

    def list_deployments(self, project: str = "default") -> list[Deployment]:
        """The project's deployments, by name."""
        remote = self._remote_deployments()
        if remote is not None:
            return remote._many(_deployment, "deployments", _path(project))
        from ..deployments import list_deployments

        return list_deployments(*self._local_platform(), project)

    def deployment_history(
        self, name: str, *, project: str = "default", limit: int = 100
    ) -> list[DeploymentEvent]:
        """The newest ``limit`` events of the deployment, oldest first."""
        remote = self._remote_deployments()
        if remote is not None:
            path = _path(project, name, "events")
            return remote._many(_event, "events", path, params={"limit": limit})
        from ..deployments import deployment_history

        return deployment_history(*self._local_platform(), project, name, limit=limit)

    def rollout_deployment(
        self,
        name: str,
        version: int,
        *,
        canary: int | None = None,
        shadow: bool = False,
        project: str = "default",
    ) -> Deployment:
        """Send ``canary`` percent of the traffic to ``version``, or mirror it (``shadow``)."""
        remote = self._remote_deployments()
        if remote is not None:
            body = {"version": version, "canary": canary, "shadow": shadow}
            return remote._one(_deployment, "POST", _path(project, name, "rollout"), json=body)
        from ..deployments import rollout

        platform, actor = self._local_platform()
        return rollout(platform, actor, project, name, version, canary=canary, shadow=shadow)

    def set_canary_weight(self, name: str, weight: int, *, project: str = "default") -> Deployment:
        """Give the running canary ``weight`` percent (1..99) of the traffic."""
        remote = self._remote_deployments()
        if remote is not None:
            path = _path(project, name, "weight")
            return remote._one(_deployment, "POST", path, json={"weight": weight})
        from ..deployments import set_canary_weight

        return set_canary_weight(*self._local_platform(), project, name, weight)

    def promote_deployment(self, name: str, *, project: str = "default") -> Deployment:
        """Make the canary the stable version at 100 %."""
        remote = self._remote_deployments()
        if remote is not None:
            return remote._one(_deployment, "POST", _path(project, name, "promote"))
        from ..deployments import promote

        return promote(*self._local_platform(), project, name)

    def rollback_deployment(self, name: str, *, project: str = "default") -> Deployment:
        """Send every request to the stable version (canary and shadow dropped)."""
        remote = self._remote_deployments()
        if remote is not None:
            return remote._one(_deployment, "POST", _path(project, name, "rollback"))
        from ..deployments import rollback

        return rollback(*self._local_platform(), project, name)

    def stop_deployment(self, name: str, *, project: str = "default") -> Deployment:
        """Stop the deployment's server gracefully (in-flight requests finish) and its
        supervisor; returns when they have exited."""
        remote = self._remote_deployments()
        if remote is not None:
            return remote._one(_deployment, "POST", _path(project, name, "stop"))
        from ..deployments import stop_deployment
        from ..deployments._supervisor import stop_supervisor

        platform, actor = self._local_platform()
        stopped = stop_deployment(platform, actor, project, name)
        stop_supervisor(platform.settings, stopped.project, stopped.name)
        return stopped

    def start_deployment(self, name: str, *, project: str = "default") -> Deployment:
        """Start a stopped or failed deployment's supervised server again."""
        remote = self._remote_deployments()
        if remote is not None:
            return remote._one(_deployment, "POST", _path(project, name, "start"))
        from ..deployments import start_deployment
        from ..deployments._supervisor import start_supervisor

        platform, actor = self._local_platform()
        started = start_deployment(platform, actor, project, name)
        start_supervisor(platform.settings, started.project, started.name)
        return started

    def deployment_stats(self, name: str, *, project: str = "default") -> dict[str, Any]:
        """The server's live statistics (``GET /deployment``: revision, per-version requests,
        errors, latency, shadow and automatic rollbacks) with ``"running": true``, or
        ``{"running": false}``; ``"process"``: the supervisor's state and restarts."""
        remote = self._remote_deployments()
        if remote is not None:
            answer: dict[str, Any] = remote._get_json("GET", _path(project, name, "stats"))
            return answer
        from ..deployments import deployment_stats

        return deployment_stats(*self._local_platform(), project, name)

    def deployment_log(self, name: str, *, lines: int = 100, project: str = "default") -> list[str]:
        """The last ``lines`` lines of the deployment server's log."""
        remote = self._remote_deployments()
        if remote is not None:
            path = _path(project, name, "logs")
            answer = remote._get_json("GET", path, params={"lines": lines})
            return [str(line) for line in answer["lines"]]
        from ..deployments import deployment_log

        return deployment_log(*self._local_platform(), project, name, lines=lines)

    def wait_for_deployment(
        self, name: str, revision: int, *, project: str = "default", timeout: float = 10.0
    ) -> bool:
        """Wait until the deployment's server serves plan ``revision`` (or a later one): True,
        or False after ``timeout`` seconds."""
        from ..deployments._control import wait_for_revision

        return wait_for_revision(
            lambda: self.deployment_stats(name, project=project), revision, timeout=timeout
        )
