"""The monitoring pages of the web UI, in process: the monitors list with open alerts, the
create form, a monitor's dashboard (drift heatmap, detail, quality, fairness, infrastructure,
rules, alerts), enable / disable / delete / evaluate, and the alerts page with acknowledge and
resolve (permissions, CSRF, bad input shown with nothing written, hostile names escaped).

The data is real: a registered model with its training profile, prediction windows recorded
the way serving records them (the second with a drifted ``amount``), a monitor that evaluated
them and an alert rule on the drift share that fired. ``test_ui_monitoring_browser`` opens
the same dashboard in Chromium.
"""

from __future__ import annotations

import datetime as dt
import html
import re
from collections.abc import Callable, Iterator

import numpy as np
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import update

from mlsteward._schema import load_all_tables
from mlsteward.monitoring import (
    Monitor,
    create_alert_rule,
    create_monitor,
    evaluate_monitor,
    get_monitor,
    list_alerts,
    list_monitor_results,
    list_monitors,
)
from mlsteward.monitoring._serving_stats import ServingStats
from mlsteward.monitoring._tables import monitor_results
from mlsteward.platform import Platform
from mlsteward.security import SYSTEM, add_member, create_user
from mlsteward.security import create_admin as create_admin_user
from mlsteward.server import create_app
from mlsteward.settings import Settings

from ..monitoring._monitor_support import inputs, record_window, register_model
from ._state import platform_state
from ._support import cheap_password_hashing

load_all_tables()

PASSWORD = "monitoring-ui-password-1"
CSRF_RE = re.compile(r'name="csrf_token" value="([^"]*)"')
START = dt.datetime(2026, 1, 1, 10, 0, tzinfo=dt.UTC)
MINUTE = dt.timedelta(minutes=1)
HOSTILE = '<img src=x onerror="alert(1)">&age'
LIST = "/projects/default/monitoring"
PAGE = f"{LIST}/fraud-watch"
ALERTS = "/projects/default/alerts"


def seed_monitoring(platform: Platform) -> Monitor:
    """Model ``fraud`` v1 (its training profile has ``amount``, a hostile-named column and
    ``country``); monitor ``fraud-watch`` with quality and fairness evaluated on a calm window
    and a window whose ``amount`` drifted; rule ``drift high`` (share of drifted columns >
    0.2) fired on the second."""

    def frame(rows: int, seed: int, shift: float = 0.0):  # type: ignore[no-untyped-def]
        return inputs(rows, seed, amount_shift=shift).rename(columns={"age": HOSTILE})

    register_model(platform, training=frame(3000, 0))
    monitor = create_monitor(
        platform, SYSTEM, "default", "fraud-watch", model_name="fraud", model_version=1,
        window_seconds=60, quality={"task": "classification", "positive_label": 1},
        fairness={"sensitive": "country", "min_rows": 10},
    )  # fmt: skip
    create_alert_rule(
        platform, SYSTEM, "default", monitor_id=monitor.id, name="drift high",
        metric="drift.share_drifted", op=">", value=0.2, severity="critical",
    )  # fmt: skip
    calm = frame(600, 1)
    predictions = (calm[HOSTILE] > 40).astype(int).to_numpy()
    labels: dict[str, object] = {
        f"p{i}": int(predictions[i]) if i % 4 else 1 - int(predictions[i]) for i in range(600)
    }
    record_window(platform, START, calm, predictions, labels=labels, serving=CALM_SERVING)
    record_window(
        platform, START + MINUTE, frame(600, 2, 40.0), np.zeros(600, int), prefix="q",
        serving=BUSY_SERVING,
    )  # fmt: skip
    for minute in range(2):
        evaluate_monitor(platform, SYSTEM, "default", "fraud-watch", START + minute * MINUTE)
    return monitor


def _serving(answers: list[tuple[float, int]]) -> ServingStats:
    stats = ServingStats()
    for seconds, status in answers:
        stats.observe(seconds, status)
    return stats


