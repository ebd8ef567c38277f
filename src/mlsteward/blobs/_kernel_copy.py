"""Local, unencrypted copies in the kernel (``copy_file_range``), hashed as they land.

Between two files on local disks a user-space loop (read, hash, write) costs an extra copy
and, measured in this project's VM, hit slow page-allocation paths that in-kernel copies do
not. Here a helper thread copies in the kernel while the caller reads back and hashes what
arrived in the destination: the digest is of the bytes actually stored, so a source that
changes meanwhile cannot make an object disagree with its address.
"""

from __future__ import annotations

import errno
import os
import queue
import stat
import threading
from typing import Any

from ..errors import IntegrityError
from ._address import new_hasher
from ._backend import LocalBackend, LocalTempWriter
from ._reports import ProgressCallback
from ._streams import ObjectDecoder, WrittenTemp

COPY_CHUNK_SIZE = 4 * 1024 * 1024
MAX_AHEAD_CHUNKS = 16
"""How far the copier may run ahead of the hasher (keeps copied pages in the page cache)."""

_UNSUPPORTED = {errno.EXDEV, errno.ENOSYS, errno.EOPNOTSUPP, errno.EINVAL, errno.EBADF}


def can_copy_in_kernel(source_fd: int) -> bool:
    """True when ``source_fd`` is a non-empty regular file and the OS has copy_file_range.

    Empty and special files (``/proc`` reports size 0 for files with content) go the
    user-space way.
    """
    if not hasattr(os, "copy_file_range"):
        return False
    info = os.fstat(source_fd)
    return stat.S_ISREG(info.st_mode) and info.st_size > 0


def copy_hashed(
    source_fd: int,
    dest_fd: int,
    hasher: Any,
    progress: ProgressCallback | None,
    *,
    dest_offset: int | None = None,
    size: int | None = None,
    chunk_size: int = COPY_CHUNK_SIZE,
) -> int | None:
    """Copy ``source_fd`` into ``dest_fd`` (opened read-write) in the kernel on a helper
    thread, hashing what landed in the destination.

    By default from the current position of each file to the source's end (the destination
    starting empty at offset 0). With ``dest_offset``: the source from its start, ``size``
    bytes at most, written at ``dest_offset`` (positions untouched). Returns the number of
    bytes copied, or None if the kernel cannot copy between these two files (nothing was
    copied: fall back to reading and writing).
    """
    base = dest_offset or 0

    def copy_from(offset: int) -> int:
        want = chunk_size if size is None else min(chunk_size, size - offset)
        if dest_offset is None:
            return os.copy_file_range(source_fd, dest_fd, want)
        return os.copy_file_range(source_fd, dest_fd, want, offset, base + offset)

    try:
        first = copy_from(0)
    except OSError as exc:
        if exc.errno in _UNSUPPORTED:
            return None
        raise
    chunks: queue.SimpleQueue[tuple[int, int] | BaseException | None] = queue.SimpleQueue()
    room = threading.Semaphore(MAX_AHEAD_CHUNKS)
    stop = threading.Event()

    def copier() -> None:
        offset, count = 0, first
        try:
            while count:
                chunks.put((offset, count))
                offset += count
                room.acquire()
                if stop.is_set() or (size is not None and offset >= size):
                    break
                count = copy_from(offset)
            chunks.put(None)
        except BaseException as exc:  # handed to the hashing thread
            chunks.put(exc)

    thread = threading.Thread(target=copier, name="mlsteward-kernel-copier", daemon=True)
    thread.start()
    view = memoryview(bytearray(chunk_size))
    total = 0
    try:
        while (item := chunks.get()) is not None:
            if isinstance(item, BaseException):
                raise item
            offset, count = item
            if os.preadv(dest_fd, [view[:count]], base + offset) != count:
                raise OSError(errno.EIO, "the copied bytes could not be read back")
            hasher.update(view[:count])
            total += count
            room.release()
            if progress is not None:
                progress(count)
    finally:
        stop.set()
        room.release()
        thread.join()
    return total


def copy_file_in(
    backend: LocalBackend, source_fd: int, progress: ProgressCallback | None
) -> WrittenTemp | None:
    """Copy a local file into a finished (fsynced) temporary object, unencrypted.

    None when the kernel cannot copy it (nothing is left behind): use the streaming path.
    """
    if not can_copy_in_kernel(source_fd):
        return None
    temp = backend.open_temp()
    assert isinstance(temp, LocalTempWriter)
    hasher = new_hasher(None)
    try:
        size = copy_hashed(source_fd, temp.fileno(), hasher, progress)
        if size is None:
            temp.abort()
            return None
        temp.close()
    except BaseException:
        temp.abort()
        raise
    return WrittenTemp(temp, hasher.hexdigest(), size)


def copy_object_out(
    decoder: ObjectDecoder, dest_fd: int, progress: ProgressCallback | None
) -> int | None:
    """Copy an unencrypted local object to ``dest_fd``; check the hash of what landed.

    Raises ``IntegrityError`` if the copy does not match the address. None when the kernel
    cannot copy (the decoder is left as it was).
    """
    source_fd = decoder.handle.fileno()
    if not can_copy_in_kernel(source_fd):
        return None
    os.lseek(source_fd, 0, os.SEEK_SET)  # the store peeked at the first bytes
    hasher = new_hasher(None)
    size = copy_hashed(source_fd, dest_fd, hasher, progress)
    if size is None:
        os.lseek(source_fd, decoder.consumed, os.SEEK_SET)
        return None
    if hasher.hexdigest() != decoder.address:
        raise IntegrityError(
            f"blob {decoder.address} is corrupt: its content does not match its address; "
            "restore it from a backup or delete it",
            details={"address": decoder.address},
        )
    return size
