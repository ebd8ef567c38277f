"""Where closed prediction-log windows go: a folder (standalone), the platform in-process, or
a platform over HTTP (``ClientSink``).

Each window becomes three files: ``profile.json`` (the ``DatasetProfile``'s own serialised form,
inputs and outputs together), ``rows.parquet`` (the sampled rows: ``prediction_id``, the input
columns with PII masked, the output columns, a classifier's ``score.<class>`` probabilities)
and ``feedback.parquet`` (``prediction_id``, ``label`` as JSON text, ``received_at``).
``FolderSink`` adds ``window.json`` (what the window is: model, version, start and end, counts,
which columns are outputs, and ``serving``: the requests answered in the window, their errors
and latency histogram, as ``ServingStats.to_json()``, or null).

Sinks are called from the prediction log's shipping thread, never from the event loop; an
exception makes the log retry the window a bounded number of times.
"""

from __future__ import annotations

import datetime as dt
import io
import json
import os
import re
import shutil
import uuid
from pathlib import Path
from typing import TYPE_CHECKING, Any, Final, Protocol

if TYPE_CHECKING:
    from ..client import Client
    from ..platform import Platform
    from ..security import Actor
    from ._prediction_log import ClosedWindow

__all__ = [
    "ClientSink",
    "FolderSink",
    "PlatformSink",
    "PredictionSink",
    "feedback_parquet",
    "profile_json",
    "rows_parquet",
    "window_manifest",
]

WINDOW_TYPE: Final = "mlsteward.prediction_window"
WINDOW_SCHEMA_VERSION: Final = 1
_UNSAFE = re.compile(r"[^A-Za-z0-9._-]")
_MAX_UNSETTLED: Final = 256
_WindowKey = tuple[str, str, str, float]


class PredictionSink(Protocol):
    """Ships one closed window; raises to have it retried."""

    def ship(self, window: ClosedWindow) -> None: ...


def _utc(seconds: float) -> dt.datetime:
    return dt.datetime.fromtimestamp(seconds, dt.UTC)


def _iso(seconds: float) -> str:
    return _utc(seconds).isoformat().replace("+00:00", "Z")


def profile_json(window: ClosedWindow) -> bytes:
    """The window's profile as JSON (type tag and schema_version included)."""
    return json.dumps(window.profile.to_dict(), separators=(",", ":")).encode()


def _parquet(table: Any) -> bytes:
    import pyarrow.parquet as pq

    buffer = io.BytesIO()
    pq.write_table(table, buffer)
    return buffer.getvalue()


def rows_parquet(window: ClosedWindow) -> bytes:
    """The sampled rows as Parquet (an empty table with a ``prediction_id`` column when none
    was sampled)."""
    import pyarrow as pa

    if window.sampled is None:
        return _parquet(pa.table({"prediction_id": pa.array([], pa.string())}))
    frame = window.sampled.copy(deep=False)
    for name in frame.columns:  # object columns of mixed types: Parquet needs one type
        if frame[name].dtype == object:
            try:
                pa.array(frame[name], from_pandas=True)
            except (pa.ArrowInvalid, pa.ArrowTypeError):
                frame[name] = frame[name].map(lambda v: None if v is None else str(v))
    return _parquet(pa.Table.from_pandas(frame, preserve_index=False))


def feedback_parquet(window: ClosedWindow) -> bytes:
    """The window's feedback labels as Parquet: ``prediction_id``, ``label`` (JSON text) and
    ``received_at`` (UTC)."""
    import pyarrow as pa

    ids, labels, times = zip(*window.feedback, strict=True) if window.feedback else ((), (), ())
    return _parquet(
        pa.table(
            {
                "prediction_id": pa.array(list(ids), pa.string()),
                "label": pa.array(list(labels), pa.string()),
                "received_at": pa.array([_utc(t) for t in times], pa.timestamp("us", tz="UTC")),
            }
        )
    )


def window_manifest(window: ClosedWindow) -> dict[str, Any]:
    """What the window is, JSON-ready (type tag and schema_version included)."""
    return {
        "type": WINDOW_TYPE,
        "schema_version": WINDOW_SCHEMA_VERSION,
        "model": window.model,
        "version": window.version,
        "start": _iso(window.start),
        "end": _iso(window.end),
        "rows": window.rows,
        "sampled_rows": window.sampled_rows,
        "feedback_labels": len(window.feedback),
        "unlogged_rows": window.unlogged_rows,
        "input_columns": window.input_columns,
        "output_columns": window.output_columns,
        "source": window.source,
        "serving": None if window.serving is None else window.serving.to_json(),
    }


