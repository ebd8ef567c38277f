"""Alert rules and incidents as a service: create, list and delete rules; list, read,
acknowledge and resolve incidents (maintainers write, viewers read; every write audited in its
transaction). A rule belongs to one monitor, named by the monitor's name or its id. What a
rule, an incident and a delivery attempt are: ``_alert_model``.

The rules are judged by :func:`evaluate_rules_for_monitor` (``_alert_evaluation``) as a
monitor's windows arrive.
"""

from __future__ import annotations

import datetime as dt
import re
import uuid
from collections.abc import Callable, Mapping, Sequence
from typing import TYPE_CHECKING, Any, Final

from sqlalchemy import Connection, Row, delete, func, insert, select, update

from ..errors import AlreadyExists, Conflict, InvalidArgument, NotFound
from ..security import Actor, Role, fetch_project, require_admin, require_project_role
from ..store import utcnow
from ._alert_actions import registered_actions
from ._alert_model import Alert, AlertNotification, AlertRule, alert_from_row, rule_from_row
from ._alert_rules import AlertState
from ._alert_specs import (
    check_action,
    check_condition,
    check_notifiers,
    check_renotify,
    check_severity,
    public_notifiers,
)
from ._alert_tables import alert_rules, alerts
from ._monitor_model import check_monitor_name
from ._tables import monitors

if TYPE_CHECKING:
    from ..platform import Platform
    from ..security import Project
    from ._alert_dispatch import AlertDispatcher

__all__ = [
    "acknowledge_alert",
    "create_alert_rule",
    "delete_alert_rule",
    "get_alert",
    "list_alert_notifications",
    "list_alert_rules",
    "list_alerts",
    "resolve_alert",
]

Clock = Callable[[], dt.datetime]
MAX_RULES_PER_MONITOR: Final = 100
MAX_LISTED: Final = 1_000
_MONITOR_ID = re.compile(r"[A-Za-z0-9_-]{1,32}")
_ALERT_ID = re.compile(r"[0-9a-f]{32}")
# No '/': a rule is named in a URL path (…/alert-rules/{name}), and a server decodes %2F
# before routing.
_RULE_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9 ._:-]{0,199}")


def check_rule_name(value: object) -> str:
    """A rule's name: 1 to 200 letters, digits, spaces and ``._:-``, starting with a letter
    or digit (unique per monitor)."""
    if not isinstance(value, str) or not _RULE_NAME.fullmatch(value):
        raise InvalidArgument(
            "name: must be 1 to 200 characters: letters, digits, spaces and ._:- (starting "
            "with a letter or digit)",
            details={"field": "name"},
        )
    return value


def check_monitor_id(value: object) -> str:
    if not isinstance(value, str) or not _MONITOR_ID.fullmatch(value):
        raise InvalidArgument(
            "monitor_id must be a monitor id (1 to 32 letters, digits, _ or -)",
            details={"field": "monitor_id"},
        )
    return value


def _check_monitor(monitor: str | None, monitor_id: str | None, *, required: bool) -> None:
    """``monitor`` (a name) or ``monitor_id``: one of them (or neither, when optional)."""
    if monitor is not None and monitor_id is not None:
        raise InvalidArgument(
            "give the monitor by name or by id, not both", details={"field": "monitor"}
        )
    if monitor is not None:
        check_monitor_name(monitor)
    elif monitor_id is not None:
        check_monitor_id(monitor_id)
    elif required:
        raise InvalidArgument("name the rule's monitor", details={"field": "monitor"})


def _resolve_monitor(
    conn: Connection, project: Project, monitor: str | None, monitor_id: str | None
) -> str | None:
    """The id of the project's monitor named ``monitor`` (or of ``monitor_id``); ``NotFound``
    when the project has no such monitor."""
    from ._monitors import fetch_monitor

    if monitor is not None:
        return str(fetch_monitor(conn, project, monitor).id)
    if monitor_id is not None:
        found = conn.execute(
            select(monitors.c.id).where(
                monitors.c.id == monitor_id, monitors.c.project_id == project.id
            )
        ).first()
        if found is None:
            raise NotFound(
                f"no monitor with id {monitor_id} in project {project.name!r}: "
                "`mlsteward monitor list` shows them",
                details={"monitor_id": monitor_id},
            )
    return monitor_id


