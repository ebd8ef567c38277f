"""Experiments of a project, and starting runs in them."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends
from fastapi.responses import JSONResponse

from ...security import Actor
from ...tracking import (
    create_experiment,
    get_experiment,
    list_experiments,
    set_experiment_deleted,
    start_run,
)
from .._auth import Requires
from ._dependencies import GUARDS, PlatformDep, ProjectViewer, RequestBody, listing

router = APIRouter(tags=["experiments"], dependencies=GUARDS)

ProjectEditor = Annotated[Actor, Depends(Requires("project:editor"))]
ProjectMaintainer = Annotated[Actor, Depends(Requires("project:maintainer"))]


class ExperimentCreate(RequestBody):
    name: str
    description: str = ""


class RunStart(RequestBody):
    name: str | None = None
    parent_run_id: str | None = None
    tags: dict[str, str] = {}
    environment: dict[str, Any] = {}


@router.get("/projects/{project}/experiments", summary="A project's experiments, by name")
def experiments_list(
    project: str, platform: PlatformDep, actor: ProjectViewer, include_deleted: bool = False
) -> JSONResponse:
    found = list_experiments(platform, actor, project, include_deleted=include_deleted)
    return listing("experiments", found)


@router.post("/projects/{project}/experiments", status_code=201, summary="Create an experiment")
def experiments_create(
    project: str, body: ExperimentCreate, platform: PlatformDep, actor: ProjectEditor
) -> dict[str, Any]:
    return create_experiment(platform, actor, project, body.name, body.description).to_json()


@router.get("/projects/{project}/experiments/{experiment}", summary="An experiment")
def experiments_get(
    project: str, experiment: str, platform: PlatformDep, actor: ProjectViewer
) -> dict[str, Any]:
    return get_experiment(platform, actor, project, experiment).to_json()


@router.delete("/projects/{project}/experiments/{experiment}", summary="Soft-delete an experiment")
def experiments_delete(
    project: str, experiment: str, platform: PlatformDep, actor: ProjectMaintainer
) -> dict[str, Any]:
    return set_experiment_deleted(platform, actor, project, experiment, True).to_json()


@router.post(
    "/projects/{project}/experiments/{experiment}/restore", summary="Restore a deleted experiment"
)
def experiments_restore(
    project: str, experiment: str, platform: PlatformDep, actor: ProjectMaintainer
) -> dict[str, Any]:
    return set_experiment_deleted(platform, actor, project, experiment, False).to_json()


@router.post(
    "/projects/{project}/experiments/{experiment}/runs",
    status_code=201,
    summary="Start a run in an experiment",
)
def runs_start(
    project: str, experiment: str, body: RunStart, platform: PlatformDep, actor: ProjectEditor
) -> JSONResponse:
    run = start_run(
        platform,
        actor,
        project,
        experiment,
        name=body.name,
        parent_run_id=body.parent_run_id,
        tags=body.tags,
        environment=body.environment,
    )
    return JSONResponse(run.to_json(), status_code=201)
