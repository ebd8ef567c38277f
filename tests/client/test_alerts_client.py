"""Alerts through ``Client``, in-process and against a live server: rules named per monitor,
the incident a monitor's evaluation opens, acknowledge, resolve, the delivery log; the same
results, secrets withheld and the services' own errors in both worlds."""

from __future__ import annotations

import datetime as dt
import itertools

import numpy as np
import pytest

from mlsteward.data import lineage_downstream
from mlsteward.deployments import create_deployment
from mlsteward.errors import AlreadyExists, Conflict, InvalidArgument, NotFound, PermissionDenied
from mlsteward.monitoring import AlertLink, AlertRule, get_alert, list_alert_rules
from mlsteward.monitoring._alert_dispatch import dispatcher_for
from mlsteward.registry._webhooks import allow_webhook_host
from mlsteward.security import SYSTEM, add_member

from ..monitoring._monitor_support import inputs, record_window, register_model
from ..server._state import audit_count
from .conftest import World

PAST = dt.datetime(2026, 1, 1, 10, 0, tzinfo=dt.UTC)
SECRET = "a-webhook-secret-nobody-may-read"
_NAMES = itertools.count()
_SEEDED: set[int] = set()


@pytest.fixture
def monitor(world: World) -> str:
    """A new monitor of the model ``fraud``, whose window at ``PAST`` holds 400 rows."""
    if id(world.platform) not in _SEEDED:
        register_model(world.platform, training=inputs(2000, 0))
        record_window(world.platform, PAST, inputs(400, 1), np.zeros(400, int))
        allow_webhook_host(world.platform, SYSTEM, "127.0.0.1")
        _SEEDED.add(id(world.platform))
    name = f"watch{next(_NAMES)}"
    world.admin().create_monitor(name, model_name="fraud")
    return name


def test_a_rule_fires_and_its_incident_is_acknowledged_and_resolved(
    world: World, monitor: str
) -> None:
    client = world.admin()
    rule = client.create_alert_rule(
        monitor, "busy", metric="infra.rows", value=100, kind="consecutive", op=">=",
        windows=2, severity="critical", renotify_seconds=0, notifiers=[{"kind": "log"}],
    )  # fmt: skip
    assert isinstance(rule, AlertRule)
    assert rule.condition.describe() == "infra.rows >= 100 for 2 windows"
    assert client.list_alert_rules(monitor) == [rule]
    assert list_alert_rules(world.platform, SYSTEM, "default", monitor=monitor) == [rule]
    simple = client.create_alert_rule(
        monitor, "any rows", metric="infra.rows", value=0, notifiers=[{"kind": "log"}]
    )

    client.evaluate_monitor(monitor, at=PAST + dt.timedelta(minutes=1))
    assert dispatcher_for(world.platform).wait_idle(30)
    (alert,) = client.list_alerts(monitor=monitor)  # one window: only the simple rule fires
    assert (alert.rule_id, alert.state, alert.last_value) == (simple.id, "firing", 400.0)
    assert client.get_alert(alert.id) == alert == get_alert(world.platform, SYSTEM, "default",
                                                            alert.id)  # fmt: skip
    assert client.list_alerts(rule_id=rule.id) == []
    assert client.list_alerts(monitor=monitor, state="open", limit=1) == [alert]
    (sent,) = client.alert_notifications(alert.id)
    assert (sent.notifier, sent.status, sent.attempt) == ("log", "delivered", 1)

    acked = client.acknowledge_alert(alert.id)
    assert (acked.state, acked.acknowledged_by) == ("acknowledged", "admin")
    with pytest.raises(Conflict, match="only a firing alert"):
        client.acknowledge_alert(alert.id)
    resolved = client.resolve_alert(alert.id)
    assert (resolved.state, resolved.resolution, resolved.resolved_by) == (
        "resolved", "manual", "admin"
    )  # fmt: skip
    assert client.list_alerts(monitor=monitor, state="resolved") == [resolved]

    client.delete_alert_rule(monitor, "any rows")
    assert client.list_alert_rules(monitor) == [rule]
    with pytest.raises(NotFound):
        client.get_alert(alert.id)


def test_webhook_secrets_are_withheld(world: World, monitor: str) -> None:
    hook = {"kind": "webhook", "url": "http://127.0.0.1:9/hook", "secret": SECRET}
    created = world.admin().create_alert_rule(
        monitor, "hooked", metric="drift.share_drifted", value=0.5, notifiers=[hook],
        enabled=False,
    )  # fmt: skip
    assert created.notifiers == ({"kind": "webhook", "url": "http://127.0.0.1:9/hook"},)
    (listed,) = world.admin().list_alert_rules(monitor)
    assert SECRET not in repr(listed.to_json())


def test_errors_are_the_services_own(world: World, monitor: str) -> None:
    client = world.admin()
    client.create_alert_rule(monitor, "taken", metric="infra.rows", value=1)
    with pytest.raises(AlreadyExists, match="taken"):
        client.create_alert_rule(monitor, "taken", metric="infra.rows", value=1)
    with pytest.raises(NotFound, match="ghost"):
        client.create_alert_rule("ghost", "r", metric="infra.rows", value=1)
    with pytest.raises(NotFound, match="ghost"):
        client.list_alerts(monitor="ghost")
    with pytest.raises(InvalidArgument, match="severity"):
        client.create_alert_rule(monitor, "r", metric="infra.rows", value=1, severity="urgent")
    with pytest.raises(InvalidArgument, match="name"):
        client.create_alert_rule(monitor, "a/b", metric="infra.rows", value=1)
    with pytest.raises(InvalidArgument, match="notifiers"):
        client.create_alert_rule(
            monitor, "r", metric="infra.rows", value=1, notifiers=[{"kind": "pager"}]
        )
    with pytest.raises(InvalidArgument, match="state"):
        client.list_alerts(state="burning")
    with pytest.raises(InvalidArgument, match="alert"):
        client.get_alert("not-an-id")
    with pytest.raises(NotFound, match="has no alert rule named 'nothing'"):
        client.delete_alert_rule(monitor, "nothing")
    with pytest.raises(NotFound, match="no such alert"):
        client.resolve_alert("0" * 32)
    assert [r.name for r in client.list_alert_rules(monitor)] == ["taken"]


