"""Judging a monitor's alert rules as its windows arrive.

:func:`evaluate_rules_for_monitor` takes the monitor's results (oldest or newest first; any
objects or mappings with ``window_start``, ``window_end`` and ``metrics``), judges each enabled
rule on the newest window, moves its incident (open, re-notify, auto-resolve) in one
transaction per rule with an audit event, then queues the notifications (opened, re-notify,
resolved) and the action for the background dispatcher, so evaluation never waits for a
receiver.
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Final

from sqlalchemy import Connection, insert, select, update

from ..errors import InvalidArgument
from ..security import SYSTEM
from ..store import utcnow
from ..store._tables import projects
from ._alert_actions import AlertContext
from ._alert_dispatch import ActionJob, AlertDispatcher, NotificationJob, dispatcher_for
from ._alert_messages import incident_notification
from ._alert_model import AlertRule, rule_from_row
from ._alert_rules import AlertState, Decision, MetricWindow, Verdict, decide, judge
from ._alert_tables import alert_rules, alerts
from ._alerts import Clock, check_monitor_id

if TYPE_CHECKING:
    from ..platform import Platform

__all__ = ["RuleEvaluation", "evaluate_rules_for_monitor"]

MAX_RESULTS: Final = 10_000


@dataclass(frozen=True)
class RuleEvaluation:
    """What one rule made of the newest window: ``decision`` is ``open``, ``renotify``,
    ``resolve``, ``update`` or ``nothing``; ``alert_id`` the incident it concerns."""

    rule_id: str
    rule_name: str
    decision: str
    breached: bool | None
    value: float | None
    alert_id: str | None

    def to_json(self) -> dict[str, Any]:
        return {
            "rule_id": self.rule_id,
            "rule_name": self.rule_name,
            "decision": self.decision,
            "breached": self.breached,
            "value": self.value,
            "alert_id": self.alert_id,
        }


def _field(result: object, name: str) -> Any:
    if isinstance(result, Mapping):
        return result.get(name)
    return getattr(result, name, None)


def _series(results: Iterable[object]) -> list[MetricWindow]:
    if isinstance(results, str | bytes | Mapping):
        raise InvalidArgument(
            "results must be a list of monitor results", details={"field": "results"}
        )
    windows: list[MetricWindow] = []
    for index, result in enumerate(results):
        if index >= MAX_RESULTS:
            raise InvalidArgument(
                f"at most {MAX_RESULTS} results at once", details={"field": "results"}
            )
        start, end = _field(result, "window_start"), _field(result, "window_end")
        metrics = _field(result, "metrics")
        for field, moment in (("window_start", start), ("window_end", end)):
            if not isinstance(moment, dt.datetime) or moment.tzinfo is None:
                raise InvalidArgument(
                    f"results[{index}].{field} must be a timezone-aware datetime",
                    details={"field": f"results[{index}].{field}"},
                )
        if not isinstance(metrics, Mapping):
            raise InvalidArgument(
                f"results[{index}].metrics must be a mapping of metric names to numbers",
                details={"field": f"results[{index}].metrics"},
            )
        windows.append(MetricWindow(start, end, metrics))
    windows.sort(key=lambda w: w.window_start)
    return windows


def evaluate_rules_for_monitor(
    platform: Platform,
    monitor_id: str,
    results: Iterable[object],
    *,
    clock: Clock = utcnow,
    dispatcher: AlertDispatcher | None = None,
) -> list[RuleEvaluation]:
    """Judge the monitor's enabled rules on ``results`` (the monitor's series; the newest
    window decides) and act on the outcome.

    Per rule: a breach with no open incident opens one (notifying and queueing the rule's
    action once); a breach while firing re-notifies once ``renotify_seconds`` passed since
    the last notification; a clear window resolves the open incident when ``auto_resolve``
    (notifying once that it resolved).
    A window already judged does not open or resolve again, so repeating a call is harmless.
    Runs as the platform itself (``SYSTEM``); ``InvalidArgument`` for malformed results."""
    check_monitor_id(monitor_id)
    series = _series(results)
    now = clock()
    with platform.db.read() as conn:
        rule_ids = conn.execute(
            select(alert_rules.c.id)
            .where(alert_rules.c.monitor_id == monitor_id, alert_rules.c.enabled == 1)
            .order_by(alert_rules.c.created_at, alert_rules.c.id)
        ).scalars().all()  # fmt: skip
    evaluations: list[RuleEvaluation] = []
    jobs: list[NotificationJob | ActionJob] = []
    for rule_id in rule_ids:
        with platform.db.write() as conn:
            outcome = _evaluate_rule(platform, conn, rule_id, series, now)
        if outcome is not None:
            evaluations.append(outcome[0])
            jobs.extend(outcome[1])
    if jobs:
        sender = dispatcher or dispatcher_for(platform)
        for job in jobs:
            if isinstance(job, NotificationJob):
                sender.notify(job)
            else:
                sender.act(job)
    return evaluations


def _evaluate_rule(
    platform: Platform,
    conn: Connection,
    rule_id: str,
    series: list[MetricWindow],
    now: dt.datetime,
) -> tuple[RuleEvaluation, list[NotificationJob | ActionJob]] | None:
    row = conn.execute(
        select(alert_rules).where(alert_rules.c.id == rule_id).with_for_update()
    ).first()
    if row is None or not row.enabled:  # deleted or disabled meanwhile
        return None
    rule = rule_from_row(row)
    verdict = judge(rule.condition, series[-(rule.condition.windows + 1) :])
    newest = verdict.window
    judged = row.evaluated_window_start
    stale = newest is None or (judged is not None and newest.window_start <= judged)
    incident = conn.execute(
        select(alerts).where(alerts.c.rule_id == rule_id, alerts.c.state != AlertState.RESOLVED)
    ).first()
    decision = decide(
        verdict,
        open_state=None if incident is None else AlertState(incident.state),
        last_notified_at=None if incident is None else incident.last_notified_at,
        renotify_seconds=rule.renotify_seconds,
        auto_resolve=rule.auto_resolve,
        now=now,
    )
    quiet = bool(row.quiet_until_clear)
    if (stale and decision is not Decision.RENOTIFY) or (decision is Decision.OPEN and quiet):
        decision = Decision.NOTHING
    rule_values: dict[str, Any] = {}
    if not stale and newest is not None:
        rule_values["evaluated_window_start"] = newest.window_start
    if quiet and verdict.breached is False:
        rule_values["quiet_until_clear"] = 0
    if rule_values:
        conn.execute(update(alert_rules).where(alert_rules.c.id == rule_id).values(**rule_values))
    alert_id = None if incident is None else incident.id
    jobs: list[NotificationJob | ActionJob] = []
    if decision is not Decision.NOTHING and newest is not None:
        alert_id, jobs = _apply(platform, conn, rule, incident, decision, verdict, newest, now)
    evaluation = RuleEvaluation(
        rule.id, rule.name, decision.value, verdict.breached, verdict.value, alert_id
    )
    return evaluation, jobs


def _apply(
    platform: Platform,
    conn: Connection,
    rule: AlertRule,
    incident: Any,
    decision: Decision,
    verdict: Verdict,
    newest: MetricWindow,
    now: dt.datetime,
) -> tuple[str, list[NotificationJob | ActionJob]]:
    values: dict[str, Any] = {"last_value": verdict.value, "last_window_start": newest.window_start}
    if decision is Decision.OPEN:
        alert_id = uuid.uuid4().hex
        conn.execute(
            insert(alerts).values(
                id=alert_id, rule_id=rule.id, project_id=rule.project_id,
                monitor_id=rule.monitor_id, state=AlertState.FIRING.value,
                severity=rule.severity, opened_at=now, opened_window_start=newest.window_start,
                last_notified_at=now, notify_count=1, **values,
            )
        )  # fmt: skip
    else:
        alert_id = incident.id
        if decision is Decision.RENOTIFY:
            values |= {"last_notified_at": now, "notify_count": incident.notify_count + 1}
        elif decision is Decision.RESOLVE:
            values |= {
                "state": AlertState.RESOLVED.value,
                "resolved_by": SYSTEM.name,
                "resolved_at": now,
                "resolution": "auto",
            }
        conn.execute(update(alerts).where(alerts.c.id == alert_id).values(**values))
    if decision is Decision.UPDATE:
        return alert_id, []
    action = {"open": "open", "renotify": "renotify", "resolve": "resolve"}[decision.value]
    platform.audit.record(
        conn, SYSTEM, f"monitoring.alert.{action}", target_type="alert", target_id=alert_id,
        project_id=rule.project_id,
        details={"rule_id": rule.id, "rule": rule.name, "value": verdict.value,
                 "window_start": newest.window_start.isoformat()},
    )  # fmt: skip
    job = incident_notification(
        platform, conn, alert_id,
        {Decision.OPEN: "opened", Decision.RENOTIFY: "renotify"}.get(decision, "resolved"),
        value=verdict.value, baseline=verdict.baseline, window_end=newest.window_end,
        # A resolved message names the incident's last breached window, as a person's does.
        window_start=None if decision is Decision.RESOLVE else newest.window_start,
    )  # fmt: skip
    jobs: list[NotificationJob | ActionJob] = [] if job is None else [job]
    if decision is Decision.OPEN and rule.action is not None:
        project = conn.execute(
            select(projects.c.name).where(projects.c.id == rule.project_id)
        ).scalar_one()
        context = AlertContext(
            alert_id=alert_id, rule_id=rule.id, rule_name=rule.name,
            monitor_id=rule.monitor_id, project=project, project_id=rule.project_id,
            metric=rule.condition.metric, value=verdict.value, severity=rule.severity,
            platform=platform,
        )  # fmt: skip
        jobs.append(ActionJob(context, dict(rule.action)))
    return alert_id, jobs
