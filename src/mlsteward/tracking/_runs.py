"""Runs: start, end, heartbeats, notes, soft delete, and reaping runs whose process died."""

from __future__ import annotations

import datetime as dt
import re
import uuid
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from sqlalchemy import Connection, Row, insert, select, update

from ..errors import Conflict, InvalidArgument, NotFound
from ..security import Actor, Role, fetch_project, require_project_role
from ..store import utcnow
from ._experiments import fetch_experiment
from ._model import MAX_NOTES_LENGTH, Run, RunId, RunStatus, load_runs
from ._tables import run_tags, runs
from ._validation import check_key, check_run_name, check_text_value

if TYPE_CHECKING:
    from ..platform import Platform

_RUN_ID = re.compile(r"^[0-9a-f]{32}$")
MAX_ENVIRONMENT_BYTES = 256 * 1024


def check_run_id(run_id: object) -> str:
    if not isinstance(run_id, str) or not _RUN_ID.fullmatch(run_id):
        raise InvalidArgument(
            f"invalid run id {str(run_id)[:80]!r}: a run id is 32 lowercase hex characters"
        )
    return run_id


def fetch_run_row(conn: Connection, run_id: str) -> Row[Any]:
    row = conn.execute(select(runs).where(runs.c.id == check_run_id(run_id))).first()
    if row is None:
        raise NotFound(f"no run with id {run_id!r}", details={"run_id": run_id})
    return row


def require_run(conn: Connection, actor: Actor, run_id: str, role: Role) -> Row[Any]:
    """The run's row, after checking ``role`` in its project."""
    row = fetch_run_row(conn, run_id)
    require_project_role(conn, actor, row.project_id, role)
    return row


def require_writable_run(conn: Connection, actor: Actor, run_id: str) -> Row[Any]:
    """A run that may still receive data: running and not deleted (project editors)."""
    row = require_run(conn, actor, run_id, Role.EDITOR)
    if row.deleted_at is not None:
        raise Conflict(f"run {run_id} is deleted; restore it before logging to it")
    if row.status != RunStatus.RUNNING:
        raise Conflict(
            f"run {run_id} is {row.status}; a finished run takes no more data",
            details={"status": row.status},
        )
    return row


def start_run(
    platform: Platform,
    actor: Actor,
    project: str,
    experiment: str,
    *,
    name: str | None = None,
    parent_run_id: str | None = None,
    tags: Mapping[str, str] | None = None,
    environment: Mapping[str, Any] | None = None,
) -> Run:
    """Start a run in an existing experiment (project editors)."""
    from .._wire import canonical_size

    run_id = RunId(uuid.uuid4().hex)
    name = check_run_name(name) if name is not None else f"run-{run_id[:8]}"
    tags = dict(tags or {})
    for key, value in tags.items():
        check_key("tag", key)
        check_text_value("tag", key, value, 8000)
    env = dict(environment or {})
    if canonical_size(env) > MAX_ENVIRONMENT_BYTES:
        raise InvalidArgument("the run environment record is too large")
    now = utcnow()
    with platform.db.write() as conn:
        project_row = fetch_project(conn, project)
        require_project_role(conn, actor, project_row.id, Role.EDITOR)
        exp = fetch_experiment(conn, project_row.id, experiment)
        if exp.deleted_at is not None:
            raise Conflict(f"experiment {experiment!r} is deleted; restore it first")
        if parent_run_id is not None:
            parent = fetch_run_row(conn, parent_run_id)
            if parent.project_id != project_row.id:
                raise InvalidArgument("a parent run must be in the same project")
        conn.execute(
            insert(runs).values(
                id=run_id,
                experiment_id=exp.id,
                project_id=project_row.id,
                name=name,
                status=RunStatus.RUNNING.value,
                start_time=now,
                heartbeat_at=now,
                parent_run_id=parent_run_id,
                notes="",
                created_by=actor.name,
                environment=env,
            )
        )
        if tags:
            conn.execute(
                insert(run_tags),
                [{"run_id": run_id, "key": k, "value": v} for k, v in tags.items()],
            )
        platform.audit.record(
            conn,
            actor,
            "run.start",
            target_type="run",
            target_id=run_id,
            project_id=project_row.id,
            details={"experiment": experiment, "name": name},
        )
        return load_runs(conn, [run_id])[0]


