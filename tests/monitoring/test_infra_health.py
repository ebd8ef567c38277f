"""Infrastructure health per monitor window, on SQLite and PostgreSQL: a prediction window
stores the serving statistics its server sent (column ``serving``, migration 0015), a bad one
is refused with nothing written, and a monitor's evaluation merges the statistics of every
window (every server process) into requests, errors, error rate, throughput and latency
percentiles that alert rules can watch."""

from __future__ import annotations

import datetime as dt
from typing import Any

import numpy as np
import pytest
from sqlalchemy import func, select

from mlsteward.errors import InvalidArgument
from mlsteward.monitoring import (
    PredictionWindow,
    create_alert_rule,
    create_monitor,
    evaluate_monitor,
    list_alerts,
    list_prediction_windows,
    record_prediction_window,
)
from mlsteward.monitoring._serving_stats import ServingStats
from mlsteward.monitoring._tables import prediction_windows
from mlsteward.platform import Platform
from mlsteward.security import SYSTEM, list_audit_events

from ._monitor_support import inputs, record_window, register_model

PAST = dt.datetime(2026, 1, 1, 10, 0, tzinfo=dt.UTC)
MINUTE = dt.timedelta(minutes=1)


def stats_of(seconds: list[float], statuses: list[int]) -> ServingStats:
    stats = ServingStats()
    for value, status in zip(seconds, statuses, strict=True):
        stats.observe(value, status)
    return stats


def window_count(platform: Platform) -> int:
    with platform.db.read() as conn:
        return int(conn.execute(select(func.count()).select_from(prediction_windows)).scalar_one())


def test_a_window_keeps_its_serving_statistics_and_older_windows_have_none(
    backend_platform: Platform,
) -> None:
    platform = backend_platform
    stats = stats_of([0.004, 0.012, 0.3], [200, 400, 500])
    record_window(platform, PAST, inputs(20, 1), np.zeros(20, int), serving=stats)
    record_window(platform, PAST + MINUTE, inputs(10, 2), np.zeros(10, int), prefix="q")

    with_stats, without = list_prediction_windows(platform, SYSTEM, "default")
    assert with_stats.serving == stats
    assert (with_stats.serving.requests, with_stats.serving.errors) == (3, 1)
    assert without.serving is None
    assert PredictionWindow.from_json(with_stats.to_json()) == with_stats
    assert with_stats.to_json()["serving"]["latency_counts"] == stats.latency_counts
    assert PredictionWindow.from_json(without.to_json()).serving is None
    events = list_audit_events(platform, SYSTEM, action="monitoring.prediction_window.record")
    assert sorted(e.details["requests"] or 0 for e in events) == [0, 3]


def _fields(platform: Platform) -> dict[str, Any]:
    blob = platform.blobs.put_bytes(b"window").address
    return {
        "model_name": "fraud", "model_version": "1", "start": PAST, "end": PAST + MINUTE,
        "rows": 10, "sampled_rows": 1, "feedback_labels": 0, "profile_address": blob,
        "rows_address": blob, "feedback_address": blob,
    }  # fmt: skip


GOOD = stats_of([0.01, 0.02], [200, 503]).to_json()
BAD_SERVING: list[tuple[str, Any, str]] = [
    ("a-list", [1], "serving must be a JSON object"),
    ("unknown-key", {**GOOD, "p50_ms": 3}, "serving has unknown keys: p50_ms"),
    ("negative", {**GOOD, "client_errors": -2}, "serving.client_errors must hold whole numbers"),
    ("wrong-length", {**GOOD, "latency_counts": [0, 2]}, "serving.latency_counts must be a list"),
    ("not-adding-up", {**GOOD, "requests": 5}, "must add up to serving.requests"),
]


@pytest.mark.parametrize(
    ("serving", "message"), [b[1:] for b in BAD_SERVING], ids=[b[0] for b in BAD_SERVING]
)
def test_bad_serving_statistics_are_refused_and_nothing_is_written(
    platform: Platform, serving: Any, message: str
) -> None:
    with pytest.raises(InvalidArgument) as raised:
        record_prediction_window(platform, SYSTEM, "default", serving=serving, **_fields(platform))
    assert message in raised.value.message
    assert raised.value.details == {"field": "serving"}
    assert window_count(platform) == 0
    assert list_audit_events(platform, SYSTEM, action="monitoring.prediction_window.record") == []


def test_the_json_form_of_the_statistics_is_accepted_as_well(platform: Platform) -> None:
    window = record_prediction_window(
        platform, SYSTEM, "default", serving=GOOD, **_fields(platform)
    )
    assert window.serving is not None
    assert window.serving.to_json() == GOOD


