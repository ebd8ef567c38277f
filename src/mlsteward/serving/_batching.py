"""Adaptive batching: many small requests, one model call.

A model called once on 100 rows costs little more than once on one row, so under load the
server predicts for many requests at once. Requests whose input is a table (a pandas
DataFrame) wait in one queue per model; as soon as a prediction thread is free, everything
queued (up to ``max_batch_rows``) goes to it as one batch. Batches therefore grow with the load
and a lone request waits for nobody: no timer adds latency when the server is idle.

In the worker thread each request is checked against the signature on its own, so a request
that does not fit fails alone; the valid ones are concatenated and predicted in one call, and
each gets its own slice of the output. If that call raises and the batch held several requests,
each is predicted alone, so a request that makes the model raise fails alone too.

Load shedding: at most ``max_queue_rows`` rows wait; a request that would pass that bound is
refused at once with ``Unavailable`` (503 with ``Retry-After``), so a burst far over capacity
costs bounded memory and the accepted requests keep a bounded latency.

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


def _slice(output: Any, start: int, stop: int) -> Any:
    rows = getattr(output, "iloc", None)
    return rows[start:stop] if rows is not None else output[start:stop]


def _concat(frames: list[Any]) -> Any:
    import pandas as pd

    return pd.concat(frames, ignore_index=True)


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

    async def predict(self, data: Any) -> Any:
        """The model's predictions for ``data``; ``SignatureViolation`` when it does not fit,
        ``Unavailable`` when the queue is full."""
        rows = self._table_rows(data)
        if rows is None:
            return await anyio.to_thread.run_sync(
                self.model.loaded.predict, data, limiter=self._limiter, abandon_on_cancel=True
            )
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
        self.queued_rows += rows
        self._queue_changed()
        self._start(loop).set()
        return await pending.future

    def _table_rows(self, data: Any) -> int | None:
        if not self._batchable or type(data).__name__ != "DataFrame":
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
        self.queued_rows -= rows
        self._queue_changed()
        if self._metrics is not None:
            self._metrics.observe_batch(self.model.name, rows)
        return batch

    def _queue_changed(self) -> None:
        if self._metrics is not None:
            self._metrics.set_queue_rows(self.model.name, self.queued_rows)

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
        from ..errors import SignatureViolation
        from ..models import enforce_signature

        signature = self.model.signature
        assert signature is not None
        if len(batch) > 1:
            try:
                return enforce_signature(signature, _concat([i.data for i in batch])), batch
            except SignatureViolation:
                pass  # one of them does not fit
        valid, frames = [], []
        for item in batch:
            try:
                frames.append(enforce_signature(signature, item.data))
                valid.append(item)
            except Exception as exc:
                item.error = exc
        if not valid:
            return None, []
        return (frames[0] if len(frames) == 1 else _concat(frames)), valid

    def _predict_alone(self, predictor: Any, item: _Pending) -> None:
        from ..models import enforce_signature

        signature = self.model.signature
        assert signature is not None
        try:
            item.output = predictor.predict(enforce_signature(signature, item.data))
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
        self.queued_rows = 0
