"""Deployments: create, read, roll out, promote, roll back, stop and start; their history,
live statistics and server log. The supervisors run on the machine of the server that handled
the request (``MLSTEWARD_HOME/deployments``)."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends
from fastapi.responses import JSONResponse

from ...deployments import (
    create_deployment,
    deployment_history,
    deployment_log,
    deployment_stats,
    get_deployment,
    list_deployments,
    promote,
    rollback,
    rollout,
    set_canary_weight,
    start_deployment,
    stop_deployment,
)
from ...deployments._model import (
    DEFAULT_LOG_SAMPLE_RATE,
    DEFAULT_LOG_WINDOW_SECONDS,
    DEFAULT_RANGE_TOLERANCE,
    InputRangesMode,
)
from ...deployments._supervisor import start_supervisor, stop_supervisor
from ...security import Actor
from .._auth import Requires
from ._dependencies import GUARDS, PlatformDep, ProjectViewer, RequestBody, listing

router = APIRouter(tags=["deployments"], dependencies=GUARDS)

ProjectMaintainer = Annotated[Actor, Depends(Requires("project:maintainer"))]

_BASE = "/projects/{project}/deployments"


class AutoRollbackBody(RequestBody):
    max_error_rate: float = 0.05
    max_p99_ms: float | None = None
    min_requests: int = 50
    window_seconds: float = 60.0


class DeploymentCreate(RequestBody):
    name: str
    model: str
    host: str = "127.0.0.1"
    port: int | None = None
    sticky_header: str | None = None
    auto_rollback: AutoRollbackBody | None = None
    api_key_file: str | None = None
    platform_tokens: bool = False
    prediction_log: bool = True
    log_sample_rate: float = DEFAULT_LOG_SAMPLE_RATE
    log_window: float = DEFAULT_LOG_WINDOW_SECONDS
    input_ranges: str = InputRangesMode.REJECT.value
    range_tolerance: float = DEFAULT_RANGE_TOLERANCE


class RolloutBody(RequestBody):
    version: int
    canary: int | None = None
    shadow: bool = False


class WeightBody(RequestBody):
    weight: int


@router.get(_BASE, summary="A project's deployments, by name")
def deployments_list(project: str, platform: PlatformDep, actor: ProjectViewer) -> JSONResponse:
    return listing("deployments", list_deployments(platform, actor, project))


@router.post(
    _BASE, status_code=201, summary="Deploy a model version and start its supervised server"
)
def deployments_create(
    project: str, body: DeploymentCreate, platform: PlatformDep, actor: ProjectMaintainer
) -> dict[str, Any]:
    from ...serving._routing import AutoRollbackRule

    rule = None
    if body.auto_rollback is not None:
        rule = AutoRollbackRule(**body.auto_rollback.model_dump())
    created = create_deployment(
        platform,
        actor,
        project,
        body.name,
        body.model,
        host=body.host,
        port=body.port,
        sticky_header=body.sticky_header,
        auto_rollback=rule,
        api_key_file=body.api_key_file,
        platform_tokens=body.platform_tokens,
        prediction_log=body.prediction_log,
        log_sample_rate=body.log_sample_rate,
        log_window=body.log_window,
        input_ranges=body.input_ranges,
        range_tolerance=body.range_tolerance,
    )
    start_supervisor(platform.settings, created.project, created.name)
    return created.to_json()


@router.get(_BASE + "/{name}", summary="A deployment: its plan, status and address")
def deployments_get(
    project: str, name: str, platform: PlatformDep, actor: ProjectViewer
) -> dict[str, Any]:
    return get_deployment(platform, actor, project, name).to_json()


@router.get(_BASE + "/{name}/events", summary="A deployment's history, oldest first")
def deployments_events(
    project: str, name: str, platform: PlatformDep, actor: ProjectViewer, limit: int = 100
) -> JSONResponse:
    return listing("events", deployment_history(platform, actor, project, name, limit=limit))


@router.get(
    _BASE + "/{name}/stats",
    summary="Live per-version statistics of the deployment's server ({running: false} if down)",
)
def deployments_stats(
    project: str, name: str, platform: PlatformDep, actor: ProjectViewer
) -> dict[str, Any]:
    return deployment_stats(platform, actor, project, name)


@router.get(_BASE + "/{name}/logs", summary="The last lines of the deployment server's log")
def deployments_logs(
    project: str, name: str, platform: PlatformDep, actor: ProjectMaintainer, lines: int = 100
) -> dict[str, Any]:
    return {"lines": deployment_log(platform, actor, project, name, lines=lines)}


@router.post(
    _BASE + "/{name}/rollout",
    summary="Send a share of the traffic to a version (canary), or mirror it (shadow)",
)
def deployments_rollout(
    project: str, name: str, body: RolloutBody, platform: PlatformDep, actor: ProjectMaintainer
) -> dict[str, Any]:
    changed = rollout(
        platform, actor, project, name, body.version, canary=body.canary, shadow=body.shadow
    )
    return changed.to_json()


@router.post(_BASE + "/{name}/weight", summary="Set the running canary's share of the traffic")
def deployments_weight(
    project: str, name: str, body: WeightBody, platform: PlatformDep, actor: ProjectMaintainer
) -> dict[str, Any]:
    return set_canary_weight(platform, actor, project, name, body.weight).to_json()


@router.post(_BASE + "/{name}/promote", summary="Make the canary the stable version")
def deployments_promote(
    project: str, name: str, platform: PlatformDep, actor: ProjectMaintainer
) -> dict[str, Any]:
    return promote(platform, actor, project, name).to_json()


@router.post(_BASE + "/{name}/rollback", summary="Send every request to the stable version now")
def deployments_rollback(
    project: str, name: str, platform: PlatformDep, actor: ProjectMaintainer
) -> dict[str, Any]:
    return rollback(platform, actor, project, name).to_json()


@router.post(_BASE + "/{name}/stop", summary="Stop the deployment's server (gracefully)")
def deployments_stop(
    project: str, name: str, platform: PlatformDep, actor: ProjectMaintainer
) -> dict[str, Any]:
    stopped = stop_deployment(platform, actor, project, name)
    exited = stop_supervisor(platform.settings, stopped.project, stopped.name)
    return {**stopped.to_json(), "process_stopped": exited}


@router.post(_BASE + "/{name}/start", summary="Start a stopped or failed deployment's server")
def deployments_start(
    project: str, name: str, platform: PlatformDep, actor: ProjectMaintainer
) -> dict[str, Any]:
    started = start_deployment(platform, actor, project, name)
    start_supervisor(platform.settings, started.project, started.name)
    return started.to_json()
