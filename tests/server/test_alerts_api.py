"""Alert routes: rules named per monitor are created, listed and deleted over HTTP; the
incidents a monitor's evaluation opens are listed, read, acknowledged and resolved, with
their delivery log. Secrets never come back; bad input is a 4xx with the error JSON and
writes nothing; viewers read and cannot write."""

from __future__ import annotations

import datetime as dt
import itertools
from typing import Any

import numpy as np
import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from mlsteward.deployments import create_deployment
from mlsteward.monitoring import create_monitor, evaluate_monitor
from mlsteward.monitoring._alert_dispatch import dispatcher_for
from mlsteward.platform import Platform
from mlsteward.registry._webhooks import allow_webhook_host
from mlsteward.security import SYSTEM, add_member, list_audit_events
from mlsteward.server import API_PREFIX

from ..monitoring._monitor_support import inputs, record_window, register_model
from ._state import platform_state
from ._support import SharedApi, assert_error_shape, bearer

API_SETTINGS = {"monitor_interval_seconds": 0}  # evaluations here are the tests' own
PROJECT = f"{API_PREFIX}/projects/default"
ALERTS = f"{PROJECT}/alerts"
PAST = dt.datetime(2026, 1, 1, 10, 0, tzinfo=dt.UTC)
SECRET = "a-webhook-secret-nobody-may-read"
SLACK = "http://127.0.0.1:9/services/T000/B000/credential-in-the-path"
_NAMES = itertools.count()


def rules_url(monitor: str) -> str:
    return f"{PROJECT}/monitors/{monitor}/alert-rules"


@pytest.fixture(scope="module")
def app(shared_api: SharedApi) -> FastAPI:
    register_model(shared_api.platform, training=inputs(3000, 0))
    record_window(shared_api.platform, PAST, inputs(500, 1), np.zeros(500, int))
    allow_webhook_host(shared_api.platform, SYSTEM, "127.0.0.1")
    return shared_api.app()


@pytest.fixture(scope="module")
def http(app: FastAPI) -> TestClient:
    return TestClient(app)


@pytest.fixture
def admin(shared_api: SharedApi) -> dict[str, str]:
    return bearer(shared_api.people.admin_token)


@pytest.fixture
def monitor(shared_api: SharedApi) -> str:
    name = f"watch{next(_NAMES)}"
    create_monitor(shared_api.platform, SYSTEM, "default", name, model_name="fraud")
    return name


def fire(platform: Platform, monitor: str) -> None:
    """Evaluate the recorded window: every rule on ``infra.rows`` above 0 opens an incident."""
    evaluate_monitor(platform, SYSTEM, "default", monitor, PAST + dt.timedelta(minutes=3))
    assert dispatcher_for(platform).wait_idle(30)


