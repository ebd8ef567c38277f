"""Ingestion: metrics, parameters and tags in batches, one transaction per batch.

Points go in with one multi-row insert; the latest value of each metric is upserted into
``latest_metrics`` (only when the new point is later: higher step, then newer timestamp), so
search never scans the history. The audit event is appended last, so the chain's lock (on
PostgreSQL) is held only for the end of the transaction.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Iterator, Mapping
from typing import TYPE_CHECKING, Any

from sqlalchemy import Connection, insert, select, update
from sqlalchemy.dialects import postgresql, sqlite

from ..errors import Conflict, InvalidArgument
from ..security import Actor, Role
from ..store import utcnow
from ._model import (
    MAX_BATCH_PARAMS,
    MAX_BATCH_POINTS,
    MAX_BATCH_TAGS,
    MAX_PARAM_VALUE_LENGTH,
    MAX_TAG_VALUE_LENGTH,
    MetricColumns,
    MetricPoint,
)
from ._runs import require_run, require_writable_run
from ._tables import latest_metrics, metric_points, run_params, run_tags, runs
from ._validation import (
    INT64_MAX,
    INT64_MIN,
    check_key,
    check_metric_value,
    check_step,
    check_text_value,
    check_timestamp,
)

if TYPE_CHECKING:
    from ..platform import Platform


PointRow = tuple[str, str, float, bool, int, int]


def _checked_rows(
    run_id: str, points: Iterable[tuple[Any, Any, Any, Any]], *, wire_values: bool
) -> list[PointRow]:
    """Validated rows ``(run_id, key, value, is_nan, step, ts)``, ready for a bulk insert.

    This runs for every point, so the common case (a known key, a float, int step and
    timestamp in range) costs a few type checks; anything else goes through the full checks,
    which raise ``InvalidArgument``. ``wire_values`` also accepts the JSON spellings
    ``"NaN"``, ``"Infinity"`` and ``"-Infinity"``.
    """
    rows: list[PointRow] = []
    append = rows.append
    keys: set[str] = set()
    for key, value, step, ts in points:
        if key not in keys:
            check_key("metric", key)
            keys.add(key)
        if type(value) is not float:
            value = check_metric_value(key, _wire_float(value) if wire_values else value)
        if type(step) is not int or not INT64_MIN <= step <= INT64_MAX:
            step = check_step(key, step)
        if type(ts) is not int or not 0 <= ts <= INT64_MAX:
            ts = check_timestamp(key, ts)
        nan = value != value  # NaN is the only float unequal to itself
        append((run_id, key, 0.0 if nan else value, nan, step, ts))
        if len(rows) > MAX_BATCH_POINTS:
            raise InvalidArgument(f"a batch holds at most {MAX_BATCH_POINTS} metric points")
    return rows


def _point_tuples(points: Iterable[MetricPoint]) -> Iterator[tuple[Any, Any, Any, Any]]:
    for point in points:
        if type(point) is not MetricPoint:
            raise InvalidArgument("metrics must be MetricPoint(key, value, step, timestamp)")
        yield point.key, point.value, point.step, point.timestamp


def _column_tuples(columns: MetricColumns) -> Iterator[tuple[Any, Any, Any, Any]]:
    n = len(columns.key_index)
    if not (len(columns.values) == len(columns.steps) == len(columns.timestamps) == n):
        raise InvalidArgument("metric columns must all have the same length")
    if n > MAX_BATCH_POINTS:
        raise InvalidArgument(f"a batch holds at most {MAX_BATCH_POINTS} metric points")
    keys = [check_key("metric", key) for key in columns.keys]  # may be any JSON value
    for index, value, step, ts in zip(
        columns.key_index, columns.values, columns.steps, columns.timestamps, strict=True
    ):
        if type(index) is not int or not 0 <= index < len(keys):
            raise InvalidArgument(f"metric key index {index!r} is out of range")
        yield keys[index], value, step, ts


def _wire_float(value: Any) -> Any:
    """``"NaN"``/``"Infinity"``/``"-Infinity"`` as floats; anything else unchanged (and then
    refused by ``check_metric_value`` unless it is a number)."""
    if value in ("NaN", "Infinity", "-Infinity"):
        return float(value)
    return value


def _checked_mapping(
    kind: str, values: Mapping[str, Any], limit: int, count: int
) -> dict[str, str]:
    if len(values) > count:
        raise InvalidArgument(f"a batch holds at most {count} {kind}s")
    return {check_key(kind, k): check_text_value(kind, k, v, limit) for k, v in values.items()}


def _upsert(conn: Connection, table: Any) -> Any:
    dialect = postgresql if conn.dialect.name == "postgresql" else sqlite
    return dialect.insert(table)


def log_batch(
    platform: Platform,
    actor: Actor,
    run_id: str,
    *,
    metrics: Iterable[MetricPoint] | MetricColumns = (),
    params: Mapping[str, str] | None = None,
    tags: Mapping[str, str] | None = None,
) -> None:
    """Store a batch in one transaction (project editors; the run must be running).

    ``metrics`` is a sequence of ``MetricPoint`` or the columnar ``MetricColumns``.
    Parameters are write-once: the same value again is accepted, a different one is a
    ``Conflict`` and the whole batch is refused. Bad keys or values are ``InvalidArgument``
    and nothing is written.
    """
    if isinstance(metrics, MetricColumns):
        rows = _checked_rows(run_id, _column_tuples(metrics), wire_values=True)
    else:
        rows = _checked_rows(run_id, _point_tuples(metrics), wire_values=False)
    new_params = _checked_mapping("param", params or {}, MAX_PARAM_VALUE_LENGTH, MAX_BATCH_PARAMS)
    new_tags = _checked_mapping("tag", tags or {}, MAX_TAG_VALUE_LENGTH, MAX_BATCH_TAGS)
    with platform.db.write() as conn:
        row = require_writable_run(conn, actor, run_id)
        if new_params:
            _insert_params(conn, run_id, new_params)
        if new_tags:
            stmt = _upsert(conn, run_tags)
            conn.execute(
                stmt.on_conflict_do_update(
                    index_elements=["run_id", "key"], set_={"value": stmt.excluded.value}
                ),
                [{"run_id": run_id, "key": k, "value": v} for k, v in new_tags.items()],
            )
        if rows:
            _insert_points(conn, rows)
        conn.execute(update(runs).where(runs.c.id == run_id).values(heartbeat_at=utcnow()))
        platform.audit.record(
            conn,
            actor,
            "run.log_batch",
            target_type="run",
            target_id=run_id,
            project_id=row.project_id,
            details={
                "metrics": len(rows),
                "params": sorted(new_params)[:50],
                "tags": sorted(new_tags)[:50],
            },
        )


def _insert_params(conn: Connection, run_id: str, new_params: dict[str, str]) -> None:
    existing = {
        r.key: r.value
        for r in conn.execute(
            select(run_params.c.key, run_params.c.value).where(
                run_params.c.run_id == run_id, run_params.c.key.in_(list(new_params))
            )
        )
    }
    changed = {
        k: (existing[k], v) for k, v in new_params.items() if k in existing and existing[k] != v
    }
    if changed:
        key, (old, new) = next(iter(changed.items()))
        raise Conflict(
            f"parameter {key!r} is already {old!r} in this run and cannot become {new!r}: "
            "parameters are write-once",
            details={"keys": sorted(changed)[:50]},
        )
    fresh = [
        {"run_id": run_id, "key": k, "value": v} for k, v in new_params.items() if k not in existing
    ]
    if fresh:
        conn.execute(insert(run_params), fresh)


_COPY_POINTS = (
    "COPY metric_points (run_id, key, value, is_nan, step, ts) FROM STDIN (FORMAT BINARY)"
)
_COPY_TYPES = ("text", "text", "float8", "bool", "int8", "int8")
_INSERT_POINTS = (
    "INSERT INTO metric_points (run_id, key, value, is_nan, step, ts) VALUES (?, ?, ?, ?, ?, ?)"
)


def _insert_points(conn: Connection, rows: list[PointRow]) -> None:
    """Bulk insert: COPY on PostgreSQL, one prepared ``executemany`` on SQLite; then upsert
    the latest point of each key."""
    if conn.dialect.name == "postgresql":
        raw: Any = conn.connection.dbapi_connection  # psycopg 3, inside our transaction
        with raw.cursor() as cursor, cursor.copy(_COPY_POINTS) as copy:
            copy.set_types(_COPY_TYPES)
            for row in rows:
                copy.write_row(row)
    else:
        conn.exec_driver_sql(_INSERT_POINTS, rows)
    latest: dict[str, PointRow] = {}
    for row in rows:
        best = latest.get(row[1])
        if best is None or (row[4], row[5]) >= (best[4], best[5]):
            latest[row[1]] = row
    stmt = _upsert(conn, latest_metrics)
    newer = (stmt.excluded.step > latest_metrics.c.step) | (
        (stmt.excluded.step == latest_metrics.c.step) & (stmt.excluded.ts >= latest_metrics.c.ts)
    )
    conn.execute(
        stmt.on_conflict_do_update(
            index_elements=["run_id", "key"],
            set_={
                "value": stmt.excluded.value,
                "is_nan": stmt.excluded.is_nan,
                "step": stmt.excluded.step,
                "ts": stmt.excluded.ts,
            },
            where=newer,
        ),
        [
            {"run_id": r[0], "key": r[1], "value": r[2], "is_nan": r[3], "step": r[4], "ts": r[5]}
            for r in latest.values()
        ],
    )


def metric_history(
    platform: Platform, actor: Actor, run_id: str, key: str, *, max_points: int = 1_000_000
) -> list[MetricPoint]:
    """Every point of one metric of a run, by step then timestamp (project viewers)."""
    check_key("metric", key)
    with platform.db.read() as conn:
        require_run(conn, actor, run_id, Role.VIEWER)
        result = conn.execute(
            select(
                metric_points.c.value,
                metric_points.c.is_nan,
                metric_points.c.step,
                metric_points.c.ts,
            )
            .where(metric_points.c.run_id == run_id, metric_points.c.key == key)
            .order_by(metric_points.c.step, metric_points.c.ts)
            .limit(max_points)
        )
        return [
            MetricPoint(key, math.nan if r.is_nan else float(r.value), int(r.step), int(r.ts))
            for r in result
        ]


def metric_keys(platform: Platform, actor: Actor, run_id: str) -> list[str]:
    """The metric keys a run has logged, sorted."""
    with platform.db.read() as conn:
        require_run(conn, actor, run_id, Role.VIEWER)
        return sorted(
            conn.execute(
                select(latest_metrics.c.key).where(latest_metrics.c.run_id == run_id)
            ).scalars()
        )
