"""Durability for many files at once: start writeback early, wait for it once.

Linux has ``sync_file_range`` (start writing a file's dirty pages back without waiting) and
``syncfs`` (wait until everything written to one file system is on disk, reporting write-back
errors since Linux 5.8); Python's ``os`` module has neither, so they are called through
ctypes. Elsewhere writeback is not started early and ``os.sync()`` stands in for ``syncfs``.
"""

from __future__ import annotations

import ctypes
import functools
import os
import sys
from typing import Any

_SYNC_FILE_RANGE_WRITE = 2


@functools.cache
def _libc() -> Any | None:
    if not sys.platform.startswith("linux"):
        return None
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        offset = ctypes.c_int64
        libc.sync_file_range.argtypes = [ctypes.c_int, offset, offset, ctypes.c_uint]
        libc.syncfs.argtypes = [ctypes.c_int]
    except (OSError, AttributeError):
        return None
    return libc


def start_writeback(fd: int) -> None:
    """Ask the kernel to start writing ``fd``'s dirty pages to disk now (no waiting).

    Only a hint: errors are left for ``sync_filesystem`` to report."""
    libc = _libc()
    if libc is not None:
        libc.sync_file_range(fd, 0, 0, _SYNC_FILE_RANGE_WRITE)


def sync_filesystem(path: str) -> None:
    """Return once everything written to the file system holding ``path`` is on disk.

    Raises ``OSError`` if the kernel reports a write-back error."""
    libc = _libc()
    if libc is None:
        os.sync()
        return
    fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
    try:
        if libc.syncfs(fd) != 0:
            code = ctypes.get_errno()
            raise OSError(code, f"syncfs {path}: {os.strerror(code)}")
    finally:
        os.close(fd)
