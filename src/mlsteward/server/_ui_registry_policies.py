"""Alias policies in the registry UI: conditions in words, and the policy editor's form.

The editor offers every registered condition type: a checkbox for each type that takes no
parameters, and rows of metric name + threshold for ``metric_at_least``/``metric_at_most``. A
stored condition the form cannot express (a plugin's, with parameters) is kept as it is while
its box stays ticked. The service validates whatever the form sends.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from ..errors import InvalidArgument
from ..registry import condition_types

METRIC_TYPES = ("metric_at_least", "metric_at_most")
BLANK_METRIC_ROWS = 2
"""Empty metric rows the editor offers beyond the conditions already set."""


def _text(value: Any) -> str:
    if isinstance(value, str):
        return value
    return json.dumps(value, sort_keys=True, ensure_ascii=False, default=str)


def describe_condition(condition: Mapping[str, Any]) -> str:
    """A policy condition in words, e.g. ``metric 'auc' >= 0.9``."""
    kind = str(condition.get("type", ""))
    params = {k: v for k, v in condition.items() if k != "type"}
    if kind == "approval":
        return "approved by a maintainer other than the requester"
    if kind in METRIC_TYPES and {"metric", "threshold"} <= set(params):
        relation = ">=" if kind == "metric_at_least" else "<="
        return f"metric {params['metric']!r} {relation} {_text(params['threshold'])}"
    if kind == "clean_scan":
        return "the model files passed the scan"
    if kind == "signed_package":
        return "a package signed by a trusted key"
    known = condition_types()
    described = known.get(kind, "condition type not installed on this server")
    return f"{kind}: {described}" + (f" {_text(params)}" if params else "")


def flag_types() -> list[tuple[str, str]]:
    """(name, description) of the condition types the editor offers as checkboxes."""
    return [(k, v) for k, v in condition_types().items() if k not in METRIC_TYPES]


@dataclass(frozen=True)
class MetricRow:
    """One metric condition as the form shows it (``kind`` is one of ``METRIC_TYPES``)."""

    kind: str = METRIC_TYPES[0]
    metric: str = ""
    threshold: str = ""


@dataclass(frozen=True)
class PolicyEditor:
    """The policy form of one alias: the ticked types, the metric rows (blank ones included),
    the conditions kept as they are (as JSON, in words), and the error of the last save."""

    alias: str
    flags: frozenset[str] = frozenset()
    metric_rows: tuple[MetricRow, ...] = (MetricRow(),) * BLANK_METRIC_ROWS
    kept: tuple[tuple[str, str], ...] = ()
    error: str | None = None


def _threshold_text(value: Any) -> str:
    if isinstance(value, float) and value.is_integer() and abs(value) < 1e15:
        return str(int(value))  # 1 rather than 1.0
    return _text(value)


def _kept(condition: Mapping[str, Any]) -> tuple[str, str]:
    return json.dumps(condition, sort_keys=True, ensure_ascii=False), describe_condition(condition)


def editor_for(alias: str, conditions: Sequence[Mapping[str, Any]]) -> PolicyEditor:
    """The form for the stored conditions of ``alias``."""
    flags, rows, kept = set(), [], []
    installed = condition_types()
    for condition in conditions:
        kind = str(condition.get("type", ""))
        params = {k: v for k, v in condition.items() if k != "type"}
        if kind in METRIC_TYPES and set(params) == {"metric", "threshold"}:
            rows.append(
                MetricRow(kind, _text(params["metric"]), _threshold_text(params["threshold"]))
            )
        elif kind in installed and kind not in METRIC_TYPES and not params:
            flags.add(kind)
        else:
            kept.append(_kept(condition))
    blank = (MetricRow(),) * BLANK_METRIC_ROWS
    return PolicyEditor(alias, frozenset(flags), (*rows, *blank), tuple(kept))


def editor_from_form(
    alias: str,
    flags: Sequence[str],
    rows: Sequence[MetricRow],
    keep: Sequence[str],
    error: str,
) -> PolicyEditor:
    """The form as it was sent, with the error that refused it (nothing sent is lost)."""
    kept = []
    for text in keep:
        try:
            condition = json.loads(text)
        except ValueError:
            condition = None
        words = describe_condition(condition) if isinstance(condition, dict) else "unreadable"
        kept.append((text, words))
    filled = [r for r in rows if r.metric.strip() or r.threshold.strip()]
    blank = (MetricRow(),) * BLANK_METRIC_ROWS
    return PolicyEditor(alias, frozenset(flags), (*filled, *blank), tuple(kept), error)


def metric_rows(
    kinds: Sequence[str], metrics: Sequence[str], thresholds: Sequence[str]
) -> list[MetricRow]:
    """The form's parallel lists as rows; ``InvalidArgument`` when they do not line up."""
    if not len(kinds) == len(metrics) == len(thresholds):
        raise InvalidArgument("the metric conditions are malformed: reload the page and try again")
    return [MetricRow(k, m, t) for k, m, t in zip(kinds, metrics, thresholds, strict=True)]


def conditions_from_form(
    flags: Sequence[str], rows: Sequence[MetricRow], keep: Sequence[str]
) -> list[dict[str, Any]]:
    """The conditions the form asks for, in the form's order; empty metric rows are skipped.
    ``InvalidArgument`` naming the row for a half-filled row or a threshold that is not a
    number (the service checks the rest when saving)."""
    offered = dict(flag_types())
    conditions: list[dict[str, Any]] = []
    for flag in dict.fromkeys(flags):
        if flag not in offered:
            raise InvalidArgument(
                f"there is no condition type {flag[:64]!r} here: tick one of those listed"
            )
        conditions.append({"type": flag})
    for number, row in enumerate(rows, start=1):
        metric, threshold = row.metric.strip(), row.threshold.strip()
        if not metric and not threshold:
            continue
        if row.kind not in METRIC_TYPES:
            raise InvalidArgument(f"metric row {number}: choose 'at least' or 'at most'")
        if not metric or not threshold:
            raise InvalidArgument(f"metric row {number}: give both a metric name and a threshold")
        try:
            value = float(threshold)
        except ValueError:
            raise InvalidArgument(
                f"metric row {number}: the threshold must be a number, not {threshold[:20]!r}"
            ) from None
        if not math.isfinite(value):
            raise InvalidArgument(f"metric row {number}: the threshold must be a finite number")
        conditions.append({"type": row.kind, "metric": metric, "threshold": value})
    for text in keep:
        try:
            condition = json.loads(text)
        except ValueError:
            condition = None
        if not isinstance(condition, dict):
            raise InvalidArgument("a kept condition is malformed: reload the page and try again")
        conditions.append(condition)
    return conditions
