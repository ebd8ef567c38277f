"""``mlsteward alert``: rules on a monitor's metrics created from options, listed without
secrets and deleted; the incident a monitor's evaluation opens is listed, shown,
acknowledged and resolved, with its delivery log; bad input is one ``error:`` line and
writes nothing."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import numpy as np

from mlsteward.deployments import create_deployment
from mlsteward.monitoring import evaluate_monitor
from mlsteward.monitoring._alert_dispatch import dispatcher_for
from mlsteward.security import SYSTEM

from ..monitoring._monitor_support import inputs, record_window, register_model
from .conftest import Cli

PAST = dt.datetime(2026, 1, 1, 10, 0, tzinfo=dt.UTC)
SECRET = "a-webhook-secret-nobody-may-read"
SLACK = "http://127.0.0.1:9/services/T0/B0/slack-path-credential"


def _seed(cli: Cli) -> None:
    platform = cli.platform()
    try:
        register_model(platform, training=inputs(2000, 0))
        record_window(platform, PAST, inputs(300, 1), np.zeros(300, int))
    finally:
        platform.close()
    cli.ok("monitor", "create", "watch", "--model", "fraud")


def _fire(cli: Cli) -> None:
    """Evaluate the recorded window (as the server's scheduler would) and let the
    notifications go out."""
    platform = cli.platform()
    try:
        evaluate_monitor(platform, SYSTEM, "default", "watch", PAST + dt.timedelta(minutes=1))
        dispatcher = dispatcher_for(platform)
        assert dispatcher.wait_idle(30)
        dispatcher.close()
    finally:
        platform.close()


def test_rules_from_options_and_an_incident_from_open_to_resolved(cli: Cli, tmp_path: Path) -> None:
    _seed(cli)
    busy = cli.json(
        "alert", "rule", "create", "watch", "busy", "--metric", "infra.rows", "--above", "0",
        "--severity", "critical", "--renotify", "0", "--log",
    )  # fmt: skip
    assert (busy["kind"], busy["op"], busy["value"], busy["severity"]) == (
        "threshold", ">", 0.0, "critical"
    )  # fmt: skip
    assert (busy["renotify_seconds"], busy["notifiers"]) == (0, [{"kind": "log"}])
    slow = cli.json(
        "alert", "rule", "create", "watch", "recall low", "--metric", "quality.recall",
        "--below", "0.8", "--for", "3", "--action-command", "echo 'retrain fraud' now",
        "--action-timeout", "60", "--no-auto-resolve", "--disabled",
    )  # fmt: skip
    assert (slow["kind"], slow["op"], slow["windows"]) == ("consecutive", "<", 3)
    assert slow["action"] == {
        "kind": "command", "argv": ["echo", "retrain fraud", "now"], "timeout_seconds": 60
    }  # fmt: skip
    assert (slow["auto_resolve"], slow["enabled"]) == (False, False)
    swing = cli.json(
        "alert", "rule", "create", "watch", "swing", "--metric", "infra.rows",
        "--baseline", "5", "--deviation", "20", "--relative", "--disabled",
    )  # fmt: skip
    assert (swing["kind"], swing["windows"], swing["value"], swing["relative"]) == (
        "baseline", 5, 20.0, True
    )  # fmt: skip

    cli.ok("models", "webhook", "allow-host", "127.0.0.1")
    secret_file = tmp_path / "secret"
    secret_file.write_text(SECRET + "\n")
    hooked = cli.ok(
        "alert", "rule", "create", "watch", "hooked", "--metric", "drift.share_drifted",
        "--above", "0.5", "--webhook", "http://127.0.0.1:9/hook", "--secret-file",
        str(secret_file), "--slack", SLACK, "--disabled", "--json",
    )  # fmt: skip
    listed_json = cli.ok("alert", "rule", "list", "watch", "--json").stdout
    listed_text = cli.ok("alert", "rule", "list", "watch").stdout
    for shown in (hooked.stdout, listed_json, listed_text):
        assert SECRET not in shown
        assert "slack-path-credential" not in shown
    assert "recall low" in listed_text
    assert "command echo" in listed_text
    names = [r["name"] for r in cli.json("alert", "rule", "list", "watch")["rules"]]
    assert names == ["busy", "recall low", "swing", "hooked"]

    _fire(cli)
    (alert,) = cli.json("alert", "list", "--monitor", "watch", "--state", "firing")["alerts"]
    assert (alert["rule_id"], alert["last_value"]) == (busy["id"], 300.0)
    table = cli.ok("alert", "list").stdout
    assert alert["id"] in table
    assert "busy" in table
    assert cli.json("alert", "show", alert["id"]) == alert
    assert "firing, critical" in cli.ok("alert", "show", alert["id"]).output
    (sent,) = cli.json("alert", "notifications", alert["id"])["notifications"]
    assert (sent["notifier"], sent["status"]) == ("log", "delivered")
    assert "delivered" in cli.ok("alert", "notifications", alert["id"]).stdout

    acked = cli.json("alert", "ack", alert["id"])
    assert (acked["state"], acked["acknowledged_by"]) == ("acknowledged", "local-admin")
    resolved = cli.json("alert", "resolve", alert["id"])
    assert (resolved["state"], resolved["resolution"]) == ("resolved", "manual")
    assert "resolved (manual) by local-admin" in cli.ok("alert", "show", alert["id"]).output
    assert cli.json("alert", "list", "--state", "open") == {"alerts": []}

    assert cli.json("alert", "rule", "delete", "watch", "busy") == {
        "deleted": "busy", "monitor": "watch", "project": "default"
    }  # fmt: skip
    assert cli.json("alert", "list") == {"alerts": []}
    cli.ok("monitor", "delete", "watch")
    assert "no monitor named 'watch'" in cli.fails("alert", "rule", "list", "watch").stderr


def test_bad_input_is_one_error_line_and_writes_nothing(cli: Cli, tmp_path: Path) -> None:
    _seed(cli)
    cli.ok("alert", "rule", "create", "watch", "taken", "--metric", "infra.rows", "--above", "1")
    before = cli.audit_count()
    create = ("alert", "rule", "create", "watch", "new", "--metric", "infra.rows")
    cases: list[tuple[list[str], str]] = [
        ([], "exactly one condition"),
        (["--above", "1", "--below", "2"], "exactly one condition"),
        (["--baseline", "3"], "--baseline needs --deviation"),
        (["--above", "1", "--deviation", "2"], "go with --baseline"),
        (["--above", "1", "--relative"], "go with --baseline"),
        (["--baseline", "3", "--deviation", "1", "--for", "2"], "--for applies"),
        (["--above", "1", "--for", "5000"], "windows"),
        (["--above", "1", "--severity", "urgent"], "severity"),
        (["--above", "1", "--renotify", "-1"], "renotify_seconds"),
        (["--above", "1", "--webhook", "https://a.example/h"], "--secret-file go together"),
        (
            [
                "--above",
                "1",
                "--webhook",
                "https://a.example/h",
                "--secret-file",
                str(tmp_path / "missing"),
            ],
            "cannot be read",
        ),
        (["--above", "1", "--email", "ops@example.com"], "SMTP"),
        (["--above", "1", "--slack", "http://10.0.0.1/x"], "10.0.0.1"),
        (["--above", "1", "--action-callable", "a", "--action-command", "b"], "one action"),
        (["--above", "1", "--action-command", "'unterminated"], "cannot be split"),
        (["--above", "1", "--action-callable", "nope"], "not a registered"),
    ]
    for args, message in cases:
        failed = cli.fails(*create, *args)
        assert message in failed.stderr, (args, failed.stderr)
    assert "already" in cli.fails(*create[:4], "taken", *create[5:], "--above", "1").stderr
    ghost = ("alert", "rule", "create", "ghost", "r", "--metric", "m", "--above", "1")
    assert "no monitor named 'ghost'" in cli.fails(*ghost).stderr
    assert "name" in cli.fails("alert", "rule", "create", "watch", "a/b", "--metric", "m",
                               "--above", "1").stderr  # fmt: skip
    missing = cli.fails("alert", "rule", "delete", "watch", "nope").stderr
    assert "has no alert rule named 'nope'" in missing
    assert "state must be" in cli.fails("alert", "list", "--state", "burning").stderr
    assert "alert_id" in cli.fails("alert", "show", "not-an-id").stderr
    assert "no such alert" in cli.fails("alert", "ack", "0" * 32).stderr
    assert "no such alert" in cli.fails("alert", "resolve", "0" * 32).stderr
    assert "no such alert" in cli.fails("alert", "notifications", "0" * 32).stderr
    assert cli.audit_count() == before
    assert [r["name"] for r in cli.json("alert", "rule", "list", "watch")["rules"]] == ["taken"]


def test_an_alert_is_linked_to_what_it_led_to(cli: Cli) -> None:
    _seed(cli)
    cli.ok("alert", "rule", "create", "watch", "busy", "--metric", "infra.rows", "--above", "0")
    _fire(cli)
    (alert,) = cli.json("alert", "list")["alerts"]
    platform = cli.platform()
    try:
        deployment = create_deployment(platform, SYSTEM, "default", "fraud-api", "models:/fraud/1")
    finally:
        platform.close()

    served = cli.json("alert", "link", alert["id"], "deployment:fraud-api")
    assert served == {
        "alert_id": alert["id"], "relation": "promoted", "node": f"deployment:{deployment.id}",
        "revision": 1, "created": True,
    }  # fmt: skip
    again = cli.ok("alert", "link", alert["id"], f"deployment:{deployment.id}").output
    assert f"already linked -promoted-> deployment:{deployment.id}" in again
    trained = cli.ok(
        "alert", "link", alert["id"], "models:/fraud/1", "--relation", "triggered",
        "--project", "default",
    ).output  # fmt: skip
    assert f"linked alert {alert['id']} -triggered-> model_version:" in trained
    graph = cli.json("lineage", "downstream", f"alert:{alert['id']}", "--depth", "1")
    assert {(e["relation"], e["target"].partition(":")[0]) for e in graph["edges"]
            if e["source"] == f"alert:{alert['id']}"} == {
        ("promoted", "deployment"), ("triggered", "model_version")
    }  # fmt: skip

    before = cli.audit_count()
    for args, message in (
        ([alert["id"], "fraud-api"], "is not a lineage node reference"),
        ([alert["id"], "deployment:nowhere"], "no deployment 'nowhere'"),
        ([alert["id"], "models:/fraud/1", "--relation", "deployed_as"], "relation must be"),
        ([alert["id"], "models:/fraud/1", "--project", "nowhere"], "nowhere"),
        (["0" * 32, "models:/fraud/1"], "no such alert"),
        (["not-an-id", "models:/fraud/1"], "alert_id"),
    ):
        failed = cli.fails("alert", "link", *args)
        assert message in failed.stderr, (args, failed.stderr)
        assert len(failed.stderr.strip().splitlines()) == 1, failed.stderr
    assert cli.audit_count() == before


def test_a_rule_is_disabled_and_enabled_again(cli: Cli) -> None:
    _seed(cli)
    created = cli.json(
        "alert", "rule", "create", "watch", "busy", "--metric", "infra.rows", "--above", "0"
    )
    off = cli.json("alert", "rule", "disable", "watch", "busy", "--project", "default")
    assert (off["id"], off["enabled"]) == (created["id"], False)
    assert (
        "rule busy of monitor watch is disabled"
        in cli.ok("alert", "rule", "disable", "watch", "busy").output
    )
    (listed,) = cli.json("alert", "rule", "list", "watch")["rules"]
    assert listed["enabled"] is False
    _fire(cli)  # a disabled rule is not judged
    assert cli.json("alert", "list") == {"alerts": []}

    on = cli.json("alert", "rule", "enable", "watch", "busy")
    assert (on["id"], on["enabled"]) == (created["id"], True)
    assert (
        "rule busy of monitor watch is enabled"
        in cli.ok("alert", "rule", "enable", "watch", "busy").output
    )

    before = cli.audit_count()
    for args, message in (
        (["enable", "watch", "nothing"], "no alert rule named 'nothing'"),
        (["disable", "ghost", "busy"], "no monitor named 'ghost'"),
        (["disable", "watch", "a/b"], "name"),
        (["disable", "watch", "busy", "--project", "nowhere"], "nowhere"),
    ):
        failed = cli.fails("alert", "rule", *args)
        assert message in failed.stderr, (args, failed.stderr)
        assert len(failed.stderr.strip().splitlines()) == 1, failed.stderr
    assert cli.audit_count() == before
    assert cli.json("alert", "rule", "list", "watch")["rules"][0]["enabled"] is True
