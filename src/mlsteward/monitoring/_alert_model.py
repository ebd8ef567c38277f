"""What an alert rule, an incident and a notification attempt are: ``AlertRule``, ``Alert``
and ``AlertNotification``, their JSON forms (what the API sends) and how they are read from
their table rows. The service functions are in ``_alerts``.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from .._wire import iso
from ._alert_rules import AlertState, Condition
from ._alert_specs import public_notifiers

__all__ = ["Alert", "AlertNotification", "AlertRule", "alert_from_row", "rule_from_row"]


@dataclass(frozen=True)
class AlertRule:
    """A condition on one metric of one monitor, who to tell and what to run when it fires."""

    id: str
    project_id: str
    monitor_id: str
    name: str
    condition: Condition
    severity: str
    renotify_seconds: int
    auto_resolve: bool
    notifiers: tuple[Mapping[str, Any], ...]
    action: Mapping[str, Any] | None
    enabled: bool
    created_at: dt.datetime
    created_by: str
    updated_at: dt.datetime

    def to_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "project_id": self.project_id,
            "monitor_id": self.monitor_id,
            "name": self.name,
            "metric": self.condition.metric,
            "kind": self.condition.kind,
            "op": self.condition.op,
            "value": self.condition.value,
            "windows": self.condition.windows,
            "relative": self.condition.relative,
            "description": self.condition.describe(),
            "severity": self.severity,
            "renotify_seconds": self.renotify_seconds,
            "auto_resolve": self.auto_resolve,
            "notifiers": [dict(n) for n in self.notifiers],
            "action": None if self.action is None else dict(self.action),
            "enabled": self.enabled,
            "created_at": iso(self.created_at),
            "created_by": self.created_by,
            "updated_at": iso(self.updated_at),
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> AlertRule:
        """The rule ``to_json`` wrote (``KeyError``/``ValueError``/``TypeError`` else)."""
        condition = Condition(
            str(data["metric"]), str(data["kind"]), str(data["op"]), float(data["value"]),
            int(data["windows"]), bool(data["relative"]),
        )  # fmt: skip
        action = data["action"]
        return cls(
            str(data["id"]), str(data["project_id"]), str(data["monitor_id"]), str(data["name"]),
            condition, str(data["severity"]), int(data["renotify_seconds"]),
            bool(data["auto_resolve"]), tuple(dict(n) for n in data["notifiers"]),
            None if action is None else dict(action), bool(data["enabled"]),
            _moment(data["created_at"]), str(data["created_by"]), _moment(data["updated_at"]),
        )  # fmt: skip


@dataclass(frozen=True)
class Alert:
    """One incident: a breach episode of a rule, from the window that opened it until it is
    resolved (automatically when the condition clears, or by a person)."""

    id: str
    rule_id: str
    project_id: str
    monitor_id: str
    state: AlertState
    severity: str
    opened_at: dt.datetime
    opened_window_start: dt.datetime
    last_window_start: dt.datetime
    last_value: float | None
    last_notified_at: dt.datetime | None
    notify_count: int
    acknowledged_by: str | None
    acknowledged_at: dt.datetime | None
    resolved_by: str | None
    resolved_at: dt.datetime | None
    resolution: str | None
    action_status: str | None
    action_detail: Mapping[str, Any] | None

    def to_json(self) -> dict[str, Any]:
        def moment(value: dt.datetime | None) -> str | None:
            return None if value is None else iso(value)

        return {
            "id": self.id,
            "rule_id": self.rule_id,
            "project_id": self.project_id,
            "monitor_id": self.monitor_id,
            "state": self.state.value,
            "severity": self.severity,
            "opened_at": iso(self.opened_at),
            "opened_window_start": iso(self.opened_window_start),
            "last_window_start": iso(self.last_window_start),
            "last_value": self.last_value,
            "last_notified_at": moment(self.last_notified_at),
            "notify_count": self.notify_count,
            "acknowledged_by": self.acknowledged_by,
            "acknowledged_at": moment(self.acknowledged_at),
            "resolved_by": self.resolved_by,
            "resolved_at": moment(self.resolved_at),
            "resolution": self.resolution,
            "action_status": self.action_status,
            "action_detail": None if self.action_detail is None else dict(self.action_detail),
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Alert:
        """The incident ``to_json`` wrote (``KeyError``/``ValueError``/``TypeError`` else)."""

        def moment(key: str) -> dt.datetime | None:
            return None if data[key] is None else _moment(data[key])

        def text(key: str) -> str | None:
            return None if data[key] is None else str(data[key])

        value, detail = data["last_value"], data["action_detail"]
        return cls(
            str(data["id"]), str(data["rule_id"]), str(data["project_id"]),
            str(data["monitor_id"]), AlertState(data["state"]), str(data["severity"]),
            _moment(data["opened_at"]), _moment(data["opened_window_start"]),
            _moment(data["last_window_start"]), None if value is None else float(value),
            moment("last_notified_at"), int(data["notify_count"]), text("acknowledged_by"),
            moment("acknowledged_at"), text("resolved_by"), moment("resolved_at"),
            text("resolution"), text("action_status"), None if detail is None else dict(detail),
        )  # fmt: skip


def _moment(value: object) -> dt.datetime:
    if not isinstance(value, str):
        raise TypeError(f"expected an ISO 8601 time, got {value!r}")
    return dt.datetime.fromisoformat(value)


def rule_from_row(row: Any) -> AlertRule:
    condition = Condition(
        row.metric, row.kind, row.op, float(row.value), int(row.windows), bool(row.relative)
    )
    return AlertRule(
        row.id, row.project_id, row.monitor_id, row.name, condition, row.severity,
        int(row.renotify_seconds), bool(row.auto_resolve),
        tuple(public_notifiers(row.notifiers)), row.action, bool(row.enabled),
        row.created_at, row.created_by, row.updated_at,
    )  # fmt: skip


def alert_from_row(row: Any) -> Alert:
    return Alert(
        row.id, row.rule_id, row.project_id, row.monitor_id, AlertState(row.state),
        row.severity, row.opened_at, row.opened_window_start, row.last_window_start,
        row.last_value, row.last_notified_at, int(row.notify_count), row.acknowledged_by,
        row.acknowledged_at, row.resolved_by, row.resolved_at, row.resolution,
        row.action_status, row.action_detail,
    )  # fmt: skip


@dataclass(frozen=True)
class AlertNotification:
    """One delivery attempt of one notifier for an alert."""

    notifier: str
    target: str
    reason: str
    attempt: int
    status: str
    error: str | None
    at: dt.datetime

    def to_json(self) -> dict[str, Any]:
        return {
            "notifier": self.notifier,
            "target": self.target,
            "reason": self.reason,
            "attempt": self.attempt,
            "status": self.status,
            "error": self.error,
            "at": iso(self.at),
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> AlertNotification:
        """The attempt ``to_json`` wrote (``KeyError``/``ValueError``/``TypeError`` else)."""
        error = data["error"]
        return cls(
            str(data["notifier"]), str(data["target"]), str(data["reason"]),
            int(data["attempt"]), str(data["status"]), None if error is None else str(error),
            _moment(data["at"]),
        )  # fmt: skip
