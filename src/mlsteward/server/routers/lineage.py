"""Lineage: the graph around a node, runs reading dataset versions, and OpenLineage events
(emitted for our runs, accepted from Spark, Airflow or any OpenLineage integration).

OpenLineage's HTTP transport posts to ``<url>/api/v1/lineage`` by default, so pointing a
job's transport at this server (with an API token as its ``api_key``) is the whole set-up;
the events land in the project named by ``?project=`` (``default`` if absent).
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import APIRouter, Body, Query
from fastapi.responses import JSONResponse

from ...data import lineage_downstream, lineage_upstream, record_dataset_input
from ._dependencies import GUARDS, Authenticated, FastJSONResponse, PlatformDep, RequestBody

router = APIRouter(tags=["lineage"], dependencies=GUARDS)


@router.get(
    "/projects/{project}/lineage",
    summary="The lineage graph upstream or downstream of a node (dataset:NAME@VERSION, "
    "run:ID, model:NAME/VERSION, models:/NAME@ALIAS, openlineage:NAMESPACE/NAME)",
)
def lineage_graph(
    project: str,
    platform: PlatformDep,
    actor: Authenticated,
    node: Annotated[str, Query(max_length=500)],
    direction: Literal["upstream", "downstream"] = "upstream",
    depth: Annotated[int, Query(ge=1, le=25)] = 5,
) -> JSONResponse:
    walk = lineage_upstream if direction == "upstream" else lineage_downstream
    graph = walk(platform, actor, node, project=project, depth=depth)
    return FastJSONResponse(graph.to_json())


class DatasetInputBody(RequestBody):
    dataset_version_id: str


@router.post(
    "/runs/{run_id}/dataset-inputs",
    status_code=201,
    summary="Record that the run read a dataset version (editors of the run's project)",
)
def run_dataset_inputs_create(
    run_id: str, body: DatasetInputBody, platform: PlatformDep, actor: Authenticated
) -> JSONResponse:
    edge = record_dataset_input(platform, actor, run_id, body.dataset_version_id)
    return FastJSONResponse(edge.to_json(), status_code=201)


@router.get(
    "/runs/{run_id}/openlineage",
    summary="The OpenLineage RunEvents of a run (START, then its end state)",
)
def run_openlineage_events(
    run_id: str, platform: PlatformDep, actor: Authenticated
) -> JSONResponse:
    from ...data import openlineage_events_for_run

    return FastJSONResponse({"events": openlineage_events_for_run(platform, actor, run_id)})


@router.post(
    "/lineage",
    summary="Accept one OpenLineage event (the OpenLineage HTTP transport's endpoint); "
    "editors of the project",
)
def openlineage_ingest(
    platform: PlatformDep,
    actor: Authenticated,
    event: Annotated[dict[str, Any], Body()],
    project: Annotated[str, Query(max_length=64)] = "default",
) -> JSONResponse:
    from ...data import ingest_openlineage_event

    result = ingest_openlineage_event(platform, actor, project, event)
    return FastJSONResponse(result.to_json(), status_code=201)
