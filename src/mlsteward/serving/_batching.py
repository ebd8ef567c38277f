"""Adaptive batching: many small requests, one model call.

A model called once on 100 rows costs little more than once on one row, so under load the
server predicts for many requests at once. Requests whose input is a table (a pandas
DataFrame, or a ``RowBlock`` of numbers) wait in one queue per model; as soon as a prediction
thread is free, everything queued (up to ``max_batch_rows``) goes to it as one batch. Batches
therefore grow with the load and a lone request waits for nobody: no timer adds latency when
the server is idle.

In the worker thread the batch is joined and checked against the signature at once (numeric
blocks without pandas, see ``_row_blocks``); only when that fails is each request checked on its
own, so a request that does not fit fails alone; the valid ones are predicted in one call, and
each gets its own slice of the output. If that call raises and the batch held several requests,
each is predicted alone, so a request that makes the model raise fails alone too.

Load shedding: at most ``max_queue_rows`` rows wait; a request that would pass that bound is
refused at once with ``Unavailable`` (503 with ``Retry-After``), so a burst far over capacity
costs bounded memory and the accepted requests keep a bounded latency. A request waiting
longer than its ``timeout`` fails with ``Unavailable`` too (a timer on the event loop, no task
per request); the batch it is part of still runs.

Inputs that are not tables (tensors) are predicted one request at a time, in the same threads.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections import deque
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import anyio

from ..errors import InvalidArgument, Unavailable
from ._row_blocks import BlockChecker, RowBlock, as_table

if TYPE_CHECKING:
    from ._core import ServedModel
    from ._metrics import ServingMetrics

DEFAULT_MAX_BATCH_ROWS = 512
DEFAULT_MAX_QUEUE_ROWS = 8192
RETRY_AFTER_SECONDS = 1


@dataclass
class _Pending:
    data: Any
    rows: int
    future: asyncio.Future[Any]
    error: BaseException | None = field(default=None)
    output: Any = None


def _timed_out(timeout: float) -> Unavailable:
    return Unavailable(
        f"the prediction took longer than the server's limit of {timeout:g} s; "
        "retry with fewer rows, or later",
        details={"retry_after": RETRY_AFTER_SECONDS},
    )


def _expire(future: asyncio.Future[Any], timeout: float) -> None:
    if not future.done():
        future.set_exception(_timed_out(timeout))


def _slice(output: Any, start: int, stop: int) -> Any:
    rows = getattr(output, "iloc", None)
    return rows[start:stop] if rows is not None else output[start:stop]


def _concat(tables: list[Any]) -> Any:
    import pandas as pd

    return pd.concat([as_table(table) for table in tables], ignore_index=True)


def _length(output: Any) -> int | None:
    try:
        return len(output)
    except TypeError:
        return None


class Batcher:
    """Batches the table predictions of one model (see the module docstring).

    ``threads``: predictions (batches) running at once. Use from one event loop.
    """

    def __init__(
        self,
        model: ServedModel,
        *,
        threads: int = 2,
        max_batch_rows: int = DEFAULT_MAX_BATCH_ROWS,
        max_queue_rows: int = DEFAULT_MAX_QUEUE_ROWS,
        metrics: ServingMetrics | None = None,
    ) -> None:
        if threads < 1 or max_batch_rows < 1 or max_queue_rows < 1:
            raise InvalidArgument("threads, max_batch_rows and max_queue_rows must be at least 1")
        self.model = model
        self._metrics = metrics
        self.max_batch_rows = max_batch_rows
        self.max_queue_rows = max_queue_rows
        self.queued_rows = 0
        self.batches = 0  # model calls made for batches (for tests and metrics)
        self._threads = threads
        self._limiter = anyio.CapacityLimiter(threads)
        self._queue: deque[_Pending] = deque()
        self._wakeup: asyncio.Event | None = None
        self._free: asyncio.Semaphore | None = None
        self._collector: asyncio.Task[None] | None = None
        signature = model.signature
        self._batchable = signature is not None and signature.inputs.kind == "table"
        self._blocks = BlockChecker(signature) if signature is not None else None

    async def predict(self, data: Any, timeout: float | None = None) -> Any:
        """The model's predictions for ``data``; ``SignatureViolation`` when it does not fit,
        ``Unavailable`` when the queue is full or the prediction takes over ``timeout``
        seconds."""
        rows = self._table_rows(data)
        if rows is None:
            try:
                with anyio.fail_after(timeout):
                    return await anyio.to_thread.run_sync(
                        self.model.predict,
                        data,
                        limiter=self._limiter,
                        abandon_on_cancel=True,
                    )
            except TimeoutError:
                raise _timed_out(timeout or 0) from None
        if self.queued_rows + rows > self.max_queue_rows and self.queued_rows > 0:
            if self._metrics is not None:
                self._metrics.shed(self.model.name)
            raise Unavailable(
                f"the server is busy ({self.queued_rows} rows waiting): retry in "
                f"{RETRY_AFTER_SECONDS} s",
                details={"retry_after": RETRY_AFTER_SECONDS},
            )
        loop = asyncio.get_running_loop()
        pending = _Pending(data, rows, loop.create_future())
        self._queue.append(pending)
        self._queue_changed(rows)
        self._start(loop).set()
        if timeout is None:
            return await pending.future
        timer = loop.call_later(timeout, _expire, pending.future, timeout)
        try:
            return await pending.future
        finally:
            timer.cancel()

    def _table_rows(self, data: Any) -> int | None:
        if not self._batchable or (
            type(data) is not RowBlock and type(data).__name__ != "DataFrame"
        ):
            return None
        rows = len(data)
        return rows if rows > 0 else None

    def _start(self, loop: asyncio.AbstractEventLoop) -> asyncio.Event:
        if self._wakeup is None or self._collector is None or self._collector.done():
            self._wakeup = asyncio.Event()
            self._free = asyncio.Semaphore(self._threads)
            self._collector = loop.create_task(self._collect(), name="mlsteward-batcher")
        return self._wakeup

    async def _collect(self) -> None:
        assert self._wakeup is not None
        assert self._free is not None
        while True:
            await self._wakeup.wait()
            self._wakeup.clear()
            while self._queue:
                await self._free.acquire()  # everything queued meanwhile joins this batch
                batch = self._take()
                asyncio.get_running_loop().create_task(self._run(batch))

    def _take(self) -> list[_Pending]:
        batch = [self._queue.popleft()]
        rows = batch[0].rows
        while self._queue and rows + self._queue[0].rows <= self.max_batch_rows:
            item = self._queue.popleft()
            rows += item.rows
            batch.append(item)
        self._queue_changed(-rows)
        if self._metrics is not None:
            self._metrics.observe_batch(self.model.name, rows)
        return batch

    def _queue_changed(self, rows: int) -> None:
        # The gauge is per model name: the versions of a deployment (a batcher each) add up.
        self.queued_rows += rows
        if self._metrics is not None:
            self._metrics.change_queue_rows(self.model.name, rows)

    async def _run(self, batch: list[_Pending]) -> None:
        assert self._free is not None
        try:
            await anyio.to_thread.run_sync(self._predict_batch, batch, limiter=self._limiter)
        except asyncio.CancelledError:
            for item in batch:
                item.future.cancel()
            raise
        except Exception as exc:  # a bug here: no request may hang
            for item in batch:
                if item.error is None and item.output is None:
                    item.error = exc
        finally:
            self._free.release()
            for item in batch:
                if item.future.done():
                    continue
                if item.error is not None:
                    item.future.set_exception(item.error)
                else:
                    item.future.set_result(item.output)

    def _predict_batch(self, batch: list[_Pending]) -> None:
        """In a worker thread: check the requests, predict the valid ones in one call."""
        self.batches += 1
        predictor = self.model.loaded.predictor
        frame, valid = self._checked(batch)
        if not valid:
            return
        try:
            output = predictor.predict(frame)
        except Exception as exc:
            if len(valid) == 1:
                valid[0].error = exc
                return
            for item in valid:  # find the request that makes the model raise
                self._predict_alone(predictor, item)
            return
        if _length(output) != len(frame):
            error = ValueError(f"the model returned {_length(output)} rows for {len(frame)}")
            for item in valid:
                item.error = error
            return
        start = 0
        for item in valid:
            item.output = _slice(output, start, start + item.rows)
            start += item.rows

    def _checked(self, batch: list[_Pending]) -> tuple[Any, list[_Pending]]:
        """The checked input of the requests that fit the signature, concatenated, and those
        requests; the others get their error. A batch is checked as a whole first (one check
        costs about as much for 100 rows as for one); only if that fails, request by request."""
        try:
            return self._checked_whole(batch), batch
        except Exception as exc:
            if len(batch) == 1:
                batch[0].error = exc
                return None, []
        valid, frames = [], []
        for item in batch:
            try:
                frames.append(self._checked_input(item.data))
                valid.append(item)
            except Exception as exc:
                item.error = exc
        if not valid:
            return None, []
        return (frames[0] if len(frames) == 1 else _concat(frames)), valid

    def _checked_whole(self, batch: list[_Pending]) -> Any:
        """The joined, checked input of the whole batch (``SignatureViolation`` when any part
        does not fit). Numeric blocks take the fast check; what it cannot vouch for goes the
        ordinary way."""
        assert self._blocks is not None
        tables = [item.data for item in batch]
        if all(type(table) is RowBlock for table in tables):
            frame = self._blocks.frame(tables)
            if frame is not None:
                return self._in_range(frame)
        return self._checked_input(tables[0] if len(tables) == 1 else _concat(tables))

    def _checked_input(self, data: Any) -> Any:
        from ..models import enforce_signature

        signature = self.model.signature
        assert signature is not None
        return self._in_range(enforce_signature(signature, as_table(data)))

    def _in_range(self, frame: Any) -> Any:
        if self.model.input_ranges is not None:
            self.model.input_ranges.check(frame)
        return frame

    def _predict_alone(self, predictor: Any, item: _Pending) -> None:
        try:
            item.output = predictor.predict(self._checked_input(item.data))
        except Exception as exc:
            item.error = exc

    async def close(self) -> None:
        """Stop the collector (requests still queued fail with ``Unavailable``)."""
        if self._collector is not None:
            self._collector.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._collector
        while self._queue:
            item = self._queue.popleft()
            if not item.future.done():
                item.future.set_exception(Unavailable("the server is shutting down"))
        self._queue_changed(-self.queued_rows)