def test_evaluation_merges_the_statistics_of_every_server_process(
    backend_platform: Platform,
) -> None:
    platform = backend_platform
    register_model(platform, training=inputs(2000, 0))
    create_monitor(platform, SYSTEM, "default", "health", model_name="fraud", window_seconds=60)
    a_seconds = [0.002] * 80 + [0.05] * 15 + [1.5] * 5
    a_status = [200] * 90 + [404] * 4 + [500] * 6
    b_seconds = [0.003] * 40 + [0.2] * 10
    b_status = [200] * 47 + [503] * 3
    a, b = stats_of(a_seconds, a_status), stats_of(b_seconds, b_status)
    record_window(platform, PAST, inputs(300, 1), np.zeros(300, int), serving=a, source="r1")
    record_window(
        platform, PAST, inputs(200, 2), np.zeros(200, int), serving=b, source="r2", prefix="q"
    )
    record_window(platform, PAST + MINUTE / 2, inputs(50, 3), np.zeros(50, int), prefix="o")

    result = evaluate_monitor(platform, SYSTEM, "default", "health", PAST)

    metrics = result.metrics
    assert (metrics["infra.windows"], metrics["infra.sources"]) == (3.0, 3.0)
    assert metrics["infra.requests"] == 150.0
    assert metrics["infra.errors"] == 9.0  # 6 + 3 answered 5xx
    assert metrics["infra.client_errors"] == 4.0
    assert metrics["infra.error_rate"] == pytest.approx(9 / 150)
    assert metrics["infra.requests_per_second"] == pytest.approx(150 / 60)
    whole = np.array(a_seconds + b_seconds)
    for q in (50, 95, 99):
        truth = float(np.percentile(whole, q, method="inverted_cdf")) * 1000
        assert truth <= metrics[f"infra.latency_p{q}_ms"] <= truth * 10 ** (1 / 20)
    assert metrics["infra.latency_p50_ms"] < 3.2  # most requests took 2 to 3 ms
    assert metrics["infra.latency_p99_ms"] > 1000  # the slowest: 1.5 s
    merged = a.merge(b)
    assert metrics["infra.latency_p95_ms"] == pytest.approx(merged.percentile(95) * 1000)  # type: ignore[operator]


def test_windows_without_statistics_add_no_health_metrics(backend_platform: Platform) -> None:
    platform = backend_platform
    register_model(platform, training=inputs(500, 0))
    create_monitor(platform, SYSTEM, "default", "old", model_name="fraud", window_seconds=60)
    record_window(platform, PAST, inputs(100, 1), np.zeros(100, int))
    metrics = evaluate_monitor(platform, SYSTEM, "default", "old", PAST).metrics
    assert metrics["infra.rows"] == 100.0
    assert not {k for k in metrics if k.startswith("infra.latency") or "error" in k}


def test_an_alert_rule_on_the_error_rate_fires_when_a_window_fails_too_often(
    platform: Platform,
) -> None:
    register_model(platform, training=inputs(2000, 0))
    monitor = create_monitor(
        platform, SYSTEM, "default", "errors", model_name="fraud", window_seconds=60
    )
    create_alert_rule(
        platform, SYSTEM, "default", monitor_id=monitor.id, name="failing",
        metric="infra.error_rate", value=0.05, op=">", severity="critical",
        notifiers=[{"kind": "log"}],
    )  # fmt: skip
    healthy = stats_of([0.01] * 100, [200] * 99 + [500])
    failing = stats_of([0.01] * 100, [200] * 80 + [500] * 20)
    record_window(platform, PAST, inputs(100, 1), np.zeros(100, int), serving=healthy)
    record_window(
        platform, PAST + MINUTE, inputs(100, 2), np.zeros(100, int), serving=failing, prefix="f"
    )

    calm = evaluate_monitor(platform, SYSTEM, "default", "errors", PAST)
    assert calm.metrics["infra.error_rate"] == pytest.approx(0.01)
    assert list_alerts(platform, SYSTEM, "default", monitor_id=monitor.id) == []

    breached = evaluate_monitor(platform, SYSTEM, "default", "errors", PAST + MINUTE)
    assert breached.metrics["infra.error_rate"] == pytest.approx(0.2)
    (alert,) = list_alerts(platform, SYSTEM, "default", monitor_id=monitor.id)
    assert (alert.state, alert.severity, alert.opened_window_start) == (
        "firing",
        "critical",
        PAST + MINUTE,
    )
