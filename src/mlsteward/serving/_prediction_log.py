"""Prediction logging: inputs and outputs folded into per-window profiles plus a sampled row log.

``LoggingPredict`` wraps the app's ``Predict``: after each successful prediction it hands the
input, the output and the prediction ids to a ``PredictionLogger``. On the event loop that is one
append of references to a bounded queue (at most ``max_waiting_rows`` rows wait; beyond that the
whole submission is dropped and counted). A background thread converts the submissions to
tables, folds them into the current window's mergeable profile (``mlsteward.profiles``), keeps a
deterministic sample of rows (PII columns masked) and the feedback labels, and, when a window
closes, passes it to a second thread that ships it through a ``PredictionSink`` with a bounded
retry. A slow or failing sink therefore never delays a request: closed windows wait in a bounded
queue and are dropped (counted, logged) beyond it.

Serving statistics: ``observe_answer`` (called by ``ObservabilityMiddleware`` once a request
to a known model is answered) counts the request, its status and latency in the
``ServingStats`` of the model version's current window: on the event loop, one dictionary
update under the lock the queue already takes, no I/O. A window closes with its statistics, so
a window whose every request failed still ships (with no rows).

Prediction ids: ``/v1`` makes one per row and puts them in ``PREDICTION_IDS`` before predicting;
the other protocols get ``<request id>-<row>``, the request id being the one the observability
middleware answers in ``X-Request-ID`` (``REQUEST_ID``).
"""

from __future__ import annotations

import hashlib
import logging
import math
import os
import queue
import threading
import time
from collections.abc import Awaitable, Callable, Mapping, Sequence
from contextvars import ContextVar
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Final

from ..errors import InvalidArgument, Unavailable
from ._metrics import REQUEST_ID
from ._prediction_tables import (
    block_tables,
    input_frame,
    mask_frame,
    output_frame,
    row_count,
    row_ids,
)

if TYPE_CHECKING:
    from ..monitoring._serving_stats import ServingStats
    from ..profiles import DatasetProfile
    from ._core import ServedModel
    from ._metrics import ServingMetrics
    from ._prediction_sinks import PredictionSink

__all__ = [
    "DEFAULT_LOG_WINDOW_SECONDS",
    "DEFAULT_MAX_WAITING_ROWS",
    "DEFAULT_SAMPLE_RATE",
    "PREDICTION_IDS",
    "ClosedWindow",
    "LoggingPredict",
    "PredictionLogOptions",
    "PredictionLogger",
    "is_sampled",
]

_log = logging.getLogger("mlsteward.serving.prediction_log")

DEFAULT_LOG_WINDOW_SECONDS: Final = 60.0
DEFAULT_MAX_WAITING_ROWS: Final = 100_000
DEFAULT_SAMPLE_RATE: Final = 0.01
DEFAULT_MAX_PENDING_WINDOWS: Final = 16
DEFAULT_RETRY_DELAYS: Final = (1.0, 4.0)
_DRAIN_ROWS: Final = 50_000  # rows converted and profiled together
_CLOSE_SECONDS: Final = 30.0

PREDICTION_IDS: ContextVar[Sequence[str] | None] = ContextVar(
    "mlsteward_prediction_ids", default=None
)
"""The ids of the rows a protocol is about to predict (``/v1`` sets it; the others leave it
unset and get ``<request id>-<row>``)."""