def fetch_rule_row(
    conn: Connection,
    project: Project,
    rule_id: str | None = None,
    *,
    monitor: str | None = None,
    name: str | None = None,
) -> Row[Any]:
    """The project's alert rule with ``rule_id``, or the one named ``name`` of the monitor
    named ``monitor``; ``NotFound`` naming what is missing."""
    query = select(alert_rules).where(alert_rules.c.project_id == project.id)
    if rule_id is not None:
        query = query.where(alert_rules.c.id == rule_id)
    else:
        owner = _resolve_monitor(conn, project, monitor, None)
        query = query.where(alert_rules.c.monitor_id == owner, alert_rules.c.name == name)
    row = conn.execute(query).first()
    if row is None:
        missing = (
            f"monitor {monitor} has no alert rule named {name!r}"
            if rule_id is None
            else f"project {project.name!r} has no alert rule with id {rule_id}"
        )
        raise NotFound(
            f"{missing}: `mlsteward alert rule list` shows them",
            details={"rule_id": rule_id} if rule_id else {"name": name},
        )
    return row


def _flag(value: object, field: str) -> bool:
    if not isinstance(value, bool):
        raise InvalidArgument(f"{field}: must be true or false", details={"field": field})
    return value


def create_alert_rule(
    platform: Platform,
    actor: Actor,
    project: str,
    *,
    monitor_id: str | None = None,
    monitor: str | None = None,
    name: str,
    metric: str,
    value: float,
    kind: str = "threshold",
    op: str = ">",
    windows: int = 1,
    relative: bool = False,
    severity: str = "warning",
    renotify_seconds: int = 3600,
    auto_resolve: bool = True,
    notifiers: Sequence[Mapping[str, Any]] = (),
    action: Mapping[str, Any] | None = None,
    enabled: bool = True,
) -> AlertRule:
    """Add a rule on ``metric`` of a monitor's windows, the monitor named ``monitor`` or
    with id ``monitor_id`` (maintainers; a ``command`` action runs a program on the server,
    so only administrators may set one).

    ``kind``: ``threshold`` (newest value ``op`` ``value``), ``consecutive`` (that, for the
    last ``windows`` windows) or ``baseline`` (the newest value deviates from the mean of the
    ``windows`` windows before it by more than ``value``; percent of the mean when
    ``relative``). ``renotify_seconds``: how often a firing incident is sent again (0: never).
    ``InvalidArgument`` naming the field for bad input and ``PermissionDenied`` for a webhook
    target the address guard refuses; nothing is written then. ``AlreadyExists`` when the
    monitor has a rule of that name, ``NotFound`` when the project has no such monitor."""
    _check_monitor(monitor, monitor_id, required=True)
    check_rule_name(name)
    condition = check_condition(
        metric=metric, kind=kind, op=op, value=value, windows=windows, relative=relative
    )
    level = check_severity(severity)
    renotify = check_renotify(renotify_seconds)
    resolve, on = _flag(auto_resolve, "auto_resolve"), _flag(enabled, "enabled")
    stored_action = check_action(action, registered_actions())
    if stored_action is not None and stored_action["kind"] == "command":
        require_admin(actor)
    from ..registry._webhooks import allowed_hosts

    rule_id = uuid.uuid4().hex
    with platform.db.read() as conn:
        hosts = allowed_hosts(conn)
    stored_notifiers = check_notifiers(platform, rule_id, notifiers, hosts)
    with platform.db.write() as conn:
        project_row = fetch_project(conn, project)
        require_project_role(conn, actor, project_row.id, Role.MAINTAINER)
        monitor_id = _resolve_monitor(conn, project_row, monitor, monitor_id)
        same_monitor = select(func.count()).where(alert_rules.c.monitor_id == monitor_id)
        if conn.execute(same_monitor.where(alert_rules.c.name == name)).scalar_one():
            raise AlreadyExists(
                f"monitor {monitor or monitor_id} has a rule named {name!r} already",
                details={"field": "name"},
            )
        if conn.execute(same_monitor).scalar_one() >= MAX_RULES_PER_MONITOR:
            raise InvalidArgument(f"a monitor has at most {MAX_RULES_PER_MONITOR} alert rules")
        now = utcnow()
        conn.execute(
            insert(alert_rules).values(
                id=rule_id,
                project_id=project_row.id,
                monitor_id=monitor_id,
                name=name,
                metric=condition.metric,
                kind=condition.kind,
                op=condition.op,
                value=condition.value,
                windows=condition.windows,
                relative=int(condition.relative),
                severity=level.value,
                renotify_seconds=renotify,
                auto_resolve=int(resolve),
                notifiers=stored_notifiers,
                action=stored_action,
                enabled=int(on),
                evaluated_window_start=None,
                quiet_until_clear=0,
                created_at=now,
                created_by=actor.name,
                updated_at=now,
            )
        )
        platform.audit.record(
            conn,
            actor,
            "monitoring.alert_rule.create",
            target_type="alert_rule",
            target_id=rule_id,
            project_id=project_row.id,
            details={
                "monitor_id": monitor_id,
                "name": name,
                "condition": condition.describe(),
                "severity": level.value,
                "notifiers": public_notifiers(stored_notifiers),
                "action": stored_action,
            },
        )
        row = conn.execute(select(alert_rules).where(alert_rules.c.id == rule_id)).one()
        return rule_from_row(row)


