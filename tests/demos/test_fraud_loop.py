"""The fraud-detection loop end to end, in a reduced size, on an embedded platform in a temporary
home with a real supervised deployment server on 127.0.0.1: the shifted traffic drifts and the
recall falls, the alert fires and its retraining action trains, registers, passes the production
policy and rolls the new version out as a canary that is promoted; lineage leads from the alert
to the new deployment revision; the audit chain verifies. A second run, through the CLI, after
the deployment's processes ended, reuses everything and closes the loop again."""

from __future__ import annotations

import contextlib
import datetime as dt
import json
import os
import signal
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from typer.testing import CliRunner

from mlsteward.cli import app
from mlsteward.client import Client
from mlsteward.data import lineage_downstream, lineage_upstream
from mlsteward.demos import FEATURES, generate_transactions
from mlsteward.demos._fraud_demo import (
    ACTION,
    APPROVER,
    DEMO_SIZES,
    DEPLOYMENT,
    MODEL,
    MONITOR,
    PROJECT,
    REQUESTER,
    DemoSize,
    FraudDemoResult,
    run_fraud_demo,
)
from mlsteward.demos._fraud_loop import (
    LOG_WINDOW_SECONDS,
    replay_traffic,
    seconds_until_fresh_window,
)
from mlsteward.deployments._supervisor import DeploymentFolder, stop_supervisor
from mlsteward.errors import InvalidArgument
from mlsteward.monitoring import list_alerts, unregister_retraining_action
from mlsteward.monitoring._alert_actions import registered_actions
from mlsteward.platform import Platform
from mlsteward.registry import RequestStatus
from mlsteward.security import SYSTEM, list_audit_events, list_tokens
from mlsteward.server import create_app
from mlsteward.settings import Settings, load_settings

from ..server import test_ui_browser as harness
from ..server._live_server import serve
from ..server._support import cheap_password_hashing

SEED = 11

browser = harness.browser
tab = harness.tab


