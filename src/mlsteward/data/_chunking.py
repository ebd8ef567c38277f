"""Content-defined chunking (FastCDC) of big files into blobs, with bounded memory.

A one-byte edit in the middle of a big file changes only the chunk(s) around it: chunk
boundaries depend on the content near them, not on offsets, so the next version stores a few
new chunks instead of the whole file. The file is read through a fixed window (never
mapped: a file truncated while mapped would kill the process with SIGBUS); every chunk but
the last of a window is final, the last one is chunked again with the next window, so the
boundaries are exactly those of chunking the whole file at once.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from typing import TYPE_CHECKING

from ..errors import IntegrityError

if TYPE_CHECKING:
    from ..blobs import BlobBatch, BlobInfo, BlobStore

CHUNKING_THRESHOLD = 8 * 1024 * 1024
"""Files of at least this many bytes are chunked; smaller ones are one blob."""
MIN_CHUNK = 256 * 1024
AVG_CHUNK = 1024 * 1024
MAX_CHUNK = 4 * 1024 * 1024
WINDOW = 4 * MAX_CHUNK
"""Bytes held in memory per file being chunked."""


def store_chunks(
    blobs: BlobStore | BlobBatch,
    fd: int,
    progress: Callable[[int], None] | None = None,
) -> tuple[list[tuple[str, int]], int]:
    """Chunk the open file ``fd`` from its start and store every chunk as a blob.

    Returns the ``(address, size)`` chunks in file order and the bytes of chunks stored for
    the first time. Reads until end of file, so a file that grew is read whole (the caller
    compares sizes). ``progress`` gets the bytes of each chunk once it is stored.
    """
    from fastcdc.fastcdc_cy import fastcdc_cy  # type: ignore[import-untyped]

    address_key = address_key_of(blobs)
    buffer = bytearray(WINDOW)
    view = memoryview(buffer)
    filled = 0
    offset = 0  # file offset of buffer[0]
    eof = False
    chunks: list[tuple[str, int]] = []
    new_bytes = 0
    while not eof or filled:
        while not eof and filled < WINDOW:
            n = os.preadv(fd, [view[filled:]], offset + filled)
            if n == 0:
                eof = True
            filled += n
        found = fastcdc_cy(view[:filled], MIN_CHUNK, AVG_CHUNK, MAX_CHUNK, False)
        cuts = [(c.offset, c.length) for c in found]
        if not eof and len(cuts) > 1:
            cuts.pop()  # may end at the window's edge: chunk it again with what follows
        for start, length in cuts:
            info = put_bytes_once(blobs, view[start : start + length], address_key)
            if info.created:
                new_bytes += length
            chunks.append((info.address, length))
            if progress is not None:
                progress(length)
        consumed = cuts[-1][0] + cuts[-1][1] if cuts else 0
        view[: filled - consumed] = view[consumed:filled]
        filled -= consumed
        offset += consumed
    return chunks, new_bytes


def address_key_of(blobs: BlobStore | BlobBatch) -> bytes | None:
    """The key of the store's keyed addresses (encrypted stores), else None. Stand-ins for a
    store (a remote add's upload sink) have no keyring."""
    keyring = getattr(blobs, "keyring", None)
    return keyring.address_key if keyring is not None else None


def put_bytes_once(
    blobs: BlobStore | BlobBatch, data: memoryview | bytes, address_key: bytes | None
) -> BlobInfo:
    """``blobs.put_bytes(data)``, but without writing (and fsyncing) a copy when the content
    is stored already: the address is computed first (``address_key``: ``address_key_of``)."""
    from ..blobs import BlobInfo

    address = chunk_address(address_key, memoryview(data))
    if blobs.exists(address):
        return BlobInfo(address, len(data), False)
    info = blobs.put_bytes(data)
    if info.address != address:
        raise IntegrityError(
            "the blob store named content differently from the address computed for it; "
            "report this as a bug"
        )
    return info


def chunk_address(address_key: bytes | None, data: memoryview) -> str:
    """The address the store gives ``data`` (BLAKE3, keyed when encrypted): computed first so
    a chunk already stored is not written again (most chunks of a re-added big file)."""
    import blake3

    hasher = blake3.blake3() if address_key is None else blake3.blake3(key=address_key)
    hasher.update(data)
    return hasher.hexdigest()
