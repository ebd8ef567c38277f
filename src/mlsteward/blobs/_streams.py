"""Streaming with bounded memory: hashing (and encrypting) writes, verifying reads."""

from __future__ import annotations

import io
import os
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, BinaryIO

from ..errors import IntegrityError, PayloadTooLarge
from ._backend import TempWriter
from ._crypto import HEADER_SIZE, TAG_SIZE, ChunkCipher, decode_header
from ._pipeline import WriteBehind, read_full
from ._reports import ProgressCallback

IO_CHUNK_SIZE = 2 * 1024 * 1024
"""Bytes per read of unencrypted objects (three buffers of this size are in flight).

Measured on 1 GB: 1-2 MiB buffers stay in the CPU caches between read, hash and write and
gave the fastest, steadiest gets (5-6 GB/s from a warm page cache); 4 MiB was often 2x
slower, 8 MiB worse, 512 KiB slow too (per-call costs)."""


@dataclass(slots=True)
class WrittenTemp:
    """A finished temporary object: its key, the content's address and plaintext size."""

    temp: TempWriter
    address: str
    size: int


def write_temp(
    source: Any,
    temp: TempWriter,
    *,
    hasher: Any,
    cipher: ChunkCipher | None,
    progress: ProgressCallback | None,
    max_bytes: int | None,
) -> WrittenTemp:
    """Copy ``source`` into ``temp``, hashing the plaintext and encrypting when asked.

    The temporary object is finished (``close``) but not published; on any error it is
    aborted. Raises ``PayloadTooLarge`` as soon as more than ``max_bytes`` are read.
    """
    size_of = IO_CHUNK_SIZE if cipher is None else cipher.chunk_size + TAG_SIZE
    behind = WriteBehind(temp.write, size_of)
    try:
        if cipher is None:
            size = _copy_plain(source, behind, hasher, progress, max_bytes)
        else:
            temp.write(cipher.header)
            size = _copy_encrypted(source, behind, hasher, cipher, progress, max_bytes)
        behind.close()
        temp.close()
    except BaseException:
        behind.cancel()
        temp.abort()
        raise
    return WrittenTemp(temp, hasher.hexdigest(), size)


def _check_limit(size: int, max_bytes: int | None) -> None:
    if max_bytes is not None and size > max_bytes:
        raise PayloadTooLarge(
            f"blob is larger than the limit of {max_bytes} bytes",
            details={"max_bytes": max_bytes},
        )


def _copy_plain(
    source: Any,
    behind: WriteBehind,
    hasher: Any,
    progress: ProgressCallback | None,
    max_bytes: int | None,
) -> int:
    size = 0
    while True:
        buffer = behind.buffer()
        view = memoryview(buffer)
        got = read_full(source, view)
        size += got
        _check_limit(size, max_bytes)
        last = got < len(view)
        if not got:
            behind.release(buffer)
            return size
        hasher.update(view[:got])
        behind.submit(buffer, got, last=last)
        if progress is not None:
            progress(got)
        if last:
            return size


def _copy_encrypted(
    source: Any,
    behind: WriteBehind,
    hasher: Any,
    cipher: ChunkCipher,
    progress: ProgressCallback | None,
    max_bytes: int | None,
) -> int:
    plain = memoryview(bytearray(cipher.chunk_size))
    size = 0
    while True:
        # A full chunk is never final: an object whose size is a multiple of the chunk size
        # ends with an empty final chunk, so readers need no look-ahead.
        got = read_full(source, plain)
        size += got
        _check_limit(size, max_bytes)
        hasher.update(plain[:got])
        final = got < len(plain)
        sealed = behind.buffer()
        cipher.encrypt_into(plain[:got], memoryview(sealed)[: got + TAG_SIZE], final=final)
        behind.submit(sealed, got + TAG_SIZE, last=final)
        if progress is not None and got:
            progress(got)
        if final:
            return size


