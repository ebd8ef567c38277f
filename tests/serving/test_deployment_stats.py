"""Per-version deployment statistics (windows, series, percentiles) and shadow comparisons."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
import pytest

from mlsteward.serving._deployment_stats import (
    SERIES_SECONDS,
    ShadowStats,
    VersionStats,
    bin_upper_ms,
    latency_bin,
    outputs_agree,
    percentile_ms,
)

T0 = 1_800_000_000.0


def test_the_window_keeps_only_its_last_seconds() -> None:
    stats = VersionStats(window_seconds=10)
    for second in range(20):
        stats.record(T0 + second, 5.0, error=second % 2 == 0)
    requests, errors, _ = stats.window(T0 + 19)
    assert (requests, errors) == (10, 5)  # seconds 10 to 19
    assert stats.window(T0 + 25)[:2] == (4, 2)  # seconds 16 to 19
    assert stats.window(T0 + 100)[:2] == (0, 0)
    assert (stats.requests_total, stats.errors_total) == (20, 10)


def test_many_requests_in_one_second_count_once_each() -> None:
    stats = VersionStats(window_seconds=60)
    for i in range(1000):
        stats.record(T0 + i / 1000, 1.0 + (i % 100), error=i < 30)
    summary = stats.summary(T0 + 0.999)
    assert summary["requests"] == 1000
    assert summary["errors"] == 30
    assert summary["error_rate"] == 0.03
    assert 50 / 1.1 <= summary["p50_ms"] <= 51 * 1.1
    assert 99 / 1.1 <= summary["p99_ms"] <= 100 * 1.1


def test_reset_window_forgets_the_window_but_not_the_series() -> None:
    stats = VersionStats(window_seconds=60)
    for _ in range(5):
        stats.record(T0, 10.0, error=True)
    stats.reset_window(30)
    assert stats.window_seconds == 30
    assert stats.window(T0)[:2] == (0, 0)
    stats.record(T0, 10.0, error=False)  # the same second: a new bucket
    assert stats.window(T0)[:2] == (1, 0)
    series = stats.series(T0)
    assert series["requests"][-1] == 6
    assert series["errors"][-1] == 5
    assert stats.window(T0 + 30)[:2] == (0, 0)  # the counts never go negative
    assert stats.summary(T0 + 30)["error_rate"] is None


def test_the_series_covers_five_minutes_one_point_a_second() -> None:
    stats = VersionStats(window_seconds=60)
    stats.record(T0 - 400, 1.0, error=False)  # too old for the series
    stats.record(T0 - 299, 2.0, error=True)
    stats.record(T0, 3.0, error=False)
    stats.record(T0, 4.0, error=False)
    series = stats.series(T0)
    assert len(series["requests"]) == SERIES_SECONDS
    assert series["requests"][0] == 1
    assert series["errors"][0] == 1
    assert series["requests"][-1] == 2
    assert series["p99_ms"][1] is None
    assert 4.0 <= series["p99_ms"][-1] <= 4.4
    assert 3.0 <= series["p50_ms"][-1] <= 3.3  # the median of 3 ms and 4 ms, in 10 % bins
    assert series["p50_ms"][1] is None
    assert sum(series["requests"]) == 3
    assert stats.active(T0 + 299)
    assert not stats.active(T0 + 300)


def test_a_clock_stepping_back_counts_in_the_latest_second() -> None:
    stats = VersionStats(window_seconds=60)
    stats.record(T0 + 10, 1.0, error=False)
    stats.record(T0 + 5, 1.0, error=False)
    assert stats.series(T0 + 10)["requests"][-1] == 2
    assert stats.window(T0 + 10)[:2] == (2, 0)


@pytest.mark.parametrize(
    "ms", [0.0, 0.01, 0.05, 0.2, 1.0, 17.3, 999.0, 60_000.0], ids=lambda ms: f"{ms}ms"
)
def test_latency_bins_hold_their_latency(ms: float) -> None:
    index = latency_bin(ms)
    assert ms <= bin_upper_ms(index) * 1.000001
    if index > 0:
        assert ms > bin_upper_ms(index - 1) * 0.999999


def test_huge_latencies_land_in_the_last_bin() -> None:
    assert latency_bin(1e9) == latency_bin(1e12)
    assert percentile_ms({}, 0, 0.99) is None
    assert percentile_ms({3: 1}, 1, 0.99) == round(bin_upper_ms(3), 3)


AGREEING: list[tuple[str, Any, Any]] = [
    ("floats-close", np.array([0.1, 0.2]), np.array([0.1 + 1e-12, 0.2])),
    ("labels", np.array(["a", "b"]), np.array(["a", "b"])),
    ("ints", np.array([1, 2, 3]), [1, 2, 3]),
    ("nan", np.array([np.nan, 1.0]), np.array([np.nan, 1.0])),
    ("series", pd.Series([1.0, 2.0]), np.array([1.0, 2.0])),
    ("frames", pd.DataFrame({"a": [1.0], "b": ["x"]}), pd.DataFrame({"a": [1.0], "b": ["x"]})),
    ("named", {"p": np.array([1, 2])}, {"p": np.array([1, 2])}),
]
DISAGREEING: list[tuple[str, Any, Any]] = [
    ("floats-apart", np.array([0.1, 0.2]), np.array([0.1, 0.25])),
    ("labels", np.array(["a", "b"]), np.array(["a", "c"])),
    ("ints", np.array([1, 2, 3]), np.array([1, 2, 4])),
    ("shape", np.array([1, 2]), np.array([[1, 2]])),
    ("length", np.array([1, 2]), np.array([1, 2, 3])),
    ("float-vs-text", np.array([1.0]), np.array(["1.0"])),
    ("frame-columns", pd.DataFrame({"a": [1.0]}), pd.DataFrame({"b": [1.0]})),
    ("frame-vs-array", pd.DataFrame({"a": [1.0]}), np.array([1.0])),
    ("named-keys", {"p": np.array([1])}, {"q": np.array([1])}),
    ("named-vs-array", {"p": np.array([1])}, np.array([1])),
    ("uncomparable", object(), object()),
]


@pytest.mark.parametrize(
    ("expected", "got"), [c[1:] for c in AGREEING], ids=[c[0] for c in AGREEING]
)
def test_outputs_that_agree(expected: Any, got: Any) -> None:
    assert outputs_agree(expected, got)


@pytest.mark.parametrize(
    ("expected", "got"), [c[1:] for c in DISAGREEING], ids=[c[0] for c in DISAGREEING]
)
def test_outputs_that_disagree(expected: Any, got: Any) -> None:
    assert not outputs_agree(expected, got)


def test_shadow_stats_json() -> None:
    stats = ShadowStats()
    assert stats.to_json()["disagreement_rate"] is None
    stats.requests, stats.disagreements, stats.dropped = 8, 2, 3
    assert stats.to_json() == {
        "requests": 8,
        "disagreements": 2,
        "disagreement_rate": 0.25,
        "dropped": 3,
        "errors": 0,
    }
