"""Alert rules and incidents: the conditions on a plain series, then the service on SQLite and
PostgreSQL with a fake clock — one incident per breach episode (no notification storm),
re-notification after the interval, acknowledge, resolve, bad input and permissions."""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Iterator
from typing import Any

import pytest
from sqlalchemy import func, select

from mlsteward.errors import AlreadyExists, Conflict, InvalidArgument, NotFound, PermissionDenied
from mlsteward.monitoring import (
    AlertDispatcher,
    DeliveryOptions,
    acknowledge_alert,
    create_alert_rule,
    delete_alert_rule,
    evaluate_rules_for_monitor,
    list_alert_notifications,
    list_alert_rules,
    list_alerts,
    resolve_alert,
)
from mlsteward.monitoring._alert_rules import Condition, MetricWindow, judge
from mlsteward.monitoring._alert_tables import alert_notifications, alert_rules
from mlsteward.platform import Platform
from mlsteward.security import (
    SYSTEM,
    Actor,
    add_member,
    authenticate_password,
    create_user,
    list_audit_events,
)

from ..server._support import cheap_password_hashing
from ._alert_support import ensure_monitor

START = dt.datetime(2026, 11, 29, 12, 0, tzinfo=dt.UTC)
MONITOR = "0123456789abcdef0123456789abcdef"


def window(index: int, **metrics: float) -> MetricWindow:
    start = START + dt.timedelta(hours=index)
    return MetricWindow(start, start + dt.timedelta(hours=1), metrics)


def series(*values: float | None, key: str = "quality.recall") -> list[MetricWindow]:
    return [window(i, **({} if v is None else {key: v})) for i, v in enumerate(values)]


# --- conditions on a plain series -------------------------------------------------------------


@pytest.mark.parametrize(
    ("op", "value", "expected"),
    [(">", 0.5, True), (">=", 0.6, True), ("<", 0.6, False), ("<=", 0.6, True), ("<", 0.5, False)],
    ids=["gt", "ge", "lt", "le", "lt-not"],
)
def test_threshold_compares_the_newest_value(op: str, value: float, expected: bool) -> None:
    verdict = judge(Condition("quality.recall", "threshold", op, value), series(0.1, 0.6))
    assert verdict.breached is expected
    assert verdict.value == 0.6


def test_a_missing_or_non_finite_metric_cannot_be_judged() -> None:
    condition = Condition("quality.recall", "threshold", "<", 0.8)
    assert judge(condition, series(0.1, None)).breached is None
    assert judge(condition, series(float("nan"))).breached is None
    assert judge(condition, []).breached is None


def test_consecutive_needs_n_breaches_in_a_row() -> None:
    condition = Condition("quality.recall", "consecutive", "<", 0.8, windows=3)
    assert judge(condition, series(0.7, 0.7)).breached is None  # too short to say
    assert judge(condition, series(0.7, 0.9)).breached is False
    assert judge(condition, series(0.7, 0.9, 0.7, 0.7)).breached is False
    assert judge(condition, series(0.9, 0.7, 0.7, 0.7)).breached is True


def test_baseline_is_the_mean_of_the_previous_k_windows() -> None:
    absolute = Condition("infra.error_rate", "baseline", ">", 0.05, windows=3)
    key = "infra.error_rate"
    calm = judge(absolute, series(0.10, 0.12, 0.14, 0.16, key=key))
    assert calm.breached is False
    assert calm.baseline == pytest.approx(0.12)
    assert judge(absolute, series(0.10, 0.12, 0.14, 0.20, key=key)).breached is True
    assert judge(absolute, series(0.12, 0.14, 0.20, key=key)).breached is None  # K too short
    relative = Condition(key, "baseline", ">", 50, windows=2, relative=True)
    assert judge(relative, series(1.0, 1.0, 1.4, key=key)).breached is False
    assert judge(relative, series(1.0, 1.0, 0.4, key=key)).breached is True


def test_conditions_describe_themselves() -> None:
    text = Condition("quality.recall", "consecutive", "<", 0.8, windows=3).describe()
    assert text == "quality.recall < 0.8 for 3 windows"
    baseline = Condition("m", "baseline", ">", 20, windows=5, relative=True).describe()
    assert "20%" in baseline
    assert "previous 5 windows" in baseline


