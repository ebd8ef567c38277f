"""A monitoring report from a monitor's stored results (``ReportWindow.from_result``): a real
monitor on the embedded platform evaluates recorded prediction windows, one of them drifted;
the report read from its results flags the same columns and carries quality and fairness."""

from __future__ import annotations

import dataclasses
import datetime as dt

import numpy as np
import pytest

from mlsteward.errors import InvalidArgument
from mlsteward.monitoring import (
    ClassificationQuality,
    MonitoringReport,
    ReportWindow,
    create_monitor,
    evaluate_monitor,
    list_monitor_results,
    render_report_html,
)
from mlsteward.platform import Platform
from mlsteward.security import SYSTEM

from ._monitor_support import inputs, record_window, register_model

START = dt.datetime(2026, 1, 1, 10, 0, tzinfo=dt.UTC)
MINUTE = dt.timedelta(minutes=1)


def test_a_report_from_stored_results(platform: Platform) -> None:
    register_model(platform, training=inputs(3000, 0))
    create_monitor(
        platform, SYSTEM, "default", "fraud-watch", model_name="fraud", model_version=1,
        window_seconds=60, quality={"task": "classification", "positive_label": 1},
        fairness={"sensitive": "country", "min_rows": 10},
    )  # fmt: skip
    calm = inputs(600, 1)
    predictions = (calm["age"] > 40).astype(int).to_numpy()
    labels: dict[str, object] = {
        f"p{i}": int(predictions[i]) if i % 4 else 1 - int(predictions[i]) for i in range(600)
    }
    record_window(platform, START, calm, predictions, labels=labels)
    record_window(platform, START + MINUTE, inputs(600, 2, amount_shift=40.0), np.zeros(600, int))
    for minute in range(3):  # the third window has no predictions
        evaluate_monitor(platform, SYSTEM, "default", "fraud-watch", START + minute * MINUTE)
    results = list_monitor_results(platform, SYSTEM, "default", "fraud-watch")
    assert [r.status for r in results] == ["ok", "ok", "no_data"]

    windows = [ReportWindow.from_result(r) for r in results]
    first, drifted, empty = windows
    assert (first.start, first.end, first.rows) == (START, START + MINUTE, 600)
    assert first.drift is not None
    assert "amount" not in first.drift.drifted_names()
    assert drifted.drift is not None
    assert "amount" in drifted.drift.drifted_names()
    for window, result in zip(windows[:2], results, strict=False):
        assert window.drift is not None
        assert window.drift.to_json() == result.report["drift"]
    assert empty.drift is None
    assert empty.rows == 0
    assert first.quality is not None
    assert first.quality.quality is not None
    assert isinstance(first.quality.quality, ClassificationQuality)
    assert first.quality.quality.accuracy.value == pytest.approx(0.75)
    assert drifted.quality is not None
    assert drifted.quality.quality is None
    assert first.fairness is not None
    assert first.fairness.sensitive == "country"
    assert first.infra["rows"] == 600.0
    assert first.infra["windows"] == 1.0

    report = MonitoringReport("fraud", {"monitor": "fraud-watch"}, START, windows, [])
    html = render_report_html(report)
    flagged = sum(c["drifted"] for r in results[:2] for c in r.report["drift"]["columns"])
    assert html.count('class="cell drifted"') == flagged
    assert "accuracy 0.75" in html
    assert MonitoringReport.from_json(report.to_json()) == report


def test_a_malformed_result_is_refused(platform: Platform) -> None:
    register_model(platform, training=inputs(1000, 0))
    create_monitor(
        platform, SYSTEM, "default", "w", model_name="fraud", model_version=1, window_seconds=60
    )
    record_window(platform, START, inputs(300, 1), np.zeros(300, int))
    result = evaluate_monitor(platform, SYSTEM, "default", "w", START)
    assert ReportWindow.from_result(result).drift is not None
    broken = dataclasses.replace(result, report={**result.report, "drift": {"columns": "x"}})
    with pytest.raises(InvalidArgument, match=r"result drift\.columns must be a list"):
        ReportWindow.from_result(broken)
    with pytest.raises(InvalidArgument, match="the result's report must be a JSON object"):
        ReportWindow.from_result(dataclasses.replace(result, report=None))  # type: ignore[arg-type]


def test_the_report_charts_the_serving_health_of_the_windows(platform: Platform) -> None:
    from mlsteward.monitoring._serving_stats import ServingStats

    register_model(platform, training=inputs(1000, 0))
    create_monitor(
        platform, SYSTEM, "default", "h", model_name="fraud", model_version=1, window_seconds=60
    )
    first, second = ServingStats(), ServingStats()
    for i in range(120):
        first.observe(0.004, 200)
        second.observe(0.02 if i < 100 else 0.5, 503 if i % 10 == 0 else 200)
    record_window(platform, START, inputs(300, 1), np.zeros(300, int), serving=first)
    record_window(
        platform, START + MINUTE, inputs(300, 2), np.zeros(300, int), serving=second, prefix="q"
    )
    results = [
        evaluate_monitor(platform, SYSTEM, "default", "h", START + minute * MINUTE)
        for minute in range(2)
    ]
    windows = [ReportWindow.from_result(r) for r in results]
    report = MonitoringReport("fraud", {"monitor": "h"}, START, windows, [])

    figures = [w["infra"] for w in report.to_json()["windows"]]
    assert [f["requests"] for f in figures] == [120.0, 120.0]
    assert [f["error_rate"] for f in figures] == [0.0, pytest.approx(12 / 120)]
    p50 = second.percentile(50)
    p99 = second.percentile(99)
    assert p50 is not None
    assert p99 is not None
    assert figures[1]["latency_p50_ms"] == pytest.approx(p50 * 1000)
    assert figures[1]["latency_p99_ms"] == pytest.approx(p99 * 1000)
    assert 20 <= figures[1]["latency_p50_ms"] < 23
    assert 500 <= figures[1]["latency_p99_ms"] < 562

    page = render_report_html(report)
    infra = page[page.index('id="infra"') :]
    assert 'aria-label="latency percentiles per window (ms)"' in infra
    latency = infra[infra.index('aria-label="latency percentiles') :]
    latency = latency[: latency.index("</svg>")]
    assert latency.count('<polyline class="line') == 3  # p50, p95 and p99 over two windows
    assert 'aria-label="requests per second per window"' in infra
    assert 'aria-label="error rate per window"' in infra
    latest = infra[infra.index('id="infra-latest"') : infra.index("</table>")]
    assert f'<th scope="row">latency p50</th><td>{p50 * 1000:.4g} ms</td>' in latest
    assert f'<th scope="row">latency p99</th><td>{p99 * 1000:.4g} ms</td>' in latest
    assert '<th scope="row">requests/s</th><td>2</td>' in latest  # 120 in 60 s
    assert '<th scope="row">error rate (5xx)</th><td>10.00%</td>' in latest
    assert MonitoringReport.from_json(report.to_json()) == report
