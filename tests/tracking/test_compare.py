"""Comparing runs: aligned series, parameter differences, the best run."""

from __future__ import annotations

import math
import time

import pytest

from mlsteward.errors import InvalidArgument, NotFound, PermissionDenied
from mlsteward.platform import Platform
from mlsteward.security import SYSTEM, Actor
from mlsteward.tracking import MetricPoint, create_experiment, log_batch, start_run
from mlsteward.tracking._compare import best_run, compare_runs


def _run(
    platform: Platform, params: dict[str, str], series: dict[str, list[tuple[int, float]]]
) -> str:
    run_id = start_run(platform, SYSTEM, "default", "cmp").id
    now = int(time.time() * 1000)
    points = [MetricPoint(k, v, s, now) for k, pts in series.items() for s, v in pts]
    log_batch(platform, SYSTEM, run_id, metrics=points, params=params)
    return run_id


@pytest.fixture
def three(backend_platform: Platform) -> list[str]:
    create_experiment(backend_platform, SYSTEM, "default", "cmp")
    return [
        _run(backend_platform, {"lr": "0.1", "depth": "3"}, {"auc": [(0, 0.5), (1, 0.7)]}),
        _run(backend_platform, {"lr": "0.2", "depth": "3"}, {"auc": [(1, 0.8), (2, 0.9)]}),
        _run(backend_platform, {"lr": "0.1"}, {"auc": [(0, 0.6)], "loss": [(0, math.nan)]}),
    ]


def test_series_are_aligned_on_the_union_of_steps(
    backend_platform: Platform, three: list[str]
) -> None:
    a, b, c = three
    result = compare_runs(backend_platform, SYSTEM, three)
    auc = next(m for m in result.metrics if m.key == "auc")
    assert auc.steps == [0, 1, 2]
    assert auc.values == {a: [0.5, 0.7, None], b: [None, 0.8, 0.9], c: [0.6, None, None]}
    loss = next(m for m in result.metrics if m.key == "loss")
    assert loss.values[a] == [None]
    nan = loss.values[c][0]
    assert nan is not None
    assert math.isnan(nan)
    assert loss.to_json()["values"][c] == ["NaN"]
    assert result.params == {
        "depth": {a: "3", b: "3", c: None},
        "lr": {a: "0.1", b: "0.2", c: "0.1"},
    }
    assert result.differing_params == ["depth", "lr"]


def test_best_run_by_max_and_min(backend_platform: Platform, three: list[str]) -> None:
    a, b, c = three
    assert best_run(backend_platform, SYSTEM, "default", "auc").id == b
    assert best_run(backend_platform, SYSTEM, "default", "auc", mode="min").id == c
    assert best_run(backend_platform, SYSTEM, "default", "auc", filter="params.lr = '0.1'").id == a
    with pytest.raises(NotFound):
        best_run(backend_platform, SYSTEM, "default", "never logged")


def test_bad_comparisons(platform: Platform) -> None:
    create_experiment(platform, SYSTEM, "default", "cmp")
    run_id = _run(platform, {}, {"m": [(0, 1.0)]})
    with pytest.raises(InvalidArgument):
        compare_runs(platform, SYSTEM, [])
    with pytest.raises(InvalidArgument):
        compare_runs(platform, SYSTEM, [run_id], metric_keys=[f"m{i}" for i in range(21)])
    with pytest.raises(NotFound):
        compare_runs(platform, SYSTEM, [run_id, "0" * 32])
    with pytest.raises(PermissionDenied):
        compare_runs(platform, Actor(id="x", name="x", kind="user"), [run_id])
    with pytest.raises(InvalidArgument):
        best_run(platform, SYSTEM, "default", "m", mode="median")