@pytest.fixture(scope="module")
def home(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    home = tmp_path_factory.mktemp("fraud-loop") / "home"
    try:
        yield home
    finally:
        if ACTION in registered_actions():
            unregister_retraining_action(ACTION)
        stop_supervisor(load_settings(home=home), PROJECT, DEPLOYMENT, timeout=40)
        state = DeploymentFolder.of(home, PROJECT, DEPLOYMENT).read_state()
        for key in ("server_pid", "supervisor_pid"):
            pid = state.get(key)
            if isinstance(pid, int):
                with contextlib.suppress(ProcessLookupError):
                    os.kill(pid, signal.SIGKILL)


@pytest.fixture(scope="module")
def settings(home: Path) -> Settings:
    return load_settings(home=home)


@pytest.fixture(scope="module")
def loop(settings: Settings) -> FraudDemoResult:
    with cheap_password_hashing():
        return run_fraud_demo(settings, size=DEMO_SIZES["small"], seed=SEED)


@pytest.fixture(scope="module")
def platform(settings: Settings, loop: FraudDemoResult) -> Iterator[Platform]:
    opened = Platform.open(settings)
    yield opened
    opened.close()


def _stage(result: FraudDemoResult, prefix: str) -> str:
    (detail,) = [s.detail for s in result.timeline if s.name.startswith(prefix)]
    return detail


def test_the_first_model_is_trained_approved_and_deployed(
    loop: FraudDemoResult, platform: Platform
) -> None:
    from mlsteward.registry import get_model_version, list_promotion_requests

    assert loop.first_version == 1
    first = get_model_version(platform, SYSTEM, PROJECT, MODEL, 1)
    assert first.package is not None
    assert first.package["verified"]
    (request,) = [
        r for r in list_promotion_requests(platform, SYSTEM, PROJECT, MODEL) if r.version == 1
    ]
    assert (request.requested_by, request.decided_by) == (REQUESTER, APPROVER)
    assert request.status == RequestStatus.APPLIED
    assert "valid" in _stage(loop, "candidates: version and validate data")


def test_the_shifted_traffic_drifts_and_the_recall_falls(loop: FraudDemoResult) -> None:
    assert loop.drift_share > 0.3
    assert {"hour", "merchant_category", "transactions_last_24h"} <= set(loop.drifted_columns)
    assert loop.replay_recall < 0.6  # the model of pattern A misses pattern B
    assert loop.monitored_recall == pytest.approx(loop.replay_recall)  # every row was labelled
    assert loop.drift_alert_id is not None  # the drift rule fired too (it only notifies)


def test_the_recall_alert_fired_and_its_retraining_is_linked_in_lineage(
    loop: FraudDemoResult, platform: Platform
) -> None:
    from mlsteward.deployments import deployment_history, get_deployment
    from mlsteward.registry import get_model_version
    from mlsteward.tracking import get_experiment, get_run

    assert loop.alert_id is not None
    (alert,) = [a for a in list_alerts(platform, SYSTEM, PROJECT) if a.id == loop.alert_id]
    assert (alert.state, alert.action_status) == ("firing", "succeeded")
    assert alert.last_value == pytest.approx(loop.monitored_recall)
    assert loop.retrained_version == 2
    new = get_model_version(platform, SYSTEM, PROJECT, MODEL, 2)
    assert new.source_run_id == loop.retrain_run_id
    retraining = get_experiment(platform, SYSTEM, PROJECT, "retraining")
    assert get_run(platform, SYSTEM, new.source_run_id).experiment_id == retraining.id
    assert sorted(alert.action_detail["linked"]) == sorted(
        [f"run:{loop.retrain_run_id}", f"model_version:{new.id}"]
    )

    downstream = lineage_downstream(platform, SYSTEM, f"alert:{alert.id}", project=PROJECT)
    keys = {f"{n.node_type}:{n.node_id}" for n in downstream.nodes}
    assert {f"run:{loop.retrain_run_id}", f"model_version:{new.id}"} <= keys
    assert any(n.node_type == "deployment" for n in downstream.nodes)  # the new revision
    upstream = lineage_upstream(platform, SYSTEM, f"model_version:{new.id}", project=PROJECT)
    assert f"alert:{alert.id}" in {f"{n.node_type}:{n.node_id}" for n in upstream.nodes}
    assert any(n.node_type == "dataset_version" for n in upstream.nodes)  # the fresh data

    # The promotions it led to: @production on the new version and the deployment's promote,
    # linked at the revision of that promote.
    deployment = get_deployment(platform, SYSTEM, PROJECT, DEPLOYMENT)
    first = lineage_downstream(platform, SYSTEM, f"alert:{alert.id}", project=PROJECT, depth=1)
    promoted = {(e.target, e.relation) for e in first.edges if e.source == f"alert:{alert.id}"}
    assert promoted == {
        (f"run:{loop.retrain_run_id}", "triggered"),
        (f"model_version:{new.id}", "triggered"),
        (f"model_version:{new.id}", "promoted"),
        (f"deployment:{deployment.id}", "promoted"),
    }
    history = deployment_history(platform, SYSTEM, PROJECT, DEPLOYMENT)
    (promote,) = [e for e in history if e.kind == "promote"]  # the canary's, the only one
    assert loop.promoted_revision == promote.revision
    links = list_audit_events(platform, SYSTEM, action="monitoring.alert.link")
    by_node = {e.details["node"]: e for e in links if e.target_id == alert.id}
    assert by_node[f"deployment:{deployment.id}"].details["revision"] == promote.revision
    assert by_node[f"deployment:{deployment.id}"].actor_name == APPROVER
    assert by_node[f"model_version:{new.id}"].details["relation"] == "promoted"


def test_the_new_version_passed_the_policy_and_was_promoted_through_a_canary(
    loop: FraudDemoResult, settings: Settings
) -> None:
    canary = loop.canary
    assert canary is not None
    assert canary.promoted
    assert (canary.stable_version, canary.canary_version) == ("1", "2")
    assert canary.canary_recall > canary.stable_recall
    assert canary.replay.tally("2").rows > 0
    assert canary.replay.tally("1").rows > 0
    with Client(settings) as client:
        deployment = client.get_deployment(DEPLOYMENT, project=PROJECT)
        kinds = [e.kind for e in client.deployment_history(DEPLOYMENT, project=PROJECT)]
        production = client.resolve_model_uri(PROJECT, f"models:/{MODEL}@production")
    assert deployment.plan.stable == "2"
    assert [(r.version, r.weight) for r in deployment.plan.routes] == [("2", 100)]
    assert kinds[-2:] == ["rollout", "promote"]
    assert production.version == 2
    # Serving all traffic: every request is answered by the new version.
    records = generate_transactions(1_000, seed=SEED + 9, shift=1.0)[list(FEATURES)].head(5)
    for _ in range(10):
        answer = httpx.post(
            f"{deployment.url}/v1/models/{MODEL}/predict",
            json={"records": records.to_dict("records")},
            timeout=10,
        )
        assert answer.status_code == 200, answer.text
        assert answer.headers["X-Model-Version"] == "2"
    assert loop.alert_to_serving_seconds is not None
    assert loop.alert_to_serving_seconds > 0
    assert loop.alert_opened_at is not None
    assert loop.serving_all_at is not None
    assert loop.serving_all_at > loop.alert_opened_at


def test_the_audit_chain_verifies_and_records_the_loop(
    loop: FraudDemoResult, platform: Platform
) -> None:
    assert loop.audit_ok
    assert platform.audit.verify(platform.db).ok
    for action in ("monitoring.alert.open", "monitoring.alert.action", "deployment.promote"):
        assert list_audit_events(platform, SYSTEM, action=action), action
    names = [s.name for s in loop.timeline]
    assert names[-1] == "verify the audit chain"
    assert "canary 20 % and decide" in names
    assert ACTION not in registered_actions()  # its clients closed with the loop
    for username in (REQUESTER, APPROVER):  # the demo people's tokens ended with the loop
        tokens = list_tokens(platform, SYSTEM, username=username)
        assert tokens
        assert all(t.revoked_at is not None for t in tokens)


@pytest.fixture
def demo_ui(home: Path, loop: FraudDemoResult) -> Iterator[tuple[str, str, Platform]]:
    """The platform served as ``make demo`` serves it (login required) on the demo's home,
    and the administrator login ``make demo`` creates and prints: URL, password, platform."""
    with cheap_password_hashing():
        created = CliRunner().invoke(
            app,
            ["users", "create-admin", "admin", "--if-no-admin", "--json"],
            env={"MLSTEWARD_HOME": str(home)},
            catch_exceptions=False,
        )
        assert created.exit_code == 0, created.stderr
        password = json.loads(created.stdout)["password"]
        assert password  # the demo made no administrator: this is the login it prints
        served = Platform.open(load_settings(home=home, auth_mode="required"))
        try:
            with serve(create_app(served)) as url:
                yield url, password, served
        finally:
            served.close()


@pytest.mark.browser
def test_a_person_sees_the_loop_in_the_web_ui(
    tab: harness.Tab, demo_ui: tuple[str, str, Platform], loop: FraudDemoResult
) -> None:
    """After the demo, in real Chromium: the drift heatmap and the alerts of the monitor,
    the recall alert acknowledged from the alerts page, and the alert's lineage."""
    from mlsteward.monitoring import get_alert, list_monitor_results
    from mlsteward.registry import get_model_version

    url, password, served = demo_ui
    page = tab.page
    monitoring = f"/projects/{PROJECT}/monitoring"
    page.goto(f"{url}{monitoring}")
    assert "/login" in page.url
    page.get_by_label("Username").fill("admin")
    page.get_by_label("Password").fill(password)
    page.get_by_role("button", name="Log in").click()
    page.wait_for_url(f"{url}{monitoring}")

    # The monitor's dashboard: one heatmap row per feature, the drifted cells marked as the
    # stored results say (the replayed window's: the features the demo found drifted).
    page.get_by_role("link", name=MONITOR, exact=True).first.click()
    page.wait_for_url(f"{url}{monitoring}/{MONITOR}")
    results = list_monitor_results(served, SYSTEM, PROJECT, MONITOR)
    assert results
    heatmap = page.locator("svg#heatmap")
    assert heatmap.is_visible()
    columns = [c["column"] for c in results[-1].report["drift"]["columns"]]
    assert set(FEATURES) <= set(columns)  # and the prediction
    assert heatmap.locator("g.hm-row").count() == len(columns)
    for feature in columns:
        expected = sum(
            c["drifted"] for r in results for c in r.report["drift"]["columns"]
            if c["column"] == feature
        )  # fmt: skip
        assert expected >= (feature in loop.drifted_columns), feature
        row = heatmap.locator(f'g.hm-row[aria-label="Show {feature}"]')
        assert row.locator("rect.cell.drifted").count() == expected, feature
    assert loop.alert_id is not None
    assert loop.drift_alert_id is not None
    for alert_id, rule in ((loop.alert_id, "recall-drop"), (loop.drift_alert_id, "drift-share")):
        shown = page.locator(f'#monitor-alerts tr[data-alert="{alert_id}"]')
        assert shown.get_attribute("data-state") == "firing"
        assert rule in shown.inner_text()

    # The alerts page: the recall alert firing, acknowledged there.
    page.goto(f"{url}/projects/{PROJECT}/alerts")
    recall = page.locator(f'#alerts tr[data-alert="{loop.alert_id}"]')
    assert recall.get_attribute("data-state") == "firing"
    assert "critical" in recall.inner_text()
    recall.get_by_role("button", name="Acknowledge").click()
    page.wait_for_url(f"{url}/projects/{PROJECT}/alerts")
    assert page.get_by_role("status").first.inner_text().endswith("acknowledged by admin.")
    recall = page.locator(f'#alerts tr[data-alert="{loop.alert_id}"]')
    assert recall.get_attribute("data-state") == "acknowledged"
    assert "by admin" in recall.inner_text()
    assert recall.get_by_role("button", name="Acknowledge").count() == 0
    stored = get_alert(served, SYSTEM, PROJECT, loop.alert_id)
    assert (stored.state.value, stored.acknowledged_by) == ("acknowledged", "admin")
    drift = get_alert(served, SYSTEM, PROJECT, loop.drift_alert_id)
    assert drift.state.value == "firing"  # only the one clicked

    # The alert's lineage: the retraining run, the new version and the deployment it promoted.
    new = get_model_version(served, SYSTEM, PROJECT, MODEL, 2)
    page.goto(f"{url}/lineage?node=alert:{loop.alert_id}&project={PROJECT}&direction=downstream")
    graph = page.locator("svg#lineage-graph")
    assert graph.is_visible()
    keys = {
        graph.locator("g.lineage-node").nth(i).get_attribute("data-key")
        for i in range(graph.locator("g.lineage-node").count())
    }
    assert {
        f"alert:{loop.alert_id}", f"run:{loop.retrain_run_id}", f"model_version:{new.id}"
    } <= keys  # fmt: skip
    assert any(key is not None and key.startswith("deployment:") for key in keys)
    edges = page.locator("#lineage-edges tbody").inner_text()
    assert "triggered" in edges
    assert "promoted" in edges
    assert f"{MODEL} v2" in edges
    assert tab.errors == []  # no CSP violation, no script error


def test_a_second_run_through_the_cli_reuses_everything(
    loop: FraudDemoResult, home: Path, platform: Platform
) -> None:
    # The deployment's processes end as on a restart of the machine: it stays recorded as
    # running, and the second run has to start it again.
    assert stop_supervisor(load_settings(home=home), PROJECT, DEPLOYMENT, timeout=40)
    result = CliRunner().invoke(
        app,
        ["demo", "fraud", "--rows", "small", "--seed", str(SEED), "--no-keep-running", "--json"],
        env={"MLSTEWARD_HOME": str(home)},
        catch_exceptions=False,
    )
    assert result.exit_code == 0, result.stderr
    again = json.loads(result.stdout)
    assert (again["first_version"], again["retrained_version"]) == (3, 4)
    assert again["canary"]["promoted"] is True
    assert again["action_status"] == "succeeded"
    assert again["alert_to_serving_seconds"] > 0
    assert again["audit_ok"] is True
    assert again["alert_id"] != loop.alert_id
    assert next(s["stage"] for s in again["timeline"]) == "set up project and demo users"
    assert "canary 20 % and decide" in result.stderr  # the stages went to stderr
    with Client(load_settings(home=home)) as client:
        assert [d.name for d in client.list_deployments(PROJECT)] == [DEPLOYMENT]
        assert [m.name for m in client.list_monitors(PROJECT)] == [MONITOR]
        assert client.get_deployment(DEPLOYMENT, project=PROJECT).plan.stable == "4"


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        pytest.param({"seed": -1}, "seed must be a whole number", id="negative-seed"),
        pytest.param({"seed": True}, "seed must be a whole number", id="bool-seed"),
    ],
)
def test_a_bad_seed_is_refused_before_anything_is_written(
    tmp_path: Path, kwargs: dict[str, Any], message: str
) -> None:
    home = tmp_path / "home"
    with pytest.raises(InvalidArgument, match=message):
        run_fraud_demo(load_settings(home=home), size=DEMO_SIZES["small"], **kwargs)
    assert not home.exists()


