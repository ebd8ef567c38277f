"""Alert tables: rules on monitor metrics, their incidents and the notification delivery log.

A rule belongs to its monitor (``monitor_id`` cascades): deleting a monitor removes its
rules, their incidents and their delivery log.
"""

from __future__ import annotations

from sqlalchemy import (
    Column,
    Float,
    ForeignKey,
    Index,
    Integer,
    String,
    Table,
    Text,
    UniqueConstraint,
)

from ..store._tables import metadata
from ..store._types import JSONText, UTCDateTime
from ._tables import monitors as _monitors  # the table the rules' foreign key refers to

__all__ = ["alert_notifications", "alert_rules", "alerts"]

ID = String(32)

# A rule: a condition on one metric of one monitor's series, with notifiers and an action.
# ``op``/``value`` are the threshold (for ``baseline``: the allowed deviation, ``relative``
# in percent); ``windows`` is N for ``consecutive`` and K (the baseline's length) for
# ``baseline``. ``evaluated_window_start`` is the newest window already judged;
# ``quiet_until_clear``: a person resolved the incident while the condition still held, so
# no new incident opens before it clears once.
alert_rules = Table(
    "alert_rules",
    metadata,
    Column("id", ID, primary_key=True),
    Column("project_id", ID, ForeignKey("projects.id", ondelete="CASCADE"), nullable=False),
    Column("monitor_id", ID, ForeignKey(_monitors.c.id, ondelete="CASCADE"), nullable=False),
    Column("name", String(200), nullable=False),
    Column("metric", String(200), nullable=False),
    Column("kind", String(16), nullable=False),
    Column("op", String(2), nullable=False),
    Column("value", Float, nullable=False),
    Column("windows", Integer, nullable=False),
    Column("relative", Integer, nullable=False),
    Column("severity", String(16), nullable=False),
    Column("renotify_seconds", Integer, nullable=False),
    Column("auto_resolve", Integer, nullable=False),
    Column("notifiers", JSONText, nullable=False),
    Column("action", JSONText, nullable=True),
    Column("enabled", Integer, nullable=False),
    Column("evaluated_window_start", UTCDateTime, nullable=True),
    Column("quiet_until_clear", Integer, nullable=False),
    Column("created_at", UTCDateTime, nullable=False),
    Column("created_by", String(200), nullable=False),
    Column("updated_at", UTCDateTime, nullable=False),
    UniqueConstraint("monitor_id", "name", name="uq_alert_rules_monitor_id_name"),
    Index("ix_alert_rules_project_id", "project_id"),
)

# An incident: one breach episode of one rule, from the window that opened it to its
# resolution. At most one incident per rule is not ``resolved``.
alerts = Table(
    "alerts",
    metadata,
    Column("id", ID, primary_key=True),
    Column("rule_id", ID, ForeignKey("alert_rules.id", ondelete="CASCADE"), nullable=False),
    Column("project_id", ID, ForeignKey("projects.id", ondelete="CASCADE"), nullable=False),
    Column("monitor_id", ID, nullable=False),
    Column("state", String(16), nullable=False),
    Column("severity", String(16), nullable=False),
    Column("opened_at", UTCDateTime, nullable=False),
    Column("opened_window_start", UTCDateTime, nullable=False),
    Column("last_window_start", UTCDateTime, nullable=False),
    Column("last_value", Float, nullable=True),
    Column("last_notified_at", UTCDateTime, nullable=True),
    Column("notify_count", Integer, nullable=False),
    Column("acknowledged_by", String(200), nullable=True),
    Column("acknowledged_at", UTCDateTime, nullable=True),
    Column("resolved_by", String(200), nullable=True),
    Column("resolved_at", UTCDateTime, nullable=True),
    Column("resolution", String(16), nullable=True),
    Column("action_status", String(16), nullable=True),
    Column("action_detail", JSONText, nullable=True),
    Index("ix_alerts_rule_id_state", "rule_id", "state"),
    Index("ix_alerts_project_id_opened_at", "project_id", "opened_at"),
)

# One row per delivery attempt of one notifier for one alert.
alert_notifications = Table(
    "alert_notifications",
    metadata,
    Column("id", ID, primary_key=True),
    Column("alert_id", ID, ForeignKey("alerts.id", ondelete="CASCADE"), nullable=False),
    Column("notifier", String(16), nullable=False),
    Column("target", String(300), nullable=False),
    Column("reason", String(16), nullable=False),
    Column("attempt", Integer, nullable=False),
    Column("status", String(16), nullable=False),
    Column("error", Text, nullable=True),
    Column("at", UTCDateTime, nullable=False),
    Index("ix_alert_notifications_alert_id", "alert_id"),
)
