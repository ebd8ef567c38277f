"""Closing the alert dispatcher: ``Platform.close()`` stops the platform's delivery threads,
letting a delivery held by a slow receiver finish; a dispatcher closed before its queued jobs
ran records them as not sent. Real webhook receivers on 127.0.0.1 (``test_notifiers``)."""

from __future__ import annotations

import datetime as dt
import threading
from collections.abc import Callable

import pytest

from mlsteward.monitoring import (
    AlertDispatcher,
    DeliveryOptions,
    create_alert_rule,
    evaluate_rules_for_monitor,
    list_alert_notifications,
    list_alerts,
)
from mlsteward.monitoring._alert_dispatch import NOT_SENT, dispatcher_for
from mlsteward.monitoring._alert_messages import incident_notification
from mlsteward.monitoring._alert_rules import MetricWindow
from mlsteward.platform import Platform
from mlsteward.registry._webhooks import allow_webhook_host
from mlsteward.security import SYSTEM

from . import test_notifiers as notifiers
from ._alert_support import ensure_monitor

receiver = notifiers.receiver
open_platform = notifiers.open_platform
Receiver = notifiers.Receiver
MONITOR = notifiers.MONITOR
START = notifiers.START


def alert_threads() -> list[threading.Thread]:
    return [t for t in threading.enumerate() if t.name.startswith("mlsteward-alert-")]


def rules(platform: Platform, url: str, count: int) -> None:
    """``count`` rules on the monitor, each sending to the webhook at ``url``."""
    allow_webhook_host(platform, SYSTEM, "127.0.0.1")
    ensure_monitor(platform, MONITOR)
    for number in range(count):
        create_alert_rule(
            platform, SYSTEM, "default", monitor_id=MONITOR, name=f"recall low {number}",
            metric="quality.recall", op="<", value=0.8,
            notifiers=[{"kind": "webhook", "url": url, "secret": notifiers.SECRET}],
        )  # fmt: skip


def breach(platform: Platform, dispatcher: AlertDispatcher | None = None) -> list[str]:
    """One breached window: the incidents it opened, by rule name."""
    windows = [MetricWindow(START, START + dt.timedelta(hours=1), {"quality.recall": 0.1})]
    outcomes = evaluate_rules_for_monitor(platform, MONITOR, windows, dispatcher=dispatcher)
    assert [o.decision for o in outcomes] == ["open"] * len(outcomes)
    return [str(o.alert_id) for o in outcomes]


def logged(platform: Platform, alert_id: str) -> list[tuple[int, str, str | None]]:
    log = list_alert_notifications(platform, SYSTEM, "default", alert_id)
    return [(n.attempt, n.status, n.error) for n in log]


def test_closing_the_platform_lets_a_slow_delivery_finish_and_stops_the_threads(
    open_platform: Callable[..., Platform], receiver: Receiver
) -> None:
    platform = open_platform()
    rules(platform, receiver.url, 1)
    receiver.gate = threading.Event()
    (alert_id,) = breach(platform)  # through the platform's own dispatcher
    assert receiver.arrived.wait(30)  # the delivery is held by the receiver
    assert [t.name for t in dispatcher_for(platform).threads] == ["mlsteward-alert-notify"]
    assert alert_threads()
    release = threading.Timer(0.2, receiver.gate.set)
    release.start()
    try:
        platform.close()
    finally:
        receiver.gate.set()
        release.join()
    assert alert_threads() == []
    assert len(receiver.requests) == 1
    assert logged(platform, alert_id) == [(1, "delivered", None)]


def test_jobs_not_started_when_the_dispatcher_closes_are_recorded_as_not_sent(
    platform: Platform, receiver: Receiver
) -> None:
    rules(platform, receiver.url, 2)
    dispatcher = AlertDispatcher(
        platform, options=DeliveryOptions(attempts=3, base_delay=0.01, timeout=5)
    )
    receiver.gate = threading.Event()
    first, second = breach(platform, dispatcher)
    assert receiver.arrived.wait(30)  # the first rule's delivery is in flight
    release = threading.Timer(0.2, receiver.gate.set)
    release.start()
    try:
        dispatcher.close(timeout=0)  # no time for the queue: stop after the attempt in flight
    finally:
        receiver.gate.set()
        release.join()
    assert alert_threads() == []
    assert len(receiver.requests) == 1
    assert logged(platform, first) == [(1, "delivered", None)]
    assert logged(platform, second) == [(0, "failed", NOT_SENT)]
    assert {a.state for a in list_alerts(platform, SYSTEM, "default")} == {"firing"}
    with platform.db.read() as conn:
        job = incident_notification(platform, conn, first, "resolved")
    assert job is not None
    with pytest.raises(RuntimeError, match="closed"):
        dispatcher.notify(job)


def test_a_closing_dispatcher_stops_retrying(platform: Platform, receiver: Receiver) -> None:
    rules(platform, receiver.url, 1)
    # Long back-off between attempts: closing wakes it and ends the retries.
    dispatcher = AlertDispatcher(
        platform, options=DeliveryOptions(attempts=5, base_delay=3600, max_delay=3600, timeout=5)
    )
    receiver.statuses = [503] * 5
    (alert_id,) = breach(platform, dispatcher)
    assert receiver.arrived.wait(30)
    dispatcher.close(timeout=0)
    assert alert_threads() == []
    assert [(attempt, status) for attempt, status, _ in logged(platform, alert_id)] == [
        (1, "failed")
    ]
    assert len(receiver.requests) == 1


def test_closing_twice_and_a_platform_without_alerts_are_fine(
    open_platform: Callable[..., Platform],
) -> None:
    platform = open_platform()
    dispatcher = dispatcher_for(platform)
    assert dispatcher.threads == ()
    platform.close()
    platform.close()
    dispatcher.close()
    assert dispatcher_for(platform) is not dispatcher  # a closed one is replaced on demand