# --- the service ------------------------------------------------------------------------------


class Clock:
    def __init__(self) -> None:
        self.now = dt.datetime(2026, 11, 29, 15, 0, tzinfo=dt.UTC)

    def __call__(self) -> dt.datetime:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += dt.timedelta(seconds=seconds)


@pytest.fixture
def dispatcher(backend_platform: Platform) -> Iterator[AlertDispatcher]:
    sender = AlertDispatcher(
        backend_platform, options=DeliveryOptions(attempts=2, base_delay=0.01, timeout=5)
    )
    yield sender
    sender.close()


class Feed:
    """Windows arriving one at a time, each judged with the series so far."""

    def __init__(self, platform: Platform, dispatcher: AlertDispatcher) -> None:
        self.platform = platform
        self.dispatcher = dispatcher
        self.clock = Clock()
        self.windows: list[MetricWindow] = []

    def add(self, value: float | None, *, minutes: float = 10, key: str = "quality.recall") -> Any:
        self.clock.advance(minutes * 60)
        self.windows.append(window(len(self.windows), **({} if value is None else {key: value})))
        results = evaluate_rules_for_monitor(
            self.platform, MONITOR, self.windows, clock=self.clock, dispatcher=self.dispatcher
        )
        assert self.dispatcher.wait_idle(30)
        return results


def rule(platform: Platform, actor: Actor = SYSTEM, **overrides: Any) -> Any:
    fields: dict[str, Any] = {
        "monitor_id": MONITOR,
        "name": "recall low",
        "metric": "quality.recall",
        "op": "<",
        "value": 0.8,
        "notifiers": [{"kind": "log"}],
    }
    ensure_monitor(platform, (fields | overrides)["monitor_id"])
    return create_alert_rule(platform, actor, "default", **(fields | overrides))


def sent(platform: Platform, alert_id: str) -> int:
    return len(list_alert_notifications(platform, SYSTEM, "default", alert_id))


def test_a_ten_window_breach_is_one_incident_and_one_notification(
    backend_platform: Platform, dispatcher: AlertDispatcher, caplog: pytest.LogCaptureFixture
) -> None:
    created = rule(backend_platform, severity="critical")
    feed = Feed(backend_platform, dispatcher)
    feed.add(0.9)
    with caplog.at_level(logging.WARNING, logger="mlsteward.monitoring.alerts"):
        decisions = [feed.add(0.5, minutes=5)[0].decision for _ in range(10)]
    assert decisions == ["open"] + ["update"] * 9
    (incident,) = list_alerts(backend_platform, SYSTEM, "default")
    assert (incident.rule_id, incident.state, incident.notify_count) == (created.id, "firing", 1)
    assert incident.opened_window_start == START + dt.timedelta(hours=1)
    assert incident.last_window_start == START + dt.timedelta(hours=10)
    assert sent(backend_platform, incident.id) == 1
    lines = [r for r in caplog.records if r.name == "mlsteward.monitoring.alerts"]
    assert len(lines) == 1
    assert lines[0].levelno == logging.ERROR
    assert '"metric": "quality.recall"' in lines[0].getMessage()
    opened = list_audit_events(backend_platform, SYSTEM, action="monitoring.alert.open")
    assert [e.target_id for e in opened] == [incident.id]


def test_a_firing_incident_is_sent_again_after_the_interval_and_never_after_resolve(
    backend_platform: Platform, dispatcher: AlertDispatcher
) -> None:
    rule(backend_platform, renotify_seconds=3600)
    feed = Feed(backend_platform, dispatcher)
    feed.add(0.5)
    feed.add(0.5, minutes=59)
    (incident,) = list_alerts(backend_platform, SYSTEM, "default")
    assert incident.notify_count == 1
    assert feed.add(0.5, minutes=1)[0].decision == "renotify"
    feed.add(0.5, minutes=30)
    (incident,) = list_alerts(backend_platform, SYSTEM, "default")
    assert (incident.notify_count, sent(backend_platform, incident.id)) == (2, 2)
    # Resolved by hand while still breached: silence until the condition clears once.
    resolved = resolve_alert(
        backend_platform, SYSTEM, "default", incident.id, clock=feed.clock, dispatcher=dispatcher
    )
    assert dispatcher.wait_idle(30)
    assert (resolved.state, resolved.resolution, resolved.resolved_by) == (
        "resolved",
        "manual",
        "system",
    )
    assert sent(backend_platform, incident.id) == 3  # opened, reminder, resolved
    for _ in range(3):
        assert feed.add(0.5, minutes=120)[0].decision == "nothing"
    assert sent(backend_platform, incident.id) == 3
    assert len(list_alerts(backend_platform, SYSTEM, "default")) == 1
    feed.add(0.95)
    assert feed.add(0.4)[0].decision == "open"
    newest, older = list_alerts(backend_platform, SYSTEM, "default")
    assert older.id == incident.id
    assert newest.state == "firing"
    assert newest.id != incident.id


