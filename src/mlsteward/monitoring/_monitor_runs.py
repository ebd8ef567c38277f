"""Evaluating monitors: on demand (:func:`evaluate_monitor`) and in the background
(:func:`run_due_evaluations`, which the platform server calls every
``MLSTEWARD_MONITOR_INTERVAL_SECONDS``).

Exactly once across replicas: an evaluator first claims a window by inserting its result row
with status ``running`` and a lease (``INSERT ... ON CONFLICT DO NOTHING`` on the unique
(monitor, window start)): of several replicas, one inserts it; the others see it taken. The
claimant evaluates, then completes the row, only if the claim is still its own (same token,
still ``running``). A claim whose lease expired (its evaluator crashed) may be taken over by
an ``UPDATE ... WHERE lease_until < now``, which one replica wins too.

Background results are the platform's own writes: the ``system`` actor records them.

After a result is stored, the monitor's alert rules judge the series that ends with it
(:func:`mlsteward.monitoring.evaluate_rules_for_monitor`), so an incident opens (and notifies,
and starts its action) as soon as the window that breaches is evaluated, on demand or in the
background. A failure there is logged and never undoes the stored result.
"""

from __future__ import annotations

import datetime as dt
import logging
import os
import socket
import uuid
from typing import TYPE_CHECKING, Any, Final

from sqlalchemy import and_, or_, select, update

from ..errors import Conflict, InvalidArgument
from ..security import SYSTEM, Actor, Role, fetch_project, require_project_role
from ..store import utcnow
from ._monitor_eval import Evaluation, evaluate_window
from ._monitor_model import Monitor, MonitorResult, ResultStatus, check_monitor_name
from ._monitors import fetch_monitor, monitor_from_row, result_from_row
from ._tables import monitor_results, monitors

if TYPE_CHECKING:
    from sqlalchemy import Connection

    from ..platform import Platform

__all__ = ["evaluate_monitor", "run_due_evaluations"]

log = logging.getLogger("mlsteward.monitoring")

LEASE_SECONDS: Final = 600.0
MAX_BACKLOG_WINDOWS: Final = 1_440
MAX_WINDOWS_PER_PASS: Final = 20
DEFAULT_GRACE_SECONDS: Final = 60.0
ALERT_SERIES_WINDOWS: Final = 200  # results up to the evaluated one that alert rules see


def _token() -> str:
    """Who holds a claim: this process, and a random part only this claim knows."""
    return f"{socket.gethostname()[:100]}:{os.getpid()}:{uuid.uuid4().hex}"


def _insert_claim(conn: Connection, values: dict[str, Any]) -> bool:
    if conn.dialect.name == "postgresql":
        from sqlalchemy.dialects.postgresql import insert as postgresql_insert

        dialect_insert: Any = postgresql_insert
    else:
        from sqlalchemy.dialects.sqlite import insert as sqlite_insert

        dialect_insert = sqlite_insert
    statement = (
        dialect_insert(monitor_results)
        .values(**values)
        .on_conflict_do_nothing(index_elements=["monitor_id", "window_start"])
        .returning(monitor_results.c.id)  # psycopg's rowcount is -1 here
    )
    return conn.execute(statement).first() is not None


def claim_window(
    platform: Platform,
    monitor_id: str,
    start: dt.datetime,
    end: dt.datetime,
    now: dt.datetime,
    *,
    lease_seconds: float = LEASE_SECONDS,
    again: bool = False,
) -> str | None:
    """Claim the window for evaluation; the claim's token, or None when another evaluator
    holds it (or, without ``again``, when it was evaluated already)."""
    token = _token()
    lease = now + dt.timedelta(seconds=lease_seconds)
    with platform.db.write() as conn:
        inserted = _insert_claim(
            conn,
            {
                "id": uuid.uuid4().hex,
                "monitor_id": monitor_id,
                "window_start": start,
                "window_end": end,
                "status": ResultStatus.RUNNING,
                "claimed_by": token,
                "lease_until": lease,
                "evaluated_at": None,
                "metrics": {},
                "report": {},
            },
        )
        if inserted:
            return token
        takeable = and_(
            monitor_results.c.status == ResultStatus.RUNNING, monitor_results.c.lease_until < now
        )
        if again:
            takeable = or_(takeable, monitor_results.c.status != ResultStatus.RUNNING)
        taken = conn.execute(
            update(monitor_results)
            .where(
                monitor_results.c.monitor_id == monitor_id,
                monitor_results.c.window_start == start,
                takeable,
            )
            .values(
                status=ResultStatus.RUNNING, claimed_by=token, lease_until=lease, window_end=end
            )
        ).rowcount
    return token if taken == 1 else None