def test_a_rule_opens_an_incident_that_is_acknowledged_and_resolved(
    http: TestClient, shared_api: SharedApi, admin: dict[str, str], monitor: str
) -> None:
    body = {"name": "busy", "metric": "infra.rows", "value": 0, "severity": "critical",
            "notifiers": [{"kind": "log"}]}  # fmt: skip
    created = http.post(rules_url(monitor), json=body, headers=admin)
    assert created.status_code == 201, created.text
    rule = created.json()
    assert (rule["name"], rule["metric"], rule["op"], rule["kind"]) == (
        "busy", "infra.rows", ">", "threshold"
    )  # fmt: skip
    assert rule["description"] == "infra.rows > 0"
    listed = http.get(rules_url(monitor), headers=admin).json()["rules"]
    assert [r["id"] for r in listed] == [rule["id"]]

    fire(shared_api.platform, monitor)
    query = {"monitor": monitor, "state": "firing"}
    (alert,) = http.get(ALERTS, params=query, headers=admin).json()["alerts"]
    assert (alert["rule_id"], alert["severity"], alert["last_value"]) == (
        rule["id"], "critical", 500.0
    )  # fmt: skip
    assert http.get(f"{ALERTS}/{alert['id']}", headers=admin).json() == alert
    assert http.get(ALERTS, params={"rule": rule["id"]}, headers=admin).json()["alerts"] == [alert]
    (sent,) = http.get(f"{ALERTS}/{alert['id']}/notifications", headers=admin).json()[
        "notifications"
    ]
    assert (sent["notifier"], sent["status"], sent["reason"]) == ("log", "delivered", "opened")

    acked = http.post(f"{ALERTS}/{alert['id']}/acknowledge", headers=admin)
    assert acked.status_code == 200, acked.text
    assert (acked.json()["state"], acked.json()["acknowledged_by"]) == ("acknowledged", "admin")
    assert_error_shape(http.post(f"{ALERTS}/{alert['id']}/acknowledge", headers=admin), 409)
    resolved = http.post(f"{ALERTS}/{alert['id']}/resolve", headers=admin).json()
    assert (resolved["state"], resolved["resolution"], resolved["resolved_by"]) == (
        "resolved", "manual", "admin"
    )  # fmt: skip
    assert_error_shape(http.post(f"{ALERTS}/{alert['id']}/resolve", headers=admin), 409)
    assert http.get(ALERTS, params={"monitor": monitor, "state": "open"}, headers=admin).json() == {
        "alerts": []
    }
    actions = [e.action for e in list_audit_events(shared_api.platform, SYSTEM)]
    assert {"monitoring.alert.acknowledge", "monitoring.alert.resolve"} <= set(actions)

    deleted = http.delete(f"{rules_url(monitor)}/busy", headers=admin)
    assert deleted.status_code == 204, deleted.text
    assert http.get(rules_url(monitor), headers=admin).json() == {"rules": []}
    assert http.get(ALERTS, params={"monitor": monitor}, headers=admin).json() == {"alerts": []}
    assert_error_shape(http.get(f"{ALERTS}/{alert['id']}", headers=admin), 404)


def test_secrets_and_slack_paths_never_come_back(
    http: TestClient, admin: dict[str, str], monitor: str
) -> None:
    body = {
        "name": "hooks",
        "metric": "drift.share_drifted",
        "value": 0.5,
        "enabled": False,
        "notifiers": [
            {"kind": "webhook", "url": "http://127.0.0.1:9/hook", "secret": SECRET},
            {"kind": "slack", "url": SLACK},
        ],
    }
    created = http.post(rules_url(monitor), json=body, headers=admin)
    assert created.status_code == 201, created.text
    listed = http.get(rules_url(monitor), headers=admin)
    for response in (created, listed):
        assert SECRET not in response.text
        assert "credential-in-the-path" not in response.text
    hook, slack = created.json()["notifiers"]
    assert hook == {"kind": "webhook", "url": "http://127.0.0.1:9/hook"}
    assert slack == {"kind": "slack", "url": "http://127.0.0.1:9/…"}


def test_rules_are_named_per_monitor(
    http: TestClient, shared_api: SharedApi, admin: dict[str, str], monitor: str
) -> None:
    other = f"{monitor}-other"
    create_monitor(shared_api.platform, SYSTEM, "default", other, model_name="fraud")
    body = {"name": "drift high", "metric": "drift.share_drifted", "value": 0.5}
    for name in (monitor, other):
        assert http.post(rules_url(name), json=body, headers=admin).status_code == 201
    assert http.delete(f"{rules_url(monitor)}/drift%20high", headers=admin).status_code == 204
    assert http.get(rules_url(monitor), headers=admin).json() == {"rules": []}
    (kept,) = http.get(rules_url(other), headers=admin).json()["rules"]
    assert kept["name"] == "drift high"