def test_a_clear_window_resolves_and_a_new_breach_opens_a_new_incident(
    backend_platform: Platform, dispatcher: AlertDispatcher
) -> None:
    rule(backend_platform)
    feed = Feed(backend_platform, dispatcher)
    feed.add(0.5)
    assert feed.add(None)[0].decision == "nothing"  # a window without the metric says nothing
    assert feed.add(0.85)[0].decision == "resolve"
    assert feed.add(0.85)[0].decision == "nothing"
    assert feed.add(0.2)[0].decision == "open"
    second, first = list_alerts(backend_platform, SYSTEM, "default")
    assert (first.state, first.resolution, first.resolved_by) == ("resolved", "auto", "system")
    assert (second.state, second.last_value) == ("firing", 0.2)
    reasons = [
        n.reason for n in list_alert_notifications(backend_platform, SYSTEM, "default", first.id)
    ]
    assert reasons == ["opened", "resolved"]
    assert sent(backend_platform, second.id) == 1
    assert [a.id for a in list_alerts(backend_platform, SYSTEM, "default", state="open")] == [
        second.id
    ]


def test_without_auto_resolve_an_incident_stays_open_until_a_person_resolves_it(
    backend_platform: Platform, dispatcher: AlertDispatcher
) -> None:
    rule(backend_platform, auto_resolve=False)
    feed = Feed(backend_platform, dispatcher)
    feed.add(0.5)
    assert feed.add(0.9)[0].decision == "nothing"
    (incident,) = list_alerts(backend_platform, SYSTEM, "default")
    assert incident.state == "firing"
    resolve_alert(backend_platform, SYSTEM, "default", incident.id)
    assert feed.add(0.5)[0].decision == "open"  # it had cleared before the resolve


def test_an_acknowledged_incident_is_not_sent_again_but_still_resolves(
    backend_platform: Platform, dispatcher: AlertDispatcher
) -> None:
    rule(backend_platform, renotify_seconds=600)
    feed = Feed(backend_platform, dispatcher)
    feed.add(0.5)
    (incident,) = list_alerts(backend_platform, SYSTEM, "default")
    acked = acknowledge_alert(backend_platform, SYSTEM, "default", incident.id, clock=feed.clock)
    assert (acked.state, acked.acknowledged_by, acked.acknowledged_at) == (
        "acknowledged",
        "system",
        feed.clock.now,
    )
    with pytest.raises(Conflict):
        acknowledge_alert(backend_platform, SYSTEM, "default", incident.id)
    for _ in range(4):
        assert feed.add(0.5, minutes=60)[0].decision == "update"
    assert sent(backend_platform, incident.id) == 1
    assert feed.add(0.9)[0].decision == "resolve"
    (incident,) = list_alerts(backend_platform, SYSTEM, "default")
    assert incident.state == "resolved"
    with pytest.raises(Conflict):
        resolve_alert(backend_platform, SYSTEM, "default", incident.id)


def test_renotify_zero_sends_once_per_incident(
    backend_platform: Platform, dispatcher: AlertDispatcher
) -> None:
    rule(backend_platform, renotify_seconds=0)
    feed = Feed(backend_platform, dispatcher)
    feed.add(0.5)
    for _ in range(3):
        assert feed.add(0.5, minutes=24 * 60)[0].decision == "update"
    (incident,) = list_alerts(backend_platform, SYSTEM, "default")
    assert sent(backend_platform, incident.id) == 1


