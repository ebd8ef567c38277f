"""Monitors: create, read, change and delete them (maintainers write, viewers read), their
results per window, and an evaluation on demand. The lifespan runs the scheduler that
evaluates due windows every ``MLSTEWARD_MONITOR_INTERVAL_SECONDS`` (each replica may: a
window is claimed before it is evaluated, so it is evaluated once)."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator
from typing import Annotated, Any

import anyio.to_thread
from fastapi import APIRouter, Depends, FastAPI, Query, Response
from fastapi.responses import JSONResponse

from ...errors import InvalidArgument
from ...monitoring import (
    create_monitor,
    delete_monitor,
    evaluate_monitor,
    get_monitor,
    list_monitor_results,
    list_monitors,
    monitor_report,
    render_report_html,
    run_due_evaluations,
    update_monitor,
)
from ...monitoring._monitor_model import DEFAULT_WINDOW_SECONDS
from ...monitoring._monitor_report import DEFAULT_REPORT_WINDOWS, MAX_REPORT_WINDOWS
from ...monitoring._monitors import MAX_RESULTS
from ...monitoring._report_assets import csp
from ...monitoring._windows import parse_window_time
from ...platform import Platform
from ...security import Actor
from .._auth import Requires
from ._dependencies import (
    GUARDS,
    FastJSONResponse,
    PlatformDep,
    ProjectViewer,
    RequestBody,
    listing,
)

log = logging.getLogger("mlsteward.server")

ProjectMaintainer = Annotated[Actor, Depends(Requires("project:maintainer"))]

_BASE = "/projects/{project}/monitors"


@contextlib.asynccontextmanager
async def _scheduler(app: FastAPI) -> AsyncIterator[None]:
    """Every ``monitor_interval_seconds`` (0: never), evaluate the monitors' due windows."""
    platform: Platform = app.state.platform
    interval = platform.settings.monitor_interval_seconds
    if interval <= 0:
        yield
        return
    task = asyncio.create_task(_evaluate_forever(platform, float(interval)))
    try:
        yield
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task


async def _evaluate_forever(platform: Platform, interval: float) -> None:
    while True:
        try:
            done = await anyio.to_thread.run_sync(lambda: run_due_evaluations(platform))
            if done:
                log.info("evaluated %d monitor windows", done)
        except Exception:  # a database hiccup must not end the scheduler
            log.exception("evaluating monitors failed")
        await asyncio.sleep(interval)


router = APIRouter(tags=["monitors"], dependencies=GUARDS, lifespan=_scheduler)


class MonitorCreate(RequestBody):
    name: str
    deployment: str | None = None
    model_name: str | None = None
    model_version: str | None = None
    dataset: str | None = None
    reference: dict[str, Any] | None = None
    window_seconds: int = DEFAULT_WINDOW_SECONDS
    drift_options: dict[str, Any] | None = None
    quality: dict[str, Any] | None = None
    fairness: dict[str, Any] | None = None
    enabled: bool = True


class MonitorUpdate(RequestBody):
    reference: dict[str, Any] | None = None
    window_seconds: int | None = None
    drift_options: dict[str, Any] | None = None
    quality: dict[str, Any] | None = None
    fairness: dict[str, Any] | None = None
    enabled: bool | None = None


class EvaluateBody(RequestBody):
    at: str | None = None


@router.get(_BASE, summary="A project's monitors, by name")
def monitors_list(project: str, platform: PlatformDep, actor: ProjectViewer) -> JSONResponse:
    return listing("monitors", list_monitors(platform, actor, project))


@router.post(
    _BASE, status_code=201, summary="Create a monitor of a deployment, a model or a dataset"
)
def monitors_create(
    project: str, body: MonitorCreate, platform: PlatformDep, actor: ProjectMaintainer
) -> JSONResponse:
    fields = body.model_dump()
    monitor = create_monitor(platform, actor, project, fields.pop("name"), **fields)
    return FastJSONResponse(monitor.to_json(), status_code=201)


