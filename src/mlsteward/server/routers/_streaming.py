"""Streaming request and response bodies, shared by the blob and artifact routers.

Not a router itself: ``create_app`` skips modules whose names start with ``_``.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import BinaryIO

import anyio.from_thread
from fastapi import Request
from starlette.requests import ClientDisconnect

from ...errors import InvalidArgument

_DOWNLOAD_CHUNK = 1024 * 1024


class RequestBodyReader:
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


def verified_chunks(reader: BinaryIO) -> Iterator[bytes]:
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
