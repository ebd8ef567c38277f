"""The tracking domain's value types and the limits on what callers may log."""

from __future__ import annotations

import datetime as dt
import enum
import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any, NewType

from sqlalchemy import Connection, Row, select

from .._wire import iso
from ._tables import latest_metrics, run_params, run_tags, runs

ExperimentId = NewType("ExperimentId", str)
RunId = NewType("RunId", str)

MAX_KEY_LENGTH = 250
MAX_PARAM_VALUE_LENGTH = 6000
MAX_TAG_VALUE_LENGTH = 8000
MAX_NOTES_LENGTH = 100_000
MAX_BATCH_POINTS = 100_000
MAX_BATCH_PARAMS = 1000
MAX_BATCH_TAGS = 1000


class RunStatus(enum.StrEnum):
    RUNNING = "RUNNING"
    FINISHED = "FINISHED"
    FAILED = "FAILED"
    KILLED = "KILLED"

    @property
    def is_terminal(self) -> bool:
        return self is not RunStatus.RUNNING


@dataclass(frozen=True)
class Experiment:
    id: ExperimentId
    project_id: str
    name: str
    description: str
    created_at: dt.datetime
    created_by: str
    deleted_at: dt.datetime | None

    def to_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "project_id": self.project_id,
            "name": self.name,
            "description": self.description,
            "created_at": iso(self.created_at),
            "created_by": self.created_by,
            "deleted_at": iso(self.deleted_at),
        }


@dataclass(frozen=True)
class MetricPoint:
    """One logged value: ``timestamp`` in milliseconds since the epoch (as MLflow)."""

    key: str
    value: float
    step: int
    timestamp: int

    def to_json(self) -> dict[str, Any]:
        return {
            "key": self.key,
            "value": _json_float(self.value),
            "step": self.step,
            "timestamp": self.timestamp,
        }


def _json_float(value: float) -> float | str:
    """JSON has no NaN or infinities: send them as the strings Python's float() reads."""
    if math.isnan(value):
        return "NaN"
    if math.isinf(value):
        return "Infinity" if value > 0 else "-Infinity"
    return value


def float_from_json(value: Any) -> float:
    """The inverse of ``_json_float`` (also accepts plain numbers)."""
    if isinstance(value, bool):
        raise TypeError("a boolean is not a metric value")
    if isinstance(value, int | float):
        return float(value)
    if value in ("NaN", "Infinity", "-Infinity"):
        return float(value)
    raise TypeError(f"not a metric value: {value!r}")


@dataclass(frozen=True)
class MetricColumns:
    """A batch of points as columns: the compact wire form of the ingestion endpoint.

    Point ``i`` is ``(keys[key_index[i]], values[i], steps[i], timestamps[i])``; values may be
    the strings ``"NaN"``, ``"Infinity"``, ``"-Infinity"``. Nothing is checked here:
    ``log_batch`` validates every point.
    """

    keys: Sequence[Any]
    key_index: Sequence[Any]
    values: Sequence[Any]
    steps: Sequence[Any]
    timestamps: Sequence[Any]

    def __len__(self) -> int:
        return len(self.key_index)

    @classmethod
    def from_points(cls, points: Iterable[tuple[str, float, int, int]]) -> MetricColumns:
        """Columns (NaN and infinities as strings) from ``(key, value, step, ts)`` tuples."""
        positions: dict[str, int] = {}
        key_index: list[int] = []
        values: list[float | str] = []
        steps: list[int] = []
        timestamps: list[int] = []
        isfinite = math.isfinite
        for key, value, step, ts in points:
            position = positions.get(key)
            if position is None:
                position = positions[key] = len(positions)
            key_index.append(position)
            values.append(value if isfinite(value) else _json_float(value))
            steps.append(step)
            timestamps.append(ts)
        return cls(list(positions), key_index, values, steps, timestamps)

    def to_json(self) -> dict[str, Any]:
        return {
            "keys": list(self.keys),
            "key_index": list(self.key_index),
            "values": list(self.values),
            "steps": list(self.steps),
            "timestamps": list(self.timestamps),
        }


@dataclass(frozen=True)
class Run:
    id: RunId
    experiment_id: ExperimentId
    project_id: str
    name: str
    status: RunStatus
    start_time: dt.datetime
    end_time: dt.datetime | None
    parent_run_id: RunId | None
    notes: str
    created_by: str
    deleted_at: dt.datetime | None
    environment: dict[str, Any] = field(default_factory=dict)
    params: dict[str, str] = field(default_factory=dict)
    tags: dict[str, str] = field(default_factory=dict)
    metrics: dict[str, float] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "experiment_id": self.experiment_id,
            "project_id": self.project_id,
            "name": self.name,
            "status": self.status.value,
            "start_time": iso(self.start_time),
            "end_time": iso(self.end_time),
            "parent_run_id": self.parent_run_id,
            "notes": self.notes,
            "created_by": self.created_by,
            "deleted_at": iso(self.deleted_at),
            "environment": self.environment,
            "params": dict(self.params),
            "tags": dict(self.tags),
            "metrics": {k: _json_float(v) for k, v in self.metrics.items()},
        }


def experiment_from_row(row: Row[Any]) -> Experiment:
    m = row._mapping
    return Experiment(
        ExperimentId(m["id"]),
        m["project_id"],
        m["name"],
        m["description"],
        m["created_at"],
        m["created_by"],
        m["deleted_at"],
    )


def load_runs(conn: Connection, run_ids: Iterable[str]) -> list[Run]:
    """Runs with their parameters, tags and latest metrics, in the order of ``run_ids``.

    Four queries whatever the number of runs (no per-run round trips).
    """
    ids = list(dict.fromkeys(run_ids))
    if not ids:
        return []
    rows = {r.id: r for r in conn.execute(select(runs).where(runs.c.id.in_(ids)))}
    params: dict[str, dict[str, str]] = {i: {} for i in ids}
    for r in conn.execute(select(run_params).where(run_params.c.run_id.in_(ids))):
        params[r.run_id][r.key] = r.value
    tags: dict[str, dict[str, str]] = {i: {} for i in ids}
    for r in conn.execute(select(run_tags).where(run_tags.c.run_id.in_(ids))):
        tags[r.run_id][r.key] = r.value
    metrics: dict[str, dict[str, float]] = {i: {} for i in ids}
    for r in conn.execute(select(latest_metrics).where(latest_metrics.c.run_id.in_(ids))):
        metrics[r.run_id][r.key] = math.nan if r.is_nan else float(r.value)
    found: list[Run] = []
    for run_id in ids:
        row = rows.get(run_id)
        if row is None:
            continue
        found.append(
            Run(
                id=RunId(row.id),
                experiment_id=ExperimentId(row.experiment_id),
                project_id=row.project_id,
                name=row.name,
                status=RunStatus(row.status),
                start_time=row.start_time,
                end_time=row.end_time,
                parent_run_id=RunId(row.parent_run_id) if row.parent_run_id else None,
                notes=row.notes,
                created_by=row.created_by,
                deleted_at=row.deleted_at,
                environment=row.environment,
                params=params[run_id],
                tags=tags[run_id],
                metrics=metrics[run_id],
            )
        )
    return found