def test_consecutive_and_baseline_rules_open_when_their_condition_holds(
    backend_platform: Platform, dispatcher: AlertDispatcher
) -> None:
    rule(backend_platform, name="three low", kind="consecutive", windows=3)
    rule(
        backend_platform,
        name="error spike",
        metric="infra.error_rate",
        kind="baseline",
        windows=2,
        value=100,
        relative=True,
    )
    feed = Feed(backend_platform, dispatcher)
    # Both metrics in each window: recall, and an error rate that doubles at the end.
    steps = [(0.5, 0.01), (0.5, 0.01), (0.9, 0.01), (0.5, 0.01), (0.5, 0.01), (0.5, 0.03)]
    steps.append((0.5, 0.02))  # 0.02 is within 100 % of the mean of 0.01 and 0.03
    decisions = []
    for recall, errors in steps:
        feed.clock.advance(600)
        feed.windows.append(
            window(len(feed.windows), **{"quality.recall": recall, "infra.error_rate": errors})
        )
        outcome = evaluate_rules_for_monitor(
            backend_platform, MONITOR, feed.windows, clock=feed.clock, dispatcher=dispatcher
        )
        decisions.append([r.decision for r in outcome])
    assert dispatcher.wait_idle(30)
    assert decisions == [
        ["nothing", "nothing"],
        ["nothing", "nothing"],
        ["nothing", "nothing"],
        ["nothing", "nothing"],
        ["nothing", "nothing"],
        ["open", "open"],
        ["update", "resolve"],
    ]
    names = {r.id: r.name for r in list_alert_rules(backend_platform, SYSTEM, "default")}
    fired = {
        names[a.rule_id]: a.last_value for a in list_alerts(backend_platform, SYSTEM, "default")
    }
    assert fired == {"three low": 0.5, "error spike": 0.02}  # the value that cleared it
    states = {names[a.rule_id]: a.state for a in list_alerts(backend_platform, SYSTEM, "default")}
    assert states == {"three low": "firing", "error spike": "resolved"}


def test_judging_the_same_window_twice_changes_nothing(
    backend_platform: Platform, dispatcher: AlertDispatcher
) -> None:
    rule(backend_platform)
    feed = Feed(backend_platform, dispatcher)
    feed.add(0.5)
    again = evaluate_rules_for_monitor(
        backend_platform, MONITOR, list(reversed(feed.windows)), clock=feed.clock,
        dispatcher=dispatcher,
    )  # fmt: skip
    assert again[0].decision == "nothing"
    assert dispatcher.wait_idle(30)
    (incident,) = list_alerts(backend_platform, SYSTEM, "default")
    assert sent(backend_platform, incident.id) == 1


def test_a_disabled_rule_and_other_monitors_are_left_alone(
    backend_platform: Platform, dispatcher: AlertDispatcher
) -> None:
    rule(backend_platform, enabled=False)
    rule(backend_platform, monitor_id="f" * 32)
    feed = Feed(backend_platform, dispatcher)
    assert feed.add(0.1) == []
    assert list_alerts(backend_platform, SYSTEM, "default") == []


def test_rules_are_listed_without_secrets_and_deleted_with_their_incidents(
    backend_platform: Platform, dispatcher: AlertDispatcher
) -> None:
    created = rule(backend_platform)
    assert [
        r.to_json()["description"] for r in list_alert_rules(backend_platform, SYSTEM, "default")
    ] == ["quality.recall < 0.8"]
    with pytest.raises(AlreadyExists):
        rule(backend_platform)
    Feed(backend_platform, dispatcher).add(0.5)
    delete_alert_rule(backend_platform, SYSTEM, "default", created.id)
    assert list_alert_rules(backend_platform, SYSTEM, "default") == []
    assert list_alerts(backend_platform, SYSTEM, "default") == []
    with backend_platform.db.read() as conn:
        assert conn.execute(select(func.count()).select_from(alert_notifications)).scalar_one() == 0
    with pytest.raises(NotFound):
        delete_alert_rule(backend_platform, SYSTEM, "default", created.id)
    deleted = list_audit_events(backend_platform, SYSTEM, action="monitoring.alert_rule.delete")
    assert [e.target_id for e in deleted] == [created.id]


