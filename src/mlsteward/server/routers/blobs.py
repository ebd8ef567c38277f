"""Raw blobs (administrators): streamed upload, streamed download, size.

Addresses in paths are untrusted: the blob store checks them (64 lowercase hex characters)
before touching storage, so a hostile one is a 400 and nothing is read or written.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import BinaryIO

import anyio.from_thread
import anyio.to_thread
from fastapi import APIRouter, Request, Response
from fastapi.responses import JSONResponse, StreamingResponse
from starlette.requests import ClientDisconnect

from ...blob_access import blob_size, open_blob, put_blob
from ...errors import InvalidArgument
from ._dependencies import GUARDS, Admin, PlatformDep

router = APIRouter(tags=["blobs"], dependencies=GUARDS)

_DOWNLOAD_CHUNK = 1024 * 1024


class _RequestBodyReader:
    """A blocking ``read(n)`` over the request's async body, for use in a worker thread.

    Each call pulls at most one chunk from the event loop, so memory holds one chunk and
    the body-size limit of the middleware still applies while the blob store reads.
    """

    def __init__(self, request: Request) -> None:
        self._chunks = request.stream().__aiter__()
        self._pending = b""
        self._finished = False

    async def _next_chunk(self) -> bytes | None:
        try:
            return await self._chunks.__anext__()
        except StopAsyncIteration:
            return None
        except ClientDisconnect:
            raise InvalidArgument("the upload ended early: the client disconnected") from None

    def read(self, size: int = -1, /) -> bytes:
        """Up to ``size`` bytes (at most one chunk); ``b""`` at the end. ``-1``: all the rest."""
        if size < 0:
            return b"".join(iter(lambda: self.read(1 << 20), b""))
        while not self._pending and not self._finished:
            chunk = anyio.from_thread.run(self._next_chunk)
            if chunk is None:
                self._finished = True
            else:
                self._pending = chunk
        data, self._pending = self._pending[:size], self._pending[size:]
        return data


@router.put("/blobs", summary="Store the raw request body as a blob (streamed)")
async def blobs_put(request: Request, platform: PlatformDep, actor: Admin) -> JSONResponse:
    reader = _RequestBodyReader(request)
    info = await anyio.to_thread.run_sync(put_blob, platform, actor, reader)
    return JSONResponse(
        info.to_dict(),
        status_code=201 if info.created else 200,
        headers={"Location": str(request.url_for("blobs_get", address=info.address))},
    )


@router.get("/blobs/{address}", summary="Download a blob (streamed)")
def blobs_get(address: str, platform: PlatformDep, actor: Admin) -> StreamingResponse:
    size = blob_size(platform, actor, address)
    chunks = _verified_chunks(open_blob(platform, actor, address))
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


def _verified_chunks(reader: BinaryIO) -> Iterator[bytes]:
    """The blob's chunks, each sent only once the next one has been read.

    The store checks the content against its address when the end is read. The first two
    chunks are read before the response starts, so a corrupt blob of up to one chunk is a
    proper error response; after that, holding each chunk back until the next was read means
    a corrupt blob never arrives complete: the client sees a body shorter than its
    ``Content-Length``, never silently wrong data.
    """
    try:
        held = reader.read(_DOWNLOAD_CHUNK)
        following = reader.read(_DOWNLOAD_CHUNK) if held else b""
    except BaseException:
        reader.close()
        raise
    return _held_back(reader, held, following)


def _held_back(reader: BinaryIO, held: bytes, following: bytes) -> Iterator[bytes]:
    with reader:
        while held:
            yield held
            held, following = following, (reader.read(_DOWNLOAD_CHUNK) if following else b"")