def _complete(
    platform: Platform,
    actor: Actor,
    monitor: Monitor,
    project_id: str,
    start: dt.datetime,
    token: str,
    evaluation: Evaluation,
) -> MonitorResult | None:
    """Store the evaluation if the claim is still ``token``'s (None when it was lost)."""
    with platform.db.write() as conn:
        mine = and_(
            monitor_results.c.monitor_id == monitor.id,
            monitor_results.c.window_start == start,
            monitor_results.c.claimed_by == token,
            monitor_results.c.status == ResultStatus.RUNNING,
        )
        stored = conn.execute(
            update(monitor_results)
            .where(mine)
            .values(
                status=evaluation.status,
                lease_until=None,
                evaluated_at=utcnow(),
                metrics=evaluation.metrics,
                report=evaluation.report,
                error=None,
            )
        ).rowcount
        if stored != 1:
            return None
        platform.audit.record(
            conn,
            actor,
            "monitoring.monitor.evaluate",
            target_type="monitor",
            target_id=monitor.name,
            project_id=project_id,
            details={"window_start": start.isoformat(), "status": evaluation.status},
        )
        row = conn.execute(
            select(monitor_results).where(
                monitor_results.c.monitor_id == monitor.id,
                monitor_results.c.window_start == start,
            )
        ).one()
    return result_from_row(row, monitor.name)


def _evaluate_claimed(
    platform: Platform,
    actor: Actor,
    monitor: Monitor,
    project_id: str,
    start: dt.datetime,
    end: dt.datetime,
    token: str,
) -> MonitorResult | None:
    try:
        evaluation = evaluate_window(platform, monitor, project_id, start, end, utcnow())
    except Exception as exc:  # a bug or an unreadable blob must not leave the claim running
        log.exception("evaluating monitor %s at %s failed", monitor.name, start.isoformat())
        message = f"{type(exc).__name__}: {exc}"[:500]
        evaluation = Evaluation(ResultStatus.ERROR, {}, {"errors": {"evaluation": message}})
    result = _complete(platform, actor, monitor, project_id, start, token, evaluation)
    if result is not None:
        _judge_alert_rules(platform, monitor, start)
    return result


def _judge_alert_rules(platform: Platform, monitor: Monitor, start: dt.datetime) -> None:
    """Let the monitor's alert rules judge its stored results up to the window at ``start``
    (oldest first; windows still running are left out)."""
    from ._alert_evaluation import evaluate_rules_for_monitor

    try:
        with platform.db.read() as conn:
            rows = conn.execute(
                select(monitor_results)
                .where(
                    monitor_results.c.monitor_id == monitor.id,
                    monitor_results.c.window_start <= start,
                    monitor_results.c.status != ResultStatus.RUNNING,
                )
                .order_by(monitor_results.c.window_start.desc())
                .limit(ALERT_SERIES_WINDOWS)
            ).all()
        series = [result_from_row(row, monitor.name) for row in reversed(rows)]
        evaluate_rules_for_monitor(platform, monitor.id, series)
    except Exception:  # the result is stored; a rule that cannot be judged must not undo it
        log.exception(
            "judging the alert rules of monitor %s at %s failed", monitor.name, start.isoformat()
        )