CALM_SERVING = _serving([(0.004, 200)] * 90)
# The drifted window: 180 requests in its minute, 9 answered 500 and 3 refused (400); most
# in 20 ms, the slowest tenth in 0.8 s.
BUSY_SERVING = _serving(
    [(0.02, 200)] * 150 + [(0.02, 400)] * 3 + [(0.8, 200)] * 18 + [(0.8, 500)] * 9
)


@pytest.fixture(autouse=True)
def _cheap_hashing() -> Iterator[None]:
    with cheap_password_hashing():
        yield


@pytest.fixture
def seeded(make_settings: Callable[..., Settings]) -> Iterator[Platform]:
    """The monitoring data above; alice maintains ``default``, vic views it, eve is no member."""
    platform = Platform.open(make_settings(auth_mode="required"))
    create_admin_user(platform, "admin", PASSWORD)
    for name, role in [("alice", "maintainer"), ("vic", "viewer")]:
        create_user(platform, SYSTEM, name, PASSWORD)
        add_member(platform, SYSTEM, "default", name, role)
    create_user(platform, SYSTEM, "eve", PASSWORD)
    seed_monitoring(platform)
    yield platform
    platform.close()


@pytest.fixture
def app(seeded: Platform) -> Iterator[TestClient]:
    with TestClient(create_app(seeded)) as client:
        yield client


def log_in(app: TestClient, username: str) -> TestClient:
    client = TestClient(app.app)
    form = client.get("/login")
    response = client.post(
        "/login",
        data={"username": username, "password": PASSWORD, "csrf_token": csrf_of(form.text)},
        follow_redirects=False,
    )
    assert response.status_code == 303, response.text
    return client


def csrf_of(page: str) -> str:
    match = CSRF_RE.search(page)
    assert match is not None, "no form with a CSRF token"
    return match.group(1)


def table(page: str, table_id: str) -> str:
    """The body rows of the page's table ``table_id``."""
    match = re.search(rf'<table class="table" id="{table_id}">.*?<tbody>(.*?)</tbody>', page, re.S)
    assert match is not None, f"no table #{table_id}"
    return match.group(1)


