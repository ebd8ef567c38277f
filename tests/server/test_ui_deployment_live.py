"""The chart JSON of a deployment page, from statistics counted by the serving runtime's own
``VersionStats`` (the figures ``GET /deployment`` reports), and from malformed answers."""

from __future__ import annotations

from typing import Any

import pytest

from mlsteward.server._ui_deployment_live import SHARE_SECONDS, live_view, shares
from mlsteward.serving._deployment_stats import SERIES_SECONDS, VersionStats

NOW = 1_800_000_000.0


def server_answer(counts: dict[str, list[tuple[int, int, int]]]) -> dict[str, Any]:
    """What a server answers after ``counts[version]``: (seconds ago, requests, errors) each
    at 4 ms, plus a slow request per second of version "2"."""
    versions: dict[str, Any] = {}
    series: dict[str, Any] = {}
    for version, seconds in counts.items():
        stats = VersionStats(60.0)
        for ago, requests, errors in sorted(seconds, reverse=True):
            for i in range(requests):
                stats.record(NOW - ago, 40.0 if version == "2" and i == 0 else 4.0, i < errors)
        role = "stable" if version == "1" else "canary"
        versions[version] = {"weight": 50, "role": role, "loaded": True, "in_flight": 1}
        versions[version].update(stats.summary(NOW))
        series[version] = stats.series(NOW)
    return {
        "running": True,
        "model": "iris",
        "revision": 4,
        "ready": True,
        "plan": {},
        "window_seconds": 60.0,
        "versions": versions,
        "series": {"start": int(NOW) - SERIES_SECONDS + 1, "step_seconds": 1, "versions": series},
        "shadow": {"version": None, "requests": 0, "disagreements": 0, "dropped": 0, "errors": 0},
        "auto_rollbacks": [],
        "process": {"supervisor_alive": True, "state": "serving", "restarts": 2, "pid": 7},
    }


def test_a_running_deployment_becomes_chart_series() -> None:
    answer = server_answer(
        {
            "1": [(ago, 6, 0) for ago in range(0, 20)],
            "2": [(ago, 4, 1) for ago in range(0, 10)],
        }
    )
    view = live_view(answer)
    assert (view["running"], view["revision"], view["ready"]) == (True, 4, True)
    assert (view["seconds"], view["end"]) == (SERIES_SECONDS, int(NOW))
    assert [v["version"] for v in view["versions"]] == ["1", "2"]
    canary = view["versions"][1]
    assert (canary["role"], canary["requests"], canary["errors"]) == ("canary", 40, 10)
    assert canary["error_rate"] == 0.25
    assert canary["p99_ms"] is not None
    assert canary["p99_ms"] >= 40
    stable = view["series"]["1"]
    assert stable["requests"][-20:] == [6] * 20
    assert stable["requests"][:-20] == [0] * 280
    assert view["series"]["2"]["error_rate"][-10:] == [0.25] * 10
    assert view["series"]["2"]["error_rate"][-11] is None  # no requests: no rate
    # The split: 6 of 10 requests a second on "1" while both served, all of them before.
    assert view["split"]["1"][-1] == 0.6
    assert view["split"]["2"][-1] == 0.4
    assert view["split"]["1"][-15] == 1.0
    assert view["split"]["2"][-15] == 0.0
    assert view["split"]["1"][0] is None
    assert view["recent_shares"] == {"1": 0.6, "2": 0.4}
    assert view["recent_requests"] == 10 * SHARE_SECONDS
    assert view["shadow"] is None
    assert view["process"] == {"supervisor_alive": True, "state": "serving", "restarts": 2}


def test_a_version_that_stopped_getting_traffic_falls_to_zero_share() -> None:
    answer = server_answer(
        {"1": [(ago, 5, 0) for ago in range(0, 30)], "2": [(ago, 5, 0) for ago in range(8, 30)]}
    )
    view = live_view(answer)
    assert view["recent_shares"] == {"1": 1.0, "2": 0.0}
    assert view["split"]["2"][-9] == 0.5


def test_a_shadow_and_automatic_rollbacks_are_passed_on() -> None:
    answer = server_answer({"1": [(0, 1, 0)]})
    answer["shadow"] = {
        "version": "3",
        "requests": 200,
        "disagreements": 14,
        "disagreement_rate": 0.07,
        "dropped": 1,
        "errors": 0,
    }
    answer["auto_rollbacks"] = [
        {"time": "2027-01-15T08:00:00+00:00", "version": "2", "revision": 3, "reason": "x" * 5000}
    ]
    view = live_view(answer)
    assert view["shadow"] == {
        "version": "3",
        "requests": 200,
        "disagreements": 14,
        "disagreement_rate": 0.07,
        "dropped": 1,
        "errors": 0,
    }
    [rolled] = view["auto_rollbacks"]
    assert rolled["version"] == "2"
    assert len(rolled["reason"]) == 1000


def test_a_server_that_does_not_answer_is_not_running() -> None:
    view = live_view({"running": False, "error": "All connection attempts failed"})
    assert view == {
        "running": False,
        "error": "All connection attempts failed",
        "process": {"supervisor_alive": False, "state": None, "restarts": 0},
    }
    assert live_view({})["error"] == "the server did not answer"


@pytest.mark.parametrize(
    "answer",
    [
        {"running": True},
        {"running": True, "versions": [], "series": "x"},
        {"running": True, "versions": {"1": "x", "2": {"requests": "many"}}, "series": {}},
        {
            "running": True,
            "revision": "4",
            "versions": {"1": {"weight": True, "p99_ms": float("nan"), "error_rate": -1}},
            "series": {
                "start": "soon",
                "versions": {"1": {"requests": [1, None, "2", -3, 1e400], "p99_ms": "x"}},
            },
            "shadow": {"version": 3},
            "auto_rollbacks": ["x", {"reason": 5}],
            "process": [],
        },
        {"running": "yes", "error": 12},
    ],
    ids=["only-running", "wrong-types", "bad-versions", "hostile-values", "truthy-running"],
)
def test_malformed_answers_are_cleaned_not_trusted(answer: dict[str, Any]) -> None:
    view = live_view(answer)
    if answer["running"] is not True:
        assert view["running"] is False
        assert view["error"] == "the server did not answer"
        return
    assert view["running"] is True
    assert view["revision"] is None
    for row in view["versions"]:
        assert isinstance(row["weight"], int)
        assert not isinstance(row["weight"], bool)
        assert row["p99_ms"] is None or row["p99_ms"] == row["p99_ms"]  # never NaN
    for series in view["series"].values():
        assert all(isinstance(n, int) and n >= 0 for n in series["requests"])
    series = answer.get("series")
    if isinstance(series, dict) and series.get("versions"):
        assert view["series"]["1"]["requests"] == [1, 0, 0, 0, 0]
        assert view["end"] is None
    assert view["shadow"] is None
    assert all(isinstance(r, dict) for r in view["auto_rollbacks"])


def test_shares_slide_over_the_window() -> None:
    split = shares({"a": [0, 2, 0, 0, 0, 0, 0], "b": [0, 2, 0, 0, 0, 0, 4]}, window=3)
    assert split["series"]["a"] == [None, 0.5, 0.5, 0.5, None, None, 0.0]
    assert split["series"]["b"] == [None, 0.5, 0.5, 0.5, None, None, 1.0]
    assert split["recent"] == {"a": 0.0, "b": 1.0}
    assert split["recent_requests"] == 4
    assert shares({}) == {"series": {}, "recent": {}, "recent_requests": 0}
