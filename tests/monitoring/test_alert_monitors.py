"""A rule belongs to its monitor, on SQLite and PostgreSQL: it names the monitor by name or id
(of its own project only) and is named per monitor; deleting the monitor deletes its
rules, their incidents and their delivery log (and nothing of another monitor's); the
``alert_rules.monitor_id`` foreign key refuses a rule without a monitor (the store reports a
violated constraint as ``Conflict``) and cascades."""

from __future__ import annotations

import datetime as dt
import uuid

import numpy as np
import pytest
from sqlalchemy import delete, func, insert, select

from mlsteward.errors import AlreadyExists, Conflict, InvalidArgument, NotFound
from mlsteward.monitoring import (
    create_alert_rule,
    create_monitor,
    delete_alert_rule,
    delete_monitor,
    evaluate_monitor,
    list_alert_rules,
    list_alerts,
)
from mlsteward.monitoring._alert_dispatch import dispatcher_for
from mlsteward.monitoring._alert_tables import alert_notifications, alert_rules, alerts
from mlsteward.monitoring._tables import monitors
from mlsteward.platform import Platform
from mlsteward.security import SYSTEM, create_project, fetch_project, list_audit_events
from mlsteward.store import utcnow

from ._monitor_support import inputs, record_window, register_model

PAST = dt.datetime(2026, 1, 1, 10, 0, tzinfo=dt.UTC)


def counts(platform: Platform) -> tuple[int, int, int]:
    with platform.db.read() as conn:
        return tuple(  # type: ignore[return-value]
            conn.execute(select(func.count()).select_from(t)).scalar_one()
            for t in (alert_rules, alerts, alert_notifications)
        )


def watched(platform: Platform, name: str) -> str:
    """A monitor with a rule that fires on the recorded window; the incident is open and
    its notification logged. Returns the monitor's id."""
    monitor = create_monitor(platform, SYSTEM, "default", name, model_name="fraud")
    create_alert_rule(
        platform, SYSTEM, "default", monitor=name, name="busy", metric="infra.rows",
        value=0, notifiers=[{"kind": "log"}],
    )  # fmt: skip
    evaluate_monitor(platform, SYSTEM, "default", name, PAST + dt.timedelta(minutes=1))
    assert dispatcher_for(platform).wait_idle(30)
    assert len(list_alerts(platform, SYSTEM, "default", monitor=name)) == 1
    return monitor.id


@pytest.fixture
def seeded(backend_platform: Platform) -> Platform:
    register_model(backend_platform, training=inputs(1000, 0))
    record_window(backend_platform, PAST, inputs(200, 1), np.zeros(200, int))
    return backend_platform


def test_deleting_a_monitor_deletes_its_rules_incidents_and_log(seeded: Platform) -> None:
    watched(seeded, "gone")
    kept = watched(seeded, "kept")
    assert counts(seeded) == (2, 2, 2)
    delete_monitor(seeded, SYSTEM, "default", "gone")
    assert counts(seeded) == (1, 1, 1)
    (rule,) = list_alert_rules(seeded, SYSTEM, "default")
    assert rule.monitor_id == kept
    with pytest.raises(NotFound, match="gone"):
        list_alert_rules(seeded, SYSTEM, "default", monitor="gone")
    (event,) = list_audit_events(seeded, SYSTEM, action="monitoring.monitor.delete")
    assert event.details == {"alert_rules": 1, "alerts": 1}


def test_the_foreign_key_refuses_orphans_and_cascades(seeded: Platform) -> None:
    monitor_id = watched(seeded, "watch")
    now = utcnow()
    with seeded.db.read() as conn:
        project_id = fetch_project(conn, "default").id
    orphan = {
        "id": uuid.uuid4().hex, "project_id": project_id, "monitor_id": "f" * 32,
        "name": "orphan", "metric": "m", "kind": "threshold", "op": ">", "value": 1.0,
        "windows": 1, "relative": 0, "severity": "info", "renotify_seconds": 0,
        "auto_resolve": 1, "notifiers": [], "action": None, "enabled": 1,
        "evaluated_window_start": None, "quiet_until_clear": 0, "created_at": now,
        "created_by": "system", "updated_at": now,
    }  # fmt: skip
    with pytest.raises(Conflict), seeded.db.write() as conn:
        conn.execute(insert(alert_rules).values(**orphan))
    assert counts(seeded) == (1, 1, 1)
    with seeded.db.write() as conn:  # below the service: the database itself cascades
        conn.execute(delete(monitors).where(monitors.c.id == monitor_id))
    assert counts(seeded) == (0, 0, 0)


def test_rules_name_their_monitor_by_name_or_id_within_the_project(seeded: Platform) -> None:
    first = create_monitor(seeded, SYSTEM, "default", "first", model_name="fraud")
    create_monitor(seeded, SYSTEM, "default", "second", model_name="fraud")
    create_project(seeded, SYSTEM, "elsewhere")
    rule = {"name": "busy", "metric": "infra.rows", "value": 0.0}
    by_id = create_alert_rule(seeded, SYSTEM, "default", monitor_id=first.id, **rule)
    by_name = create_alert_rule(seeded, SYSTEM, "default", monitor="second", **rule)
    assert by_id.monitor_id == first.id
    assert list_alert_rules(seeded, SYSTEM, "default", monitor="first") == [by_id]
    with pytest.raises(AlreadyExists, match="first"):
        create_alert_rule(seeded, SYSTEM, "default", monitor="first", **rule)
    with pytest.raises(NotFound, match="no monitor with id"):
        create_alert_rule(seeded, SYSTEM, "elsewhere", monitor_id=first.id, **rule)
    with pytest.raises(NotFound, match="first"):
        list_alerts(seeded, SYSTEM, "elsewhere", monitor="first")
    for call, message in (
        (lambda: create_alert_rule(seeded, SYSTEM, "default", **rule), "name the rule's monitor"),
        (
            lambda: create_alert_rule(
                seeded, SYSTEM, "default", monitor="first", monitor_id=first.id, **rule
            ),
            "not both",
        ),
        (lambda: create_alert_rule(seeded, SYSTEM, "default", monitor="a b", **rule), "name"),
        (
            lambda: create_alert_rule(
                seeded, SYSTEM, "default", monitor="first", **(rule | {"name": "a/b"})
            ),
            "name",
        ),
        (lambda: delete_alert_rule(seeded, SYSTEM, "default", monitor="first"), "name the rule"),
        (
            lambda: delete_alert_rule(
                seeded, SYSTEM, "default", by_id.id, monitor="first", name="busy"
            ),
            "not both",
        ),
    ):
        with pytest.raises(InvalidArgument, match=message):
            call()
    for call, message in (
        (
            lambda: delete_alert_rule(seeded, SYSTEM, "default", monitor="second", name="nope"),
            "monitor second has no alert rule named 'nope'",
        ),
        (
            lambda: delete_alert_rule(seeded, SYSTEM, "default", "0" * 32),
            f"project 'default' has no alert rule with id {'0' * 32}",
        ),
    ):
        with pytest.raises(NotFound, match=message):
            call()
    delete_alert_rule(seeded, SYSTEM, "default", monitor="second", name="busy")
    assert list_alert_rules(seeded, SYSTEM, "default") == [by_id]
    assert by_name not in list_alert_rules(seeded, SYSTEM, "default")
