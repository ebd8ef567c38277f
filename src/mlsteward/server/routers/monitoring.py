"""Monitoring: the prediction windows inference servers ship to a remote platform.

A server sends a window's three files (``PUT .../prediction-windows/files``, once each), then
records the window naming their addresses (``POST .../prediction-windows``). Both need the
editor role in the project, so a serving process needs no administrator token.
"""

from __future__ import annotations

from typing import Annotated, Any

import anyio.to_thread
from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import JSONResponse

from ...monitoring import (
    list_prediction_windows,
    record_prediction_window,
    training_pii_columns,
)
from ...monitoring._windows import MAX_LISTED, parse_window_time, store_prediction_file
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
from ._streaming import RequestBodyReader

router = APIRouter(tags=["monitoring"], dependencies=GUARDS)

ProjectEditor = Annotated[Actor, Depends(Requires("project:editor"))]

_BASE = "/projects/{project}/prediction-windows"


class WindowBody(RequestBody):
    model_name: str
    model_version: str
    start: str
    end: str
    rows: int
    sampled_rows: int
    feedback_labels: int
    profile_address: str
    rows_address: str
    feedback_address: str
    output_columns: list[str] = []
    source: str = "unknown"
    deployment: str | None = None
    serving: dict[str, Any] | None = None  # ServingStats.to_json(), checked by the service


@router.put(
    _BASE + "/files",
    summary="Store one file of a coming prediction window (the raw body; editors)",
)
async def prediction_files_put(
    project: str, request: Request, platform: PlatformDep, actor: ProjectEditor
) -> JSONResponse:
    reader = RequestBodyReader(request)
    info = await anyio.to_thread.run_sync(store_prediction_file, platform, actor, project, reader)
    return JSONResponse(info.to_dict(), status_code=201 if info.created else 200)


@router.post(
    _BASE,
    status_code=201,
    summary="Record a window of predictions whose three files are stored (editors)",
)
def prediction_windows_record(
    project: str, body: WindowBody, platform: PlatformDep, actor: ProjectEditor
) -> JSONResponse:
    fields = body.model_dump()
    fields["start"] = parse_window_time(body.start, "start")
    fields["end"] = parse_window_time(body.end, "end")
    window = record_prediction_window(platform, actor, project, **fields)
    return FastJSONResponse(window.to_json(), status_code=201)


@router.get(_BASE, summary="A project's prediction windows, oldest first")
def prediction_windows_list(
    project: str,
    platform: PlatformDep,
    actor: ProjectViewer,
    model_name: Annotated[str | None, Query(max_length=200)] = None,
    model_version: Annotated[str | None, Query(max_length=64)] = None,
    deployment: Annotated[str | None, Query(max_length=64)] = None,
    since: Annotated[str | None, Query(description="ISO 8601 time, inclusive")] = None,
    until: Annotated[str | None, Query(description="ISO 8601 time, exclusive")] = None,
    limit: Annotated[int, Query(ge=1, le=MAX_LISTED)] = 1_000,
) -> JSONResponse:
    windows = list_prediction_windows(
        platform,
        actor,
        project,
        model_name=model_name,
        model_version=model_version,
        deployment=deployment,
        since=None if since is None else parse_window_time(since, "since"),
        until=None if until is None else parse_window_time(until, "until"),
        limit=limit,
    )
    return listing("prediction_windows", windows)


@router.get(
    "/projects/{project}/models/{name}/versions/{version}/training-pii",
    summary="The catalog's PII columns of a model version's training data (what a prediction "
    "log masks)",
)
def training_pii(
    project: str, name: str, version: str, platform: PlatformDep, actor: ProjectViewer
) -> JSONResponse:
    columns = training_pii_columns(platform, actor, project, name, version)
    return FastJSONResponse({"columns": columns})
