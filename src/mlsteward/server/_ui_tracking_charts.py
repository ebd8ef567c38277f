"""The run page and the compare page of the web UI, with their Plotly charts.

The pages embed their chart data as JSON in ``<script type="application/json">`` blocks, which
``static/tracking.js`` reads: the CSP allows no inline script.
"""

from __future__ import annotations

import json
import math
from typing import Annotated, Any

from fastapi import APIRouter, Depends
from starlette.responses import Response

from ..errors import InvalidArgument
from ..security import list_projects
from ..tracking import Run, compare_runs, get_run, list_artifacts, metric_history
from ._ui_render import UIRoute, render
from ._ui_session import Page, viewer

__all__ = ["router"]

router = APIRouter(route_class=UIRoute, include_in_schema=False)
Viewer = Annotated[Page, Depends(viewer)]

MAX_CHARTED_METRICS = 30
MAX_POINTS = 10_000
MAX_COMPARED = 50
_RUN_ID_CHARS = frozenset("0123456789abcdefABCDEF-")


def chart_json(data: Any) -> str:
    """JSON safe inside a ``<script>`` element (no ``</script>``), without NaN or infinities."""
    text = json.dumps(_finite(data), separators=(",", ":"), allow_nan=False)
    return text.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")


def _finite(value: Any) -> Any:
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, dict):
        return {str(k): _finite(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_finite(v) for v in value]
    return value


def _check_run_id(run_id: str) -> str:
    if not 1 <= len(run_id) <= 64 or not set(run_id) <= _RUN_ID_CHARS:
        raise InvalidArgument(f"{run_id[:64]!r} is not a run id")
    return run_id


def _as_number(text: str | None) -> float | None:
    if text is None:
        return None
    try:
        number = float(text)
    except ValueError:
        return None
    return number if math.isfinite(number) else None


def _project_names(page: Page) -> dict[str, str]:
    return {p.id: p.name for p in list_projects(page.platform, page.actor)}


@router.get("/runs/{run_id}")
def run_page(page: Viewer, run_id: str) -> Response:
    run = get_run(page.platform, page.actor, _check_run_id(run_id))
    keys = sorted(run.metrics)
    charted = keys[:MAX_CHARTED_METRICS]
    series = {}
    for key in charted:
        points = metric_history(page.platform, page.actor, run.id, key, max_points=MAX_POINTS)
        series[key] = {"steps": [p.step for p in points], "values": [p.value for p in points]}
    prefix = page.request.query_params.get("artifacts", "").strip()
    artifacts = list_artifacts(page.platform, page.actor, run.id, prefix)
    env = run.environment or {}
    git = env.get("git") if isinstance(env.get("git"), dict) else None
    command = env.get("command")
    return render(
        page,
        "tracking_run.html",
        active="experiments",
        run=run,
        project=_project_names(page).get(run.project_id, ""),
        params=sorted(run.params.items()),
        tags=sorted(run.tags.items()),
        metrics=[(k, run.metrics[k]) for k in keys],
        env=env,
        git=git,
        command=" ".join(str(c) for c in command) if isinstance(command, list) else command,
        charts=chart_json(series),
        uncharted=len(keys) - len(charted),
        artifacts=artifacts,
        artifact_prefix=prefix,
        artifact_parent=prefix.rpartition("/")[0] if prefix else None,
    )


def _numeric_params(runs: list[Run], params: dict[str, dict[str, str | None]]) -> list[str]:
    """Parameters whose every value (in every run) parses as a finite number."""
    return [
        key
        for key, values in params.items()
        if all(_as_number(values.get(str(r.id))) is not None for r in runs)
    ]


def _pick(wanted: str, choices: list[str]) -> str:
    """``wanted`` if it is one of ``choices``, else the first choice ("" when none)."""
    return wanted if wanted in choices else (choices[0] if choices else "")


@router.get("/compare")
def compare_page(page: Viewer) -> Response:
    query = page.request.query_params
    run_ids = [_check_run_id(r.strip()) for r in query.getlist("run") if r.strip()]
    if not run_ids:
        raise InvalidArgument("choose runs to compare: tick them in a runs table")
    if len(run_ids) > MAX_COMPARED:
        raise InvalidArgument(f"compare at most {MAX_COMPARED} runs at a time")
    result = compare_runs(page.platform, page.actor, run_ids)
    runs = result.runs
    numeric = _numeric_params(runs, result.params)
    metric_keys = sorted({k for r in runs for k in r.metrics if math.isfinite(r.metrics[k])})
    complete_metrics = [k for k in metric_keys if all(k in r.metrics for r in runs)]
    x_key = _pick(query.get("x", ""), numeric)
    y_key = _pick(query.get("y", ""), metric_keys)
    dimensions = [
        {"label": f"param {k}", "values": [_as_number(result.params[k][str(r.id)]) for r in runs]}
        for k in numeric
    ] + [{"label": f"metric {k}", "values": [r.metrics[k] for r in runs]} for k in complete_metrics]
    scatter = None
    if x_key and y_key:
        points = [r for r in runs if y_key in r.metrics]
        scatter = {
            "x_label": x_key,
            "y_label": y_key,
            "x": [_as_number(result.params[x_key][str(r.id)]) for r in points],
            "y": [r.metrics[y_key] for r in points],
            "names": [r.name for r in points],
        }
    data = {
        "runs": [{"id": str(r.id), "name": r.name} for r in runs],
        "metrics": [
            {"key": m.key, "steps": m.steps, "values": m.values, "truncated": m.truncated}
            for m in result.metrics
        ],
        "parallel": dimensions if len(dimensions) >= 2 else [],
        "scatter": scatter,
    }
    return render(
        page,
        "tracking_compare.html",
        active="experiments",
        runs=runs,
        project_names=_project_names(page),
        params=result.params,
        differing=set(result.differing_params),
        charts=chart_json(data),
        numeric_params=numeric,
        metric_keys=metric_keys,
        x_key=x_key,
        y_key=y_key,
        run_ids=[str(r.id) for r in runs],
    )