# --- bad input and permissions (SQLite) --------------------------------------------------------


def user(platform: Platform, name: str, role: str) -> Actor:
    with cheap_password_hashing():
        create_user(platform, SYSTEM, name, "a-long-password-1")
        add_member(platform, SYSTEM, "default", name, role)
        return authenticate_password(platform, name, "a-long-password-1")


def rows(platform: Platform) -> tuple[int, int]:
    with platform.db.read() as conn:
        count = conn.execute(select(func.count()).select_from(alert_rules)).scalar_one()
    return count, len(list_audit_events(platform, SYSTEM, action="monitoring.alert_rule.create"))


BAD_RULES = [
    ("monitor_id", {"monitor_id": "../etc"}),
    ("monitor_id", {"monitor_id": ""}),
    ("name", {"name": ""}),
    ("name", {"name": "x\r\nBcc: victim@example.com"}),
    ("name", {"name": "n" * 201}),
    ("metric", {"metric": None}),
    ("kind", {"kind": "sometimes"}),
    ("op", {"op": "=="}),
    ("value", {"value": float("inf")}),
    ("value", {"value": "0.8"}),
    ("value", {"value": True}),
    ("windows", {"kind": "consecutive", "windows": 1}),
    ("windows", {"kind": "baseline", "windows": 10_000}),
    ("windows", {"windows": 3}),
    ("relative", {"relative": True}),
    ("value", {"kind": "baseline", "windows": 3, "value": -1}),
    ("severity", {"severity": "urgent"}),
    ("renotify_seconds", {"renotify_seconds": -1}),
    ("renotify_seconds", {"renotify_seconds": 1.5}),
    ("auto_resolve", {"auto_resolve": "yes"}),
    ("notifiers", {"notifiers": "log"}),
    ("notifiers", {"notifiers": [{"kind": "log"}] * 11}),
    ("notifiers[0]", {"notifiers": ["log"]}),
    ("notifiers[0].kind", {"notifiers": [{"kind": "pager"}]}),
    ("notifiers[0].token", {"notifiers": [{"kind": "log", "token": "x"}]}),
    ("notifiers[0].url", {"notifiers": [{"kind": "slack", "url": "ftp://example.com/x"}]}),
    ("notifiers[0].url", {"notifiers": [{"kind": "webhook", "secret": "s" * 20}]}),
    ("notifiers[0].url", {"notifiers": [{"kind": "slack", "url": "http://u:p@example.com/"}]}),
    ("notifiers[0].secret", {"notifiers": [{"kind": "webhook", "url": "http://192.0.2.1/"}]}),
    ("notifiers[0].kind", {"notifiers": [{"kind": "email", "to": ["a@example.com"]}]}),
    ("action", {"action": "retrain"}),
    ("action.kind", {"action": {"kind": "shell", "argv": ["true"]}}),
    ("action.name", {"action": {"kind": "callable", "name": "not-registered"}}),
    ("action.argv", {"action": {"kind": "command", "argv": []}}),
    ("action.argv", {"action": {"kind": "command", "argv": "rm -rf /"}}),
    ("action.argv", {"action": {"kind": "command", "argv": ["a\x00b"]}}),
    (
        "action.timeout_seconds",
        {"action": {"kind": "command", "argv": ["x"], "timeout_seconds": 0}},
    ),
]


@pytest.mark.parametrize(
    ("field", "overrides"), BAD_RULES, ids=[f"{i:02d}-{f}" for i, (f, _) in enumerate(BAD_RULES)]
)
def test_bad_rules_are_refused_naming_the_field_and_nothing_is_written(
    platform: Platform, field: str, overrides: dict[str, Any]
) -> None:
    before = rows(platform)
    with pytest.raises(InvalidArgument) as caught:
        rule(platform, **overrides)
    assert caught.value.details["field"] == field
    assert field.split("[")[0].split(".")[0] in caught.value.message
    assert rows(platform) == before


