"""The tracking domain's value types and the limits on what callers may log."""

from __future__ import annotations

import datetime as dt
import enum
import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any, NewType

from sqlalchemy import BindParameter, Connection, Row, bindparam, literal, select, union_all

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
    environment: dict[str, Any] | None = field(default_factory=dict)  # None: not loaded
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


_IDS: BindParameter[list[str]] = bindparam("ids", expanding=True)
RUN_COLUMNS = tuple(column for column in runs.c if column.name != "environment")
"""The columns ``runs_from_rows`` needs (the environment, with its package list, apart)."""
# Built once: constructing these per call cost more than running them (pyinstrument).
_SELECT_RUNS = select(*RUN_COLUMNS).where(runs.c.id.in_(_IDS))
_SELECT_ENVIRONMENTS = select(runs.c.id, runs.c.environment).where(runs.c.id.in_(_IDS))
_SELECT_PARAMS_AND_TAGS = union_all(
    select(literal(0), run_params.c.run_id, run_params.c.key, run_params.c.value).where(
        run_params.c.run_id.in_(_IDS)
    ),
    select(literal(1), run_tags.c.run_id, run_tags.c.key, run_tags.c.value).where(
        run_tags.c.run_id.in_(_IDS)
    ),
)
_SELECT_LATEST = select(
    latest_metrics.c.run_id, latest_metrics.c.key, latest_metrics.c.value, latest_metrics.c.is_nan
).where(latest_metrics.c.run_id.in_(_IDS))


def load_runs(conn: Connection, run_ids: Iterable[str], *, environment: bool = True) -> list[Run]:
    """Runs with their parameters, tags and latest metrics, in the order of ``run_ids``
    (unknown ids are left out). Three queries whatever the number of runs, four with
    ``environment``."""
    ids = list(dict.fromkeys(run_ids))
    if not ids:
        return []
    found = {row.id: row for row in conn.execute(_SELECT_RUNS, {"ids": ids}).all()}
    rows = [found[run_id] for run_id in ids if run_id in found]
    return runs_from_rows(conn, rows, environment=environment)


def runs_from_rows(
    conn: Connection, rows: Sequence[Row[Any]], *, environment: bool = False
) -> list[Run]:
    """Runs built from rows holding ``RUN_COLUMNS`` (by name, distinct ids), in that order,
    with their parameters, tags and latest metrics. Without ``environment``,
    ``Run.environment`` is None (search results leave out the package lists)."""
    ids = [row._mapping["id"] for row in rows]
    if not ids:
        return []
    bound = {"ids": ids}
    environments: dict[str, Any] = {}
    if environment:
        environments = {row[0]: row[1] for row in conn.execute(_SELECT_ENVIRONMENTS, bound)}
    params: dict[str, dict[str, str]] = {i: {} for i in ids}
    tags: dict[str, dict[str, str]] = {i: {} for i in ids}
    for kind, run_id, key, value in conn.execute(_SELECT_PARAMS_AND_TAGS, bound).all():
        (tags if kind else params)[run_id][key] = value
    metrics: dict[str, dict[str, float]] = {i: {} for i in ids}
    for run_id, key, value, is_nan in conn.execute(_SELECT_LATEST, bound).all():
        metrics[run_id][key] = math.nan if is_nan else float(value)
    found: list[Run] = []
    for row in rows:
        m = row._mapping
        run_id = m["id"]
        found.append(
            Run(
                id=RunId(run_id),
                experiment_id=ExperimentId(m["experiment_id"]),
                project_id=m["project_id"],
                name=m["name"],
                status=RunStatus(m["status"]),
                start_time=m["start_time"],
                end_time=m["end_time"],
                parent_run_id=RunId(m["parent_run_id"]) if m["parent_run_id"] else None,
                notes=m["notes"],
                created_by=m["created_by"],
                deleted_at=m["deleted_at"],
                environment=environments.get(run_id) if environment else None,
                params=params[run_id],
                tags=tags[run_id],
                metrics=metrics[run_id],
            )
        )
    return found
