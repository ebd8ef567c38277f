"""``ServingStats``: the mergeable latency histogram and request counts a prediction window
carries (percentiles against NumPy, exact merges, the JSON codec and what it refuses)."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

from mlsteward.errors import InvalidArgument
from mlsteward.monitoring._serving_stats import (
    BUCKETS,
    LATENCY_BOUNDS,
    SERVING_STATS_TYPE,
    ServingStats,
)

GROWTH = 10 ** (1 / 20)  # one bucket's width, as a ratio


def stats_of(seconds: Any, statuses: Any = None) -> ServingStats:
    stats = ServingStats()
    for i, value in enumerate(seconds):
        stats.observe(float(value), 200 if statuses is None else int(statuses[i]))
    return stats


def test_the_bounds_are_log_spaced_from_a_tenth_of_a_millisecond_to_a_minute() -> None:
    assert LATENCY_BOUNDS[0] == pytest.approx(1e-4)
    assert LATENCY_BOUNDS[-1] >= 60.0
    ratios = np.diff(np.log(LATENCY_BOUNDS))
    assert np.allclose(ratios, np.log(GROWTH))
    assert len(LATENCY_BOUNDS) + 1 == BUCKETS


@pytest.mark.parametrize("q", [1, 25, 50, 90, 95, 99, 100])
@pytest.mark.parametrize("seed", [0, 1])
def test_percentiles_are_within_one_bucket_of_numpy(q: float, seed: int) -> None:
    rng = np.random.default_rng(seed)
    samples = rng.lognormal(mean=np.log(0.02), sigma=1.2, size=5_000)  # 20 ms median
    stats = stats_of(samples)
    truth = float(np.percentile(samples, q, method="inverted_cdf"))
    found = stats.percentile(q)
    assert found is not None
    assert truth <= found <= truth * GROWTH  # the upper bound of the bucket holding it


def test_counts_split_by_status_and_every_request_has_a_latency() -> None:
    stats = stats_of([0.001, 0.002, 0.5, 0.003, 0.004], [200, 404, 500, 503, 429])
    assert (stats.requests, stats.errors, stats.client_errors) == (5, 2, 2)
    assert sum(stats.latency_counts) == 5


def test_the_extremes_land_in_the_first_and_overflow_buckets() -> None:
    stats = stats_of([0.0, 1e-5, 3600.0])
    assert stats.latency_counts[0] == 2
    assert stats.latency_counts[-1] == 1
    assert stats.percentile(50) == LATENCY_BOUNDS[0]
    assert stats.percentile(100) == LATENCY_BOUNDS[-1]  # slower than the last bound: reported as it


def test_merging_equals_the_histogram_of_the_concatenation() -> None:
    rng = np.random.default_rng(7)
    a_seconds, b_seconds = rng.exponential(0.05, 300), rng.exponential(0.3, 200)
    a_status = rng.choice([200, 400, 500], 300)
    b_status = rng.choice([200, 404, 502], 200)
    merged = stats_of(a_seconds, a_status).merge(stats_of(b_seconds, b_status))
    whole = stats_of(np.concatenate([a_seconds, b_seconds]), np.concatenate([a_status, b_status]))
    assert merged == whole
    assert merged.requests == 500
    assert merged.percentile(99) == whole.percentile(99)


def test_no_requests_have_no_percentile_and_a_bad_q_is_refused() -> None:
    assert ServingStats().percentile(50) is None
    with pytest.raises(InvalidArgument, match="between 0 and 100"):
        stats_of([0.1]).percentile(101)


def test_the_json_round_trip_keeps_everything() -> None:
    stats = stats_of([0.001, 0.02, 0.3, 4.0], [200, 200, 400, 500])
    data = stats.to_json()
    assert data["type"] == SERVING_STATS_TYPE
    assert data["schema_version"] == 1
    assert len(data["latency_counts"]) == BUCKETS
    again = ServingStats.from_json(data)
    assert again == stats
    assert again.to_json() == data


def _good() -> dict[str, Any]:
    return stats_of([0.01, 0.02, 0.5], [200, 400, 500]).to_json()


BAD: list[tuple[str, Any, str]] = [
    ("not-an-object", [1, 2], "must be a JSON object"),
    ("unknown-key", {**_good(), "p99": 3}, "unknown keys: p99"),
    ("missing-key", {k: v for k, v in _good().items() if k != "errors"}, "lacks errors"),
    ("wrong-type", {**_good(), "type": "profile"}, "serving.type must be"),
    ("newer-schema", {**_good(), "schema_version": 2}, "upgrade mlsteward"),
    ("negative-count", {**_good(), "requests": -1}, "serving.requests must hold whole numbers"),
    ("float-count", {**_good(), "errors": 1.0}, "serving.errors must hold whole numbers"),
    ("bool-count", {**_good(), "client_errors": True}, "serving.client_errors must hold"),
    ("short-buckets", {**_good(), "latency_counts": [3]}, f"list of {BUCKETS} whole numbers"),
    ("buckets-a-dict", {**_good(), "latency_counts": {}}, f"list of {BUCKETS} whole numbers"),
    (
        "negative-bucket",
        {**_good(), "latency_counts": [-1, *_good()["latency_counts"][1:]]},
        "serving.latency_counts must hold whole numbers",
    ),
    ("more-errors-than-requests", {**_good(), "errors": 3}, "cannot add up to more requests"),
    ("buckets-not-adding-up", {**_good(), "requests": 4}, "must add up to serving.requests"),
]


@pytest.mark.parametrize(("data", "message"), [b[1:] for b in BAD], ids=[b[0] for b in BAD])
def test_bad_json_is_refused_with_what_is_wrong(data: Any, message: str) -> None:
    with pytest.raises(InvalidArgument) as raised:
        ServingStats.from_json(data)
    assert message in raised.value.message
    assert raised.value.details == {"field": "serving"}