def text_of(fragment: str) -> str:
    return html.unescape(re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", fragment))).strip()


def firing(platform: Platform) -> str:
    found = list_alerts(platform, SYSTEM, "default", state="firing")
    assert len(found) == 1
    return found[0].id


# -- pages ------------------------------------------------------------------------------------


def test_the_list_shows_monitors_and_open_alerts(app: TestClient, seeded: Platform) -> None:
    latest = list_monitor_results(seeded, SYSTEM, "default", "fraud-watch")[-1]
    share = latest.metrics["drift.share_drifted"]
    assert share > 0.2
    client = log_in(app, "vic")
    landing = client.get("/monitoring", follow_redirects=False)
    assert (landing.status_code, landing.headers["location"]) == (303, LIST)
    page = client.get(LIST).text
    assert 'aria-current="page">Monitoring<' in page
    row = text_of(table(page, "monitors"))
    assert row.startswith("fraud-watch model fraud version 1 training 60 s yes ok ")
    assert row.endswith(f" {share * 100:.0f} % 1")  # the newest window's share; one open alert
    alerts = text_of(table(page, "open-alerts"))
    assert alerts.startswith("firing critical fraud-watch drift high drift.share_drifted > 0.2 ")
    assert "Acknowledge" not in page  # a viewer sees no forms
    assert 'id="create-monitor"' not in page
    assert "arrives with the monitoring subsystem" not in page


def test_the_dashboard_shows_heatmap_detail_quality_fairness_and_alerts(app: TestClient) -> None:
    client = log_in(app, "vic")
    page = client.get(PAGE).text
    heatmap = re.search(r'<svg class="heatmap.*?</svg>', page, re.S)
    assert heatmap is not None
    # One row per feature (amount, the hostile one, country, prediction), two windows each.
    assert heatmap.group(0).count('class="hm-row"') == 4
    assert heatmap.group(0).count('class="cell ') == 8
    assert heatmap.group(0).count('class="cell drifted"') >= 1
    for section in ("summary", "drift", "features", "quality", "fairness", "infra"):
        assert f'id="{section}"' in page, section
    assert "label coverage" in page
    assert page.count('<figure class="dist"') == 4  # reference-vs-current per feature
    assert page.count('class="chart bars"') >= 3
    assert "accuracy" in page
    assert 'id="report-data"' in page
    assert '<script src="/monitoring/report.js" defer></script>' in page
    assert text_of(table(page, "alert-rules")) == (
        "drift high drift.share_drifted > 0.2 critical 3600 s yes —"
    )
    assert 'id="create-rule"' not in page  # a viewer reads the rules, no forms
    assert "Disable" not in page
    assert text_of(table(page, "monitor-alerts")).startswith("firing critical fraud-watch")
    link = re.search(r'id="report-link" href="([^"]+)"', page)
    assert link is not None
    report = client.get(html.unescape(link.group(1)))
    assert report.status_code == 200
    assert report.headers["content-disposition"] == 'attachment; filename="fraud-watch-report.html"'
    assert report.text.count('class="cell drifted"') == page.count('class="cell drifted"')
    assert "Evaluate now" not in page
    script = client.get("/monitoring/report.js")
    assert script.status_code == 200
    assert script.headers["content-type"].startswith("text/javascript")
    assert "report-data" in script.text


def test_the_dashboard_shows_the_infrastructure_health_over_time(app: TestClient) -> None:
    page = log_in(app, "vic").get(PAGE).text
    infra = page[page.index('id="infra"') :]
    for label in ("latency percentiles per window (ms)", "requests per second per window",
                  "error rate per window"):  # fmt: skip
        chart = re.search(rf'aria-label="{re.escape(label)}">(.*?)</svg>', infra, re.S)
        assert chart is not None, label
        assert '<polyline class="line' in chart.group(1), label  # a line over both windows
    p50, p95, p99 = (BUSY_SERVING.percentile(q) or 0.0 for q in (50, 95, 99))
    assert text_of(table(page, "infra-latest")) == (
        f"latency p50 {p50 * 1000:.4g} ms latency p95 {p95 * 1000:.4g} ms "
        f"latency p99 {p99 * 1000:.4g} ms requests/s 3 error rate (5xx) 5.00% "
        "client errors (4xx) 3"
    )
    assert 20 <= p50 * 1000 < 23
    assert 800 <= p99 * 1000 < 900


def test_the_report_link_is_hidden_without_the_report_route(app: TestClient) -> None:
    client = log_in(app, "vic")
    assert 'id="report-link"' in client.get(PAGE).text
    app.app.state.monitor_report_route = False  # type: ignore[attr-defined]  # as if absent
    page = client.get(PAGE).text
    assert 'id="report-link"' not in page
    assert 'id="heatmap"' in page  # the dashboard itself does not need it


def test_a_malformed_stored_result_leaves_the_rest_of_the_page(
    app: TestClient, seeded: Platform
) -> None:
    with seeded.db.write() as conn:
        conn.execute(update(monitor_results).values(report={"drift": {"columns": "<b>x</b>"}}))
    response = log_in(app, "alice").get(PAGE)
    assert response.status_code == 200
    assert 'id="charts-problem"' in response.text
    assert "result drift.columns must be a list" in response.text
    assert 'id="heatmap"' not in response.text
    assert text_of(table(response.text, "monitor-alerts")).startswith("firing critical")
    assert "Acknowledge" in response.text


def test_hostile_column_names_are_escaped(app: TestClient) -> None:
    page = log_in(app, "vic").get(PAGE).text
    assert HOSTILE not in page
    assert "<img" not in page
    assert html.escape(HOSTILE) in page  # the feature's detail and selector name it, escaped
    assert "\\u003cimg src=x" in page  # in the embedded JSON too


def test_outsiders_and_strangers_are_refused(app: TestClient) -> None:
    eve = log_in(app, "eve")
    for path in (LIST, PAGE, ALERTS):
        response = eve.get(path)
        assert response.status_code == 403, path
        assert "text/html" in response.headers["content-type"]
    missing = log_in(app, "vic").get(f"{LIST}/no-such-monitor")
    assert missing.status_code == 404
    assert "no monitor named &#39;no-such-monitor&#39;" in missing.text
    anonymous = TestClient(app.app).get(PAGE, follow_redirects=False)
    assert anonymous.status_code == 303
    assert anonymous.headers["location"].startswith("/login")


def test_hostile_monitor_and_project_names_in_the_path_are_escaped(app: TestClient) -> None:
    client = log_in(app, "vic")
    bad_name = client.get(f"{LIST}/%3Cscript%3Ealert(1)%3Cb%3E")
    assert bad_name.status_code == 400
    assert "monitor name &#39;&lt;script&gt;alert(1)&lt;b&gt;&#39; is not valid" in bad_name.text
    assert "<script>alert" not in bad_name.text
    bad_project = client.get("/projects/%3Cb%3Eevil/monitoring")
    assert bad_project.status_code == 404
    assert "<b>evil" not in bad_project.text
    picked = client.get("/monitoring?project=%3Cb%3Eevil%3C%2Fb%3E")
    assert picked.status_code == 400
    assert "<b>evil" not in picked.text


def test_alerts_page_filters_by_state(app: TestClient) -> None:
    client = log_in(app, "vic")
    assert client.get("/alerts", follow_redirects=False).headers["location"] == ALERTS
    page = client.get(ALERTS).text
    assert "Acknowledge" not in page  # a viewer sees no forms
    rows = text_of(table(page, "alerts"))
    assert rows.startswith("firing critical fraud-watch drift high")
    assert text_of(table(client.get(f"{ALERTS}?state=resolved").text, "alerts")) == "No alerts."
    bad = client.get(f"{ALERTS}?state=<b>gone</b>")
    assert bad.status_code == 400
    assert "state must be one of open, firing, acknowledged, resolved" in html.unescape(bad.text)
    assert "<b>gone" not in bad.text


# -- acknowledge and resolve ------------------------------------------------------------------


def test_a_maintainer_acknowledges_then_resolves_from_the_dashboard(
    app: TestClient, seeded: Platform
) -> None:
    client = log_in(app, "alice")
    alert_id = firing(seeded)
    page = client.get(PAGE).text
    assert "Acknowledge" in page
    response = client.post(
        f"{ALERTS}/{alert_id}/acknowledge",
        data={"csrf_token": csrf_of(page), "back": "fraud-watch"},
        follow_redirects=False,
    )
    assert (response.status_code, response.headers["location"]) == (303, PAGE)
    shown = client.get(PAGE).text
    assert f"Alert {alert_id[:8]} acknowledged by alice." in shown
    assert text_of(table(shown, "monitor-alerts")).startswith("acknowledged critical")
    (alert,) = list_alerts(seeded, SYSTEM, "default")
    assert (alert.state.value, alert.acknowledged_by) == ("acknowledged", "alice")

    # Acknowledging again is a conflict, shown on the page it came from.
    again = client.post(
        f"{ALERTS}/{alert_id}/acknowledge", data={"csrf_token": csrf_of(shown), "back": ""}
    )
    assert again.status_code == 409
    assert "only a firing alert can be acknowledged" in again.text
    assert 'id="alerts"' in again.text

    resolved = client.post(
        f"{ALERTS}/{alert_id}/resolve", data={"csrf_token": csrf_of(shown), "back": ""}
    )
    assert resolved.status_code == 200
    assert str(resolved.url).endswith(ALERTS)
    assert text_of(table(resolved.text, "alerts")).startswith("resolved critical")
    assert list_alerts(seeded, SYSTEM, "default")[0].resolved_by == "alice"


def test_alert_forms_need_csrf_and_a_maintainer(app: TestClient, seeded: Platform) -> None:
    alert_id = firing(seeded)
    alice = log_in(app, "alice")
    alice.get(PAGE)
    vic = log_in(app, "vic")
    before = platform_state(seeded)
    for token in ("", "forged"):
        refused = alice.post(f"{ALERTS}/{alert_id}/acknowledge", data={"csrf_token": token})
        assert refused.status_code == 403
    page = vic.get(ALERTS).text
    refused = vic.post(
        f"{ALERTS}/{alert_id}/resolve", data={"csrf_token": csrf_of(page), "back": "fraud-watch"}
    )
    assert refused.status_code == 403
    assert 'id="monitor-alerts"' in refused.text  # shown on the monitor page it came from
    bad_id = alice.post(
        f"{ALERTS}/not-an-id/resolve", data={"csrf_token": csrf_of(alice.get(ALERTS).text)}
    )
    assert bad_id.status_code == 400
    assert platform_state(seeded) == before


# -- monitor actions --------------------------------------------------------------------------


def form_data(**given: str) -> dict[str, str]:
    data = {
        "name": "new-watch", "target": "model", "deployment": "", "model_name": "fraud",
        "model_version": "1", "reference_kind": "training", "reference_dataset": "",
        "reference_version": "", "reference_since": "", "reference_until": "",
        "window_seconds": "300", "quality_task": "", "positive_label": "", "sensitive": "",
        "favourable": "",
    }  # fmt: skip
    return data | given


def test_a_maintainer_creates_a_monitor_from_the_form(app: TestClient, seeded: Platform) -> None:
    client = log_in(app, "alice")
    page = client.get(LIST).text
    assert 'id="create-monitor"' in page
    response = client.post(
        LIST,
        data=form_data(
            csrf_token=csrf_of(page),
            quality_task="classification",
            positive_label="1",
            sensitive="country",
            favourable='"yes"',
        ),
        follow_redirects=False,
    )
    assert (response.status_code, response.headers["location"]) == (303, f"{LIST}/new-watch")
    created = get_monitor(seeded, SYSTEM, "default", "new-watch")
    assert (created.model_name, created.model_version, created.window_seconds) == (
        "fraud",
        "1",
        300,
    )
    assert created.quality is not None
    assert created.quality["positive_label"] == 1
    assert created.fairness == {"sensitive": "country", "favourable": "yes", "min_rows": 30}
    shown = client.get(f"{LIST}/new-watch").text
    assert "Monitor new-watch created." in shown
    assert 'id="no-data"' in shown  # nothing evaluated yet


@pytest.mark.parametrize(
    ("given", "status", "message"),
    [
        ({"name": "bad name!"}, 400, "monitor name 'bad name!' is not valid"),
        ({"window_seconds": "ten"}, 400, "the window must be a whole number, not 'ten'"),
        ({"window_seconds": "5"}, 400, "window_seconds must be a whole number from 60"),
        ({"model_name": "nope"}, 404, "nope"),
        ({"target": "deployment", "deployment": ""}, 400, "deployment"),
        ({"reference_kind": "dataset", "reference_dataset": "d", "reference_version": "x"},
         400, "the dataset version must be a whole number"),
        ({"reference_kind": "windows", "reference_since": "yesterday"}, 400,
         "reference.since must be an ISO 8601 time"),
        ({"reference_kind": "<i>x</i>"}, 400, "reference kind must be training, dataset"),
        ({"quality_task": "guessing"}, 400, "quality task must be classification or regression"),
        ({"name": "fraud-watch"}, 409, "already has a monitor named 'fraud-watch'"),
    ],
    ids=[
        "bad-name", "window-text", "window-small", "unknown-model", "no-deployment",
        "dataset-version-text", "windows-time", "hostile-kind", "bad-task", "taken-name",
    ],
)  # fmt: skip
def test_bad_input_on_the_create_form_is_shown_and_nothing_written(
    app: TestClient, seeded: Platform, given: dict[str, str], status: int, message: str
) -> None:
    client = log_in(app, "alice")
    token = csrf_of(client.get(LIST).text)
    before = platform_state(seeded)
    response = client.post(LIST, data=form_data(csrf_token=token, **given))
    assert response.status_code == status
    assert message in html.unescape(response.text)
    assert 'class="flash flash-error"' in response.text
    assert "<i>x</i>" not in response.text
    assert 'id="create-monitor"' in response.text  # the form again, with what was typed
    assert platform_state(seeded) == before


def test_create_needs_csrf_and_a_maintainer(app: TestClient, seeded: Platform) -> None:
    alice = log_in(app, "alice")
    alice.get(LIST)
    vic = log_in(app, "vic")
    before = platform_state(seeded)
    assert alice.post(LIST, data=form_data(csrf_token="forged")).status_code == 403
    refused = vic.post(LIST, data=form_data(csrf_token=csrf_of(vic.get(ALERTS).text)))
    assert refused.status_code == 403
    assert platform_state(seeded) == before


@pytest.mark.parametrize(
    ("action", "data"),
    [
        ("enabled", {"enabled": "false"}),
        ("evaluate", {}),
        ("delete", {}),
    ],
    ids=["enabled", "evaluate", "delete"],
)
def test_monitor_forms_need_csrf_and_a_maintainer(
    app: TestClient, seeded: Platform, action: str, data: dict[str, str]
) -> None:
    alice = log_in(app, "alice")
    alice.get(PAGE)
    vic = log_in(app, "vic")
    token = csrf_of(vic.get(ALERTS).text)
    before = platform_state(seeded)
    for forged in ("", "forged"):
        assert (
            alice.post(f"{PAGE}/{action}", data={"csrf_token": forged, **data}).status_code == 403
        )
    refused = vic.post(f"{PAGE}/{action}", data={"csrf_token": token, **data})
    assert refused.status_code == 403
    assert 'class="flash flash-error"' in refused.text
    assert 'id="heatmap"' in refused.text  # the monitor page again, with the message
    assert platform_state(seeded) == before


def test_enable_disable_evaluate_and_delete(app: TestClient, seeded: Platform) -> None:
    client = log_in(app, "alice")
    page = client.get(PAGE).text
    token = csrf_of(page)
    assert "Evaluate now" in page
    disabled = client.post(f"{PAGE}/enabled", data={"csrf_token": token, "enabled": "false"})
    assert disabled.status_code == 200
    assert "Monitor fraud-watch is disabled." in disabled.text
    assert 'id="monitor-enabled">disabled<' in disabled.text
    assert get_monitor(seeded, SYSTEM, "default", "fraud-watch").enabled is False
    bad = client.post(f"{PAGE}/enabled", data={"csrf_token": token, "enabled": "maybe"})
    assert bad.status_code == 400
    assert "enabled must be true or false" in html.unescape(bad.text)
    client.post(f"{PAGE}/enabled", data={"csrf_token": token, "enabled": "true"})
    assert get_monitor(seeded, SYSTEM, "default", "fraud-watch").enabled is True

    evaluated = client.post(f"{PAGE}/evaluate", data={"csrf_token": token})
    assert evaluated.status_code == 200
    assert "Evaluated the window starting " in evaluated.text

    vic = log_in(app, "vic")
    refused = vic.post(f"{PAGE}/delete", data={"csrf_token": csrf_of(vic.get(ALERTS).text)})
    assert refused.status_code == 403
    assert [m.name for m in list_monitors(seeded, SYSTEM, "default")] == ["fraud-watch"]

    deleted = client.post(f"{PAGE}/delete", data={"csrf_token": token})
    assert str(deleted.url).endswith(LIST)
    assert "Monitor fraud-watch and its results are deleted." in deleted.text
    assert list_monitors(seeded, SYSTEM, "default") == []
    assert client.get(PAGE).status_code == 404


def test_a_dataset_monitor_is_listed_and_its_dashboard_shows(
    app: TestClient, seeded: Platform
) -> None:
    from mlsteward.data import log_table_version

    log_table_version(seeded, SYSTEM, "default", "transactions", inputs(300, 0))
    create_monitor(seeded, SYSTEM, "default", "data-watch", dataset="transactions")
    evaluate_monitor(seeded, SYSTEM, "default", "data-watch", dt.datetime.now(dt.UTC))
    client = log_in(app, "vic")
    rows = text_of(table(client.get(LIST).text, "monitors"))
    assert "data-watch dataset transactions dataset transactions v1 300 s yes" in rows
    page = client.get(f"{LIST}/data-watch")
    assert page.status_code == 200
    assert "dataset transactions (its new table versions)" in text_of(page.text)


def test_a_maintainer_creates_a_dataset_monitor_from_the_form(
    app: TestClient, seeded: Platform
) -> None:
    from mlsteward.data import log_table_version

    log_table_version(seeded, SYSTEM, "default", "transactions", inputs(300, 0))
    log_table_version(seeded, SYSTEM, "default", "transactions", inputs(300, 1))
    client = log_in(app, "alice")
    page = client.get(LIST).text
    assert '<input type="radio" name="target" value="dataset">' in page
    assert '<option value="transactions">' in page  # the project's datasets, suggested
    token = csrf_of(page)
    watched = form_data(
        csrf_token=token, name="data-watch", target="dataset", dataset=" transactions ",
        reference_kind="", model_name="", model_version="",
    )  # fmt: skip
    response = client.post(LIST, data=watched, follow_redirects=False)
    assert (response.status_code, response.headers["location"]) == (303, f"{LIST}/data-watch")
    created = get_monitor(seeded, SYSTEM, "default", "data-watch")
    assert (created.dataset, created.model_name, created.deployment) == ("transactions", None, None)
    assert created.reference == {"kind": "dataset", "name": "transactions", "version": 1}

    chosen = watched | {
        "name": "data-watch-2", "reference_kind": "dataset", "reference_dataset": "transactions",
        "reference_version": "2",
    }  # fmt: skip
    assert client.post(LIST, data=chosen, follow_redirects=False).status_code == 303
    second = get_monitor(seeded, SYSTEM, "default", "data-watch-2")
    assert second.reference == {"kind": "dataset", "name": "transactions", "version": 2}
    rows = text_of(table(client.get(LIST).text, "monitors"))
    assert "data-watch dataset transactions dataset transactions v1" in rows
    assert "data-watch-2 dataset transactions dataset transactions v2" in rows


def test_the_default_reference_of_a_model_monitor_is_its_training_profile(
    app: TestClient, seeded: Platform
) -> None:
    client = log_in(app, "alice")
    token = csrf_of(client.get(LIST).text)
    response = client.post(
        LIST, data=form_data(csrf_token=token, reference_kind=""), follow_redirects=False
    )
    assert response.status_code == 303
    assert get_monitor(seeded, SYSTEM, "default", "new-watch").reference == {"kind": "training"}


BAD_DATASET_MONITORS = [
    ("unknown", {"dataset": "nowhere"}, 404, "nowhere"),
    ("empty-name", {"dataset": ""}, 400, "invalid dataset name ''"),
    ("training-reference", {"reference_kind": "training"}, 400,
     "has no model, so no training profile"),
    ("quality", {"quality_task": "classification"}, 400, "a dataset monitor compares drift only"),
    ("fairness", {"sensitive": "country"}, 400, "a dataset monitor compares drift only"),
    ("hostile-target", {"target": "<i>x</i>"}, 400, "watch a deployment, a model or a dataset"),
]  # fmt: skip


@pytest.mark.parametrize(
    ("given", "status", "message"),
    [b[1:] for b in BAD_DATASET_MONITORS],
    ids=[b[0] for b in BAD_DATASET_MONITORS],
)
def test_a_bad_dataset_monitor_is_shown_and_nothing_written(
    app: TestClient, seeded: Platform, given: dict[str, str], status: int, message: str
) -> None:
    from mlsteward.data import log_table_version

    log_table_version(seeded, SYSTEM, "default", "transactions", inputs(300, 0))
    client = log_in(app, "alice")
    token = csrf_of(client.get(LIST).text)
    before = platform_state(seeded)
    data = form_data(
        csrf_token=token, target="dataset", dataset="transactions", reference_kind="",
        model_name="", model_version="",
    ) | given  # fmt: skip
    response = client.post(LIST, data=data)
    assert response.status_code == status
    assert message in html.unescape(response.text)
    assert 'class="flash flash-error"' in response.text
    assert "<i>x</i>" not in response.text
    assert 'id="create-monitor"' in response.text
    assert platform_state(seeded) == before
