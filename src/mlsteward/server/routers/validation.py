"""Validation: expectation suites of a project, their attachment to datasets, running them on a
dataset version, and the stored results (with their HTML data docs in the web UI)."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Body, Query, Response
from fastapi.responses import JSONResponse

from ...errors import InvalidArgument
from ...validation import (
    attach_suite,
    delete_suite,
    detach_suite,
    get_suite,
    get_validation_result,
    list_suites,
    list_validation_results,
    save_suite,
    validate_dataset_version,
)
from ._dependencies import (
    GUARDS,
    Authenticated,
    FastJSONResponse,
    PlatformDep,
    ProjectViewer,
    RequestBody,
    listing,
)

router = APIRouter(tags=["validation"], dependencies=GUARDS)


@router.get("/projects/{project}/validation-suites", summary="The project's suites, by name")
def suites_list(project: str, platform: PlatformDep, actor: ProjectViewer) -> JSONResponse:
    return listing("suites", list_suites(platform, actor, project))


@router.put(
    "/projects/{project}/validation-suites/{name}",
    summary="Create or replace a suite (editors); the body is the suite's JSON definition",
)
def suites_put(
    project: str,
    name: str,
    platform: PlatformDep,
    actor: Authenticated,
    definition: Annotated[dict[str, Any], Body()],
) -> JSONResponse:
    if definition.get("name", name) != name:
        raise InvalidArgument(
            f"the suite in the body is named {str(definition.get('name'))[:64]!r}, the URL "
            f"says {name!r}"
        )
    stored = save_suite(platform, actor, project, {**definition, "name": name}, replace=True)
    return FastJSONResponse(stored.to_json())


@router.get("/projects/{project}/validation-suites/{name}", summary="One suite")
def suites_get(
    project: str, name: str, platform: PlatformDep, actor: ProjectViewer
) -> JSONResponse:
    return FastJSONResponse(get_suite(platform, actor, project, name).to_json())


@router.delete(
    "/projects/{project}/validation-suites/{name}",
    status_code=204,
    summary="Delete a suite (editors); its stored results stay",
)
def suites_delete(project: str, name: str, platform: PlatformDep, actor: Authenticated) -> Response:
    delete_suite(platform, actor, project, name)
    return Response(status_code=204)


@router.put(
    "/projects/{project}/validation-suites/{name}/datasets/{dataset}",
    summary="Attach a suite to a dataset: every new version is validated (editors)",
)
def suites_attach(
    project: str, name: str, dataset: str, platform: PlatformDep, actor: Authenticated
) -> JSONResponse:
    return FastJSONResponse(attach_suite(platform, actor, project, name, dataset).to_json())


@router.delete(
    "/projects/{project}/validation-suites/{name}/datasets/{dataset}",
    summary="Detach a suite from a dataset (editors)",
)
def suites_detach(
    project: str, name: str, dataset: str, platform: PlatformDep, actor: Authenticated
) -> JSONResponse:
    return FastJSONResponse(detach_suite(platform, actor, project, name, dataset).to_json())


class ValidateBody(RequestBody):
    suite: str | None = None


@router.post(
    "/projects/{project}/datasets/{name}/versions/{version}/validations",
    status_code=201,
    summary="Validate a table version with one suite, or with every suite attached to the "
    "dataset (editors); stores and returns the results",
)
def dataset_version_validate(
    project: str,
    name: str,
    version: int,
    body: ValidateBody,
    platform: PlatformDep,
    actor: Authenticated,
) -> JSONResponse:
    from ...data import get_dataset_version

    if not 0 < version < 2**31:
        raise InvalidArgument(f"version must be a positive number, not {version}")
    found = get_dataset_version(platform, actor, project, name, version)
    stored = validate_dataset_version(platform, actor, found.id, suite=body.suite)
    return FastJSONResponse({"results": [r.to_json() for r in stored]}, status_code=201)


@router.get(
    "/projects/{project}/validation-results",
    summary="Stored results, newest first, optionally of one suite or one dataset version",
)
def results_list(
    project: str,
    platform: PlatformDep,
    actor: ProjectViewer,
    suite: Annotated[str | None, Query(max_length=128)] = None,
    dataset_version_id: Annotated[str | None, Query(max_length=64)] = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
) -> JSONResponse:
    results = list_validation_results(
        platform, actor, project, suite=suite, dataset_version_id=dataset_version_id, limit=limit
    )
    return listing("results", results)


@router.get("/projects/{project}/validation-results/{result_id}", summary="One stored result")
def results_get(
    project: str, result_id: str, platform: PlatformDep, actor: ProjectViewer
) -> JSONResponse:
    return FastJSONResponse(get_validation_result(platform, actor, project, result_id).to_json())
