"""Turning an alert rule on and off (``update_alert_rule``): maintainers only, audited, a
disabled rule is not judged, and bad input or an unknown rule writes nothing."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest

from mlsteward.errors import InvalidArgument, NotFound, PermissionDenied
from mlsteward.monitoring import (
    AlertDispatcher,
    DeliveryOptions,
    create_alert_rule,
    evaluate_rules_for_monitor,
    list_alert_rules,
    update_alert_rule,
)
from mlsteward.monitoring._alert_rules import MetricWindow
from mlsteward.platform import Platform
from mlsteward.security import SYSTEM, list_audit_events

from ..server._state import platform_state
from ._alert_support import ensure_monitor
from .test_alerts import user

MONITOR = "00112233445566778899aabbccddeeff"
NAME = f"m-{MONITOR}"
START = dt.datetime(2026, 11, 29, 12, 0, tzinfo=dt.UTC)


def add_rule(platform: Platform) -> Any:
    ensure_monitor(platform, MONITOR)
    return create_alert_rule(
        platform, SYSTEM, "default", monitor=NAME, name="recall low",
        metric="quality.recall", op="<", value=0.8, notifiers=[{"kind": "log"}],
    )  # fmt: skip


def test_a_disabled_rule_is_not_judged_until_enabled_again(backend_platform: Platform) -> None:
    created = add_rule(backend_platform)
    maintainer = user(backend_platform, "mona", "maintainer")
    off = update_alert_rule(
        backend_platform, maintainer, "default", monitor=NAME, name="recall low", enabled=False
    )
    assert (off.id, off.enabled) == (created.id, False)
    assert off.updated_at >= created.updated_at
    sender = AlertDispatcher(backend_platform, options=DeliveryOptions(attempts=1))
    try:
        windows = [MetricWindow(START, START + dt.timedelta(hours=1), {"quality.recall": 0.1})]
        assert (
            evaluate_rules_for_monitor(backend_platform, MONITOR, windows, dispatcher=sender) == []
        )
        on = update_alert_rule(
            backend_platform, maintainer, "default", monitor=NAME, name="recall low", enabled=True
        )
        assert on.enabled is True
        (outcome,) = evaluate_rules_for_monitor(
            backend_platform, MONITOR, windows, dispatcher=sender
        )
        assert outcome.decision == "open"
        assert sender.wait_idle(30)
    finally:
        sender.close()
    events = list_audit_events(backend_platform, SYSTEM, action="monitoring.alert_rule.update")
    assert [(e.actor_name, e.details["enabled"]) for e in events] == [
        ("mona", True),
        ("mona", False),
    ]


def test_setting_the_state_a_rule_has_writes_nothing(platform: Platform) -> None:
    add_rule(platform)
    before = platform_state(platform)
    same = update_alert_rule(
        platform, SYSTEM, "default", monitor=NAME, name="recall low", enabled=True
    )
    assert same.enabled is True
    assert platform_state(platform) == before


@pytest.mark.parametrize(
    ("changes", "error", "message"),
    [
        ({"monitor": "bad name!"}, InvalidArgument, "monitor name 'bad name!' is not valid"),
        ({"name": "a/b"}, InvalidArgument, "name: must be 1 to 200 characters"),
        ({"name": ""}, InvalidArgument, "name: must be 1 to 200 characters"),
        ({"enabled": "false"}, InvalidArgument, "enabled: must be true or false"),
        ({"enabled": 0}, InvalidArgument, "enabled: must be true or false"),
        ({"monitor": "nope"}, NotFound, "nope"),
        ({"name": "other rule"}, NotFound, "has no alert rule named 'other rule'"),
    ],
    ids=["bad-monitor", "slash", "empty", "text-flag", "int-flag", "no-monitor", "no-rule"],
)
def test_bad_input_is_refused_and_nothing_is_written(
    platform: Platform, changes: dict[str, Any], error: type[Exception], message: str
) -> None:
    add_rule(platform)
    before = platform_state(platform)
    arguments: dict[str, Any] = {"monitor": NAME, "name": "recall low", "enabled": False}
    with pytest.raises(error) as caught:
        update_alert_rule(platform, SYSTEM, "default", **(arguments | changes))
    assert message in str(caught.value)
    assert platform_state(platform) == before


def test_viewers_and_editors_cannot_change_a_rule(platform: Platform) -> None:
    add_rule(platform)
    actors = [user(platform, "vera", "viewer"), user(platform, "eddie", "editor")]
    before = platform_state(platform)
    for actor in actors:
        with pytest.raises(PermissionDenied):
            update_alert_rule(
                platform, actor, "default", monitor=NAME, name="recall low", enabled=False
            )
    assert platform_state(platform) == before
    assert [r.enabled for r in list_alert_rules(platform, SYSTEM, "default")] == [True]