BAD_RULES: list[tuple[str, dict[str, Any], int, str]] = [
    ("unknown-field", {"colour": "red"}, 400, "colour"),
    ("value-a-string", {"value": "0.5"}, 400, "value"),
    ("value-missing", {"value": None}, 400, "value"),
    ("kind", {"kind": "sometimes"}, 400, "kind"),
    ("op", {"op": "=="}, 400, "op"),
    ("windows-on-threshold", {"windows": 3}, 400, "windows"),
    ("severity", {"severity": "urgent"}, 400, "severity"),
    ("renotify-negative", {"renotify_seconds": -1}, 400, "renotify_seconds"),
    ("notifiers-not-a-list", {"notifiers": "log"}, 400, "notifiers"),
    ("notifier-kind", {"notifiers": [{"kind": "pager"}]}, 400, "notifiers[0].kind"),
    (
        "webhook-no-secret",
        {"notifiers": [{"kind": "webhook", "url": "https://a.example/h"}]},
        400,
        "notifiers[0].secret",
    ),
    ("private-webhook", {"notifiers": [{"kind": "slack", "url": "http://10.1.2.3/h"}]}, 403, ""),
    ("action-kind", {"action": {"kind": "shell"}}, 400, "action.kind"),
    ("action-unregistered", {"action": {"kind": "callable", "name": "nope"}}, 400, "nope"),
    ("name-nul", {"name": "a\x00b"}, 400, "NUL"),
    ("name-newline", {"name": "a\nb"}, 400, "name"),
    ("name-too-long", {"name": "n" * 201}, 400, "name"),
    ("name-slash", {"name": "drift/amount"}, 400, "name"),
]


@pytest.mark.parametrize(
    ("changes", "status", "message"),
    [b[1:] for b in BAD_RULES],
    ids=[b[0] for b in BAD_RULES],
)
def test_bad_rule_bodies_are_refused_and_nothing_is_written(
    http: TestClient,
    shared_api: SharedApi,
    admin: dict[str, str],
    monitor: str,
    changes: dict[str, Any],
    status: int,
    message: str,
) -> None:
    body = {"name": "bad", "metric": "infra.rows", "value": 1, **changes}
    body = {k: v for k, v in body.items() if v is not None}
    before = platform_state(shared_api.platform)
    error = assert_error_shape(http.post(rules_url(monitor), json=body, headers=admin), status)
    assert message in error["message"] or message in str(error["details"])
    assert platform_state(shared_api.platform) == before


def test_unknown_monitors_rules_and_alerts_and_bad_queries_are_refused(
    http: TestClient, shared_api: SharedApi, admin: dict[str, str], monitor: str
) -> None:
    body = {"name": "taken", "metric": "infra.rows", "value": 1}
    assert http.post(rules_url(monitor), json=body, headers=admin).status_code == 201
    before = platform_state(shared_api.platform)
    for method, path, kwargs, status, needle in (
        ("POST", rules_url(monitor), {"json": body}, 409, "taken"),
        ("POST", rules_url("ghost"), {"json": body}, 404, "ghost"),
        ("GET", rules_url("ghost"), {}, 404, "ghost"),
        ("GET", rules_url("bad name!"), {}, 400, "monitor name"),
        ("DELETE", f"{rules_url(monitor)}/nothing", {}, 404, "has no alert rule named 'nothing'"),
        ("DELETE", f"{rules_url('ghost')}/taken", {}, 404, "ghost"),
        ("GET", ALERTS, {"params": {"state": "burning"}}, 400, "state"),
        ("GET", ALERTS, {"params": {"limit": 0}}, 400, "limit"),
        ("GET", ALERTS, {"params": {"limit": 1001}}, 400, "limit"),
        ("GET", ALERTS, {"params": {"monitor": "ghost"}}, 404, "ghost"),
        ("GET", ALERTS, {"params": {"rule": "not-an-id"}}, 400, "rule_id"),
        ("GET", f"{ALERTS}/not-an-id", {}, 400, "alert_id"),
        ("GET", f"{ALERTS}/{'0' * 32}", {}, 404, "no such alert"),
        ("POST", f"{ALERTS}/{'0' * 32}/acknowledge", {}, 404, "no such alert"),
        ("POST", f"{ALERTS}/{'0' * 32}/resolve", {}, 404, "no such alert"),
        ("GET", f"{ALERTS}/{'0' * 32}/notifications", {}, 404, "no such alert"),
        ("GET", f"{API_PREFIX}/projects/nowhere/alerts", {}, 404, "nowhere"),
    ):
        response = http.request(method, path, headers=admin, **kwargs)
        error = assert_error_shape(response, status)
        assert needle in error["message"] or needle in str(error["details"]), (path, error)
    assert platform_state(shared_api.platform) == before


