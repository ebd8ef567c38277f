"""The notifications of an incident, built from what is stored about it: when it opens, each
reminder, and the "resolved" one.

A resolve happens automatically, when :func:`evaluate_rules_for_monitor` sees the condition
clear, or by a person through :func:`resolve_alert`. Each notifier of the rule gets one
message with ``reason="resolved"``, queued after the resolving transaction commits; nothing is
sent for the incident after that.
"""

from __future__ import annotations

import datetime as dt
from typing import TYPE_CHECKING
from urllib.parse import quote

from sqlalchemy import Connection, select

from ..store._tables import projects
from ._alert_dispatch import NotificationJob
from ._alert_tables import alert_rules, alerts
from ._notifiers import AlertMessage
from ._tables import monitors

if TYPE_CHECKING:
    from ..platform import Platform

__all__ = ["alert_links", "incident_notification"]


def alert_links(platform: Platform, project: str, monitor_id: str, alert_id: str) -> dict[str, str]:
    """Where the incident and its monitor are on the server (``server_url`` when set)."""
    base = (platform.settings.server_url or "").rstrip("/")
    where = f"{base}/projects/{quote(project, safe='')}"
    return {"alert": f"{where}/alerts/{alert_id}", "monitor": f"{where}/monitors/{monitor_id}"}


def incident_notification(
    platform: Platform,
    conn: Connection,
    alert_id: str,
    reason: str,
    *,
    value: float | None = None,
    baseline: float | None = None,
    window_start: dt.datetime | None = None,
    window_end: dt.datetime | None = None,
) -> NotificationJob | None:
    """The notification round of incident ``alert_id`` for ``reason`` (``opened``,
    ``renotify`` or ``resolved``), read in ``conn`` after the update that decided it; None
    when its rule has no notifiers.

    ``value``, ``baseline`` and the window: the judged window's; by default the incident's
    last judged value and window (a person resolving it)."""
    from ._alert_model import rule_from_row

    incident = conn.execute(select(alerts).where(alerts.c.id == alert_id)).one()
    rule = conn.execute(select(alert_rules).where(alert_rules.c.id == incident.rule_id)).one()
    if not rule.notifiers:
        return None
    project = conn.execute(
        select(projects.c.name).where(projects.c.id == incident.project_id)
    ).scalar_one()
    start = incident.last_window_start if window_start is None else window_start
    if window_end is None:
        seconds = conn.execute(
            select(monitors.c.window_seconds).where(monitors.c.id == incident.monitor_id)
        ).scalar_one_or_none()
        window_end = start + dt.timedelta(seconds=seconds or 0)
    message = AlertMessage(
        alert_id=alert_id,
        rule_id=rule.id,
        rule_name=rule.name,
        project=project,
        monitor_id=incident.monitor_id,
        metric=rule.metric,
        condition=rule_from_row(rule).condition.describe(),
        value=incident.last_value if value is None else value,
        baseline=baseline,
        severity=incident.severity,
        state=incident.state,
        reason=reason,
        window_start=start,
        window_end=window_end,
        opened_at=incident.opened_at,
        notify_count=int(incident.notify_count),
        links=alert_links(platform, project, incident.monitor_id, alert_id),
        resolution=incident.resolution,
        resolved_by=incident.resolved_by,
        resolved_at=incident.resolved_at,
    )
    return NotificationJob(message, tuple(rule.notifiers))
