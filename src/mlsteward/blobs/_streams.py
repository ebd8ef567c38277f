"""Streaming with bounded memory: hashing (and encrypting) writes, verifying readers."""

from __future__ import annotations

import io
from dataclasses import dataclass
from typing import Any, BinaryIO, Protocol

from ..errors import IntegrityError, InvalidArgument, PayloadTooLarge
from ._backend import TempWriter
from ._crypto import HEADER_SIZE, TAG_SIZE, ChunkCipher, decode_header
from ._reports import ProgressCallback

IO_CHUNK_SIZE = 8 * 1024 * 1024
"""Bytes read per call when copying plaintext (a reusable buffer of this size per stream)."""


class Readable(Protocol):
    """Anything with ``read(n) -> bytes`` (``readinto`` is used when present)."""

    def read(self, size: int = ..., /) -> bytes: ...


def read_full(source: Any, view: memoryview) -> int:
    """Fill ``view`` from ``source`` until it is full or the source ends; return bytes read."""
    readinto = getattr(source, "readinto", None)
    filled = 0
    total = len(view)
    while filled < total:
        if readinto is not None:
            got = readinto(view[filled:])
        else:
            data = source.read(total - filled)
            got = len(data) if data is not None else None
            if got:
                view[filled : filled + got] = data
        if got is None:  # a non-blocking source with nothing ready; we need blocking I/O
            raise InvalidArgument("blob sources must be blocking binary streams")
        if got == 0:
            break
        filled += got
    return filled


@dataclass(slots=True)
class WrittenTemp:
    """A finished temporary object and what the store needs to publish it."""

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

    Memory is bounded by one buffer. The temporary object is finished (``close``) but not
    published; on any error it is aborted. Raises ``PayloadTooLarge`` past ``max_bytes``.
    """
    try:
        size = (
            _copy_plain(source, temp, hasher, progress, max_bytes)
            if cipher is None
            else _copy_encrypted(source, temp, hasher, cipher, progress, max_bytes)
        )
        temp.close()
    except BaseException:
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
    temp: TempWriter,
    hasher: Any,
    progress: ProgressCallback | None,
    max_bytes: int | None,
) -> int:
    buffer = bytearray(IO_CHUNK_SIZE)
    view = memoryview(buffer)
    size = 0
    while True:
        got = read_full(source, view)
        if not got:
            return size
        size += got
        _check_limit(size, max_bytes)
        piece = view[:got]
        hasher.update(piece)
        temp.write(piece)
        if progress is not None:
            progress(got)
        if got < len(view):
            return size


def _copy_encrypted(
    source: Any,
    temp: TempWriter,
    hasher: Any,
    cipher: ChunkCipher,
    progress: ProgressCallback | None,
    max_bytes: int | None,
) -> int:
    buffer = bytearray(cipher.chunk_size)
    view = memoryview(buffer)
    temp.write(cipher.header)
    size = 0
    while True:
        # A full chunk is never final: an object whose size is a multiple of the chunk size
        # ends with an empty final chunk, so the reader needs no look-ahead.
        got = read_full(source, view)
        size += got
        _check_limit(size, max_bytes)
        piece = view[:got]
        hasher.update(piece)
        final = got < len(view)
        temp.write(cipher.encrypt(piece, final=final))
        if progress is not None and got:
            progress(got)
        if final:
            return size


class _VerifyingReader(io.RawIOBase):
    """Base of the readers: hashes what it returns and checks the address at end of stream."""

    def __init__(self, handle: BinaryIO, address: str, hasher: Any) -> None:
        super().__init__()
        self._handle = handle
        self.address = address
        self._hasher = hasher
        self._checked = False

    def readable(self) -> bool:
        return True

    def close(self) -> None:
        if not self.closed:
            self._handle.close()
        super().close()

    def readall(self) -> bytes:
        out = bytearray()
        while chunk := self.read(IO_CHUNK_SIZE):
            out += chunk
        return bytes(out)

    def _check_address(self) -> None:
        if self._checked:
            return
        self._checked = True
        if self._hasher.hexdigest() != self.address:
            raise IntegrityError(
                f"blob {self.address} is corrupt: its content does not match its address; "
                "restore it from a backup or delete it",
                details={"address": self.address},
            )


class PlainReader(_VerifyingReader):
    """Reads an unencrypted object; raises ``IntegrityError`` at the end if it is corrupt.

    ``prefix`` holds bytes already read from ``handle``; they are returned first.
    """

    def __init__(self, handle: BinaryIO, address: str, hasher: Any, prefix: bytes = b"") -> None:
        super().__init__(handle, address, hasher)
        self._prefix = prefix

    def readinto(self, buffer: Any) -> int:
        view = memoryview(buffer).cast("B")
        if self._prefix:
            count = min(len(view), len(self._prefix))
            view[:count] = self._prefix[:count]
            self._prefix = self._prefix[count:]
            self._hasher.update(view[:count])
            return count
        got = self._handle.readinto(view)  # type: ignore[attr-defined]
        if got:
            self._hasher.update(view[:got])
            return int(got)
        self._check_address()
        return 0


class DecryptingReader(_VerifyingReader):
    """Reads an encrypted object chunk by chunk, authenticating each before returning it."""

    def __init__(self, handle: BinaryIO, address: str, hasher: Any, data_key: bytes) -> None:
        super().__init__(handle, address, hasher)
        try:
            header = bytearray(HEADER_SIZE)
            got = read_full(handle, memoryview(header))
            chunk_size = decode_header(bytes(header[:got]), address)
            self._cipher = ChunkCipher(data_key, chunk_size)
            if self._cipher.header != bytes(header):  # pragma: no cover - decode_header checks
                raise IntegrityError(f"blob {address} has a malformed header")
        except BaseException:
            handle.close()
            raise
        self._sealed = bytearray(chunk_size + TAG_SIZE)
        self._plain: bytes = b""
        self._offset = 0

    def _next_chunk(self) -> bool:
        view = memoryview(self._sealed)
        got = read_full(self._handle, view)
        final = got < len(view)
        if got < TAG_SIZE:
            raise IntegrityError(
                f"blob {self.address} is truncated: its final chunk is missing",
                details={"address": self.address},
            )
        self._plain = self._cipher.decrypt(view[:got], final=final, address=self.address)
        self._offset = 0
        if final and self._handle.read(1):
            raise IntegrityError(
                f"blob {self.address} has data after its final chunk (tampered with)",
                details={"address": self.address},
            )
        self._hasher.update(self._plain)
        return True

    def readinto(self, buffer: Any) -> int:
        view = memoryview(buffer).cast("B")
        while self._offset >= len(self._plain):
            if self._cipher.finished:
                self._check_address()
                return 0
            self._next_chunk()
        count = min(len(view), len(self._plain) - self._offset)
        view[:count] = self._plain[self._offset : self._offset + count]
        self._offset += count
        return count
