"""Overlapping CPU work with I/O: blocking reads into buffers, writes on a helper thread."""

from __future__ import annotations

import queue
import threading
from collections.abc import Callable
from typing import Any

from ..errors import InvalidArgument

WRITE_BEHIND_DEPTH = 3
"""Buffers in flight: one being filled, up to two being written."""


def read_full(source: Any, view: memoryview) -> int:
    """Fill ``view`` from ``source`` until it is full or the source ends; return bytes read.

    Uses ``readinto`` when the source has it, else ``read``. Raises ``InvalidArgument`` for a
    non-blocking source that has nothing ready.
    """
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
        if got is None:
            raise InvalidArgument("blob sources must be blocking binary streams")
        if got == 0:
            break
        filled += got
    return filled


def write_all(handle: Any) -> Callable[[memoryview], None]:
    """A writer for a raw (unbuffered) file that retries short writes.

    (Hinting the kernel to start writeback early, with ``posix_fadvise`` or
    ``sync_file_range``, was measured: it made puts bimodal, sometimes 2x faster, often 3x
    slower, so the store simply writes and then fsyncs once.)
    """

    def write(view: memoryview) -> None:
        while view:
            view = view[handle.write(view) :]

    return write


class WriteBehind:
    """Writes filled buffers on a helper thread while the caller fills the next one.

    Hashing and AES-GCM hold the GIL but file and network writes release it, so a put or a
    get runs at about the speed of the slower of the two instead of their sum. Memory is
    bounded by ``depth`` buffers of ``buffer_size`` bytes, allocated only when needed. An
    object that fits in one buffer is written inline, without a thread.
    """

    def __init__(
        self,
        write: Callable[[memoryview], object],
        buffer_size: int,
        *,
        depth: int = WRITE_BEHIND_DEPTH,
    ) -> None:
        self._write = write
        self.buffer_size = buffer_size
        self._depth = depth
        self._allocated = 0
        self._free: queue.SimpleQueue[bytearray] = queue.SimpleQueue()
        self._pending: queue.SimpleQueue[tuple[bytearray, int] | None] = queue.SimpleQueue()
        self._thread: threading.Thread | None = None
        self._error: BaseException | None = None
        self._cancelled = False

    def buffer(self) -> bytearray:
        """A buffer to fill (waits for the writer when ``depth`` buffers are in flight)."""
        self._raise_error()
        if self._allocated < self._depth and self._free.empty():
            self._allocated += 1
            return bytearray(self.buffer_size)
        buffer = self._free.get()
        self._raise_error()
        return buffer

    def release(self, buffer: bytearray) -> None:
        """Give back a buffer that holds nothing to write."""
        self._free.put(buffer)

    def submit(self, buffer: bytearray, length: int, *, last: bool) -> None:
        """Queue the first ``length`` bytes of ``buffer`` for writing, in order."""
        self._raise_error()
        if self._thread is None:
            if last:
                self._write(memoryview(buffer)[:length])
                self._free.put(buffer)
                return
            self._thread = threading.Thread(
                target=self._run, name="mlsteward-blob-writer", daemon=True
            )
            self._thread.start()
        self._pending.put((buffer, length))

    def close(self) -> None:
        """Wait until everything submitted is written; raise the writer's error, if any."""
        self._stop()
        self._raise_error()

    def cancel(self) -> None:
        """Stop writing (after an error elsewhere); never raises."""
        self._cancelled = True
        self._stop()

    def _stop(self) -> None:
        if self._thread is not None:
            self._pending.put(None)
            self._thread.join()
            self._thread = None

    def _raise_error(self) -> None:
        if self._error is not None:
            error, self._error = self._error, None
            self._cancelled = True
            raise error

    def _run(self) -> None:
        while (item := self._pending.get()) is not None:
            buffer, length = item
            if self._error is None and not self._cancelled:
                try:
                    self._write(memoryview(buffer)[:length])
                except BaseException as exc:  # handed to the caller's thread
                    self._error = exc
            self._free.put(buffer)