@router.get(_BASE + "/{name}", summary="A monitor")
def monitors_get(
    project: str, name: str, platform: PlatformDep, actor: ProjectViewer
) -> JSONResponse:
    return FastJSONResponse(get_monitor(platform, actor, project, name).to_json())


@router.patch(
    _BASE + "/{name}",
    summary="Change a monitor (the fields given; quality or fairness null turns it off)",
)
def monitors_update(
    project: str, name: str, body: MonitorUpdate, platform: PlatformDep, actor: ProjectMaintainer
) -> JSONResponse:
    given = body.model_dump(exclude_unset=True)  # fields left out stay as they are
    monitor = update_monitor(platform, actor, project, name, **given)
    return FastJSONResponse(monitor.to_json())


@router.delete(_BASE + "/{name}", status_code=204, summary="Delete a monitor and its results")
def monitors_delete(
    project: str, name: str, platform: PlatformDep, actor: ProjectMaintainer
) -> Response:
    delete_monitor(platform, actor, project, name)
    return Response(status_code=204)


@router.get(_BASE + "/{name}/results", summary="A monitor's results per window, oldest first")
def monitors_results(
    project: str,
    name: str,
    platform: PlatformDep,
    actor: ProjectViewer,
    since: Annotated[str | None, Query(description="ISO 8601 time, inclusive")] = None,
    until: Annotated[str | None, Query(description="ISO 8601 time, exclusive")] = None,
    limit: Annotated[int, Query(ge=1, le=MAX_RESULTS)] = 1_000,
) -> JSONResponse:
    results = list_monitor_results(
        platform,
        actor,
        project,
        name,
        since=None if since is None else parse_window_time(since, "since"),
        until=None if until is None else parse_window_time(until, "until"),
        limit=limit,
    )
    return listing("results", results)


@router.post(
    _BASE + "/{name}/evaluate",
    summary="Evaluate a monitor's window now (the one holding `at`, default the newest "
    "complete one), replacing its result",
)
def monitors_evaluate(
    project: str,
    name: str,
    platform: PlatformDep,
    actor: ProjectMaintainer,
    body: EvaluateBody | None = None,
) -> JSONResponse:
    at = None if body is None or body.at is None else parse_window_time(body.at, "at")
    return FastJSONResponse(evaluate_monitor(platform, actor, project, name, at).to_json())


@router.get(
    _BASE + "/{name}/report",
    summary="A monitor's report over a time range: JSON, or one self-contained HTML page",
    response_model=None,
)
def monitors_report(
    project: str,
    name: str,
    platform: PlatformDep,
    actor: ProjectViewer,
    format: Annotated[str, Query(description="json or html")] = "json",
    since: Annotated[str | None, Query(description="ISO 8601 time, inclusive")] = None,
    until: Annotated[str | None, Query(description="ISO 8601 time, exclusive")] = None,
    max_windows: Annotated[
        int, Query(ge=1, le=MAX_REPORT_WINDOWS, description="At most N windows (the newest)")
    ] = DEFAULT_REPORT_WINDOWS,
    download: Annotated[bool, Query(description="Serve it as a file to save")] = False,
) -> Response:
    if format not in ("json", "html"):
        raise InvalidArgument(
            f"format must be json or html, not {format[:20]!r}", details={"field": "format"}
        )
    report = monitor_report(
        platform,
        actor,
        project,
        name,
        since=None if since is None else parse_window_time(since, "since"),
        until=None if until is None else parse_window_time(until, "until"),
        max_windows=max_windows,
    )
    # The monitor name is 1-64 letters, digits, '.', '_' or '-': safe in a header as it is.
    saved = {"Content-Disposition": f'attachment; filename="{name}-report.{format}"'}
    headers = saved if download else {}
    if format == "json":
        return FastJSONResponse(report.to_json(), headers=headers)
    # The page's own policy (nothing fetched, only its inline style and script) replaces any
    # broader one.
    return Response(
        render_report_html(report),
        media_type="text/html; charset=utf-8",
        headers={"Content-Security-Policy": csp(), **headers},
    )
