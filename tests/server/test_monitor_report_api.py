"""A monitor's report over REST: the remote client reads the same report as in-process; the
route serves JSON, or the self-contained page as ``text/html`` with the page's own
Content-Security-Policy (an attachment only with ``download=1``); viewers read it, outsiders
and anonymous callers cannot; bad input is a 4xx with the error JSON and writes nothing."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from typing import Any

import numpy as np
import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from mlsteward.client import Client
from mlsteward.errors import InvalidArgument, NotFound
from mlsteward.monitoring import (
    MonitoringReport,
    create_alert_rule,
    create_monitor,
    evaluate_monitor,
    monitor_report,
)
from mlsteward.monitoring._report_assets import csp
from mlsteward.security import SYSTEM, add_member
from mlsteward.server import API_PREFIX

from ..monitoring._monitor_support import inputs, record_window, register_model
from ._live_server import serve
from ._state import platform_state
from ._support import SharedApi, assert_error_shape, bearer

API_SETTINGS = {"monitor_interval_seconds": 0}  # evaluations here are the tests' own
START = dt.datetime(2026, 1, 1, 10, 0, tzinfo=dt.UTC)
MINUTE = dt.timedelta(minutes=1)
REPORT = f"{API_PREFIX}/projects/default/monitors/watch/report"


@pytest.fixture(scope="module")
def app(shared_api: SharedApi) -> FastAPI:
    """A monitor ``watch`` with two evaluated windows, the second drifted, which opened an
    incident of its rule ``amount-drift``."""
    platform = shared_api.platform
    register_model(platform, training=inputs(3000, 0))
    monitor = create_monitor(
        platform, SYSTEM, "default", "watch", model_name="fraud", window_seconds=60
    )
    create_alert_rule(
        platform, SYSTEM, "default", monitor_id=monitor.id, name="amount-drift",
        metric="drift.column.amount.drifted", value=0.5, op=">=", notifiers=[{"kind": "log"}],
    )  # fmt: skip
    record_window(platform, START, inputs(600, 1), np.zeros(600, int))
    record_window(platform, START + MINUTE, inputs(600, 2, amount_shift=40), np.zeros(600, int))
    for minute in range(2):
        evaluate_monitor(platform, SYSTEM, "default", "watch", START + minute * MINUTE)
    return shared_api.app()


@pytest.fixture(scope="module")
def http(app: FastAPI) -> TestClient:
    return TestClient(app)


@pytest.fixture(scope="module")
def remote(app: FastAPI, shared_api: SharedApi) -> Iterator[Client]:
    with serve(app) as url:
        client = Client(server_url=url, token=shared_api.people.admin_token)
        yield client
        client.close()


def _same(a: MonitoringReport, b: MonitoringReport) -> None:
    """The same report but for when each was generated and the shares of the merged current
    windows, which the quantile sketches' randomised merge moves within their rank error."""
    left, right = a.to_json(), b.to_json()
    for side in (left, right):
        side["generated_at"] = None
    mine, theirs = left.pop("distributions"), right.pop("distributions")
    assert left == right
    assert [{**d, "current": None} for d in mine] == [{**d, "current": None} for d in theirs]
    for one, other in zip(mine, theirs, strict=True):
        assert one["current"] == pytest.approx(other["current"], abs=0.03)


def test_the_remote_client_reads_the_report_the_service_makes(
    remote: Client, shared_api: SharedApi
) -> None:
    here = monitor_report(shared_api.platform, SYSTEM, "default", "watch")
    there = remote.monitor_report("watch")
    _same(there, here)
    assert len(there.windows) == 2
    assert there.windows[1].drift is not None
    assert "amount" in there.windows[1].drift.drifted_names()
    assert "amount" in {d.column for d in there.distributions}
    assert [a["rule"] for a in there.alerts] == ["amount-drift"]

    later = remote.monitor_report("watch", since=START + MINUTE, until=START + 2 * MINUTE)
    assert [w.start for w in later.windows] == [START + MINUTE]
    capped = remote.monitor_report("watch", max_windows=1)
    assert "the newest 1 of the 2" in capped.subject["note"]