@pytest.mark.parametrize(
    ("args", "message"),
    [
        pytest.param((100, 1_000), "train_rows must be a whole number >= 2000", id="few-rows"),
        pytest.param((6_000, 10), "replay_rows must be a whole number >= 1000", id="few-replay"),
        pytest.param((10**8, 1_000), "train_rows must be at most", id="too-many"),
        pytest.param((6_000, 1_000, ("svm",)), "candidates must be some of", id="unknown-model"),
        pytest.param((6_000, 1_000, ()), "candidates must be some of", id="no-model"),
    ],
)
def test_bad_demo_sizes_are_refused(args: tuple[Any, ...], message: str) -> None:
    with pytest.raises(InvalidArgument, match=message):
        DemoSize(*args)


def test_the_replay_refuses_bad_input_before_sending_anything() -> None:
    frame = generate_transactions(1_000, seed=1)
    # Port 9 (discard) is never reached: the arguments are checked first.
    with pytest.raises(InvalidArgument, match="batch_rows"):
        replay_traffic("http://127.0.0.1:9", MODEL, frame, batch_rows=0)
    with pytest.raises(InvalidArgument, match="is_fraud"):
        replay_traffic("http://127.0.0.1:9", MODEL, frame.drop(columns=["is_fraud"]))
    with pytest.raises(InvalidArgument, match="needs rows"):
        replay_traffic("http://127.0.0.1:9", MODEL, frame.head(0))


@pytest.mark.parametrize(
    ("second", "needed", "wait"),
    [
        pytest.param(10.0, 10.0, 0.0, id="room-left"),
        pytest.param(2.0, 10.0, 58.0 + LOG_WINDOW_SECONDS + 1, id="too-early"),
        pytest.param(50.0, 10.0, 10.0 + LOG_WINDOW_SECONDS + 1, id="too-late"),
    ],
)
def test_the_replay_waits_for_a_window_it_fits_in(
    second: float, needed: float, wait: float
) -> None:
    now = dt.datetime(2026, 11, 29, 12, 0, tzinfo=dt.UTC) + dt.timedelta(seconds=second)
    assert seconds_until_fresh_window(now, needed=needed) == pytest.approx(wait)