def is_sampled(prediction_id: str, rate: float) -> bool:
    """Whether the row ``prediction_id`` belongs to the sampled row log at ``rate``: the same
    answer for the same id on every replica and every retry (a hash, not a random draw)."""
    if rate >= 1.0:
        return True
    if rate <= 0.0:
        return False
    digest = hashlib.blake2b(prediction_id.encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big") < rate * 2.0**64


@dataclass
class _Submission:
    model: str
    version: str
    at: float
    data: Any = None
    output: Any = None
    ids: Sequence[str] | None = None
    request_id: str | None = None
    rows: int = 0
    labels: list[tuple[str, Any]] | None = None  # a feedback submission
    served: ServedModel | None = None  # for the class probabilities of the sampled rows


@dataclass
class ClosedWindow:
    """One window of one served model version, ready to ship.

    ``start``/``end``: epoch seconds. ``profile``: inputs and outputs together (output columns
    are ``output_columns``). ``sampled``: the sampled rows (a pandas DataFrame with a
    ``prediction_id`` column, PII masked) or None. ``feedback``: ``(prediction_id, label JSON,
    received at)`` triples. ``source``: what distinguishes this server process's windows from
    another's with the same start (host and process id). ``serving``: the requests this
    process answered for the version in the window (None: none was counted).
    """

    model: str
    version: str
    start: float
    end: float
    profile: DatasetProfile
    input_columns: list[str]
    output_columns: list[str]
    rows: int
    sampled: Any
    feedback: list[tuple[str, str, float]]
    source: str
    unlogged_rows: int = 0
    serving: ServingStats | None = None

    @property
    def sampled_rows(self) -> int:
        return 0 if self.sampled is None else len(self.sampled)


@dataclass
class _OpenWindow:
    model: str
    version: str
    start: float
    end: float
    profile: DatasetProfile | None = None
    input_columns: dict[str, None] = field(default_factory=dict)
    output_columns: dict[str, None] = field(default_factory=dict)
    rows: int = 0
    unlogged_rows: int = 0
    sampled: list[Any] = field(default_factory=list)
    feedback: list[tuple[str, str, float]] = field(default_factory=list)
    serving: ServingStats | None = None


class PredictionLogger:
    """Feeds per-window profiles and a sampled row log from served predictions.

    ``sink``: where closed windows go. ``window_seconds``: window length (windows start at
    multiples of it, in epoch seconds, so the windows of several replicas line up).
    ``sample_rate``: share of rows kept in the row log (0 to 1). ``mask_columns``: column ->
    PII class (``mlsteward.privacy.PiiClass`` value) or None (masked completely); those columns
    never reach the row log in clear and their profiles keep no raw values.
    ``max_waiting_rows``: rows at most waiting for the background thread. ``metrics``: counts
    dropped rows (``mlsteward_prediction_log_dropped_rows_total``) and windows.

    ``start()`` starts the threads (call it in the process that serves: after ``fork``);
    ``close()`` ships the open windows and stops them.
    """

    def __init__(
        self,
        sink: PredictionSink,
        *,
        window_seconds: float = DEFAULT_LOG_WINDOW_SECONDS,
        sample_rate: float = DEFAULT_SAMPLE_RATE,
        mask_columns: Mapping[str, str | None] | None = None,
        max_waiting_rows: int = DEFAULT_MAX_WAITING_ROWS,
        max_pending_windows: int = DEFAULT_MAX_PENDING_WINDOWS,
        retry_delays: Sequence[float] = DEFAULT_RETRY_DELAYS,
        metrics: ServingMetrics | None = None,
    ) -> None:
        if not (isinstance(window_seconds, int | float) and 0 < window_seconds <= 86_400):
            raise InvalidArgument("the log window must be between 0 and 86400 seconds")
        if not (isinstance(sample_rate, int | float) and 0.0 <= sample_rate <= 1.0):
            raise InvalidArgument("the log sample rate must be between 0 and 1")
        if max_waiting_rows < 1 or max_pending_windows < 1:
            raise InvalidArgument("max_waiting_rows and max_pending_windows must be at least 1")
        from ..privacy import PiiClass

        known = {member.value for member in PiiClass}
        for name, pii_class in (mask_columns or {}).items():
            if pii_class is not None and pii_class not in known:
                raise InvalidArgument(
                    f"unknown PII class {str(pii_class)[:50]!r} for column {name[:100]!r}: use "
                    f"one of {', '.join(sorted(known))} or None (masked completely)"
                )
        self.sink = sink
        self.window_seconds = float(window_seconds)
        self.sample_rate = float(sample_rate)
        self.mask_columns: dict[str, str | None] = dict(mask_columns or {})
        self.max_waiting_rows = max_waiting_rows
        self.retry_delays = tuple(retry_delays)
        self.metrics = metrics
        self._queue: queue.SimpleQueue[_Submission | None] = queue.SimpleQueue()
        self._closed: queue.Queue[ClosedWindow | None] = queue.Queue(max_pending_windows)
        self._waiting = 0
        self._lock = threading.Lock()
        self._counts_lock = threading.Lock()  # the counters below: three threads add to them
        self._windows: dict[tuple[str, str, float], _OpenWindow] = {}
        self._answers: dict[tuple[str, str, float], ServingStats] = {}  # under ``_lock``
        from ..monitoring._serving_stats import ServingStats  # here: serving imports stay light

        self._new_stats = ServingStats
        self._threads: list[threading.Thread] = []
        self._stopping = threading.Event()
        self.source = f"{os.uname().nodename}-{os.getpid()}"
        self._unscored: set[tuple[str, str]] = set()  # versions whose predict_proba failed
        self.shipped_windows = 0
        self.dropped_rows = 0
        self.dropped_windows = 0

    # -- the event loop's side -------------------------------------------------------------

    def submit(
        self,
        model: ServedModel,
        data: Any,
        output: Any,
        *,
        ids: Sequence[str] | None,
        request_id: str | None,
    ) -> bool:
        """Queue one prediction for logging (references only; never blocks). False when it
        was dropped because ``max_waiting_rows`` rows already wait."""
        rows = row_count(data)
        item = _Submission(
            model.name, model.version, time.time(), data, output, ids, request_id, rows,
            served=model,
        )  # fmt: skip
        return self._put(item, rows)

    def submit_feedback(self, model: ServedModel, labels: list[tuple[str, Any]]) -> None:
        """Queue delayed labels (``(prediction_id, label)``) for ``model``'s current window;
        ``Unavailable`` (503) when the queue is full."""
        item = _Submission(model.name, model.version, time.time(), labels=labels)
        if not self._put(item, len(labels), count_drop=False):
            raise Unavailable(
                "the prediction log is behind and cannot take these labels now; retry later",
                details={"retry_after": 1},
            )

    def observe_answer(self, model: str, version: str, status: int, seconds: float) -> None:
        """Count one request answered for ``version`` of ``model`` with HTTP ``status`` after
        ``seconds`` in the serving statistics of its current window (never blocks for long,
        no I/O)."""
        start = math.floor(time.time() / self.window_seconds) * self.window_seconds
        key = (model, version, start)
        with self._lock:
            stats = self._answers.get(key)
            if stats is None:
                stats = self._answers[key] = self._new_stats()
            stats.observe(seconds, status)

    def _put(self, item: _Submission, rows: int, *, count_drop: bool = True) -> bool:
        with self._lock:
            if self._waiting + rows > self.max_waiting_rows:
                if count_drop:
                    self._count_dropped(rows, "queue_full")
                return False
            self._waiting += rows
        self._queue.put(item)
        return True

    def _count_dropped(self, rows: int, reason: str) -> None:
        with self._counts_lock:
            self.dropped_rows += rows
        if self.metrics is not None:
            self.metrics.prediction_log_dropped_rows(rows, reason)

    # -- lifecycle -------------------------------------------------------------------------

    def start(self) -> None:
        """Start the converting and shipping threads (once)."""
        if self._threads:
            return
        self._threads = [
            threading.Thread(target=self._convert_loop, name="prediction-log", daemon=True),
            threading.Thread(target=self._ship_loop, name="prediction-log-ship", daemon=True),
        ]
        for thread in self._threads:
            thread.start()

    def close(self, timeout: float = _CLOSE_SECONDS) -> None:
        """Close every open window, ship them, and stop the threads (blocks up to
        ``timeout`` seconds; a sink that hangs longer is left behind, its windows lost)."""
        if not self._threads or self._stopping.is_set():
            return  # not started, or closed already
        self._stopping.set()
        self._queue.put(None)
        deadline = time.monotonic() + timeout
        for thread in self._threads:
            thread.join(max(0.0, deadline - time.monotonic()))
        if any(thread.is_alive() for thread in self._threads):
            _log.error("the prediction log could not ship its last windows in %g s", timeout)

    # -- the converting thread -------------------------------------------------------------

    def _convert_loop(self) -> None:
        stopping = False
        while not stopping:
            batch: list[_Submission] = []
            rows = 0
            try:
                item = self._queue.get(timeout=self._seconds_to_next_close())
                while True:
                    if item is None:
                        stopping = True
                        break
                    batch.append(item)
                    rows += max(item.rows, 1)
                    if rows >= _DRAIN_ROWS:
                        break
                    item = self._queue.get_nowait()
            except queue.Empty:
                pass
            if batch:
                try:
                    self._fold(batch)
                except Exception:  # a bug must not stop the logging of later windows
                    _log.exception("the prediction log could not fold %d submissions", len(batch))
                    self._count_dropped(sum(i.rows for i in batch), "unsupported_input")
                finally:
                    with self._lock:
                        self._waiting -= sum(
                            i.rows if i.labels is None else len(i.labels) for i in batch
                        )
            self._close_windows(everything=stopping)
        self._closed.put(None)

    def _seconds_to_next_close(self) -> float:
        if not self._windows:
            return 1.0
        grace = min(0.5, self.window_seconds / 4)
        nearest = min(w.end for w in self._windows.values()) + grace
        return min(1.0, max(0.01, nearest - time.time()))

    def _window(self, model: str, version: str, at: float) -> _OpenWindow:
        start = math.floor(at / self.window_seconds) * self.window_seconds
        key = (model, version, start)
        window = self._windows.get(key)
        if window is None:
            window = self._windows[key] = _OpenWindow(
                model, version, start, start + self.window_seconds
            )
        return window

    def _fold(self, batch: list[_Submission]) -> None:
        groups: dict[int, tuple[_OpenWindow, list[_Submission]]] = {}
        for item in batch:
            window = self._window(item.model, item.version, item.at)
            if item.labels is not None:
                window.feedback.extend(
                    (prediction_id, label, item.at) for prediction_id, label in item.labels
                )
                continue
            groups.setdefault(id(window), (window, []))[1].append(item)
        for window, items in groups.values():
            self._fold_predictions(window, items)

    def _fold_predictions(self, window: _OpenWindow, items: list[_Submission]) -> None:
        import pandas as pd

        from ..profiles import profile_frame

        tables, rest = block_tables(items)
        for item in rest:
            table = self._table(item)
            if table is None:
                window.unlogged_rows += item.rows
                self._count_dropped(item.rows, "unsupported_input")
            else:
                tables.append(table)
        if not tables:
            return
        inputs = pd.concat([t[0] for t in tables], ignore_index=True)
        outputs = pd.concat([t[1] for t in tables], ignore_index=True)
        ids = [i for t in tables for i in t[2]]
        window.input_columns.update(dict.fromkeys(str(c) for c in inputs.columns))
        window.output_columns.update(dict.fromkeys(str(c) for c in outputs.columns))
        both = pd.concat([inputs, outputs], axis=1)
        pii = [name for name in self.mask_columns if name in both.columns]
        profile = profile_frame(both, pii_columns=pii)
        window.profile = profile if window.profile is None else window.profile.merge(profile)
        window.rows += len(both)
        keep = [is_sampled(i, self.sample_rate) for i in ids]
        if any(keep):
            sampled = both.loc[keep].reset_index(drop=True)
            sampled = mask_frame(sampled, self.mask_columns)
            sampled.insert(0, "prediction_id", [i for i, k in zip(ids, keep, strict=True) if k])
            scores = self._scores(items[0].served, inputs.loc[keep])
            if scores is not None:
                sampled = pd.concat([sampled, scores], axis=1)
            window.sampled.append(sampled)

    def _scores(self, served: ServedModel | None, inputs: Any) -> Any:
        """The class probabilities of the sampled rows, ``score.<class>`` columns (a
        classifier with ``predict_proba`` and a table signature, or none), for quality metrics
        that need them (ROC AUC, log loss): computed here, for the sample only, off the request
        path. None when the model has none, or when they cannot be computed (logged once)."""
        import numpy as np
        import pandas as pd

        proba = getattr(served.loaded, "predict_proba", None) if served is not None else None
        if served is None or proba is None or (served.name, served.version) in self._unscored:
            return None
        signature = served.signature
        if signature is not None and signature.inputs.kind != "table":
            return None
        try:
            values = np.asarray(proba(inputs.reset_index(drop=True)), dtype=np.float64)
            classes = getattr(getattr(served.loaded, "predictor", None), "classes_", None)
            names = list(range(values.shape[1])) if classes is None else list(classes)
            if values.ndim != 2 or values.shape != (len(inputs), len(names)):
                raise ValueError(f"predict_proba gave shape {values.shape}")
        except Exception:
            self._unscored.add((served.name, served.version))
            _log.warning(
                "the prediction log keeps no class probabilities of %s %s: predict_proba "
                "failed on its sampled rows",
                served.name,
                served.version,
                exc_info=True,
            )
            return None
        return pd.DataFrame(values, columns=[f"score.{name}" for name in names])

    def _table(self, item: _Submission) -> tuple[Any, Any, list[str]] | None:
        inputs = input_frame(item.data)
        if inputs is None or len(inputs) != item.rows:
            return None
        inputs.columns = [str(c) for c in inputs.columns]
        outputs = output_frame(item.output, item.rows, set(inputs.columns))
        if outputs is None:
            return None
        return inputs, outputs, row_ids(item.ids, item.rows, item.request_id)

    def _close_windows(self, *, everything: bool) -> None:
        grace = min(0.5, self.window_seconds / 4)
        now = time.time()
        with self._lock:  # the statistics of the windows closing now join them
            due = [
                key
                for key in self._answers
                if everything or key[2] + self.window_seconds + grace <= now
            ]
            answered = [(key, self._answers.pop(key)) for key in due]
        for key, stats in answered:
            window = self._windows.get(key)
            if window is None:
                model, version, start = key
                window = self._windows[key] = _OpenWindow(
                    model, version, start, start + self.window_seconds
                )
            window.serving = stats if window.serving is None else window.serving.merge(stats)
        for key, window in list(self._windows.items()):
            if everything or window.end + grace <= now:
                del self._windows[key]
                self._hand_over(window)

    def _hand_over(self, window: _OpenWindow) -> None:
        from ..profiles import DatasetProfile

        if window.rows == 0 and not window.feedback and window.serving is None:
            return
        closed = ClosedWindow(
            model=window.model,
            version=window.version,
            start=window.start,
            end=window.end,
            profile=window.profile if window.profile is not None else DatasetProfile(),
            input_columns=list(window.input_columns),
            output_columns=list(window.output_columns),
            rows=window.rows,
            sampled=_concat(window.sampled),
            feedback=window.feedback,
            source=self.source,
            unlogged_rows=window.unlogged_rows,
            serving=window.serving,
        )
        try:
            self._closed.put_nowait(closed)
        except queue.Full:
            _log.error(
                "the prediction log dropped the window of %s %s from %s: %d windows already "
                "wait for the sink",
                window.model,
                window.version,
                window.start,
                self._closed.maxsize,
            )
            self._window_dropped(closed)

    def _window_dropped(self, window: ClosedWindow) -> None:
        with self._counts_lock:
            self.dropped_windows += 1
        self._count_dropped(window.rows, "shipping_failed")
        if self.metrics is not None:
            self.metrics.prediction_log_dropped_windows()

    # -- the shipping thread ---------------------------------------------------------------

    def _ship_loop(self) -> None:
        while True:
            window = self._closed.get()
            if window is None:
                return
            self._ship(window)

    def _ship(self, window: ClosedWindow) -> None:
        delays = [*self.retry_delays, None]
        for attempt, delay in enumerate(delays, start=1):
            try:
                self.sink.ship(window)
            except Exception as exc:
                if delay is None:
                    _log.error(
                        "the prediction log dropped the window of %s %s from %s after %d "
                        "attempts: %s",
                        window.model,
                        window.version,
                        window.start,
                        attempt,
                        exc,
                    )
                    self._window_dropped(window)
                    return
                _log.warning("shipping a prediction window failed (%s); retrying", exc)
                time.sleep(delay)
            else:
                self.shipped_windows += 1
                return


def _concat(frames: list[Any]) -> Any:
    if not frames:
        return None
    import pandas as pd

    return pd.concat(frames, ignore_index=True)


class LoggingPredict:
    """A ``Predict`` that logs what ``inner`` predicted to ``logger`` (after it succeeded)."""

    def __init__(
        self, inner: Callable[[ServedModel, Any], Awaitable[Any]], logger: PredictionLogger
    ) -> None:
        self.inner = inner
        self.logger = logger

    async def __call__(self, model: ServedModel, data: Any) -> Any:
        output = await self.inner(model, data)
        self.logger.submit(
            model, data, output, ids=PREDICTION_IDS.get(), request_id=REQUEST_ID.get()
        )
        return output

    async def close(self) -> None:
        close = getattr(self.inner, "close", None)
        if close is not None:
            await close()


@dataclass(frozen=True)
class PredictionLogOptions:
    """How a server logs predictions: ``sink`` (built in each serving process, after a
    fork: a database connection must not cross one), window length, sample rate and the
    columns to mask (name -> PII class or None)."""

    sink: Callable[[], PredictionSink]
    window_seconds: float = DEFAULT_LOG_WINDOW_SECONDS
    sample_rate: float = DEFAULT_SAMPLE_RATE
    mask_columns: Mapping[str, str | None] = field(default_factory=dict)
    max_waiting_rows: int = DEFAULT_MAX_WAITING_ROWS

    def logger(self, metrics: ServingMetrics | None) -> PredictionLogger:
        """A fresh logger with these options (not started)."""
        return PredictionLogger(
            self.sink(),
            window_seconds=self.window_seconds,
            sample_rate=self.sample_rate,
            mask_columns=self.mask_columns,
            max_waiting_rows=self.max_waiting_rows,
            metrics=metrics,
        )
