"""The data catalog: a dataset's entry (columns, PII classes, usage), editing it, and
full-text search over names, descriptions, columns, tags and owners."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query
from fastapi.responses import JSONResponse

from ...data import (
    dataset_catalog_entry,
    search_datasets,
    set_column_classification,
    update_dataset,
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

router = APIRouter(tags=["catalog"], dependencies=GUARDS)


@router.get(
    "/projects/{project}/datasets/{name}",
    summary="A dataset's catalog entry: description, owners, tags, columns with PII classes, "
    "and usage (runs that read it, models they produced)",
)
def catalog_entry(
    project: str, name: str, platform: PlatformDep, actor: ProjectViewer
) -> JSONResponse:
    return FastJSONResponse(dataset_catalog_entry(platform, actor, project, name).to_json())


class DatasetUpdate(RequestBody):
    description: str | None = None
    owners: list[str] | None = None
    tags: dict[str, str] | None = None


@router.patch(
    "/projects/{project}/datasets/{name}",
    summary="Replace the description, owners and/or tags of a dataset (editors)",
)
def catalog_update(
    project: str, name: str, body: DatasetUpdate, platform: PlatformDep, actor: Authenticated
) -> JSONResponse:
    entry = update_dataset(
        platform,
        actor,
        project,
        name,
        description=body.description,
        owners=body.owners,
        tags=body.tags,
    )
    return FastJSONResponse(entry.to_json())


class ColumnClassification(RequestBody):
    pii_class: str | None
    description: str | None = None


@router.put(
    "/projects/{project}/datasets/{name}/columns/{column}",
    summary="Set a column's PII class by hand (null: not personal data) and its description "
    "(editors); detection never overwrites it",
)
def catalog_classify(
    project: str,
    name: str,
    column: str,
    body: ColumnClassification,
    platform: PlatformDep,
    actor: Authenticated,
) -> JSONResponse:
    result = set_column_classification(
        platform, actor, project, name, column, body.pii_class, description=body.description
    )
    return FastJSONResponse(result.to_json())


@router.get(
    "/dataset-search",
    summary="Datasets matching every word of q, best first, in the projects you can read",
)
def catalog_search(
    platform: PlatformDep,
    actor: Authenticated,
    q: Annotated[str, Query(max_length=200)],
    project: Annotated[str | None, Query(max_length=64)] = None,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
) -> JSONResponse:
    return listing("hits", search_datasets(platform, actor, q, project=project, limit=limit))
