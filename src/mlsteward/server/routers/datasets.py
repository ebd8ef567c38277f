"""Datasets: the catalog, versions, diffs, and the upload protocol of remote adds.

A remote ``data add`` asks which blobs the project lacks (``dataset-uploads/missing``), sends
only those (``PUT dataset-uploads``), then commits the manifest (``POST .../versions``). See
``mlsteward.data._uploads`` for why presence is answered per project.
"""

from __future__ import annotations

from typing import Annotated, Any

import anyio.to_thread
from fastapi import APIRouter, Query, Request
from fastapi.responses import JSONResponse, StreamingResponse

from ...data import (
    diff_dataset_versions,
    get_dataset_version,
    list_dataset_versions,
    list_datasets,
    read_manifest,
)
from ...data._uploads import commit_dataset_upload, missing_dataset_blobs, upload_dataset_blob
from ...data._version_blobs import open_version_blob
from ...errors import InvalidArgument
from ._dependencies import (
    GUARDS,
    Authenticated,
    FastJSONResponse,
    PlatformDep,
    ProjectViewer,
    RequestBody,
    listing,
)
from ._streaming import RequestBodyReader, verified_chunks

router = APIRouter(tags=["datasets"], dependencies=GUARDS)


def _version_number(version: str) -> int | None:
    """``latest`` or a positive number, from a path segment."""
    if version == "latest":
        return None
    if not version.isdigit() or len(version) > 9 or int(version) < 1:
        raise InvalidArgument(f"version must be a positive number or 'latest', not {version!r}")
    return int(version)


@router.get("/projects/{project}/datasets", summary="The project's datasets, by name")
def datasets_list(project: str, platform: PlatformDep, actor: ProjectViewer) -> JSONResponse:
    return listing("datasets", list_datasets(platform, actor, project))


@router.get(
    "/projects/{project}/datasets/{name}/versions",
    summary="Every version of a dataset, oldest first",
)
def dataset_versions_list(
    project: str, name: str, platform: PlatformDep, actor: ProjectViewer
) -> JSONResponse:
    return listing("versions", list_dataset_versions(platform, actor, project, name))


@router.get(
    "/projects/{project}/datasets/{name}/versions/{version}",
    summary="One version of a dataset ('latest' for the newest)",
)
def dataset_version_get(
    project: str, name: str, version: str, platform: PlatformDep, actor: ProjectViewer
) -> JSONResponse:
    found = get_dataset_version(platform, actor, project, name, _version_number(version))
    return FastJSONResponse(found.to_json())


@router.get(
    "/projects/{project}/datasets/{name}/versions/{version}/manifest",
    summary="The file list of a version: paths, sizes, modes and blob addresses",
)
def dataset_version_manifest(
    project: str, name: str, version: str, platform: PlatformDep, actor: ProjectViewer
) -> JSONResponse:
    found = get_dataset_version(platform, actor, project, name, _version_number(version))
    return FastJSONResponse(read_manifest(platform, found).to_json())


@router.get(
    "/projects/{project}/datasets/{name}/versions/{version}/blobs/{address}",
    summary="Download one blob the version references (streamed)",
)
def dataset_version_blob(
    project: str,
    name: str,
    version: int,
    address: str,
    platform: PlatformDep,
    actor: ProjectViewer,
) -> StreamingResponse:
    reader, size = open_version_blob(platform, actor, project, name, version, address)
    return StreamingResponse(
        verified_chunks(reader),
        media_type="application/octet-stream",
        headers={"Content-Length": str(size), "ETag": f'"{address}"'},
    )


@router.get(
    "/projects/{project}/datasets/{name}/diff",
    summary="Files added, removed and changed between two versions; for tables, schema, rows "
    "and column statistics",
)
def dataset_diff(
    project: str,
    name: str,
    platform: PlatformDep,
    actor: ProjectViewer,
    a: Annotated[int, Query(ge=1, lt=2**31)],
    b: Annotated[int, Query(ge=1, lt=2**31)],
) -> JSONResponse:
    return FastJSONResponse(diff_dataset_versions(platform, actor, project, name, a, b).to_json())


class MissingBody(RequestBody):
    addresses: list[str]


@router.post(
    "/projects/{project}/dataset-uploads/missing",
    summary="Which of these blob addresses the project lacks (editors)",
)
def dataset_uploads_missing(
    project: str, body: MissingBody, platform: PlatformDep, actor: Authenticated
) -> JSONResponse:
    return FastJSONResponse(missing_dataset_blobs(platform, actor, project, body.addresses))


@router.put(
    "/projects/{project}/dataset-uploads",
    summary="Store the raw body (one chunk or small file, at most 16 MiB) for a coming "
    "version commit (editors)",
)
async def dataset_uploads_put(
    project: str,
    request: Request,
    platform: PlatformDep,
    actor: Authenticated,
    address: Annotated[str | None, Query(description="the BLAKE3 address you computed")] = None,
) -> JSONResponse:
    reader = RequestBodyReader(request)
    info = await anyio.to_thread.run_sync(
        upload_dataset_blob, platform, actor, project, reader, address
    )
    return JSONResponse(info.to_dict(), status_code=201 if info.created else 200)


class CommitBody(RequestBody):
    manifest: dict[str, Any]
    message: str = ""
    source: str = ""


@router.post(
    "/projects/{project}/datasets/{name}/versions",
    status_code=201,
    summary="Record the next version from a manifest of blobs the project holds (editors)",
)
def dataset_versions_commit(
    project: str, name: str, body: CommitBody, platform: PlatformDep, actor: Authenticated
) -> JSONResponse:
    version = commit_dataset_upload(
        platform,
        actor,
        project,
        name,
        body.manifest,
        message=body.message,
        source=body.source,
    )
    return FastJSONResponse(version.to_json(), status_code=200 if version.unchanged else 201)
