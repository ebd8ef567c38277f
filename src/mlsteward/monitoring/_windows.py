"""Prediction windows as a service: record a window an inference server shipped, list them.

A window's data lives in three blobs the server stored first (profile JSON, sampled rows and
feedback labels as Parquet); the row here says what they are and keeps them from garbage
collection (``blob_refs``).
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Final

from sqlalchemy import insert, select

from .._wire import iso
from ..blobs import check_address
from ..errors import InvalidArgument
from ..security import Actor, Role, fetch_project, require_project_role
from ..store import utcnow
from ..store._blob_refs import keep_blob
from ._serving_stats import ServingStats
from ._tables import prediction_windows

if TYPE_CHECKING:
    from ..blobs import BlobInfo
    from ..platform import Platform

__all__ = [
    "PredictionWindow",
    "list_prediction_windows",
    "parse_window_time",
    "record_prediction_window",
    "store_prediction_file",
]

WINDOW_OWNER: Final = "prediction_window"
MAX_LISTED: Final = 10_000
_MAX_NAME: Final = 200
_MAX_VERSION: Final = 64
_MAX_DEPLOYMENT: Final = 64
_MAX_OUTPUT_COLUMNS: Final = 1_000


@dataclass(frozen=True)
class PredictionWindow:
    """One shipped window of predictions of one model version, from one server process.

    ``serving``: the requests the process answered for the version during the window (counts
    and latency histogram); None for a window shipped without them (older servers)."""

    id: str
    project_id: str
    model_name: str
    model_version: str
    deployment: str | None
    start: dt.datetime
    end: dt.datetime
    rows: int
    sampled_rows: int
    feedback_labels: int
    output_columns: tuple[str, ...]
    source: str
    profile_address: str
    rows_address: str
    feedback_address: str
    created_at: dt.datetime
    created_by: str
    serving: ServingStats | None = None

    def to_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "project_id": self.project_id,
            "model_name": self.model_name,
            "model_version": self.model_version,
            "deployment": self.deployment,
            "start": iso(self.start),
            "end": iso(self.end),
            "rows": self.rows,
            "sampled_rows": self.sampled_rows,
            "feedback_labels": self.feedback_labels,
            "output_columns": list(self.output_columns),
            "source": self.source,
            "profile_address": self.profile_address,
            "rows_address": self.rows_address,
            "feedback_address": self.feedback_address,
            "created_at": iso(self.created_at),
            "created_by": self.created_by,
            "serving": None if self.serving is None else self.serving.to_json(),
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> PredictionWindow:
        """The window ``to_json`` wrote (``KeyError``/``ValueError``/``TypeError`` when
        ``data`` is not one)."""
        deployment = data["deployment"]
        serving = data.get("serving")
        return cls(
            id=str(data["id"]),
            project_id=str(data["project_id"]),
            model_name=str(data["model_name"]),
            model_version=str(data["model_version"]),
            deployment=None if deployment is None else str(deployment),
            start=dt.datetime.fromisoformat(data["start"]),
            end=dt.datetime.fromisoformat(data["end"]),
            rows=int(data["rows"]),
            sampled_rows=int(data["sampled_rows"]),
            feedback_labels=int(data["feedback_labels"]),
            output_columns=tuple(str(c) for c in data["output_columns"]),
            source=str(data["source"]),
            profile_address=str(data["profile_address"]),
            rows_address=str(data["rows_address"]),
            feedback_address=str(data["feedback_address"]),
            created_at=dt.datetime.fromisoformat(data["created_at"]),
            created_by=str(data["created_by"]),
            serving=None if serving is None else ServingStats.from_json(serving),
        )


def _window(row: Any) -> PredictionWindow:
    return PredictionWindow(
        row.id, row.project_id, row.model_name, row.model_version, row.deployment,
        row.window_start, row.window_end, row.rows, row.sampled_rows, row.feedback_labels,
        tuple(row.output_columns), row.source, row.profile_address, row.rows_address,
        row.feedback_address, row.created_at, row.created_by,
        None if row.serving is None else ServingStats.from_json(row.serving),
    )  # fmt: skip


def _text(value: object, field: str, limit: int, *, optional: bool = False) -> str | None:
    if value is None and optional:
        return None
    if not isinstance(value, str) or not 0 < len(value) <= limit:
        raise InvalidArgument(
            f"{field} must be a non-empty string of at most {limit} characters",
            details={"field": field},
        )
    return value


def _count(value: object, field: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value < 2**31:
        raise InvalidArgument(f"{field} must be a whole number >= 0", details={"field": field})
    return value


def _moment(value: object, field: str) -> dt.datetime:
    if not isinstance(value, dt.datetime) or value.tzinfo is None:
        raise InvalidArgument(
            f"{field} must be a timezone-aware datetime (UTC)", details={"field": field}
        )
    return value.astimezone(dt.UTC)


def parse_window_time(text: object, field: str) -> dt.datetime:
    """An ISO 8601 time with a UTC offset (``2026-01-01T12:00:00Z``) as an aware datetime;
    ``InvalidArgument`` naming ``field`` for anything else (no offset: local time is
    ambiguous)."""
    if not isinstance(text, str) or len(text) > 64:
        raise InvalidArgument(f"{field} must be an ISO 8601 time", details={"field": field})
    try:
        moment = dt.datetime.fromisoformat(text)
    except ValueError:
        raise InvalidArgument(
            f"{field} must be an ISO 8601 time like 2026-01-01T12:00:00Z, not {text[:40]!r}",
            details={"field": field},
        ) from None
    return _moment(moment, field)


def _checked(
    model_name: object,
    model_version: object,
    deployment: object,
    start: object,
    end: object,
    counts: dict[str, object],
    output_columns: object,
    source: object,
) -> tuple[dt.datetime, dt.datetime, list[str]]:
    _text(model_name, "model_name", _MAX_NAME)
    _text(model_version, "model_version", _MAX_VERSION)
    _text(deployment, "deployment", _MAX_DEPLOYMENT, optional=True)
    _text(source, "source", _MAX_NAME)
    begins, ends = _moment(start, "start"), _moment(end, "end")
    if ends <= begins:
        raise InvalidArgument("a window must end after it starts", details={"field": "end"})
    checked = {field: _count(value, field) for field, value in counts.items()}
    if checked["sampled_rows"] > checked["rows"]:
        raise InvalidArgument(
            "sampled_rows cannot be more than rows", details={"field": "sampled_rows"}
        )
    if (
        isinstance(output_columns, str)
        or not isinstance(output_columns, Sequence)
        or len(output_columns) > _MAX_OUTPUT_COLUMNS
        or not all(isinstance(c, str) and 0 < len(c) <= _MAX_NAME for c in output_columns)
    ):
        raise InvalidArgument(
            f"output_columns must be a list of at most {_MAX_OUTPUT_COLUMNS} column names",
            details={"field": "output_columns"},
        )
    return begins, ends, list(output_columns)


def record_prediction_window(
    platform: Platform,
    actor: Actor,
    project: str,
    *,
    model_name: str,
    model_version: str,
    start: dt.datetime,
    end: dt.datetime,
    rows: int,
    sampled_rows: int,
    feedback_labels: int,
    profile_address: str,
    rows_address: str,
    feedback_address: str,
    output_columns: Sequence[str] = (),
    source: str = "unknown",
    deployment: str | None = None,
    serving: ServingStats | Mapping[str, Any] | None = None,
) -> PredictionWindow:
    """Record a window of predictions whose three blobs are already stored (``write`` on the
    project: editors). ``serving``: the window's serving statistics (a ``ServingStats`` or its
    JSON form), or None. ``InvalidArgument`` for malformed fields (``serving`` included), an
    end not after the start or an address not in the blob store; nothing is written then."""
    begins, ends, outputs = _checked(
        model_name,
        model_version,
        deployment,
        start,
        end,
        {"rows": rows, "sampled_rows": sampled_rows, "feedback_labels": feedback_labels},
        output_columns,
        source,
    )
    stats = serving if isinstance(serving, ServingStats) else _serving(serving)
    addresses = {
        "profile_address": profile_address,
        "rows_address": rows_address,
        "feedback_address": feedback_address,
    }
    sizes = {}
    for field, address in addresses.items():
        check_address(address)
        if not platform.blobs.exists(address):
            raise InvalidArgument(
                f"{field} {address} is not in the blob store: store the window's files first",
                details={"field": field},
            )
        sizes[field] = platform.blobs.size(address)
    window_id = uuid.uuid4().hex
    with platform.db.write() as conn:
        project_row = fetch_project(conn, project)
        require_project_role(conn, actor, project_row.id, Role.EDITOR)
        conn.execute(
            insert(prediction_windows).values(
                id=window_id,
                project_id=project_row.id,
                model_name=model_name,
                model_version=model_version,
                deployment=deployment,
                window_start=begins,
                window_end=ends,
                rows=rows,
                sampled_rows=sampled_rows,
                feedback_labels=feedback_labels,
                output_columns=outputs,
                source=source,
                created_at=utcnow(),
                created_by=actor.name,
                serving=None if stats is None else stats.to_json(),
                **addresses,
            )
        )
        for field, address in addresses.items():
            keep_blob(conn, address, WINDOW_OWNER, window_id, sizes[field])
        platform.audit.record(
            conn,
            actor,
            "monitoring.prediction_window.record",
            target_type="prediction_window",
            target_id=window_id,
            project_id=project_row.id,
            details={
                "model": model_name,
                "version": model_version,
                "deployment": deployment,
                "start": iso(begins),
                "end": iso(ends),
                "rows": rows,
                "feedback_labels": feedback_labels,
                "requests": None if stats is None else stats.requests,
            },
        )
        row = conn.execute(select(prediction_windows).where(prediction_windows.c.id == window_id))
        return _window(row.one())


def _serving(value: object) -> ServingStats | None:
    return None if value is None else ServingStats.from_json(value)


def store_prediction_file(platform: Platform, actor: Actor, project: str, source: Any) -> BlobInfo:
    """Store one of a coming window's three files (read from the blocking binary stream
    ``source``) for ``record_prediction_window`` (``write`` on the project: editors, checked
    before a byte is read). ``PayloadTooLarge`` past ``max_upload_bytes``.

    Nothing references the blob until the window is recorded: like every unreferenced blob,
    garbage collection keeps it for its grace period (an hour by default), ample for the
    record that follows it; a file whose record never comes is collected then."""
    with platform.db.read() as conn:
        require_project_role(conn, actor, fetch_project(conn, project).id, Role.EDITOR)
    return platform.blobs.put_stream(source, max_bytes=platform.settings.max_upload_bytes)


def list_prediction_windows(
    platform: Platform,
    actor: Actor,
    project: str,
    *,
    model_name: str | None = None,
    model_version: str | None = None,
    deployment: str | None = None,
    since: dt.datetime | None = None,
    until: dt.datetime | None = None,
    limit: int = 1_000,
) -> list[PredictionWindow]:
    """The project's recorded windows (readers), oldest first, optionally of one model,
    version or deployment and starting in ``[since, until)``; at most ``limit`` (1 to
    10,000). ``InvalidArgument`` for a bad filter."""
    _text(model_name, "model_name", _MAX_NAME, optional=True)
    _text(model_version, "model_version", _MAX_VERSION, optional=True)
    _text(deployment, "deployment", _MAX_DEPLOYMENT, optional=True)
    if isinstance(limit, bool) or not isinstance(limit, int) or not 1 <= limit <= MAX_LISTED:
        raise InvalidArgument(f"limit must be between 1 and {MAX_LISTED}")
    query = select(prediction_windows)
    if model_name is not None:
        query = query.where(prediction_windows.c.model_name == model_name)
    if model_version is not None:
        query = query.where(prediction_windows.c.model_version == model_version)
    if deployment is not None:
        query = query.where(prediction_windows.c.deployment == deployment)
    if since is not None:
        query = query.where(prediction_windows.c.window_start >= _moment(since, "since"))
    if until is not None:
        query = query.where(prediction_windows.c.window_start < _moment(until, "until"))
    with platform.db.read() as conn:
        project_row = fetch_project(conn, project)
        require_project_role(conn, actor, project_row.id, Role.VIEWER)
        rows = conn.execute(
            query.where(prediction_windows.c.project_id == project_row.id)
            .order_by(prediction_windows.c.window_start, prediction_windows.c.id)
            .limit(limit)
        ).all()
    return [_window(row) for row in rows]
