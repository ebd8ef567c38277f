"""A monitor's report (``monitor_report``), on SQLite and PostgreSQL: a monitor evaluates
recorded prediction windows, one drifted, and an alert rule fires on it; the report holds the
windows, the drifted cells, the reference-vs-current distributions and the incident, within
the range asked for and capped at ``max_windows``; bad input is refused."""

from __future__ import annotations

import datetime as dt
import itertools
from typing import Any

import numpy as np
import pytest

from mlsteward.errors import InvalidArgument, NotFound, PermissionDenied
from mlsteward.monitoring import (
    FeatureDistribution,
    MonitoringReport,
    create_alert_rule,
    create_monitor,
    evaluate_monitor,
    list_monitor_results,
    monitor_report,
    render_report_html,
)
from mlsteward.platform import Platform
from mlsteward.security import SYSTEM, create_user, list_audit_events

from ..server._support import cheap_password_hashing
from ._monitor_support import inputs, record_window, register_model, user

START = dt.datetime(2026, 1, 1, 10, 0, tzinfo=dt.UTC)
MINUTE = dt.timedelta(minutes=1)


def _seed(platform: Platform) -> None:
    """Three evaluated one-minute windows from START; the second drifted (``amount`` +40),
    which opened an incident of the rule ``amount-drift``, resolved by the third."""
    register_model(platform, training=inputs(3000, 0))
    monitor = create_monitor(
        platform, SYSTEM, "default", "fraud-watch", model_name="fraud", model_version=1,
        window_seconds=60, quality={"task": "classification", "positive_label": 1},
    )  # fmt: skip
    create_alert_rule(
        platform, SYSTEM, "default", monitor_id=monitor.id, name="amount-drift",
        metric="drift.column.amount.drifted", value=0.5, op=">=", severity="critical",
        notifiers=[{"kind": "log"}],
    )  # fmt: skip
    calm = inputs(600, 1)
    predictions = (calm["age"] > 40).astype(int).to_numpy()
    labels: dict[str, object] = {f"p{i}": int(predictions[i]) for i in range(600)}
    record_window(platform, START, calm, predictions, labels=labels)
    record_window(platform, START + MINUTE, inputs(600, 2, amount_shift=40.0), np.zeros(600, int))
    record_window(platform, START + 2 * MINUTE, calm, predictions, prefix="c")
    for minute in range(3):
        evaluate_monitor(platform, SYSTEM, "default", "fraud-watch", START + minute * MINUTE)


def _mean(distribution: FeatureDistribution, side: str) -> float:
    """The mean of a numeric distribution's side, from its bucket midpoints."""
    edges = distribution.edges
    shares: tuple[float, ...] = getattr(distribution, side)
    mids = [(a + b) / 2 for a, b in itertools.pairwise(edges)]
    return sum(m * s for m, s in zip(mids, shares, strict=True)) / sum(shares)


def test_the_report_holds_the_windows_drift_distributions_and_the_alert(
    backend_platform: Platform,
) -> None:
    platform = backend_platform
    _seed(platform)
    results = list_monitor_results(platform, SYSTEM, "default", "fraud-watch")
    report = monitor_report(platform, SYSTEM, "default", "fraud-watch")

    assert report.title == "Monitor fraud-watch"
    assert report.subject == {
        "monitor": "fraud-watch",
        "model": "fraud",
        "version": "1",
        "reference": "training profile of fraud version 1",
    }
    assert [(w.start, w.end, w.rows) for w in report.windows] == [
        (START + i * MINUTE, START + (i + 1) * MINUTE, 600) for i in range(3)
    ]
    drifted = [w.drift.drifted_names() if w.drift else None for w in report.windows]
    assert drifted[1] is not None
    assert "amount" in drifted[1]
    assert drifted[0] is not None
    assert "amount" not in drifted[0]
    first = report.windows[0]
    assert first.quality is not None
    assert first.quality.quality is not None
    assert first.quality.quality.metrics["accuracy"].value == 1.0

    by_column = {d.column: d for d in report.distributions}
    assert set(by_column) == {"amount", "age", "country"}  # the training data has no outputs
    amount = by_column["amount"]
    assert amount.kind == "numeric"
    assert _mean(amount, "reference") == pytest.approx(100.0, abs=3.0)
    # One of the three windows was shifted by +40: the merged current is about 13 higher.
    assert _mean(amount, "current") == pytest.approx(113.3, abs=3.0)
    country = by_column["country"]
    assert (country.kind, set(country.labels)) == ("categorical", {"FR", "DE", "IT", "(other)"})

    (alert,) = report.alerts
    assert alert["rule"] == "amount-drift"
    assert alert["severity"] == "critical"
    assert alert["opened_window_start"] == (START + MINUTE).isoformat()
    assert alert["state"] == "resolved"

    html = render_report_html(report)
    flagged = sum(c["drifted"] for r in results for c in r.report["drift"]["columns"])
    assert flagged >= 1
    assert html.count('class="cell drifted"') == flagged
    assert "amount-drift" in html
    assert MonitoringReport.from_json(report.to_json()) == report


def test_the_range_chooses_the_windows_the_distributions_and_the_alerts(
    platform: Platform,
) -> None:
    _seed(platform)
    only_drifted = monitor_report(
        platform, SYSTEM, "default", "fraud-watch", since=START + MINUTE, until=START + 2 * MINUTE
    )
    assert [w.start for w in only_drifted.windows] == [START + MINUTE]
    amount = {d.column: d for d in only_drifted.distributions}["amount"]
    assert _mean(amount, "current") == pytest.approx(140.0, abs=3.0)
    assert [a["rule"] for a in only_drifted.alerts] == ["amount-drift"]

    before = monitor_report(platform, SYSTEM, "default", "fraud-watch", until=START + MINUTE)
    assert [w.start for w in before.windows] == [START]
    assert before.alerts == []
    amount = {d.column: d for d in before.distributions}["amount"]
    assert _mean(amount, "current") == pytest.approx(100.0, abs=3.0)

    later = monitor_report(platform, SYSTEM, "default", "fraud-watch", since=START + MINUTE * 10)
    assert later.windows == []
    assert later.distributions == []
    assert later.alerts == []
    assert later.subject["distributions"] == "no evaluated window in the range"
    assert "No data" in render_report_html(later)


