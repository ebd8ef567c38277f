"""The alerts part of ``Client``: rules on a monitor's metrics (named per monitor), the
incidents they open (list, read, acknowledge, resolve, link in the lineage graph) and each
incident's delivery log.

In-process it calls the alert services; against a server it calls the alerts API. Either way
maintainers write (rules, turning them on or off, acknowledge, resolve) and viewers read.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from ..monitoring import Alert, AlertLink, AlertNotification, AlertRule
    from ..platform import Platform
    from ..security import Actor
    from ._backend import Backend
    from ._remote import RemoteBackend


def _rules_path(project: str, monitor: str, rule: str | None = None) -> str:
    from ._client import _text
    from ._remote import _segment

    base = (
        f"api/v1/projects/{_segment(_text('project', project))}/monitors/"
        f"{_segment(_text('monitor name', monitor))}/alert-rules"
    )
    if rule is None:
        return base
    return f"{base}/{_segment(_text('rule name', rule))}"


def _alerts_path(project: str, alert_id: str | None = None, *parts: str) -> str:
    from ._client import _text
    from ._remote import _segment

    base = f"api/v1/projects/{_segment(_text('project', project))}/alerts"
    if alert_id is None:
        return base
    return "/".join([base, _segment(_text("alert id", alert_id)), *parts])


def _rule(data: Any) -> AlertRule:
    from ..monitoring import AlertRule

    return AlertRule.from_json(data)


def _alert(data: Any) -> Alert:
    from ..monitoring import Alert

    return Alert.from_json(data)


def _link(data: Any) -> AlertLink:
    from ..monitoring import AlertLink

    return AlertLink.from_json(data)


def _notification(data: Any) -> AlertNotification:
    from ..monitoring import AlertNotification

    return AlertNotification.from_json(data)


class AlertMethods:
    """Mixed into ``Client``; every method works in-process and against a server."""

    _backend: Backend

    def _remote_alerts(self) -> RemoteBackend | None:
        from ._remote import RemoteBackend

        return self._backend if isinstance(self._backend, RemoteBackend) else None

    def _local_alerts(self) -> tuple[Platform, Actor]:
        from ._local import LocalBackend

        assert isinstance(self._backend, LocalBackend)
        return self._backend._platform, self._backend._actor

    def create_alert_rule(
        self,
        monitor: str,
        name: str,
        *,
        metric: str,
        value: float,
        project: str = "default",
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
        """A rule named ``name`` on ``metric`` of the monitor's windows (see
        ``mlsteward.monitoring.create_alert_rule``; maintainers)."""
        fields: dict[str, Any] = {
            "name": name,
            "metric": metric,
            "value": value,
            "kind": kind,
            "op": op,
            "windows": windows,
            "relative": relative,
            "severity": severity,
            "renotify_seconds": renotify_seconds,
            "auto_resolve": auto_resolve,
            "notifiers": notifiers,
            "action": action,
            "enabled": enabled,
        }
        remote = self._remote_alerts()
        if remote is not None:
            body = fields | {
                "notifiers": _wire_list(notifiers),
                "action": None if action is None else _wire_object(action),
            }
            return remote._one(_rule, "POST", _rules_path(project, monitor), json=body)
        from ..monitoring import create_alert_rule

        platform, actor = self._local_alerts()
        return create_alert_rule(platform, actor, project, monitor=monitor, **fields)

    def list_alert_rules(self, monitor: str, *, project: str = "default") -> list[AlertRule]:
        """The monitor's rules, by creation time (viewers)."""
        remote = self._remote_alerts()
        if remote is not None:
            return remote._many(_rule, "rules", _rules_path(project, monitor))
        from ..monitoring import list_alert_rules

        return list_alert_rules(*self._local_alerts(), project, monitor=monitor)

    def update_alert_rule(
        self, monitor: str, name: str, *, enabled: bool, project: str = "default"
    ) -> AlertRule:
        """Enable or disable the monitor's rule ``name`` (maintainers); the rule as it is now.
        A disabled rule is not judged; setting the state it already has changes nothing (see
        ``mlsteward.monitoring.update_alert_rule``)."""
        remote = self._remote_alerts()
        if remote is not None:
            path = _rules_path(project, monitor, name)
            return remote._one(_rule, "PATCH", path, json={"enabled": enabled})
        from ..monitoring import update_alert_rule

        return update_alert_rule(
            *self._local_alerts(), project, monitor=monitor, name=name, enabled=enabled
        )

    def delete_alert_rule(self, monitor: str, name: str, *, project: str = "default") -> None:
        """Delete the monitor's rule ``name`` with its incidents and their delivery log
        (maintainers)."""
        remote = self._remote_alerts()
        if remote is not None:
            remote._send("DELETE", _rules_path(project, monitor, name))
            return
        from ..monitoring import delete_alert_rule

        delete_alert_rule(*self._local_alerts(), project, monitor=monitor, name=name)

    def list_alerts(
        self,
        *,
        project: str = "default",
        monitor: str | None = None,
        rule_id: str | None = None,
        state: str | None = None,
        limit: int = 100,
    ) -> list[Alert]:
        """The project's incidents, newest first (viewers): of one monitor (by name) or rule
        (by id), in one ``state`` (``firing``, ``acknowledged``, ``resolved``, or ``open`` for
        the first two), at most ``limit`` (1 to 1,000)."""
        remote = self._remote_alerts()
        if remote is not None:
            params: dict[str, Any] = {"limit": limit}
            for key, given in (("monitor", monitor), ("rule", rule_id), ("state", state)):
                if given is not None:
                    params[key] = given
            return remote._many(_alert, "alerts", _alerts_path(project), params=params)
        from ..monitoring import list_alerts

        return list_alerts(
            *self._local_alerts(),
            project,
            monitor=monitor,
            rule_id=rule_id,
            state=state,
            limit=limit,
        )

    def get_alert(self, alert_id: str, *, project: str = "default") -> Alert:
        """One incident (viewers)."""
        remote = self._remote_alerts()
        if remote is not None:
            return remote._one(_alert, "GET", _alerts_path(project, alert_id))
        from ..monitoring import get_alert

        return get_alert(*self._local_alerts(), project, alert_id)

    def acknowledge_alert(self, alert_id: str, *, project: str = "default") -> Alert:
        """Acknowledge a firing incident: it is not sent again until it resolves
        (maintainers)."""
        remote = self._remote_alerts()
        if remote is not None:
            return remote._one(_alert, "POST", _alerts_path(project, alert_id, "acknowledge"))
        from ..monitoring import acknowledge_alert

        return acknowledge_alert(*self._local_alerts(), project, alert_id)

    def resolve_alert(self, alert_id: str, *, project: str = "default") -> Alert:
        """Resolve an incident by hand (maintainers)."""
        remote = self._remote_alerts()
        if remote is not None:
            return remote._one(_alert, "POST", _alerts_path(project, alert_id, "resolve"))
        from ..monitoring import resolve_alert

        return resolve_alert(*self._local_alerts(), project, alert_id)

    def link_alert(
        self, alert_id: str, node: str, *, relation: str = "promoted", project: str = "default"
    ) -> AlertLink:
        """Record ``alert -relation-> node`` in the lineage graph (maintainers): ``node`` is
        ``deployment:<name or id>``, ``model:<name>/<version>``, ``models:/<name>@<alias>``,
        ``run:<id>`` or ``dataset:<name>@<version>`` of the same project; ``relation`` is
        ``promoted`` (default) or ``triggered``. Linking again is harmless (``created`` is
        False). See ``mlsteward.monitoring.link_alert``."""
        remote = self._remote_alerts()
        if remote is not None:
            body = {"node": node, "relation": relation}
            return remote._one(_link, "POST", _alerts_path(project, alert_id, "links"), json=body)
        from ..monitoring import link_alert

        return link_alert(*self._local_alerts(), project, alert_id, node, relation=relation)

    def alert_notifications(
        self, alert_id: str, *, project: str = "default"
    ) -> list[AlertNotification]:
        """Every delivery attempt for an incident, oldest first (viewers)."""
        remote = self._remote_alerts()
        if remote is not None:
            path = _alerts_path(project, alert_id, "notifications")
            return remote._many(_notification, "notifications", path)
        from ..monitoring import list_alert_notifications

        return list_alert_notifications(*self._local_alerts(), project, alert_id)


def _wire_list(value: object) -> object:
    """A sequence of notifiers as a JSON list (anything else as given: the server refuses it
    with the service's own message)."""
    if isinstance(value, Sequence) and not isinstance(value, str | bytes):
        return [_wire_object(item) for item in value]
    return value


def _wire_object(value: object) -> object:
    return dict(value) if isinstance(value, Mapping) else value