class ObjectDecoder:
    """Turns a stored object into verified plaintext, one piece at a time.

    Encrypted pieces are authenticated before they are returned; the address (a hash of the
    whole plaintext) is checked when the last piece is read, before it is returned. Closes
    ``handle`` on errors raised while opening.
    """

    def __init__(
        self,
        handle: BinaryIO,
        address: str,
        hasher: Any,
        data_key: bytes | None,
        prefix: bytes = b"",
    ) -> None:
        self.handle = handle
        self.address = address
        self._hasher = hasher
        self._prefix = prefix
        self._done = False
        # Knowing the stored size lets the last piece be checked before it is returned, even
        # when the size is an exact multiple of the piece size.
        self._remaining = _stored_size(handle)
        if self._remaining is not None:
            self._remaining -= len(prefix)
        self._cipher: ChunkCipher | None = None
        self.piece_size = IO_CHUNK_SIZE
        if data_key is not None:
            try:
                header = bytearray(HEADER_SIZE)
                got = read_full(handle, memoryview(header))
                chunk_size = decode_header(bytes(header[:got]), address)
            except BaseException:
                handle.close()
                raise
            self._cipher = ChunkCipher(data_key, chunk_size)
            self.piece_size = chunk_size
            self._sealed = memoryview(bytearray(chunk_size + TAG_SIZE))

    @property
    def consumed(self) -> int:
        """Bytes of ``handle`` read so far by the store (the peeked prefix), for a rewind."""
        return len(self._prefix)

    @property
    def finished(self) -> bool:
        """True once the last piece has been read (and the address checked)."""
        return self._done

    def read_piece(self, out: memoryview) -> int:
        """Fill ``out`` (``piece_size`` bytes) with the next piece; 0 at the end."""
        if self._done:
            return 0
        got = self._read_encrypted(out) if self._cipher is not None else self._read_plain(out)
        self._hasher.update(out[:got])
        if self._done and self._hasher.hexdigest() != self.address:
            raise IntegrityError(
                f"blob {self.address} is corrupt: its content does not match its address; "
                "restore it from a backup or delete it",
                details={"address": self.address},
            )
        return got

    def _read_plain(self, out: memoryview) -> int:
        got = 0
        if self._prefix:
            got = len(self._prefix)
            out[:got] = self._prefix
            self._prefix = b""
        read = read_full(self.handle, out[got:])
        got += read
        if self._remaining is None:
            self._done = got < len(out)
        else:
            self._remaining -= read
            self._done = self._remaining <= 0 or got < len(out)
        return got

    def _read_encrypted(self, out: memoryview) -> int:
        assert self._cipher is not None
        got = read_full(self.handle, self._sealed)
        final = got < len(self._sealed)
        if got < TAG_SIZE:
            raise IntegrityError(
                f"blob {self.address} is truncated: its final chunk is missing",
                details={"address": self.address},
            )
        size = got - TAG_SIZE
        self._cipher.decrypt_into(self._sealed[:got], out[:size], final=final, address=self.address)
        if final and self.handle.read(1):
            raise IntegrityError(
                f"blob {self.address} has data after its final chunk (tampered with)",
                details={"address": self.address},
            )
        self._done = final
        return size


def _stored_size(handle: Any) -> int | None:
    """Size of an open stored object: ``size`` of an fsspec file, else ``fstat``."""
    size = getattr(handle, "size", None)
    if isinstance(size, int):
        return size
    try:
        return os.fstat(handle.fileno()).st_size
    except (AttributeError, OSError, io.UnsupportedOperation):
        return None


def copy_object(
    decoder: ObjectDecoder,
    write: Callable[[memoryview], object] | None,
    progress: ProgressCallback | None,
) -> int:
    """Pass every verified piece to ``write`` (on a helper thread); return plaintext bytes.

    ``write=None`` only reads and checks (for ``verify``). Raises ``IntegrityError`` if the
    object is corrupt; pieces already written must then be discarded by the caller.
    """
    behind = WriteBehind(write, decoder.piece_size) if write is not None else None
    scratch = bytearray(decoder.piece_size)
    total = 0
    try:
        while True:
            buffer = scratch if behind is None else behind.buffer()
            got = decoder.read_piece(memoryview(buffer))
            total += got
            if progress is not None and got:
                progress(got)
            if behind is not None:
                if got:
                    behind.submit(buffer, got, last=decoder.finished)
                else:
                    behind.release(buffer)
            if decoder.finished:
                break
        if behind is not None:
            behind.close()
    except BaseException:
        if behind is not None:
            behind.cancel()
        raise
    return total


class ObjectReader(io.RawIOBase):
    """The file-like view of an ``ObjectDecoder`` returned by ``BlobStore.open``."""

    def __init__(self, decoder: ObjectDecoder) -> None:
        super().__init__()
        self._decoder = decoder
        self._piece = memoryview(bytearray(decoder.piece_size))
        self._start = 0
        self._end = 0

    def readable(self) -> bool:
        return True

    def close(self) -> None:
        if not self.closed:
            self._decoder.handle.close()
        super().close()

    def readall(self) -> bytes:
        out = bytearray(self._piece[self._start : self._end])
        self._start = self._end = 0
        while got := self._decoder.read_piece(self._piece):
            out += self._piece[:got]
        return bytes(out)

    def readinto(self, buffer: Any) -> int:
        view = memoryview(buffer).cast("B")
        if self._start == self._end:
            if len(view) >= len(self._piece):  # a big read: decode straight into it
                return self._decoder.read_piece(view[: len(self._piece)])
            self._start, self._end = 0, self._decoder.read_piece(self._piece)
        count = min(len(view), self._end - self._start)
        view[:count] = self._piece[self._start : self._start + count]
        self._start += count
        return count
