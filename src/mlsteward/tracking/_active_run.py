"""``ActiveRun``: a run being logged to, with a background thread that ships batches.

``log_metric`` only appends a tuple to a deque (thread-safe, lock-free in CPython) and
returns; one thread per run takes points off the deque and ships them to the backend in
batches (by size, or at least every ``flush_interval`` seconds), and sends heartbeats. A
full buffer blocks the logging thread until the shipper frees space, so memory stays bounded
however fast the caller logs. Shipping errors are kept and raised by the next ``flush()``
or ``end()``: none is lost.

Ordering: items leave the deque in the order they were logged, so parameters logged before
metrics are stored before them. Parameters and tags travel in their own batches, so a
write-once ``Conflict`` on a parameter never takes metric points down with it.
"""

from __future__ import annotations

import atexit
import collections
import io
import os
import sys
import threading
import time
import traceback
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from types import TracebackType
from typing import TYPE_CHECKING, Any, BinaryIO, Protocol

from ..errors import Conflict, InvalidArgument, NotFound, StewardError
from ._artifacts import ArtifactInfo, artifact_destination, check_artifact_path
from ._model import (
    MAX_BATCH_POINTS,
    MAX_PARAM_VALUE_LENGTH,
    MAX_TAG_VALUE_LENGTH,
    Run,
    RunId,
    RunStatus,
)
from ._validation import (
    INT64_MAX,
    INT64_MIN,
    check_key,
    check_step,
    check_text_value,
    check_timestamp,
)

if TYPE_CHECKING:
    from ..models._model_dir import ModelMetadata
    from ..registry._model import ModelVersion

PointTuple = tuple[str, float, int, int]
TRACEBACK_TAG = "mlsteward.traceback"
TRACEBACK_ARTIFACT = "traceback.txt"

DEFAULT_BATCH_SIZE = 5000
DEFAULT_FLUSH_INTERVAL = 1.0
DEFAULT_MAX_BUFFERED = 100_000
DEFAULT_HEARTBEAT_INTERVAL = 30.0


class RunSink(Protocol):
    """Where an ``ActiveRun`` ships to: a client backend (in-process or HTTP)."""

    def log_batch(
        self,
        run_id: str,
        metrics: Sequence[PointTuple],
        params: dict[str, str],
        tags: dict[str, str],
    ) -> None: ...
    def heartbeat(self, run_id: str) -> None: ...
    def end_run(self, run_id: str, status: str) -> Run: ...
    def log_artifact(self, run_id: str, path: str, source: BinaryIO) -> ArtifactInfo: ...


class _Values:
    """Parameters or tags, queued in order with the metric points."""

    __slots__ = ("kind", "values")

    def __init__(self, kind: str, values: dict[str, str]) -> None:
        self.kind = kind
        self.values = values


class _FlushMark:
    """Queued by ``flush()``: set once everything queued before it has been shipped."""

    __slots__ = ("done",)

    def __init__(self) -> None:
        self.done = threading.Event()


_Item = PointTuple | _Values | _FlushMark


def _metric_value(key: str, value: Any) -> float:
    """A number that is not already a float: ints, NumPy/PyTorch scalars (not bools)."""
    if isinstance(value, bool) or not hasattr(type(value), "__float__"):
        raise InvalidArgument(
            f"metric {key!r} must be a number, not {type(value).__name__}", details={"key": key}
        )
    try:
        return float(value)
    except (TypeError, ValueError, OverflowError):
        raise InvalidArgument(
            f"metric {key!r} must be a number, not {type(value).__name__}", details={"key": key}
        ) from None


def check_shipping_options(
    batch_size: int, flush_interval: float, max_buffered: int, heartbeat_interval: float
) -> None:
    """``InvalidArgument`` unless the ``ActiveRun`` options make sense."""
    if not 1 <= batch_size <= MAX_BATCH_POINTS or max_buffered < 1:
        raise InvalidArgument(
            f"batch_size must be 1 to {MAX_BATCH_POINTS} and max_buffered at least 1"
        )
    if not flush_interval > 0 or not heartbeat_interval > 0:
        raise InvalidArgument("flush_interval and heartbeat_interval must be positive")


@dataclass(frozen=True)
class LoggedModel:
    """What ``ActiveRun.log_model`` logged: where, its metadata, and the registered version."""

    uri: str
    metadata: ModelMetadata
    version: ModelVersion | None = None


