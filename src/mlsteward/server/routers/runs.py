"""Runs: read, end, ingest batches, heartbeats, notes, delete/restore, metric history, search.

Routes addressed by run id declare ``Requires("authenticated")``; the service layer checks
the caller's role in the run's project. The batch route parses its body with ``json.loads``
(no per-point pydantic model: ingestion is the platform's hottest write path). The router's
lifespan runs the reaper that marks runs whose process died as KILLED.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator
from typing import Annotated, Any, Literal

import anyio.to_thread
import orjson
from fastapi import APIRouter, FastAPI, Query, Request, Response
from fastapi.responses import JSONResponse

from ...errors import InvalidArgument
from ...platform import Platform
from ...security import SYSTEM
from ...tracking import (
    MetricPoint,
    best_run,
    compare_runs,
    end_run,
    get_run,
    heartbeat,
    log_batch,
    metric_history,
    metric_keys,
    reap_dead_runs,
    search_runs,
    set_run_deleted,
    set_run_notes,
)
from ...tracking._model import MetricColumns, float_from_json
from ._dependencies import GUARDS, Authenticated, PlatformDep, ProjectViewer, RequestBody, listing

log = logging.getLogger("mlsteward.server")

REAP_INTERVAL_SECONDS = 30.0


@contextlib.asynccontextmanager
async def _reaper(app: FastAPI) -> AsyncIterator[None]:
    """Every ~30 s, mark KILLED the runs without a heartbeat for the configured timeout."""
    platform: Platform = app.state.platform
    timeout = float(platform.settings.run_heartbeat_timeout_seconds)
    task = asyncio.create_task(_reap_forever(platform, timeout))
    try:
        yield
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task


async def _reap_forever(platform: Platform, timeout: float) -> None:
    while True:
        try:
            killed = await anyio.to_thread.run_sync(
                lambda: reap_dead_runs(platform, SYSTEM, timeout_seconds=timeout)
            )
            if killed:
                log.info("marked %d runs without heartbeats KILLED", len(killed))
        except Exception:  # a database hiccup must not end the reaper
            log.exception("reaping dead runs failed")
        await asyncio.sleep(REAP_INTERVAL_SECONDS)


router = APIRouter(tags=["runs"], dependencies=GUARDS, lifespan=_reaper)


class RunEnd(RequestBody):
    status: str = "FINISHED"


class RunNotes(RequestBody):
    notes: str


_BATCH_FIELDS = frozenset({"metrics", "params", "tags"})


_COLUMNS = frozenset({"keys", "key_index", "values", "steps", "timestamps"})


def _columns(metrics: dict[str, Any]) -> MetricColumns:
    if metrics.keys() != _COLUMNS or not all(isinstance(v, list) for v in metrics.values()):
        raise InvalidArgument(
            'columnar "metrics" is an object of lists: keys, key_index, values, steps, timestamps'
        )
    return MetricColumns(
        metrics["keys"],
        metrics["key_index"],
        metrics["values"],
        metrics["steps"],
        metrics["timestamps"],
    )


def parse_batch(
    body: bytes,
) -> tuple[list[MetricPoint] | MetricColumns, dict[str, Any], dict[str, Any]]:
    """``{"metrics": ..., "params": {}, "tags": {}}``, with ``metrics`` either a list of
    ``{"key", "value", "step", "timestamp"}`` objects or, more compactly, columns
    ``{"keys": [...], "key_index": [...], "values": [...], "steps": [...], "timestamps": [...]}``
    (what the Python client sends).

    Checks the shape only (NaN and infinities may arrive as strings); ``log_batch`` checks
    keys, values and limits. Raises ``InvalidArgument``.
    """
    try:
        data = orjson.loads(body)  # 2-3x json.loads; refuses bare NaN/Infinity tokens
    except ValueError:
        raise InvalidArgument("the batch body is not valid JSON") from None
    if not isinstance(data, dict) or not data.keys() <= _BATCH_FIELDS:
        raise InvalidArgument(
            'a batch is a JSON object with "metrics", "params" and "tags" (all optional)'
        )
    metrics = data.get("metrics") or []
    params = data.get("params") or {}
    tags = data.get("tags") or {}
    if not isinstance(params, dict) or not isinstance(tags, dict):
        raise InvalidArgument('"params" and "tags" are objects')
    if isinstance(metrics, dict):
        return _columns(metrics), params, tags
    if not isinstance(metrics, list):
        raise InvalidArgument('"metrics" is a list of points or an object of columns')
    points: list[MetricPoint] = []
    append = points.append
    for index, item in enumerate(metrics):
        try:
            if len(item) != 4:  # with the four lookups below: exactly these fields
                raise TypeError
            value = item["value"]
            if value.__class__ is not float:
                value = float_from_json(value)
            append(MetricPoint(item["key"], value, item["step"], item["timestamp"]))
        except (KeyError, TypeError):
            raise InvalidArgument(
                f"metrics[{index}] must be an object with exactly key, value, step and "
                'timestamp; value a number or "NaN", "Infinity", "-Infinity"',
                details={"index": index},
            ) from None
    return points, params, tags


@router.get("/runs/{run_id}", summary="A run with its params, tags and latest metrics")
def runs_get(run_id: str, platform: PlatformDep, actor: Authenticated) -> dict[str, Any]:
    return get_run(platform, actor, run_id).to_json()


@router.post("/runs/{run_id}/end", summary="End a run: FINISHED, FAILED or KILLED")
def runs_end(
    run_id: str, body: RunEnd, platform: PlatformDep, actor: Authenticated
) -> dict[str, Any]:
    return end_run(platform, actor, run_id, body.status).to_json()


@router.post("/runs/{run_id}/batch", status_code=204, summary="Log metrics, params and tags")
async def runs_batch(
    run_id: str, request: Request, platform: PlatformDep, actor: Authenticated
) -> Response:
    body = await request.body()

    def store() -> None:
        points, params, tags = parse_batch(body)
        log_batch(platform, actor, run_id, metrics=points, params=params, tags=tags)

    await anyio.to_thread.run_sync(store)
    return Response(status_code=204)


@router.post("/runs/{run_id}/heartbeat", status_code=204, summary="The run's process is alive")
def runs_heartbeat(run_id: str, platform: PlatformDep, actor: Authenticated) -> Response:
    heartbeat(platform, actor, run_id)
    return Response(status_code=204)


@router.put("/runs/{run_id}/notes", summary="Replace a run's notes")
def runs_notes(
    run_id: str, body: RunNotes, platform: PlatformDep, actor: Authenticated
) -> dict[str, Any]:
    return set_run_notes(platform, actor, run_id, body.notes).to_json()


@router.delete("/runs/{run_id}", summary="Soft-delete a run")
def runs_delete(run_id: str, platform: PlatformDep, actor: Authenticated) -> dict[str, Any]:
    return set_run_deleted(platform, actor, run_id, True).to_json()


@router.post("/runs/{run_id}/restore", summary="Restore a deleted run")
def runs_restore(run_id: str, platform: PlatformDep, actor: Authenticated) -> dict[str, Any]:
    return set_run_deleted(platform, actor, run_id, False).to_json()


@router.get("/runs/{run_id}/metrics", summary="The metric keys a run has logged")
def runs_metric_keys(run_id: str, platform: PlatformDep, actor: Authenticated) -> dict[str, Any]:
    return {"keys": metric_keys(platform, actor, run_id)}


@router.get("/runs/{run_id}/metric-history", summary="Every point of one metric (?key=)")
def runs_metric_history(
    run_id: str,
    key: str,
    platform: PlatformDep,
    actor: Authenticated,
    max_points: int = 1_000_000,
) -> JSONResponse:
    points = metric_history(platform, actor, run_id, key, max_points=max_points)
    return listing("metrics", points)


@router.get("/projects/{project}/runs/search", summary="Search a project's runs")
def runs_search(
    project: str,
    platform: PlatformDep,
    actor: ProjectViewer,
    filter: str = "",
    max_results: int = 100,
    page_token: str | None = None,
    include_deleted: bool = False,
    experiment_id: Annotated[list[str] | None, Query()] = None,
    order_by: Annotated[list[str] | None, Query()] = None,
) -> JSONResponse:
    page = search_runs(
        platform,
        actor,
        project,
        experiment_ids=experiment_id,
        filter=filter,
        order_by=order_by or [],
        max_results=max_results,
        page_token=page_token,
        include_deleted=include_deleted,
    )
    return listing("runs", page.runs, next_page_token=page.next_page_token)


@router.get("/projects/{project}/runs/best", summary="The run with the best value of a metric")
def runs_best(
    project: str,
    metric: str,
    platform: PlatformDep,
    actor: ProjectViewer,
    mode: Literal["max", "min"] = "max",
    filter: str = "",
    experiment_id: Annotated[list[str] | None, Query()] = None,
) -> dict[str, Any]:
    return best_run(
        platform, actor, project, metric, mode=mode, filter=filter, experiment_ids=experiment_id
    ).to_json()


@router.get("/run-comparisons", summary="Compare runs: parameters and metrics aligned by step")
def runs_compare(
    platform: PlatformDep,
    actor: Authenticated,
    run_id: Annotated[list[str], Query()],
    metric: Annotated[list[str] | None, Query()] = None,
) -> dict[str, Any]:
    return compare_runs(platform, actor, run_id, metric_keys=metric).to_json()