def test_viewers_read_and_cannot_write(
    http: TestClient, shared_api: SharedApi, admin: dict[str, str], monitor: str
) -> None:
    platform = shared_api.platform
    body = {"name": "busy", "metric": "infra.rows", "value": 0, "notifiers": [{"kind": "log"}]}
    assert http.post(rules_url(monitor), json=body, headers=admin).status_code == 201
    fire(platform, monitor)
    (alert,) = http.get(ALERTS, params={"monitor": monitor}, headers=admin).json()["alerts"]
    username = f"viewer-{monitor}"
    headers = bearer(shared_api.people.token_for(username))
    add_member(platform, SYSTEM, "default", username, "viewer")
    assert http.get(rules_url(monitor), headers=headers).json()["rules"][0]["name"] == "busy"
    assert http.get(f"{ALERTS}/{alert['id']}", headers=headers).json() == alert
    assert http.get(f"{ALERTS}/{alert['id']}/notifications", headers=headers).status_code == 200
    before = platform_state(platform)
    for method, path, json_body in (
        ("POST", rules_url(monitor), body | {"name": "mine"}),
        ("DELETE", f"{rules_url(monitor)}/busy", None),
        ("POST", f"{ALERTS}/{alert['id']}/acknowledge", None),
        ("POST", f"{ALERTS}/{alert['id']}/resolve", None),
    ):
        response = http.request(method, path, headers=headers, json=json_body)
        assert_error_shape(response, 403, "permission_denied")
    assert http.get(ALERTS, headers={}).status_code == 401
    assert platform_state(platform) == before


def _fired_alert(http: TestClient, platform: Platform, admin: dict[str, str], monitor: str) -> str:
    """The id of the incident a rule on ``monitor`` opens."""
    body = {"name": "busy", "metric": "infra.rows", "value": 0}
    assert http.post(rules_url(monitor), json=body, headers=admin).status_code == 201
    fire(platform, monitor)
    (alert,) = http.get(ALERTS, params={"monitor": monitor}, headers=admin).json()["alerts"]
    return str(alert["id"])


def test_an_incident_is_linked_to_the_deployment_it_promoted(
    http: TestClient, shared_api: SharedApi, admin: dict[str, str], monitor: str
) -> None:
    platform = shared_api.platform
    alert_id = _fired_alert(http, platform, admin, monitor)
    deployment = create_deployment(platform, SYSTEM, "default", f"{monitor}-api", "models:/fraud/1")
    links = f"{ALERTS}/{alert_id}/links"

    served = http.post(links, json={"node": f"deployment:{monitor}-api"}, headers=admin)
    assert served.status_code == 201, served.text
    assert served.json() == {
        "alert_id": alert_id, "relation": "promoted", "node": f"deployment:{deployment.id}",
        "revision": 1, "created": True,
    }  # fmt: skip
    again = http.post(links, json={"node": f"deployment:{deployment.id}"}, headers=admin)
    assert (again.status_code, again.json()["created"]) == (201, False)
    version = http.post(
        links, json={"node": "models:/fraud/1", "relation": "triggered"}, headers=admin
    ).json()
    assert (version["relation"], version["node"][:14], version["revision"]) == (
        "triggered", "model_version:", None
    )  # fmt: skip

    graph = http.get(
        f"{PROJECT}/lineage",
        params={"node": f"alert:{alert_id}", "direction": "downstream", "depth": 1},
        headers=admin,
    ).json()
    from_alert = [e for e in graph["edges"] if e["source"] == f"alert:{alert_id}"]
    assert {(e["relation"], e["target"]) for e in from_alert} == {
        ("promoted", f"deployment:{deployment.id}"),
        ("triggered", version["node"]),
    }
    events = list_audit_events(platform, SYSTEM, action="monitoring.alert.link", limit=3)
    assert [(e.actor_name, e.target_id, e.details["node"], e.details["new"]) for e in events] == [
        ("admin", alert_id, version["node"], True),
        ("admin", alert_id, f"deployment:{deployment.id}", False),
        ("admin", alert_id, f"deployment:{deployment.id}", True),
    ]


