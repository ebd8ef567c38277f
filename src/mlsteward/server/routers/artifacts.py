"""Run artifacts: streamed upload, one-level listing, streamed download.

Artifact paths travel in the query string (never as ``{path:path}`` route parameters) and
the service layer checks them strictly before anything is read or written. The service
layer also checks the caller's role in the run's project.
"""

from __future__ import annotations

from typing import Annotated, Any

import anyio.to_thread
from fastapi import APIRouter, Query, Request
from fastapi.responses import JSONResponse, StreamingResponse

from ...tracking import get_artifact, list_artifacts, log_artifact, open_artifact
from ._dependencies import GUARDS, Authenticated, PlatformDep
from ._streaming import RequestBodyReader, verified_chunks

router = APIRouter(tags=["artifacts"], dependencies=GUARDS)


@router.put("/runs/{run_id}/artifacts", summary="Store the raw request body as a run artifact")
async def artifacts_put(
    run_id: str,
    request: Request,
    platform: PlatformDep,
    actor: Authenticated,
    path: Annotated[str, Query(description="the artifact's path inside the run")],
) -> JSONResponse:
    reader = RequestBodyReader(request)
    info = await anyio.to_thread.run_sync(log_artifact, platform, actor, run_id, path, reader)
    return JSONResponse(info.to_dict(), status_code=201)


@router.get("/runs/{run_id}/artifacts", summary="The files and folders inside a folder")
def artifacts_list(
    run_id: str, platform: PlatformDep, actor: Authenticated, prefix: str = ""
) -> dict[str, Any]:
    entries = list_artifacts(platform, actor, run_id, prefix)
    return {"artifacts": [entry.to_dict() for entry in entries]}


@router.get("/runs/{run_id}/artifacts/content", summary="Download an artifact (streamed)")
def artifacts_content(
    run_id: str,
    platform: PlatformDep,
    actor: Authenticated,
    path: Annotated[str, Query(description="the artifact's path inside the run")],
) -> StreamingResponse:
    info = get_artifact(platform, actor, run_id, path)
    chunks = verified_chunks(open_artifact(platform, actor, run_id, path))
    return StreamingResponse(
        chunks,
        media_type="application/octet-stream",
        headers={"Content-Length": str(info.size), "ETag": f'"{info.address}"'},
    )
