"""Raw blobs (administrators): streamed upload, streamed download, size.

Addresses in paths are untrusted: the blob store checks them (64 lowercase hex characters)
before touching storage, so a hostile one is a 400 and nothing is read or written.
"""

from __future__ import annotations

import anyio.to_thread
from fastapi import APIRouter, Request, Response
from fastapi.responses import JSONResponse, StreamingResponse

from ...blob_access import blob_size, open_blob, put_blob
from ._dependencies import GUARDS, Admin, PlatformDep
from ._streaming import RequestBodyReader, verified_chunks

router = APIRouter(tags=["blobs"], dependencies=GUARDS)


@router.put("/blobs", summary="Store the raw request body as a blob (streamed)")
async def blobs_put(request: Request, platform: PlatformDep, actor: Admin) -> JSONResponse:
    reader = RequestBodyReader(request)
    info = await anyio.to_thread.run_sync(put_blob, platform, actor, reader)
    return JSONResponse(
        info.to_dict(),
        status_code=201 if info.created else 200,
        headers={"Location": str(request.url_for("blobs_get", address=info.address))},
    )


@router.get("/blobs/{address}", summary="Download a blob (streamed)")
def blobs_get(address: str, platform: PlatformDep, actor: Admin) -> StreamingResponse:
    size = blob_size(platform, actor, address)
    chunks = verified_chunks(open_blob(platform, actor, address))
    return StreamingResponse(
        chunks,
        media_type="application/octet-stream",
        headers={"Content-Length": str(size), "ETag": f'"{address}"'},
    )


@router.head("/blobs/{address}", summary="A blob's size, without its content")
def blobs_head(address: str, platform: PlatformDep, actor: Admin) -> Response:
    size = blob_size(platform, actor, address)
    return Response(
        media_type="application/octet-stream",
        headers={"Content-Length": str(size), "ETag": f'"{address}"'},
    )