def test_bad_links_are_refused_and_nothing_is_written(
    http: TestClient, shared_api: SharedApi, admin: dict[str, str], monitor: str
) -> None:
    platform = shared_api.platform
    alert_id = _fired_alert(http, platform, admin, monitor)
    links = f"{ALERTS}/{alert_id}/links"
    before = platform_state(platform)
    for path, body, status, needle in (
        (f"{ALERTS}/{'0' * 32}/links", {"node": "models:/fraud/1"}, 404, "no such alert"),
        (f"{ALERTS}/not-an-id/links", {"node": "models:/fraud/1"}, 400, "alert_id"),
        (f"{API_PREFIX}/projects/nowhere/alerts/{alert_id}/links", {"node": "run:x"}, 404,
         "nowhere"),
        (links, {"node": "fraud-api"}, 400, "is not a lineage node reference"),
        (links, {"node": "deployment:nowhere-api"}, 404, "no deployment 'nowhere-api'"),
        (links, {"node": "models:/fraud/99"}, 404, "no model version"),
        (links, {"node": f"alert:{alert_id}"}, 400, "not to a node of type 'alert'"),
        (links, {"node": "models:/fraud/1", "relation": "deployed_as"}, 400, "relation"),
        (links, {"node": 42}, 400, "node"),
        (links, {"node": "a\x00b"}, 400, "NUL"),
        (links, {"relation": "promoted"}, 400, "node"),
        (links, {"node": "models:/fraud/1", "colour": "red"}, 400, "colour"),
        (links, {"node": "x" * 2000}, 400, "1000 characters"),
    ):  # fmt: skip
        error = assert_error_shape(http.post(path, json=body, headers=admin), status)
        assert needle in error["message"] or needle in str(error["details"]), (body, error)
    assert platform_state(platform) == before


def test_viewers_and_editors_cannot_link_incidents(
    http: TestClient, shared_api: SharedApi, admin: dict[str, str], monitor: str
) -> None:
    platform = shared_api.platform
    alert_id = _fired_alert(http, platform, admin, monitor)
    before = platform_state(platform)
    for role in ("viewer", "editor"):
        username = f"{role}-links-{monitor}"
        headers = bearer(shared_api.people.token_for(username))
        add_member(platform, SYSTEM, "default", username, role)
        before = platform_state(platform)
        response = http.post(
            f"{ALERTS}/{alert_id}/links", json={"node": "models:/fraud/1"}, headers=headers
        )
        assert_error_shape(response, 403, "permission_denied")
        assert platform_state(platform) == before
    response = http.post(f"{ALERTS}/{alert_id}/links", json={"node": "models:/fraud/1"})
    assert response.status_code == 401
    assert platform_state(platform) == before