def list_alert_rules(
    platform: Platform,
    actor: Actor,
    project: str,
    *,
    monitor_id: str | None = None,
    monitor: str | None = None,
) -> list[AlertRule]:
    """The project's rules (readers), of one monitor when given (by name or id), by creation
    time; ``NotFound`` for an unknown monitor."""
    _check_monitor(monitor, monitor_id, required=False)
    with platform.db.read() as conn:
        project_row = fetch_project(conn, project)
        require_project_role(conn, actor, project_row.id, Role.VIEWER)
        monitor_id = _resolve_monitor(conn, project_row, monitor, monitor_id)
        query = select(alert_rules).where(alert_rules.c.project_id == project_row.id)
        if monitor_id is not None:
            query = query.where(alert_rules.c.monitor_id == monitor_id)
        rows = conn.execute(query.order_by(alert_rules.c.created_at, alert_rules.c.id)).all()
    return [rule_from_row(r) for r in rows]


def _check_id(value: object, field: str) -> str:
    if not isinstance(value, str) or not _ALERT_ID.fullmatch(value):
        raise InvalidArgument(
            f"{field} must be 32 hexadecimal characters", details={"field": field}
        )
    return value


def delete_alert_rule(
    platform: Platform,
    actor: Actor,
    project: str,
    rule_id: str | None = None,
    *,
    monitor: str | None = None,
    name: str | None = None,
) -> None:
    """Remove a rule, given by id or by ``monitor`` and ``name``, with its incidents and their
    notification log (maintainers); ``NotFound``."""
    if rule_id is not None:
        _check_id(rule_id, "rule_id")
        if monitor is not None or name is not None:
            raise InvalidArgument("give the rule's id, or its monitor and name, not both")
    else:
        if monitor is None or name is None:
            raise InvalidArgument(
                "name the rule: its id, or its monitor and name", details={"field": "name"}
            )
        check_monitor_name(monitor)
        check_rule_name(name)
    from ._alert_tables import alert_notifications

    with platform.db.write() as conn:
        project_row = fetch_project(conn, project)
        require_project_role(conn, actor, project_row.id, Role.MAINTAINER)
        row = fetch_rule_row(conn, project_row, rule_id, monitor=monitor, name=name)
        rule_id = str(row.id)
        incident_ids = select(alerts.c.id).where(alerts.c.rule_id == rule_id)
        conn.execute(
            delete(alert_notifications).where(alert_notifications.c.alert_id.in_(incident_ids))
        )
        conn.execute(delete(alerts).where(alerts.c.rule_id == rule_id))
        conn.execute(delete(alert_rules).where(alert_rules.c.id == rule_id))
        platform.audit.record(
            conn,
            actor,
            "monitoring.alert_rule.delete",
            target_type="alert_rule",
            target_id=rule_id,
            project_id=project_row.id,
            details={"monitor_id": row.monitor_id, "name": row.name},
        )


def list_alerts(
    platform: Platform,
    actor: Actor,
    project: str,
    *,
    rule_id: str | None = None,
    monitor_id: str | None = None,
    monitor: str | None = None,
    state: str | None = None,
    limit: int = 100,
) -> list[Alert]:
    """The project's incidents, newest first (readers); filtered by rule, monitor (by name or
    id; ``NotFound`` for an unknown one) or state (``firing``, ``acknowledged``, ``resolved``
    or ``open`` for the first two); at most ``limit`` (1 to 1,000)."""
    if rule_id is not None:
        _check_id(rule_id, "rule_id")
    _check_monitor(monitor, monitor_id, required=False)
    states = {"open": ("firing", "acknowledged")} | {s.value: (s.value,) for s in AlertState}
    if state is not None and state not in states:
        raise InvalidArgument(
            f"state must be one of {', '.join(states)}", details={"field": "state"}
        )
    if isinstance(limit, bool) or not isinstance(limit, int) or not 1 <= limit <= MAX_LISTED:
        raise InvalidArgument(f"limit must be 1 to {MAX_LISTED}", details={"field": "limit"})
    with platform.db.read() as conn:
        project_row = fetch_project(conn, project)
        require_project_role(conn, actor, project_row.id, Role.VIEWER)
        monitor_id = _resolve_monitor(conn, project_row, monitor, monitor_id)
        query = select(alerts).where(alerts.c.project_id == project_row.id)
        if rule_id is not None:
            query = query.where(alerts.c.rule_id == rule_id)
        if monitor_id is not None:
            query = query.where(alerts.c.monitor_id == monitor_id)
        if state is not None:
            query = query.where(alerts.c.state.in_(states[state]))
        rows = conn.execute(
            query.order_by(alerts.c.opened_at.desc(), alerts.c.id).limit(limit)
        ).all()
    return [alert_from_row(r) for r in rows]