def test_a_private_webhook_target_is_refused_unless_an_admin_allows_the_host(
    platform: Platform,
) -> None:
    from mlsteward.registry._webhooks import allow_webhook_host

    hook = {"kind": "webhook", "url": "http://127.0.0.1:9/hook", "secret": "s" * 32}
    with pytest.raises(PermissionDenied, match="loopback"):
        rule(platform, notifiers=[hook])
    with pytest.raises(PermissionDenied, match="private"):
        rule(platform, notifiers=[{"kind": "slack", "url": "http://10.1.2.3/services/x"}])
    assert rows(platform) == (0, 0)
    allow_webhook_host(platform, SYSTEM, "127.0.0.1")
    created = rule(platform, notifiers=[hook])
    assert created.notifiers == ({"kind": "webhook", "url": "http://127.0.0.1:9/hook"},)
    with platform.db.read() as conn:
        stored = conn.execute(select(alert_rules.c.notifiers)).scalar_one()
    assert stored[0]["secret"] != "s" * 32
    assert "secret" not in created.to_json()["notifiers"][0]


def test_bad_evaluation_input_is_refused(platform: Platform) -> None:
    rule(platform)
    good = window(0, **{"quality.recall": 0.1})
    naive = dt.datetime(2026, 1, 1)
    cases: list[tuple[str, Any, Any]] = [
        ("monitor_id", "x" * 33, [good]),
        ("results", MONITOR, "windows"),
        ("results[1].window_start", MONITOR, [good, {"window_start": naive, "window_end": naive}]),
        ("results[0].metrics", MONITOR, [{"window_start": START, "window_end": START}]),
    ]
    for field, monitor, results in cases:
        with pytest.raises(InvalidArgument) as caught:
            evaluate_rules_for_monitor(platform, monitor, results)
        assert caught.value.details["field"] == field
    assert list_alerts(platform, SYSTEM, "default") == []


def test_viewers_read_maintainers_write_and_only_admins_set_commands(platform: Platform) -> None:
    viewer = user(platform, "vera", "viewer")
    editor = user(platform, "eddie", "editor")
    maintainer = user(platform, "mona", "maintainer")
    for actor in (viewer, editor):
        with pytest.raises(PermissionDenied):
            rule(platform, actor)
    created = rule(platform, maintainer)
    with pytest.raises(PermissionDenied):
        rule(platform, maintainer, name="retrain", action={"kind": "command", "argv": ["true"]})
    assert [r.id for r in list_alert_rules(platform, viewer, "default")] == [created.id]
    sender = AlertDispatcher(platform)
    Feed(platform, sender).add(0.5)
    sender.close()
    (incident,) = list_alerts(platform, viewer, "default")
    for change in (acknowledge_alert, resolve_alert):
        with pytest.raises(PermissionDenied):
            change(platform, viewer, "default", incident.id)
    with pytest.raises(PermissionDenied):
        delete_alert_rule(platform, editor, "default", created.id)
    assert list_alerts(platform, viewer, "default", state="firing")[0].id == incident.id
    with pytest.raises(InvalidArgument):
        list_alerts(platform, viewer, "default", state="burning")
    with pytest.raises(InvalidArgument):
        acknowledge_alert(platform, maintainer, "default", "not-an-id")
    with pytest.raises(NotFound):
        acknowledge_alert(platform, maintainer, "default", "0" * 32)


@pytest.mark.parametrize(
    ("call", "field"),
    [
        (lambda p: list_alert_rules(p, SYSTEM, "default", monitor_id="a b"), "monitor_id"),
        (lambda p: list_alerts(p, SYSTEM, "default", limit=0), "limit"),
        (lambda p: list_alerts(p, SYSTEM, "default", limit=True), "limit"),
        (lambda p: list_alerts(p, SYSTEM, "default", rule_id="x"), "rule_id"),
        (lambda p: list_alert_notifications(p, SYSTEM, "default", "../x"), "alert_id"),
        (lambda p: delete_alert_rule(p, SYSTEM, "default", "RULE"), "rule_id"),
    ],
    ids=["rules-monitor", "limit-0", "limit-bool", "alerts-rule", "notifications-id", "delete-id"],
)
def test_bad_filters_and_ids_are_refused(platform: Platform, call: Any, field: str) -> None:
    with pytest.raises(InvalidArgument) as caught:
        call(platform)
    assert caught.value.details["field"] == field