def evaluate_monitor(
    platform: Platform,
    actor: Actor,
    project: str,
    name: str,
    at: dt.datetime | None = None,
) -> MonitorResult:
    """Evaluate the monitor's window that holds ``at`` now (maintainers), replacing its
    result; ``at`` None: the newest complete window. Works on disabled monitors too.

    ``InvalidArgument`` for a naive ``at`` or a window that has not started; ``Conflict`` when
    another evaluator holds the window (retry in a moment); ``NotFound``."""
    check_monitor_name(name)
    now = utcnow()
    if at is not None and (not isinstance(at, dt.datetime) or at.tzinfo is None):
        raise InvalidArgument(
            "the window time must be a timezone-aware datetime (UTC)", details={"field": "at"}
        )
    with platform.db.read() as conn:
        project_row = fetch_project(conn, project)
        require_project_role(conn, actor, project_row.id, Role.MAINTAINER)
        monitor = monitor_from_row(fetch_monitor(conn, project_row, name), project_row.name)
    if at is None:
        at = now - dt.timedelta(seconds=monitor.window_seconds)
    start, end = monitor.window_of(at)
    if start > now:
        raise InvalidArgument(
            f"the window starting {start.isoformat()} has not started yet",
            details={"field": "at"},
        )
    token = claim_window(platform, monitor.id, start, end, now, again=True)
    if token is None:
        raise Conflict(
            f"another evaluator is evaluating the window starting {start.isoformat()}: retry "
            "in a moment",
            details={"monitor": name},
        )
    result = _evaluate_claimed(platform, actor, monitor, project_row.id, start, end, token)
    if result is None:
        raise Conflict(f"the evaluation of monitor {name!r} was taken over; retry")
    return result


def _due_starts(
    monitor: Monitor, done: dict[dt.datetime, Any], now: dt.datetime, grace: float
) -> list[dt.datetime]:
    step = dt.timedelta(seconds=monitor.window_seconds)
    first, _ = monitor.window_of(monitor.created_at)
    last, _ = monitor.window_of(now - dt.timedelta(seconds=grace))
    last -= step  # the window holding now - grace has not ended by then
    start = max(first, last - (MAX_BACKLOG_WINDOWS - 1) * step)
    due: list[dt.datetime] = []
    while start <= last and len(due) < MAX_WINDOWS_PER_PASS:
        held = done.get(start)
        expired = held is not None and (held.lease_until is None or held.lease_until < now)
        if held is None or (held.status == ResultStatus.RUNNING and expired):
            due.append(start)
        start += step
    return due


def run_due_evaluations(
    platform: Platform, now: dt.datetime | None = None, *, lease_seconds: float = LEASE_SECONDS
) -> int:
    """Evaluate every enabled monitor's complete windows that have no result yet, oldest
    first (at most 20 per monitor per call, within its last 1,440 windows): those that end at
    least one prediction-log window (the deployment's, else 60 s) before ``now``. Safe to run
    on every replica at once (each window is evaluated once); returns how many this call
    evaluated."""
    from ..deployments._tables import deployments
    from ..store._tables import projects

    now = utcnow() if now is None else now
    with platform.db.read() as conn:
        rows = conn.execute(
            select(monitors, projects.c.name.label("project_name"), deployments.c.options)
            .join(projects, projects.c.id == monitors.c.project_id)
            .outerjoin(
                deployments,
                and_(
                    deployments.c.project_id == monitors.c.project_id,
                    deployments.c.name == monitors.c.deployment,
                ),
            )
            .where(monitors.c.enabled.is_(True))
            .order_by(monitors.c.id)
        ).all()
    evaluated = 0
    for row in rows:
        monitor = monitor_from_row(row, row.project_name)
        options = row.options or {}
        grace = float(options.get("log_window", DEFAULT_GRACE_SECONDS))
        with platform.db.read() as conn:
            held = conn.execute(
                select(
                    monitor_results.c.window_start,
                    monitor_results.c.status,
                    monitor_results.c.lease_until,
                ).where(
                    monitor_results.c.monitor_id == monitor.id,
                    monitor_results.c.window_start
                    >= now
                    - dt.timedelta(seconds=monitor.window_seconds * MAX_BACKLOG_WINDOWS + grace),
                )
            ).all()
        done = {h.window_start: h for h in held}
        for start in _due_starts(monitor, done, now, grace):
            end = start + dt.timedelta(seconds=monitor.window_seconds)
            token = claim_window(platform, monitor.id, start, end, now, lease_seconds=lease_seconds)
            if token is None:
                continue
            result = _evaluate_claimed(platform, SYSTEM, monitor, row.project_id, start, end, token)
            evaluated += result is not None
    return evaluated
