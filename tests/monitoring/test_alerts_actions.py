"""Alert actions: a registered retraining callable runs once per incident in the background and
what it produced is linked in the lineage graph; a command runs without a shell with the
alert's facts in its environment; failures and timeouts are recorded on the alert."""

from __future__ import annotations

import datetime as dt
import sys
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from mlsteward.data import lineage_downstream, lineage_upstream
from mlsteward.data._lineage_nodes import LineageNodeRef
from mlsteward.errors import AlreadyExists, InvalidArgument, NotFound
from mlsteward.monitoring import (
    ActionResult,
    AlertContext,
    AlertDispatcher,
    create_alert_rule,
    evaluate_rules_for_monitor,
    list_alerts,
    register_retraining_action,
    unregister_retraining_action,
)
from mlsteward.monitoring._alert_rules import MetricWindow
from mlsteward.platform import Platform
from mlsteward.security import SYSTEM, list_audit_events

from ..data._lineage_rows import new_run, register_from
from ._alert_support import ensure_monitor

MONITOR = "0123456789abcdef0123456789abcdef"
START = dt.datetime(2026, 11, 29, 12, 0, tzinfo=dt.UTC)


@pytest.fixture
def sender(backend_platform: Platform) -> Iterator[AlertDispatcher]:
    dispatcher = AlertDispatcher(backend_platform)
    yield dispatcher
    dispatcher.close()


@pytest.fixture
def retrain() -> Iterator[list[AlertContext]]:
    """A registered action that trains: a run and a model version from it, per call."""
    calls: list[AlertContext] = []
    lock = threading.Lock()

    def action(context: AlertContext) -> ActionResult:
        with lock:
            calls.append(context)
        run_id = new_run(context.platform, project=context.project)
        version = register_from(context.platform, run_id, "fraud", project=context.project)
        return ActionResult(run_id=run_id, model_version_id=version.id)

    register_retraining_action("retrain-fraud", action)
    yield calls
    unregister_retraining_action("retrain-fraud")


def feed(platform: Platform, dispatcher: AlertDispatcher, values: list[float]) -> None:
    windows: list[MetricWindow] = []
    for index, value in enumerate(values):
        start = START + dt.timedelta(hours=index)
        windows.append(
            MetricWindow(start, start + dt.timedelta(hours=1), {"quality.recall": value})
        )
        evaluate_rules_for_monitor(platform, MONITOR, windows, dispatcher=dispatcher)
        assert dispatcher.wait_idle(60)


def rule(platform: Platform, action: dict[str, Any]) -> Any:
    ensure_monitor(platform, MONITOR)
    return create_alert_rule(
        platform, SYSTEM, "default", monitor_id=MONITOR, name="recall low",
        metric="quality.recall", op="<", value=0.8, action=action,
    )  # fmt: skip


def test_a_retraining_callable_runs_once_per_incident_and_is_linked_in_lineage(
    backend_platform: Platform, sender: AlertDispatcher, retrain: list[AlertContext]
) -> None:
    rule(backend_platform, {"kind": "callable", "name": "retrain-fraud"})
    feed(backend_platform, sender, [0.5, 0.4, 0.3, 0.2, 0.9, 0.1])
    assert len(retrain) == 2  # two incidents, one run each; six windows
    second, first = list_alerts(backend_platform, SYSTEM, "default")
    assert [c.alert_id for c in retrain] == [first.id, second.id]
    assert (retrain[0].monitor_id, retrain[0].value, retrain[0].project) == (
        MONITOR,
        0.5,
        "default",
    )
    for incident in (first, second):
        assert incident.action_status == "succeeded"
        assert incident.action_detail is not None
        linked = incident.action_detail["linked"]
        assert [key.split(":")[0] for key in linked] == ["run", "model_version"]
    graph = lineage_downstream(backend_platform, SYSTEM, LineageNodeRef("alert", first.id), depth=2)
    relations = {(e.source, e.relation, e.target) for e in graph.edges}
    run_key, version_key = first.action_detail["linked"]  # type: ignore[index]
    alert_key = f"alert:{first.id}"
    assert {(alert_key, "triggered", run_key), (alert_key, "triggered", version_key)} <= relations
    assert (run_key, "produced", version_key) in relations
    assert graph.nodes[0].label == "alert recall low (warning)"
    upstream = lineage_upstream(
        backend_platform, SYSTEM, LineageNodeRef("model_version", version_key.split(":")[1])
    )
    assert alert_key in {n.key for n in upstream.nodes}
    actions = list_audit_events(backend_platform, SYSTEM, action="monitoring.alert.action")
    assert sorted(e.target_id for e in actions) == sorted([first.id, second.id])