def test_viewers_read_and_cannot_write(world: World, monitor: str) -> None:
    world.admin().create_alert_rule(monitor, "kept", metric="infra.rows", value=1)
    username = f"viewer-{world.kind}-{monitor}"
    viewer = world.user(username)
    add_member(world.platform, SYSTEM, "default", username, "viewer")
    assert [r.name for r in viewer.list_alert_rules(monitor)] == ["kept"]
    assert viewer.list_alerts(monitor=monitor) == []
    with pytest.raises(PermissionDenied):
        viewer.create_alert_rule(monitor, "mine", metric="infra.rows", value=1)
    with pytest.raises(PermissionDenied):
        viewer.delete_alert_rule(monitor, "kept")
    assert [r.name for r in viewer.list_alert_rules(monitor)] == ["kept"]


def test_an_incident_is_linked_in_the_lineage_graph(world: World, monitor: str) -> None:
    client = world.admin()
    rule = client.create_alert_rule(monitor, "busy", metric="infra.rows", value=0)
    client.evaluate_monitor(monitor, at=PAST + dt.timedelta(minutes=1))
    (alert,) = client.list_alerts(rule_id=rule.id)
    deployment = create_deployment(
        world.platform, SYSTEM, "default", f"{monitor}-api", "models:/fraud/1"
    )

    served = client.link_alert(alert.id, f"deployment:{monitor}-api")
    assert served == AlertLink(alert.id, "promoted", f"deployment:{deployment.id}", 1, True)
    again = client.link_alert(alert.id, f"deployment:{deployment.id}", relation="promoted")
    assert again == AlertLink(alert.id, "promoted", served.node, 1, False)
    version = client.link_alert(alert.id, "models:/fraud/1", relation="triggered")
    assert (version.relation, version.node.partition(":")[0], version.revision) == (
        "triggered", "model_version", None
    )  # fmt: skip
    graph = lineage_downstream(world.platform, SYSTEM, f"alert:{alert.id}", depth=1)
    assert {(e.relation, e.target) for e in graph.edges if e.source == f"alert:{alert.id}"} == {
        ("promoted", served.node),
        ("triggered", version.node),
    }

    username = f"viewer-links-{world.kind}-{monitor}"
    viewer = world.user(username)
    add_member(world.platform, SYSTEM, "default", username, "viewer")
    before = audit_count(world.platform)
    with pytest.raises(PermissionDenied):
        viewer.link_alert(alert.id, "models:/fraud/1")
    with pytest.raises(NotFound, match="no such alert"):
        client.link_alert("0" * 32, "models:/fraud/1")
    with pytest.raises(NotFound, match="no deployment 'nowhere'"):
        client.link_alert(alert.id, "deployment:nowhere")
    with pytest.raises(InvalidArgument, match="is not a lineage node reference"):
        client.link_alert(alert.id, "fraud-api")
    with pytest.raises(InvalidArgument, match="relation"):
        client.link_alert(alert.id, "models:/fraud/1", relation="deployed_as")
    with pytest.raises(InvalidArgument, match="alert"):
        client.link_alert("not-an-id", "models:/fraud/1")
    assert audit_count(world.platform) == before


def test_a_rule_is_turned_off_and_on(world: World, monitor: str) -> None:
    client = world.admin()
    rule = client.create_alert_rule(monitor, "busy", metric="infra.rows", value=0)
    off = client.update_alert_rule(monitor, "busy", enabled=False)
    assert isinstance(off, AlertRule)
    assert (off.id, off.enabled) == (rule.id, False)
    assert client.list_alert_rules(monitor) == [off]
    client.evaluate_monitor(monitor, at=PAST + dt.timedelta(minutes=1))
    assert client.list_alerts(monitor=monitor) == []  # a disabled rule is not judged
    on = client.update_alert_rule(monitor, "busy", enabled=True, project="default")
    assert (on.id, on.enabled) == (rule.id, True)
    before = audit_count(world.platform)
    assert client.update_alert_rule(monitor, "busy", enabled=True) == on
    assert audit_count(world.platform) == before


def test_bad_rule_updates_are_the_services_errors(world: World, monitor: str) -> None:
    client = world.admin()
    client.create_alert_rule(monitor, "kept", metric="infra.rows", value=1)
    username = f"viewer-toggle-{world.kind}-{monitor}"
    viewer = world.user(username)
    add_member(world.platform, SYSTEM, "default", username, "viewer")
    before = audit_count(world.platform)
    with pytest.raises(PermissionDenied):
        viewer.update_alert_rule(monitor, "kept", enabled=False)
    with pytest.raises(NotFound, match="no alert rule named 'nothing'"):
        client.update_alert_rule(monitor, "nothing", enabled=False)
    with pytest.raises(NotFound, match="ghost"):
        client.update_alert_rule("ghost", "kept", enabled=False)
    with pytest.raises(InvalidArgument, match="enabled"):
        client.update_alert_rule(monitor, "kept", enabled="no")  # type: ignore[arg-type]
    with pytest.raises(InvalidArgument, match="name"):
        client.update_alert_rule(monitor, "a\nb", enabled=False)
    assert audit_count(world.platform) == before
    assert [r.enabled for r in client.list_alert_rules(monitor)] == [True]
