"""What alert tests share: a bare monitor row for a given id (a rule belongs to a monitor, and
the alert tests judge plain series without evaluating the monitor itself)."""

from __future__ import annotations

from sqlalchemy import insert, select

from mlsteward.errors import InvalidArgument
from mlsteward.monitoring._alerts import check_monitor_id
from mlsteward.monitoring._tables import monitors
from mlsteward.platform import Platform
from mlsteward.security import fetch_project
from mlsteward.store import utcnow


def ensure_monitor(platform: Platform, monitor_id: str, project: str = "default") -> None:
    """A monitor with this id in ``project`` (named after it), unless there is one; a
    malformed id is left for the service under test to refuse."""
    try:
        check_monitor_id(monitor_id)
    except InvalidArgument:
        return
    with platform.db.write() as conn:
        if conn.execute(select(monitors.c.id).where(monitors.c.id == monitor_id)).first():
            return
        now = utcnow()
        conn.execute(
            insert(monitors).values(
                id=monitor_id, project_id=fetch_project(conn, project).id,
                name=f"m-{monitor_id}"[:64], deployment=None, model_name="fraud",
                model_version=None, reference={"kind": "training"}, window_seconds=3600,
                drift_options={}, quality=None, fairness=None, enabled=True, created_at=now,
                created_by="system", updated_at=now, updated_by="system",
            )
        )  # fmt: skip