class FolderSink:
    """Writes each window to ``path/<model>/<version>/<start>_<source>/`` (``start`` as
    ``YYYYmmddTHHMMSSZ``): written in a temporary folder under ``path`` and renamed into place,
    so a reader never sees a partial window. A window shipped again (a retry after the rename)
    keeps the first copy."""

    def __init__(self, path: str | os.PathLike[str]) -> None:
        self.path = Path(path)

    def ship(self, window: ClosedWindow) -> None:
        start = _utc(window.start).strftime("%Y%m%dT%H%M%S") + f"{window.start % 1:.3f}"[1:]
        target = (
            self.path
            / _UNSAFE.sub("_", window.model)
            / _UNSAFE.sub("_", window.version)
            / f"{start}Z_{_UNSAFE.sub('_', window.source)}"
        )
        if target.exists():
            return
        partial = self.path / f".partial-{uuid.uuid4().hex}"
        partial.mkdir(parents=True)
        try:
            (partial / "profile.json").write_bytes(profile_json(window))
            (partial / "rows.parquet").write_bytes(rows_parquet(window))
            (partial / "feedback.parquet").write_bytes(feedback_parquet(window))
            manifest = json.dumps(window_manifest(window), indent=2) + "\n"
            (partial / "window.json").write_text(manifest, encoding="utf-8")
            target.parent.mkdir(parents=True, exist_ok=True)
            partial.rename(target)
        finally:
            if partial.exists():
                shutil.rmtree(partial, ignore_errors=True)


class PlatformSink:
    """Stores each window's three files as blobs in the platform's blob store and records the
    window with ``mlsteward.monitoring.record_prediction_window`` as ``actor`` in ``project``
    (``deployment``: the deployment's name, when the server serves one)."""

    def __init__(
        self, platform: Platform, actor: Actor, project: str, deployment: str | None = None
    ) -> None:
        self.platform = platform
        self.actor = actor
        self.project = project
        self.deployment = deployment

    def ship(self, window: ClosedWindow) -> None:
        from ..monitoring import record_prediction_window

        blobs = self.platform.blobs
        profile = blobs.put_bytes(profile_json(window))
        rows = blobs.put_bytes(rows_parquet(window))
        feedback = blobs.put_bytes(feedback_parquet(window))
        record_prediction_window(
            self.platform,
            self.actor,
            self.project,
            model_name=window.model,
            model_version=window.version,
            deployment=self.deployment,
            start=_utc(window.start),
            end=_utc(window.end),
            rows=window.rows,
            sampled_rows=window.sampled_rows,
            feedback_labels=len(window.feedback),
            output_columns=window.output_columns,
            source=window.source,
            profile_address=profile.address,
            rows_address=rows.address,
            feedback_address=feedback.address,
            serving=window.serving,
        )


class ClientSink:
    """Ships each window through a ``Client`` (in practice one talking to a remote platform):
    stores the three files with ``client.put_prediction_file`` and records the window with
    ``client.record_prediction_window`` in ``project`` (``deployment``: the deployment's name,
    when the server serves one). The client's token needs the editor role in the project.

    A retry sends the files again (harmless: the same bytes are stored once) but records the
    window again only when the platform holds no record of it. A record call that failed
    leaves the window *unsettled*: its answer may have been lost after the platform committed
    it. Before recording an unsettled window again the sink lists the project's windows at its
    start and skips the record when one has the same model, version, source (host and
    process) and start. So a window is recorded twice only when the first call is still being
    committed while its retry checks, or when the sink no longer remembers the failure: a
    server restarted between the attempts, or more than 256 windows unsettled at once.
    """

    def __init__(self, client: Client, project: str, deployment: str | None = None) -> None:
        self.client = client
        self.project = project
        self.deployment = deployment
        self._unsettled: dict[_WindowKey, None] = {}

    def ship(self, window: ClosedWindow) -> None:
        put = self.client.put_prediction_file
        profile = put(self.project, profile_json(window)).address
        rows = put(self.project, rows_parquet(window)).address
        feedback = put(self.project, feedback_parquet(window)).address
        key = (window.model, window.version, window.source, window.start)
        if key in self._unsettled and self._recorded(window):
            del self._unsettled[key]
            return
        try:
            self.client.record_prediction_window(
                self.project,
                model_name=window.model,
                model_version=window.version,
                deployment=self.deployment,
                start=_utc(window.start),
                end=_utc(window.end),
                rows=window.rows,
                sampled_rows=window.sampled_rows,
                feedback_labels=len(window.feedback),
                output_columns=window.output_columns,
                source=window.source,
                profile_address=profile,
                rows_address=rows,
                feedback_address=feedback,
                serving=window.serving,
            )
        except BaseException:
            self._unsettled[key] = None
            while len(self._unsettled) > _MAX_UNSETTLED:
                del self._unsettled[next(iter(self._unsettled))]
            raise
        self._unsettled.pop(key, None)

    def _recorded(self, window: ClosedWindow) -> bool:
        start = _utc(window.start)
        margin = dt.timedelta(milliseconds=1)
        found = self.client.list_prediction_windows(
            self.project,
            model_name=window.model,
            model_version=window.version,
            deployment=self.deployment,
            since=start - margin,
            until=start + margin,
        )
        return any(w.source == window.source for w in found)  # the start: within the margin
