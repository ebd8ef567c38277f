"""Retention: permanently purge deleted runs and experiments, in bounded batches.

Soft delete (``set_run_deleted``, ``set_experiment_deleted``) only hides; ``purge_deleted``
removes the rows for good: metric history, latest values, parameters, tags, artifact records
and the blob references that kept artifact blobs alive (blob gc then reclaims the bytes).
Work goes in batches of runs, and metric history in chunks of rows, so memory stays bounded
whatever the size of a run.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from dataclasses import asdict, dataclass
from typing import TYPE_CHECKING, Any

from sqlalchemy import ColumnClause, Connection, delete, exists, literal_column, or_, select

from ..errors import InvalidArgument
from ..security import Actor, require_admin
from ..store import utcnow
from ..store._tables import blob_refs
from ._tables import (
    experiments,
    latest_metrics,
    metric_points,
    run_artifacts,
    run_params,
    run_tags,
    runs,
)

if TYPE_CHECKING:
    from ..platform import Platform

RUN_BATCH = 200
POINT_CHUNK = 50_000


@dataclass(frozen=True)
class PurgeReport:
    runs: int
    experiments: int
    metric_points: int

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


def _purgeable_runs(conn: Connection, cutoff: dt.datetime, limit: int) -> list[str]:
    """Deleted runs (deleted before ``cutoff``) and every run of a deleted experiment."""
    dead_experiments = select(experiments.c.id).where(
        experiments.c.deleted_at.is_not(None), experiments.c.deleted_at <= cutoff
    )
    query = (
        select(runs.c.id)
        .where(
            or_(
                (runs.c.deleted_at.is_not(None)) & (runs.c.deleted_at <= cutoff),
                runs.c.experiment_id.in_(dead_experiments),
            )
        )
        .order_by(runs.c.id)
        .limit(limit)
    )
    return list(conn.execute(query).scalars())


def _delete_points(conn: Connection, run_ids: list[str]) -> int:
    """Delete the metric history of ``run_ids`` in chunks; returns the rows deleted."""
    total = 0
    # The table has no key of its own: chunks are picked by the physical row address.
    row: ColumnClause[Any] = literal_column(
        "ctid" if conn.dialect.name == "postgresql" else "rowid"
    )
    while True:
        chunk = (
            select(row)
            .select_from(metric_points)
            .where(metric_points.c.run_id.in_(run_ids))
            .limit(POINT_CHUNK)
            .scalar_subquery()
        )
        deleted = conn.execute(delete(metric_points).where(row.in_(chunk)))
        total += deleted.rowcount
        if deleted.rowcount < POINT_CHUNK:
            return total


def purge_deleted(
    platform: Platform,
    actor: Actor,
    *,
    older_than: dt.timedelta = dt.timedelta(0),
    progress: Callable[[int], None] | None = None,
) -> PurgeReport:
    """Permanently remove runs deleted at least ``older_than`` ago, and deleted experiments
    with all their runs (administrators). Each batch of runs is one transaction and one
    ``run.purge`` audit event."""
    require_admin(actor)
    if older_than < dt.timedelta(0):
        raise InvalidArgument("older_than must not be negative")
    cutoff = utcnow() - older_than
    purged_runs = purged_points = 0
    while True:
        with platform.db.write() as conn:
            batch = _purgeable_runs(conn, cutoff, RUN_BATCH)
            if not batch:
                break
            points = _delete_points(conn, batch)
            for table in (latest_metrics, run_params, run_tags, run_artifacts):
                conn.execute(delete(table).where(table.c.run_id.in_(batch)))
            for run_id in batch:
                conn.execute(
                    delete(blob_refs).where(
                        blob_refs.c.owner_type == "run",
                        blob_refs.c.owner_id.startswith(f"{run_id}/", autoescape=True),
                    )
                )
            conn.execute(
                runs.update().where(runs.c.parent_run_id.in_(batch)).values(parent_run_id=None)
            )
            conn.execute(delete(runs).where(runs.c.id.in_(batch)))
            platform.audit.record(
                conn,
                actor,
                "run.purge",
                target_type="run",
                target_id=f"{len(batch)} runs",
                details={"runs": batch, "metric_points": points},
            )
        purged_runs += len(batch)
        purged_points += points
        if progress is not None:
            progress(len(batch))
    purged_experiments = 0
    with platform.db.write() as conn:
        gone = conn.execute(
            select(experiments.c.id, experiments.c.name, experiments.c.project_id).where(
                experiments.c.deleted_at.is_not(None),
                experiments.c.deleted_at <= cutoff,
                ~exists().where(runs.c.experiment_id == experiments.c.id),
            )
        ).all()
        for row in gone:
            conn.execute(delete(experiments).where(experiments.c.id == row.id))
            platform.audit.record(
                conn,
                actor,
                "experiment.purge",
                target_type="experiment",
                target_id=row.name,
                project_id=row.project_id,
            )
        purged_experiments = len(gone)
    return PurgeReport(purged_runs, purged_experiments, purged_points)