def test_a_failing_callable_is_recorded_on_the_alert(
    backend_platform: Platform, sender: AlertDispatcher
) -> None:
    def broken(context: AlertContext) -> None:
        raise RuntimeError("the training cluster is down")

    register_retraining_action("broken", broken)
    try:
        rule(backend_platform, {"kind": "callable", "name": "broken"})
        feed(backend_platform, sender, [0.5])
    finally:
        unregister_retraining_action("broken")
    (incident,) = list_alerts(backend_platform, SYSTEM, "default")
    assert incident.action_status == "failed"
    assert "the training cluster is down" in incident.action_detail["error"]  # type: ignore[index]


def test_unknown_ids_from_a_callable_are_not_linked(
    backend_platform: Platform, sender: AlertDispatcher
) -> None:
    register_retraining_action(
        "liar", lambda context: ActionResult(run_id="f" * 32, model_version_id="../x")
    )
    try:
        rule(backend_platform, {"kind": "callable", "name": "liar"})
        feed(backend_platform, sender, [0.5])
    finally:
        unregister_retraining_action("liar")
    (incident,) = list_alerts(backend_platform, SYSTEM, "default")
    detail = incident.action_detail or {}
    assert detail["linked"] == []
    assert len(detail["link_errors"]) == 2


def test_a_command_runs_with_the_alert_in_its_environment(
    platform: Platform, tmp_path: Path
) -> None:
    out = tmp_path / "env.txt"
    script = (
        "import os, sys; "
        "pairs = sorted(os.environ.items()); "
        f"open({str(out)!r}, 'w').write('\\n'.join(f'{{k}}={{v}}' for k, v in pairs "
        "if k.startswith('MLSTEWARD_ALERT_'))); print('retrained'); sys.exit(0)"
    )
    rule(platform, {"kind": "command", "argv": [sys.executable, "-c", script]})
    dispatcher = AlertDispatcher(platform)
    try:
        feed(platform, dispatcher, [0.5, 0.5])
    finally:
        dispatcher.close()
    (incident,) = list_alerts(platform, SYSTEM, "default")
    env = dict(line.split("=", 1) for line in out.read_text().splitlines())
    assert env["MLSTEWARD_ALERT_ID"] == incident.id
    assert env["MLSTEWARD_ALERT_MONITOR_ID"] == MONITOR
    assert env["MLSTEWARD_ALERT_PROJECT"] == "default"
    assert (env["MLSTEWARD_ALERT_METRIC"], env["MLSTEWARD_ALERT_VALUE"]) == (
        "quality.recall",
        "0.5",
    )
    assert env["MLSTEWARD_ALERT_RULE"] == "recall low"
    assert incident.action_status == "succeeded"
    detail = incident.action_detail or {}
    assert (detail["returncode"], detail["stdout"].strip()) == (0, "retrained")


@pytest.mark.parametrize(
    ("argv", "status", "needle"),
    [
        (["-c", "import sys; print('boom', file=sys.stderr); sys.exit(3)"], "failed", "boom"),
        (["-c", "import time; time.sleep(30)"], "timed_out", "timed out after 1 s"),
    ],
    ids=["exit-3", "timeout"],
)
def test_a_failing_or_slow_command_is_recorded(
    platform: Platform, argv: list[str], status: str, needle: str
) -> None:
    rule(platform, {"kind": "command", "argv": [sys.executable, *argv], "timeout_seconds": 1})
    dispatcher = AlertDispatcher(platform)
    try:
        feed(platform, dispatcher, [0.5])
    finally:
        dispatcher.close()
    (incident,) = list_alerts(platform, SYSTEM, "default")
    assert incident.action_status == status
    assert needle in str(incident.action_detail)


def test_a_missing_program_is_a_failed_action(platform: Platform, tmp_path: Path) -> None:
    rule(platform, {"kind": "command", "argv": [str(tmp_path / "no-such-program")]})
    dispatcher = AlertDispatcher(platform)
    try:
        feed(platform, dispatcher, [0.5])
    finally:
        dispatcher.close()
    (incident,) = list_alerts(platform, SYSTEM, "default")
    assert incident.action_status == "failed"
    assert "FileNotFoundError" in str(incident.action_detail)


def test_registering_actions_checks_names_and_duplicates() -> None:
    register_retraining_action("once", lambda context: None)
    try:
        with pytest.raises(AlreadyExists):
            register_retraining_action("once", lambda context: None)
        register_retraining_action("once", lambda context: None, replace=True)
    finally:
        unregister_retraining_action("once")
    with pytest.raises(NotFound):
        unregister_retraining_action("once")
    for name in ("", "has space", "x" * 101, None):
        with pytest.raises(InvalidArgument):
            register_retraining_action(name, lambda context: None)  # type: ignore[arg-type]
    with pytest.raises(InvalidArgument):
        register_retraining_action("not-callable", "print")  # type: ignore[arg-type]