def test_json_and_html_with_the_pages_own_policy(http: TestClient, shared_api: SharedApi) -> None:
    headers = bearer(shared_api.people.admin_token)
    as_json = http.get(REPORT, headers=headers)
    assert as_json.status_code == 200, as_json.text
    assert as_json.headers["content-type"] == "application/json"
    assert "content-disposition" not in as_json.headers
    report = MonitoringReport.from_json(as_json.json())
    assert report.subject["monitor"] == "watch"

    page = http.get(REPORT, params={"format": "html"}, headers=headers)
    assert page.status_code == 200, page.text
    assert page.headers["content-type"] == "text/html; charset=utf-8"
    assert page.headers["content-security-policy"] == csp()
    assert "content-disposition" not in page.headers
    assert page.text.startswith("<!DOCTYPE html>")
    assert '<section id="drift">' in page.text
    assert page.text.count('class="cell drifted"') >= 1
    assert "amount-drift" in page.text

    saved = http.get(REPORT, params={"format": "html", "download": "1"}, headers=headers)
    assert saved.headers["content-disposition"] == 'attachment; filename="watch-report.html"'
    saved_json = http.get(REPORT, params={"download": "1"}, headers=headers)
    assert saved_json.headers["content-disposition"] == 'attachment; filename="watch-report.json"'


def test_viewers_read_the_report_outsiders_cannot(http: TestClient, shared_api: SharedApi) -> None:
    platform = shared_api.platform
    token = shared_api.people.token_for("report-viewer")
    add_member(platform, SYSTEM, "default", "report-viewer", "viewer")
    for fmt in ("json", "html"):
        assert http.get(REPORT, params={"format": fmt}, headers=bearer(token)).status_code == 200
    outsider = bearer(shared_api.people.outsider_token)
    assert_error_shape(http.get(REPORT, headers=outsider), 403, "permission_denied")
    assert http.get(REPORT, headers={}).status_code == 401


BAD_QUERIES: list[tuple[str, str, dict[str, Any], int, str]] = [
    ("format", REPORT, {"format": "pdf"}, 400, "format must be json or html"),
    ("since-text", REPORT, {"since": "yesterday"}, 400, "since"),
    ("since-naive", REPORT, {"since": "2026-01-01T10:00:00"}, 400, "since"),
    ("until-naive", REPORT, {"until": "2026-01-01T10:00:00", "format": "html"}, 400, "until"),
    (
        "since-after-until",
        REPORT,
        {"since": "2026-01-02T00:00:00Z", "until": "2026-01-01T00:00:00Z"},
        400,
        "before until",
    ),
    ("max-windows-zero", REPORT, {"max_windows": 0}, 400, "max_windows"),
    ("max-windows-huge", REPORT, {"max_windows": 10_001}, 400, "max_windows"),
    ("unknown-monitor", REPORT.replace("/watch/", "/ghost/"), {}, 404, "ghost"),
    ("unknown-project", REPORT.replace("/default/", "/nowhere/"), {}, 404, "nowhere"),
]


@pytest.mark.parametrize(
    ("path", "params", "status", "message"),
    [b[1:] for b in BAD_QUERIES],
    ids=[b[0] for b in BAD_QUERIES],
)
def test_bad_queries_are_refused_and_nothing_is_written(
    http: TestClient,
    shared_api: SharedApi,
    path: str,
    params: dict[str, Any],
    status: int,
    message: str,
) -> None:
    before = platform_state(shared_api.platform)
    response = http.get(path, params=params, headers=bearer(shared_api.people.admin_token))
    error = assert_error_shape(response, status)
    assert message in error["message"] or message in str(error["details"])
    assert platform_state(shared_api.platform) == before


def test_remote_errors_are_the_services_own(remote: Client) -> None:
    with pytest.raises(InvalidArgument, match="timezone-aware"):
        remote.monitor_report("watch", since=dt.datetime(2026, 1, 1))
    with pytest.raises(InvalidArgument, match="before until"):
        remote.monitor_report("watch", since=START, until=START)
    with pytest.raises(NotFound, match="ghost"):
        remote.monitor_report("ghost")
    with pytest.raises(InvalidArgument, match="monitor name"):
        remote.monitor_report("a/b")