def test_the_windows_are_capped_and_the_report_says_so(platform: Platform) -> None:
    _seed(platform)
    capped = monitor_report(platform, SYSTEM, "default", "fraud-watch", max_windows=2)
    assert [w.start for w in capped.windows] == [START + MINUTE, START + 2 * MINUTE]
    assert "the newest 2 of the 3 evaluated windows" in capped.subject["note"]
    assert "the newest 2 of the 3" in render_report_html(capped)
    # The distributions are of the windows shown: the calm first one is left out.
    amount = {d.column: d for d in capped.distributions}["amount"]
    assert _mean(amount, "current") == pytest.approx(120.0, abs=3.0)
    full = monitor_report(platform, SYSTEM, "default", "fraud-watch", max_windows=3)
    assert "note" not in full.subject


def test_a_reference_without_a_profile_leaves_the_distributions_out(platform: Platform) -> None:
    register_model(platform, "plain")  # saved without training data: no training profile
    create_monitor(platform, SYSTEM, "default", "plain-watch", model_name="plain")
    record_window(platform, START, inputs(200, 1), np.zeros(200, int), model="plain")
    evaluate_monitor(platform, SYSTEM, "default", "plain-watch", START)
    report = monitor_report(platform, SYSTEM, "default", "plain-watch")
    (window,) = report.windows
    assert (window.rows, window.drift) == (200, None)
    assert report.distributions == []
    assert report.subject["distributions"].startswith("not available: ")
    assert "no training profile" in report.subject["distributions"]
    assert report.subject["reference"] == "training profile of the version served"


def test_a_deployment_monitor_names_its_deployment_and_the_version_served(
    platform: Platform,
) -> None:
    from mlsteward.deployments import create_deployment

    register_model(platform, training=inputs(3000, 0))
    create_deployment(platform, SYSTEM, "default", "fraud-prod", "models:/fraud/1")
    create_monitor(
        platform, SYSTEM, "default", "prod-watch", deployment="fraud-prod", window_seconds=60
    )
    record_window(platform, START, inputs(300, 1), np.zeros(300, int), deployment="fraud-prod")
    evaluate_monitor(platform, SYSTEM, "default", "prod-watch", START)
    report = monitor_report(platform, SYSTEM, "default", "prod-watch")
    assert report.subject == {
        "monitor": "prod-watch",
        "model": "fraud",
        "version": "1",
        "deployment": "fraud-prod",
        "reference": "training profile of fraud version 1",
    }
    assert len(report.windows) == 1
    assert report.distributions


BAD: list[tuple[str, dict[str, Any], type[Exception], str]] = [
    ("unknown-monitor", {"name": "ghost"}, NotFound, "no monitor named 'ghost'"),
    ("bad-name", {"name": "a/b"}, InvalidArgument, "monitor name"),
    ("unknown-project", {"project": "nowhere"}, NotFound, "nowhere"),
    ("naive-since", {"since": dt.datetime(2026, 1, 1)}, InvalidArgument, "since"),
    ("naive-until", {"until": dt.datetime(2026, 1, 1)}, InvalidArgument, "until"),
    ("text-since", {"since": "2026-01-01T00:00:00Z"}, InvalidArgument, "since"),
    ("since-is-until", {"since": START, "until": START}, InvalidArgument, "before until"),
    ("since-after-until", {"since": START, "until": START - MINUTE}, InvalidArgument, "before"),
    ("zero-windows", {"max_windows": 0}, InvalidArgument, "max_windows"),
    ("too-many-windows", {"max_windows": 10_001}, InvalidArgument, "max_windows"),
    ("bool-windows", {"max_windows": True}, InvalidArgument, "max_windows"),
    ("text-windows", {"max_windows": "5"}, InvalidArgument, "max_windows"),
]


@pytest.mark.parametrize(
    ("given", "error", "message"), [b[1:] for b in BAD], ids=[b[0] for b in BAD]
)
def test_bad_input_is_refused_and_nothing_is_written(
    platform: Platform, given: dict[str, Any], error: type[Exception], message: str
) -> None:
    register_model(platform, training=inputs(500, 0))
    create_monitor(platform, SYSTEM, "default", "watch", model_name="fraud")
    before = len(list_audit_events(platform, SYSTEM))
    arguments: dict[str, Any] = {"project": "default", "name": "watch", **given}
    project, name = arguments.pop("project"), arguments.pop("name")
    with pytest.raises(error, match=message):
        monitor_report(platform, SYSTEM, project, name, **arguments)
    assert len(list_audit_events(platform, SYSTEM)) == before


def test_viewers_read_the_report_and_outsiders_cannot(platform: Platform) -> None:
    _seed(platform)
    viewer = user(platform, "vera", "viewer")
    report = monitor_report(platform, viewer, "default", "fraud-watch")
    assert len(report.windows) == 3
    assert len(report.alerts) == 1
    with cheap_password_hashing():
        create_user(platform, SYSTEM, "olga", "a-long-password-1")
    from mlsteward.security import authenticate_password

    with cheap_password_hashing():
        outsider = authenticate_password(platform, "olga", "a-long-password-1")
    with pytest.raises(PermissionDenied):
        monitor_report(platform, outsider, "default", "fraud-watch")
