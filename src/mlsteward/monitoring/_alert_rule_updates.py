"""Changing an alert rule after it was created: turning it on or off.

A disabled rule is not judged: its open incident (if any) stays as it is until a person
resolves it or the rule is enabled again and sees the condition clear.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from sqlalchemy import select, update

from ..errors import InvalidArgument
from ..security import Actor, Role, fetch_project, require_project_role
from ..store import utcnow
from ._alert_model import AlertRule, rule_from_row
from ._alert_tables import alert_rules
from ._alerts import check_rule_name, fetch_rule_row
from ._monitor_model import check_monitor_name

if TYPE_CHECKING:
    from ..platform import Platform

__all__ = ["update_alert_rule"]


def update_alert_rule(
    platform: Platform,
    actor: Actor,
    project: str,
    *,
    monitor: str,
    name: str,
    enabled: bool,
) -> AlertRule:
    """Enable or disable the rule ``name`` of the monitor named ``monitor`` (maintainers;
    audited as ``monitoring.alert_rule.update``); the rule as it is now. Setting the state it
    has already changes nothing and writes nothing. ``InvalidArgument`` naming the field for
    bad input, ``NotFound`` for an unknown monitor or rule."""
    check_monitor_name(monitor)
    check_rule_name(name)
    if not isinstance(enabled, bool):
        raise InvalidArgument("enabled: must be true or false", details={"field": "enabled"})

    with platform.db.write() as conn:
        project_row = fetch_project(conn, project)
        require_project_role(conn, actor, project_row.id, Role.MAINTAINER)
        row = fetch_rule_row(conn, project_row, monitor=monitor, name=name)
        if bool(row.enabled) == enabled:
            return rule_from_row(row)
        conn.execute(
            update(alert_rules)
            .where(alert_rules.c.id == row.id)
            .values(enabled=int(enabled), updated_at=utcnow())
        )
        platform.audit.record(
            conn,
            actor,
            "monitoring.alert_rule.update",
            target_type="alert_rule",
            target_id=row.id,
            project_id=project_row.id,
            details={"monitor_id": row.monitor_id, "name": name, "enabled": enabled},
        )
        changed = conn.execute(select(alert_rules).where(alert_rules.c.id == row.id)).one()
        return rule_from_row(changed)