def test_a_rule_is_disabled_and_enabled_again(
    http: TestClient, shared_api: SharedApi, admin: dict[str, str], monitor: str
) -> None:
    body = {"name": "busy", "metric": "infra.rows", "value": 0}
    created = http.post(rules_url(monitor), json=body, headers=admin).json()
    assert created["enabled"] is True
    off = http.patch(f"{rules_url(monitor)}/busy", json={"enabled": False}, headers=admin)
    assert off.status_code == 200, off.text
    assert off.json() == created | {"enabled": False, "updated_at": off.json()["updated_at"]}
    assert http.get(rules_url(monitor), headers=admin).json()["rules"] == [off.json()]

    fire(shared_api.platform, monitor)  # a disabled rule is not judged
    assert http.get(ALERTS, params={"monitor": monitor}, headers=admin).json() == {"alerts": []}

    on = http.patch(f"{rules_url(monitor)}/busy", json={"enabled": True}, headers=admin)
    assert (on.status_code, on.json()["enabled"], on.json()["id"]) == (200, True, created["id"])
    before = platform_state(shared_api.platform)
    same = http.patch(f"{rules_url(monitor)}/busy", json={"enabled": True}, headers=admin)
    assert same.json() == on.json()
    assert platform_state(shared_api.platform) == before  # the state it has: nothing written
    events = list_audit_events(
        shared_api.platform, SYSTEM, action="monitoring.alert_rule.update", limit=2
    )
    assert [(e.actor_name, e.target_id, e.details["enabled"]) for e in events] == [
        ("admin", created["id"], True),
        ("admin", created["id"], False),
    ]


def test_bad_rule_updates_are_refused_and_nothing_is_written(
    http: TestClient, shared_api: SharedApi, admin: dict[str, str], monitor: str
) -> None:
    body = {"name": "kept", "metric": "infra.rows", "value": 1}
    assert http.post(rules_url(monitor), json=body, headers=admin).status_code == 201
    kept = f"{rules_url(monitor)}/kept"
    before = platform_state(shared_api.platform)
    for path, json_body, status, needle in (
        (kept, {}, 400, "enabled"),
        (kept, {"enabled": "false"}, 400, "enabled"),
        (kept, {"enabled": 0}, 400, "enabled"),
        (kept, {"enabled": None}, 400, "enabled"),
        (kept, {"enabled": False, "severity": "info"}, 400, "severity"),
        (kept, [False], 400, "body"),
        (f"{rules_url(monitor)}/nothing", {"enabled": False}, 404, "no alert rule named"),
        (f"{rules_url('ghost')}/kept", {"enabled": False}, 404, "ghost"),
        (f"{rules_url('bad name!')}/kept", {"enabled": False}, 400, "monitor name"),
        (f"{rules_url(monitor)}/a%0Ab", {"enabled": False}, 400, "name"),
        (f"{API_PREFIX}/projects/nowhere/monitors/{monitor}/alert-rules/kept",
         {"enabled": False}, 404, "nowhere"),
    ):  # fmt: skip
        error = assert_error_shape(http.patch(path, json=json_body, headers=admin), status)
        assert needle in error["message"] or needle in str(error["details"]), (path, error)
    assert platform_state(shared_api.platform) == before
    assert http.get(rules_url(monitor), headers=admin).json()["rules"][0]["enabled"] is True


def test_viewers_and_editors_cannot_turn_rules_on_or_off(
    http: TestClient, shared_api: SharedApi, admin: dict[str, str], monitor: str
) -> None:
    platform = shared_api.platform
    body = {"name": "kept", "metric": "infra.rows", "value": 1}
    assert http.post(rules_url(monitor), json=body, headers=admin).status_code == 201
    kept = f"{rules_url(monitor)}/kept"
    for role in ("viewer", "editor"):
        username = f"{role}-toggle-{monitor}"
        headers = bearer(shared_api.people.token_for(username))
        add_member(platform, SYSTEM, "default", username, role)
        before = platform_state(platform)
        response = http.patch(kept, json={"enabled": False}, headers=headers)
        assert_error_shape(response, 403, "permission_denied")
        assert platform_state(platform) == before
    assert http.patch(kept, json={"enabled": False}).status_code == 401
    assert http.get(rules_url(monitor), headers=admin).json()["rules"][0]["enabled"] is True