def _fetch_alert(
    conn: Connection, actor: Actor, project: str, alert_id: str, role: Role = Role.MAINTAINER
) -> Any:
    project_row = fetch_project(conn, project)
    require_project_role(conn, actor, project_row.id, role)
    row = conn.execute(
        select(alerts).where(alerts.c.id == alert_id, alerts.c.project_id == project_row.id)
    ).first()
    if row is None:
        raise NotFound(
            "no such alert in this project: `mlsteward alert list` shows them",
            details={"alert_id": alert_id},
        )
    return row


def get_alert(platform: Platform, actor: Actor, project: str, alert_id: str) -> Alert:
    """One incident of the project (readers); ``NotFound``."""
    _check_id(alert_id, "alert_id")
    with platform.db.read() as conn:
        return alert_from_row(_fetch_alert(conn, actor, project, alert_id, Role.VIEWER))


def acknowledge_alert(
    platform: Platform, actor: Actor, project: str, alert_id: str, *, clock: Clock = utcnow
) -> Alert:
    """Mark a firing incident as being handled: it is not sent again until it resolves
    (maintainers). ``Conflict`` unless it is firing."""
    _check_id(alert_id, "alert_id")
    with platform.db.write() as conn:
        row = _fetch_alert(conn, actor, project, alert_id)
        if row.state != AlertState.FIRING:
            raise Conflict(f"the alert is {row.state}; only a firing alert can be acknowledged")
        conn.execute(
            update(alerts)
            .where(alerts.c.id == alert_id)
            .values(state=AlertState.ACKNOWLEDGED.value, acknowledged_by=actor.name,
                    acknowledged_at=clock())
        )  # fmt: skip
        platform.audit.record(
            conn, actor, "monitoring.alert.acknowledge", target_type="alert",
            target_id=alert_id, project_id=row.project_id, details={"rule_id": row.rule_id},
        )  # fmt: skip
        return alert_from_row(conn.execute(select(alerts).where(alerts.c.id == alert_id)).one())


def resolve_alert(
    platform: Platform,
    actor: Actor,
    project: str,
    alert_id: str,
    *,
    clock: Clock = utcnow,
    dispatcher: AlertDispatcher | None = None,
) -> Alert:
    """Close an incident by hand (maintainers): each notifier of its rule is sent one
    "resolved" message (through ``dispatcher``, by default the platform's), then nothing more;
    a new incident opens when the condition clears and is breached again. ``Conflict`` when
    it is resolved already."""
    from ._alert_dispatch import dispatcher_for
    from ._alert_messages import incident_notification

    _check_id(alert_id, "alert_id")
    with platform.db.write() as conn:
        row = _fetch_alert(conn, actor, project, alert_id)
        if row.state == AlertState.RESOLVED:
            raise Conflict("the alert is resolved already")
        conn.execute(
            update(alerts)
            .where(alerts.c.id == alert_id)
            .values(state=AlertState.RESOLVED.value, resolved_by=actor.name,
                    resolved_at=clock(), resolution="manual")
        )  # fmt: skip
        # Still breached at the newest judged window: the next incident waits until the
        # condition clears once, or resolving would just open a new one.
        conn.execute(
            update(alert_rules)
            .where(
                alert_rules.c.id == row.rule_id,
                alert_rules.c.evaluated_window_start == row.last_window_start,
            )
            .values(quiet_until_clear=1)
        )
        platform.audit.record(
            conn, actor, "monitoring.alert.resolve", target_type="alert",
            target_id=alert_id, project_id=row.project_id,
            details={"rule_id": row.rule_id, "resolution": "manual"},
        )  # fmt: skip
        job = incident_notification(platform, conn, alert_id, "resolved")
        resolved = alert_from_row(conn.execute(select(alerts).where(alerts.c.id == alert_id)).one())
    if job is not None:
        (dispatcher or dispatcher_for(platform)).notify(job)
    return resolved


def list_alert_notifications(
    platform: Platform, actor: Actor, project: str, alert_id: str
) -> list[AlertNotification]:
    """Every delivery attempt for an alert, oldest first (readers)."""
    from ._alert_tables import alert_notifications as log

    _check_id(alert_id, "alert_id")
    with platform.db.read() as conn:
        _fetch_alert(conn, actor, project, alert_id, Role.VIEWER)
        rows = conn.execute(
            select(log).where(log.c.alert_id == alert_id).order_by(log.c.at, log.c.attempt)
        ).all()
    return [
        AlertNotification(r.notifier, r.target, r.reason, r.attempt, r.status, r.error, r.at)
        for r in rows
    ]
