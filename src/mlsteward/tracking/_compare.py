"""Comparing runs: aligned metric series, parameter differences, the best run by a metric."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal

from sqlalchemy import select

from ..errors import InvalidArgument, NotFound
from ..security import Actor, Role
from ._model import Run, _json_float, load_runs
from ._runs import require_run
from ._tables import metric_points
from ._validation import check_key

if TYPE_CHECKING:
    from ..platform import Platform

MAX_COMPARED_RUNS = 50
MAX_COMPARED_METRICS = 20
MAX_ALIGNED_STEPS = 10_000


@dataclass(frozen=True)
class MetricSeries:
    """One metric of several runs on a shared step axis; ``None`` where a run has no point
    at that step (the last point per step counts when a step was logged twice)."""

    key: str
    steps: list[int]
    values: dict[str, list[float | None]]
    truncated: bool

    def to_json(self) -> dict[str, Any]:
        return {
            "key": self.key,
            "steps": self.steps,
            "values": {
                run_id: [None if v is None else _json_float(v) for v in series]
                for run_id, series in self.values.items()
            },
            "truncated": self.truncated,
        }


@dataclass(frozen=True)
class RunComparison:
    runs: list[Run]
    params: dict[str, dict[str, str | None]]
    differing_params: list[str]
    metrics: list[MetricSeries]

    def to_json(self) -> dict[str, Any]:
        return {
            "runs": [r.to_json() for r in self.runs],
            "params": self.params,
            "differing_params": self.differing_params,
            "metrics": [m.to_json() for m in self.metrics],
        }


def compare_runs(
    platform: Platform,
    actor: Actor,
    run_ids: Sequence[str],
    *,
    metric_keys: Sequence[str] | None = None,
) -> RunComparison:
    """Compare 2-50 runs the actor may view: every parameter side by side (with the keys
    whose values differ), and each metric aligned by step (default: every metric any of the
    runs logged, at most 20; at most 10,000 steps per metric, flagged ``truncated``)."""
    ids = list(dict.fromkeys(run_ids))
    if not 1 <= len(ids) <= MAX_COMPARED_RUNS:
        raise InvalidArgument(f"compare between 1 and {MAX_COMPARED_RUNS} runs")
    with platform.db.read() as conn:
        for run_id in ids:
            require_run(conn, actor, run_id, Role.VIEWER)
        runs = load_runs(conn, ids)
        keys = (
            [check_key("metric", k) for k in metric_keys]
            if metric_keys is not None
            else sorted({k for r in runs for k in r.metrics})
        )
        if len(keys) > MAX_COMPARED_METRICS:
            raise InvalidArgument(f"compare at most {MAX_COMPARED_METRICS} metrics at a time")
        series = [_aligned(conn, ids, key) for key in keys]
    param_keys = sorted({k for r in runs for k in r.params})
    params: dict[str, dict[str, str | None]] = {
        k: {str(r.id): r.params.get(k) for r in runs} for k in param_keys
    }
    differing = [k for k, values in params.items() if len(set(values.values())) > 1]
    return RunComparison(runs, params, differing, series)


def _aligned(conn: Any, run_ids: list[str], key: str) -> MetricSeries:
    rows = conn.execute(
        select(
            metric_points.c.run_id,
            metric_points.c.step,
            metric_points.c.value,
            metric_points.c.is_nan,
        )
        .where(metric_points.c.run_id.in_(run_ids), metric_points.c.key == key)
        .order_by(metric_points.c.step, metric_points.c.ts)
    )
    by_run: dict[str, dict[int, float]] = {run_id: {} for run_id in run_ids}
    steps: set[int] = set()
    truncated = False
    for run_id, step, value, is_nan in rows:
        if step not in steps and len(steps) >= MAX_ALIGNED_STEPS:
            truncated = True
            continue
        steps.add(step)
        by_run[run_id][step] = math.nan if is_nan else float(value)
    axis = sorted(steps)
    values = {run_id: [points.get(s) for s in axis] for run_id, points in by_run.items()}
    return MetricSeries(key, axis, values, truncated)


def best_run(
    platform: Platform,
    actor: Actor,
    project: str,
    metric: str,
    *,
    mode: Literal["max", "min"] = "max",
    experiment_ids: Sequence[str] | None = None,
    filter: str = "",
) -> Run:
    """The run with the highest (``mode="max"``) or lowest latest value of ``metric``
    among the runs matching ``filter``; ``NotFound`` when none has logged it."""
    from ._search import search_runs

    if mode not in ("max", "min"):
        raise InvalidArgument("mode is 'max' or 'min'")
    quoted = "`" + check_key("metric", metric).replace("`", "``") + "`"
    condition = f"metrics.{quoted} is not null"
    page = search_runs(
        platform,
        actor,
        project,
        experiment_ids=experiment_ids,
        filter=f"({filter}) and {condition}" if filter.strip() else condition,
        order_by=[f"metrics.{quoted} {'DESC' if mode == 'max' else 'ASC'}"],
        max_results=1,
    )
    if not page.runs:
        raise NotFound(f"no run in {project!r} has logged metric {metric!r}")
    return page.runs[0]