class ActiveRun:
    """A running run: log to it, then ``end()`` it (or use it as a context manager).

    ``batch_size`` points per request; ``flush_interval`` seconds at most between shipments;
    at most ``max_buffered`` items waiting (beyond that ``log_metric`` blocks); a heartbeat
    every ``heartbeat_interval`` seconds when nothing else was sent. As a context manager it
    ends FINISHED, or FAILED (KILLED for ``KeyboardInterrupt``) when the block raises, with
    the traceback stored as the tag ``mlsteward.traceback`` and the artifact
    ``traceback.txt``.
    """

    def __init__(
        self,
        sink: RunSink,
        run: Run,
        *,
        batch_size: int = DEFAULT_BATCH_SIZE,
        flush_interval: float = DEFAULT_FLUSH_INTERVAL,
        max_buffered: int = DEFAULT_MAX_BUFFERED,
        heartbeat_interval: float = DEFAULT_HEARTBEAT_INTERVAL,
    ) -> None:
        check_shipping_options(batch_size, flush_interval, max_buffered, heartbeat_interval)
        self.info = run
        self.id: RunId = run.id
        self._sink = sink
        self._batch_size = batch_size
        self._max_buffered = max_buffered
        self._flush_interval = flush_interval
        self._heartbeat_interval = heartbeat_interval
        self._queue: collections.deque[_Item] = collections.deque()
        self._known_keys: set[str] = set()
        self._wake = threading.Event()
        self._space = threading.Condition()
        self._errors: list[BaseException] = []
        self._end_lock = threading.Lock()
        self._stopping = False
        self._ended = False
        self._end_callbacks: list[Callable[[ActiveRun], None]] = []
        self._thread = threading.Thread(
            target=self._ship_forever, name=f"mlsteward-run-{run.id[:8]}", daemon=True
        )
        self._thread.start()
        _register(self)

    def __repr__(self) -> str:
        state = "ended" if self._ended else "active"
        return f"<ActiveRun {self.id} {self.info.name!r} {state}>"

    # -- logging (the hot path) -------------------------------------------------------------

    def log_metric(
        self, key: str, value: float, step: int | None = None, timestamp: int | None = None
    ) -> None:
        """Queue one point; returns at once. ``timestamp`` in ms since the epoch (default
        now), ``step`` defaults to 0. ``InvalidArgument`` for a bad key or value; blocks
        while the buffer is full."""
        if key not in self._known_keys:
            self._check_metric_key(key)
        if value.__class__ is not float:
            value = _metric_value(key, value)
        if step is None:
            step = 0
        elif step.__class__ is not int or not INT64_MIN <= step <= INT64_MAX:
            step = check_step(key, step)
        if timestamp is None:
            timestamp = int(time.time() * 1000)
        elif timestamp.__class__ is not int or not 0 <= timestamp <= INT64_MAX:
            timestamp = check_timestamp(key, timestamp)
        queue = self._queue
        if len(queue) >= self._max_buffered or self._stopping:
            self._wait_for_space()
        queue.append((key, value, step, timestamp))
        if len(queue) >= self._batch_size and not self._wake.is_set():
            self._wake.set()

    def log_metrics(
        self, metrics: Mapping[str, float], step: int | None = None, timestamp: int | None = None
    ) -> None:
        """Queue several points sharing one step and timestamp."""
        if timestamp is None:
            timestamp = int(time.time() * 1000)
        for key, value in metrics.items():
            self.log_metric(key, value, step, timestamp)

    def log_param(self, key: str, value: Any) -> None:
        """Queue a parameter (stored as ``str(value)``; write-once: a different value for a
        key already stored is a ``Conflict``, raised by the next ``flush()``)."""
        self.log_params({key: value})

    def log_params(self, params: Mapping[str, Any]) -> None:
        self._put_values("param", params, MAX_PARAM_VALUE_LENGTH)

    def set_tag(self, key: str, value: Any) -> None:
        """Queue a tag (``str(value)``); a later value for the same key replaces it."""
        self.set_tags({key: value})

    def set_tags(self, tags: Mapping[str, Any]) -> None:
        self._put_values("tag", tags, MAX_TAG_VALUE_LENGTH)

    def log_artifact(
        self, local_path: str | os.PathLike[str], artifact_path: str | None = None
    ) -> ArtifactInfo:
        """Upload a local file now, as ``artifact_path/<file name>`` (or ``<file name>``).

        Flushes what was logged before (raising its shipping errors), then uploads in the
        calling thread. Logging the same artifact path again replaces the file.
        """
        destination = artifact_destination(local_path, artifact_path)
        self._raise_if_stopped()
        self.flush()
        try:
            handle = open(local_path, "rb")  # noqa: SIM115 - closed below
        except FileNotFoundError:
            raise NotFound(f"no such file: {os.fspath(local_path)}") from None
        except IsADirectoryError:
            raise InvalidArgument(
                f"{os.fspath(local_path)} is a folder: use Client.log_artifacts for folders"
            ) from None
        with handle:
            return self._sink.log_artifact(self.id, destination, handle)

    def log_model(
        self,
        model: object,
        artifact_path: str = "model",
        *,
        signature: Any = "infer",
        input_example: Any = None,
        registered_model_name: str | None = None,
        flavor: str | None = None,
        **options: Any,
    ) -> LoggedModel:
        """Save ``model`` with its flavor and upload it as artifacts under ``artifact_path``.

        With an ``input_example``, the example and the model's predictions on it are kept and
        the signature is inferred (pass a ``Signature``, or None for none). With
        ``registered_model_name``, the model also becomes the next version of that registered
        model (the server scans the files itself). ``options`` go to the flavor. Returns the
        ``runs:/`` URI, the saved metadata and the registered version, if any.
        """
        import tempfile
        from pathlib import Path

        from ..models._model_dir import save_model

        folder_name = check_artifact_path(artifact_path)
        self._raise_if_stopped()
        self.flush()
        with tempfile.TemporaryDirectory(prefix="mlsteward-model-") as tmp:
            folder = Path(tmp) / "model"
            metadata = save_model(
                model,
                folder,
                signature=signature,
                input_example=input_example,
                flavor=flavor,
                **options,
            )
            for file in sorted(folder.rglob("*")):
                if file.is_file():
                    relative = file.relative_to(folder).as_posix()
                    with file.open("rb") as handle:
                        self._sink.log_artifact(self.id, f"{folder_name}/{relative}", handle)
        uri = f"runs:/{self.id}/{folder_name}"
        version = None
        if registered_model_name is not None:
            register = getattr(self._sink, "register_model_from_run", None)
            if register is None:
                raise InvalidArgument("this client cannot register models")
            version = register(uri, registered_model_name)
        return LoggedModel(uri, metadata, version)

    def _check_metric_key(self, key: str) -> None:
        check_key("metric", key)
        self._known_keys.add(key)

    def _put_values(self, kind: str, values: Mapping[str, Any], limit: int) -> None:
        checked = {}
        for key, value in values.items():
            check_key(kind, key)
            checked[key] = check_text_value(kind, key, str(value), limit)
        if checked:
            if len(self._queue) >= self._max_buffered:
                self._wait_for_space()
            self._raise_if_stopped()
            self._queue.append(_Values(kind, checked))
            self._wake.set()

    def _raise_if_stopped(self) -> None:
        if self._stopping:
            raise Conflict(f"run {self.id} has ended; start a new run to log more")

    def _wait_for_space(self) -> None:
        self._raise_if_stopped()
        self._wake.set()
        with self._space:
            while len(self._queue) >= self._max_buffered:
                if not self._thread.is_alive():
                    raise StewardError(f"the shipping thread of run {self.id} has stopped")
                self._space.wait(0.1)
                self._raise_if_stopped()

    # -- flushing and ending ----------------------------------------------------------------

    def flush(self, timeout: float | None = None) -> None:
        """Wait until everything logged so far is stored; raise the first shipping error.

        Raises ``TimeoutError`` when ``timeout`` seconds pass first. Further errors since the
        last flush are attached to the raised one as notes.
        """
        if threading.current_thread() is self._thread:
            raise RuntimeError("flush() cannot be called from the run's own shipping thread")
        if self._thread.is_alive():
            mark = _FlushMark()
            self._queue.append(mark)
            self._wake.set()
            if not mark.done.wait(timeout):
                raise TimeoutError(f"run {self.id}: the flush did not finish in {timeout} s")
        elif self._queue and not self._stopping:
            raise StewardError(
                f"run {self.id} has no shipping thread (was the process forked?): "
                f"{len(self._queue)} logged items cannot be sent; start a new run here"
            )
        self._raise_errors()

    def _raise_errors(self) -> None:
        if not self._errors:
            return
        errors, self._errors = self._errors, []
        first = errors[0]
        for later in errors[1:]:
            first.add_note(f"also failed to ship: {type(later).__name__}: {later}")
        raise first

    def end(self, status: RunStatus | str = RunStatus.FINISHED) -> Run:
        """Flush, stop the shipping thread and mark the run ``status``.

        The run is ended even when the flush fails; the shipping error is raised afterwards.
        Ending twice is harmless (the second call returns the run as it was ended).
        """
        with self._end_lock:
            if self._ended:
                return self.info
            failure: BaseException | None = None
            try:
                self.flush()
            except Exception as exc:
                failure = exc
            self._stop_thread()
            try:
                self.info = self._sink.end_run(self.id, RunStatus(status).value)
            finally:
                self._ended = True
                _unregister(self)
                for callback in self._end_callbacks:
                    callback(self)
            if failure is not None:
                raise failure
            return self.info

    @property
    def ended(self) -> bool:
        return self._ended

    def _stop_thread(self) -> None:
        self._stopping = True
        self._wake.set()
        if self._thread.is_alive():
            self._thread.join()
            # Another thread may have logged while this one was ending: ship that too.
            self._drain()
        with self._space:
            self._space.notify_all()

    def __enter__(self) -> ActiveRun:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if exc is None:
            self.end(RunStatus.FINISHED)
            return
        status = RunStatus.KILLED if isinstance(exc, KeyboardInterrupt) else RunStatus.FAILED
        try:
            if not self._stopping:
                text = "".join(traceback.format_exception(exc_type, exc, tb))
                self.set_tag(TRACEBACK_TAG, text[-MAX_TAG_VALUE_LENGTH:])
                self._store_traceback(text, exc)
            self.end(status)
        except Exception as failure:  # the block's own exception matters more
            exc.add_note(f"while ending run {self.id}: {type(failure).__name__}: {failure}")

    def _store_traceback(self, text: str, exc: BaseException) -> None:
        """The full traceback as artifact ``traceback.txt`` (the tag keeps only its end)."""
        try:
            self._sink.log_artifact(self.id, TRACEBACK_ARTIFACT, io.BytesIO(text.encode()))
        except Exception as failure:  # the run must still end
            exc.add_note(f"storing the traceback of run {self.id} failed: {failure}")

    # -- the shipping thread ----------------------------------------------------------------

    def _ship_forever(self) -> None:
        last_contact = time.monotonic()
        while True:
            self._wake.wait(self._flush_interval)
            self._wake.clear()
            stopping = self._stopping
            if self._drain():
                last_contact = time.monotonic()
            if stopping and not self._queue:
                return
            if time.monotonic() - last_contact >= self._heartbeat_interval:
                last_contact = time.monotonic()
                self._call(self._sink.heartbeat, self.id)

    def _drain(self) -> bool:
        """Ship everything queued now; release flush marks in order. True if anything went."""
        queue, popleft = self._queue, self._queue.popleft
        points: list[PointTuple] = []
        shipped = False
        while True:
            try:
                item = popleft()
            except IndexError:
                break
            if item.__class__ is tuple:
                points.append(item)
                if len(points) >= self._batch_size:
                    shipped = self._ship_points(points)
                    points = []
                continue
            if points:
                shipped = self._ship_points(points)
                points = []
            if isinstance(item, _FlushMark):
                item.done.set()
            elif isinstance(item, _Values):
                self._ship_values(item, queue)
                shipped = True
        if points:
            shipped = self._ship_points(points)
        return shipped

    def _ship_points(self, points: list[PointTuple]) -> bool:
        with self._space:
            self._space.notify_all()
        self._call(self._sink.log_batch, self.id, points, {}, {})
        return True

    def _ship_values(self, first: _Values, queue: collections.deque[_Item]) -> None:
        """One request for consecutive params/tags whose keys do not repeat."""
        params: dict[str, str] = {}
        tags: dict[str, str] = {}
        item = first
        while True:
            target = params if item.kind == "param" else tags
            target.update(item.values)
            try:
                following = queue[0]
            except IndexError:
                break
            if not isinstance(following, _Values):
                break
            other = params if following.kind == "param" else tags
            if not other.keys().isdisjoint(following.values):
                break
            item = queue.popleft()  # type: ignore[assignment]
        with self._space:
            self._space.notify_all()
        self._call(self._sink.log_batch, self.id, [], params, tags)

    def _call(self, method: Callable[..., Any], *args: Any) -> None:
        try:
            method(*args)
        except Exception as exc:  # kept for flush()/end(): an error is never lost
            self._errors.append(exc)


# -- runs still open when the interpreter exits -----------------------------------------------

_open_runs: set[ActiveRun] = set()
_open_lock = threading.Lock()
_atexit_registered = False


def _register(run: ActiveRun) -> None:
    global _atexit_registered
    with _open_lock:
        _open_runs.add(run)
        if not _atexit_registered:
            atexit.register(end_open_runs)
            _atexit_registered = True


def _unregister(run: ActiveRun) -> None:
    with _open_lock:
        _open_runs.discard(run)


def end_open_runs() -> None:
    """Flush and end every run still open (at interpreter exit): FINISHED, or FAILED when
    the program is ending on an uncaught exception."""
    failed = getattr(sys, "last_value", None) is not None
    with _open_lock:
        runs = list(_open_runs)
    for run in runs:
        try:
            run.end(RunStatus.FAILED if failed else RunStatus.FINISHED)
        except Exception as exc:
            print(f"mlsteward: ending run {run.id} at exit failed: {exc}", file=sys.stderr)