def get_run(platform: Platform, actor: Actor, run_id: str) -> Run:
    """A run with its parameters, tags and latest metrics (project viewers)."""
    with platform.db.read() as conn:
        require_run(conn, actor, run_id, Role.VIEWER)
        return load_runs(conn, [run_id])[0]


def end_run(
    platform: Platform,
    actor: Actor,
    run_id: str,
    status: RunStatus | str = RunStatus.FINISHED,
    *,
    end_time: dt.datetime | None = None,
) -> Run:
    """Mark a running run FINISHED, FAILED or KILLED (project editors)."""
    try:
        final = RunStatus(status)
    except ValueError:
        raise InvalidArgument(f"unknown run status {status!r}") from None
    if not final.is_terminal:
        raise InvalidArgument("a run ends as FINISHED, FAILED or KILLED")
    with platform.db.write() as conn:
        row = require_writable_run(conn, actor, run_id)
        conn.execute(
            update(runs)
            .where(runs.c.id == run_id)
            .values(status=final.value, end_time=end_time or utcnow())
        )
        platform.audit.record(
            conn,
            actor,
            "run.end",
            target_type="run",
            target_id=run_id,
            project_id=row.project_id,
            details={"status": final.value},
        )
        return load_runs(conn, [run_id])[0]


def heartbeat(platform: Platform, actor: Actor, run_id: str) -> None:
    """Record that the run's process is alive (bookkeeping: not audited)."""
    with platform.db.write() as conn:
        require_writable_run(conn, actor, run_id)
        conn.execute(update(runs).where(runs.c.id == run_id).values(heartbeat_at=utcnow()))


def reap_dead_runs(platform: Platform, actor: Actor, *, timeout_seconds: float) -> list[str]:
    """Mark KILLED every running run without a heartbeat for ``timeout_seconds``.

    Meant for the platform itself (the server runs it periodically) or an administrator.
    """
    from ..security import require_admin

    require_admin(actor)
    cutoff = utcnow() - dt.timedelta(seconds=timeout_seconds)
    with platform.db.write() as conn:
        dead = conn.execute(
            select(runs.c.id, runs.c.project_id).where(
                runs.c.status == RunStatus.RUNNING.value, runs.c.heartbeat_at < cutoff
            )
        ).all()
        if not dead:
            return []
        now = utcnow()
        for row in dead:
            conn.execute(
                update(runs)
                .where(runs.c.id == row.id, runs.c.status == RunStatus.RUNNING.value)
                .values(status=RunStatus.KILLED.value, end_time=now)
            )
            platform.audit.record(
                conn,
                actor,
                "run.killed",
                target_type="run",
                target_id=row.id,
                project_id=row.project_id,
                details={"reason": f"no heartbeat for {timeout_seconds:g} s"},
            )
        return [row.id for row in dead]


def set_run_notes(platform: Platform, actor: Actor, run_id: str, notes: str) -> Run:
    check_text_value("notes", "notes", notes, MAX_NOTES_LENGTH)
    with platform.db.write() as conn:
        row = require_run(conn, actor, run_id, Role.EDITOR)
        conn.execute(update(runs).where(runs.c.id == run_id).values(notes=notes))
        platform.audit.record(
            conn,
            actor,
            "run.notes",
            target_type="run",
            target_id=run_id,
            project_id=row.project_id,
        )
        return load_runs(conn, [run_id])[0]


def set_run_deleted(platform: Platform, actor: Actor, run_id: str, deleted: bool) -> Run:
    """Soft-delete or restore a run (project editors); ``mlsteward gc`` purges deleted runs."""
    with platform.db.write() as conn:
        row = require_run(conn, actor, run_id, Role.EDITOR)
        if (row.deleted_at is not None) == deleted:
            raise Conflict(f"run {run_id} is already {'deleted' if deleted else 'not deleted'}")
        conn.execute(
            update(runs).where(runs.c.id == run_id).values(deleted_at=utcnow() if deleted else None)
        )
        platform.audit.record(
            conn,
            actor,
            "run.delete" if deleted else "run.restore",
            target_type="run",
            target_id=run_id,
            project_id=row.project_id,
        )
        return load_runs(conn, [run_id])[0]
