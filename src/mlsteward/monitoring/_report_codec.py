"""Readers of the JSON that drift, quality and fairness results write (their ``to_json``), so a
monitoring report read back from a file holds the same objects it was built from.

Every reader raises ``InvalidArgument`` naming the field for anything malformed.
"""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Mapping
from typing import Any

from ..errors import InvalidArgument
from ._drift import ColumnDrift, DriftReport
from ._fairness import FAIRNESS_REPORT_TYPE, FairnessReport, SegmentFairness
from ._quality import (
    CLASSIFICATION_QUALITY_TYPE,
    REGRESSION_QUALITY_TYPE,
    ClassificationQuality,
    RegressionQuality,
    WindowQuality,
)
from ._quality_intervals import MetricEstimate

__all__ = [
    "drift_report_from_json",
    "fairness_report_from_json",
    "flag",
    "integer",
    "mapping",
    "number",
    "required",
    "text",
    "window_quality_from_json",
]

_READABLE_VERSIONS = frozenset({1})


def mapping(data: object, where: str) -> Mapping[str, Any]:
    if not isinstance(data, Mapping):
        raise InvalidArgument(f"{where} must be a JSON object, got {type(data).__name__}")
    return data


def required(data: Mapping[str, Any], key: str, where: str) -> Any:
    if key not in data:
        raise InvalidArgument(f"{where} has no {key!r} field")
    return data[key]


def number(value: object, where: str, *, optional: bool = False) -> float | None:
    if value is None and optional:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise InvalidArgument(f"{where} must be a finite number, got {str(value)[:40]!r}")
    return float(value)


def integer(value: object, where: str, *, optional: bool = False) -> int | None:
    if value is None and optional:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise InvalidArgument(f"{where} must be a whole number >= 0, got {str(value)[:40]!r}")
    return value


def text(value: object, where: str, *, optional: bool = False) -> str | None:
    if value is None and optional:
        return None
    if not isinstance(value, str):
        raise InvalidArgument(f"{where} must be a string, got {type(value).__name__}")
    return value


def flag(value: object, where: str, *, optional: bool = False) -> bool | None:
    if value is None and optional:
        return None
    if not isinstance(value, bool):
        raise InvalidArgument(f"{where} must be true or false, got {str(value)[:40]!r}")
    return value


def _scalar(value: object, where: str) -> Any:
    if value is not None and not isinstance(value, str | int | float | bool):
        raise InvalidArgument(f"{where} must be a string, number or boolean")
    return value


def _check_type(data: Mapping[str, Any], tag: str, where: str) -> None:
    if data.get("type") != tag:
        raise InvalidArgument(f"{where}: expected type {tag!r}, got {data.get('type')!r}")
    version = data.get("schema_version")
    if isinstance(version, bool) or version not in _READABLE_VERSIONS:
        raise InvalidArgument(
            f"{where}: {tag} schema_version {version!r} is not supported (this release reads "
            f"{sorted(_READABLE_VERSIONS)}); upgrade mlsteward to read it"
        )


# -- drift ----------------------------------------------------------------------------------


def _column_drift(data: object, where: str) -> ColumnDrift:
    data = mapping(data, where)
    sides = {}
    for side in ("reference", "current"):
        part = mapping(required(data, side, where), f"{where}.{side}")
        sides[side] = (
            integer(part.get("count"), f"{where}.{side}.count", optional=True),
            number(part.get("null_share"), f"{where}.{side}.null_share", optional=True),
        )
    return ColumnDrift(
        column=str(text(required(data, "column", where), f"{where}.column")),
        comparable=bool(flag(required(data, "comparable", where), f"{where}.comparable")),
        kind=text(data.get("kind"), f"{where}.kind", optional=True),
        method=text(data.get("method"), f"{where}.method", optional=True),
        statistic=number(data.get("statistic"), f"{where}.statistic", optional=True),
        threshold=number(data.get("threshold"), f"{where}.threshold", optional=True),
        p_value=number(data.get("p_value"), f"{where}.p_value", optional=True),
        drifted=bool(flag(required(data, "drifted", where), f"{where}.drifted")),
        null_share_drifted=bool(
            flag(data.get("null_share_drifted", False), f"{where}.null_share_drifted")
        ),
        reference_count=sides["reference"][0],
        reference_null_share=sides["reference"][1],
        current_count=sides["current"][0],
        current_null_share=sides["current"][1],
        reason=text(data.get("reason"), f"{where}.reason", optional=True),
    )


def drift_report_from_json(data: object, where: str = "drift") -> DriftReport:
    """The :class:`DriftReport` that ``DriftReport.to_json`` wrote."""
    data = mapping(data, where)
    columns = required(data, "columns", where)
    if not isinstance(columns, list):
        raise InvalidArgument(f"{where}.columns must be a list")
    return DriftReport(
        columns=tuple(_column_drift(c, f"{where}.columns[{i}]") for i, c in enumerate(columns)),
        drift_share=float(
            number(required(data, "drift_share", where), f"{where}.drift_share") or 0
        ),
        compared=int(integer(required(data, "compared", where), f"{where}.compared") or 0),
        drifted_columns=int(
            integer(required(data, "drifted_columns", where), f"{where}.drifted_columns") or 0
        ),
        share_drifted=float(
            number(required(data, "share_drifted", where), f"{where}.share_drifted") or 0
        ),
        drifted=bool(flag(required(data, "drifted", where), f"{where}.drifted")),
    )


# -- quality --------------------------------------------------------------------------------


def _estimate(data: object, where: str) -> MetricEstimate:
    data = mapping(data, where)
    return MetricEstimate(
        value=number(data.get("value"), f"{where}.value", optional=True),
        lower=number(data.get("lower"), f"{where}.lower", optional=True),
        upper=number(data.get("upper"), f"{where}.upper", optional=True),
        reason=text(data.get("reason"), f"{where}.reason", optional=True),
    )


def _metrics(data: Mapping[str, Any], names: tuple[str, ...], where: str) -> dict[str, Any]:
    metrics = mapping(required(data, "metrics", where), f"{where}.metrics")
    return {n: _estimate(required(metrics, n, f"{where}.metrics"), f"{where}.{n}") for n in names}


def _quality(data: object, where: str) -> ClassificationQuality | RegressionQuality:
    data = mapping(data, where)
    n = int(integer(required(data, "n", where), f"{where}.n") or 0)
    confidence = float(number(required(data, "confidence", where), f"{where}.confidence") or 0)
    if data.get("type") == REGRESSION_QUALITY_TYPE:
        _check_type(data, REGRESSION_QUALITY_TYPE, where)
        return RegressionQuality(
            n=n, confidence=confidence, **_metrics(data, ("mae", "rmse", "r2"), where)
        )
    _check_type(data, CLASSIFICATION_QUALITY_TYPE, where)
    classes = required(data, "classes", where)
    if not isinstance(classes, list):
        raise InvalidArgument(f"{where}.classes must be a list")
    names = ("accuracy", "precision", "recall", "f1", "roc_auc", "log_loss")
    return ClassificationQuality(
        kind=str(text(required(data, "kind", where), f"{where}.kind")),
        n=n,
        classes=tuple(_scalar(c, f"{where}.classes") for c in classes),
        positive_label=_scalar(data.get("positive_label"), f"{where}.positive_label"),
        confidence=confidence,
        **_metrics(data, names, where),
    )


def _moment(value: object, where: str) -> Any:
    """A time ``WindowQuality.to_json`` wrote as ISO text back as a datetime; other values
    (window numbers) as they are."""
    if isinstance(value, str):
        try:
            return dt.datetime.fromisoformat(value)
        except ValueError:
            return value
    return _scalar(value, where)


def window_quality_from_json(data: object, where: str = "quality") -> WindowQuality:
    """The :class:`WindowQuality` that ``WindowQuality.to_json`` wrote."""
    data = mapping(data, where)
    quality = data.get("quality")
    return WindowQuality(
        start=_moment(data.get("start"), f"{where}.start"),
        end=_moment(data.get("end"), f"{where}.end"),
        rows=int(integer(required(data, "rows", where), f"{where}.rows") or 0),
        labelled=int(integer(required(data, "labelled", where), f"{where}.labelled") or 0),
        coverage=float(number(required(data, "coverage", where), f"{where}.coverage") or 0),
        quality=None if quality is None else _quality(quality, f"{where}.quality"),
        reason=text(data.get("reason"), f"{where}.reason", optional=True),
    )


# -- fairness -------------------------------------------------------------------------------


def _segment(data: object, where: str) -> SegmentFairness:
    data = mapping(data, where)

    def rate(key: str) -> float | None:
        return number(data.get(key), f"{where}.{key}", optional=True)

    return SegmentFairness(
        segment=str(text(required(data, "segment", where), f"{where}.segment")),
        rows=int(integer(required(data, "rows", where), f"{where}.rows") or 0),
        too_few_rows=bool(flag(required(data, "too_few_rows", where), f"{where}.too_few_rows")),
        selection_rate=float(
            number(required(data, "selection_rate", where), f"{where}.selection_rate") or 0
        ),
        selection_rate_ratio=rate("selection_rate_ratio"),
        labelled=int(integer(required(data, "labelled", where), f"{where}.labelled") or 0),
        true_positive_rate=rate("true_positive_rate"),
        false_positive_rate=rate("false_positive_rate"),
        accuracy=rate("accuracy"),
        precision=rate("precision"),
        recall=rate("recall"),
    )


def fairness_report_from_json(data: object, where: str = "fairness") -> FairnessReport:
    """The :class:`FairnessReport` that ``FairnessReport.to_json`` wrote."""
    data = mapping(data, where)
    _check_type(data, FAIRNESS_REPORT_TYPE, where)
    segments = required(data, "segments", where)
    notes = data.get("notes", [])
    if not isinstance(segments, list) or not isinstance(notes, list):
        raise InvalidArgument(f"{where}.segments and {where}.notes must be lists")

    def aggregate(key: str) -> float | None:
        return number(data.get(key), f"{where}.{key}", optional=True)

    return FairnessReport(
        sensitive=str(text(required(data, "sensitive", where), f"{where}.sensitive")),
        favourable=_scalar(data.get("favourable"), f"{where}.favourable"),
        reference_group=text(
            data.get("reference_group"), f"{where}.reference_group", optional=True
        ),
        min_rows=int(integer(required(data, "min_rows", where), f"{where}.min_rows") or 0),
        rows=int(integer(required(data, "rows", where), f"{where}.rows") or 0),
        segments=tuple(_segment(s, f"{where}.segments[{i}]") for i, s in enumerate(segments)),
        demographic_parity_difference=aggregate("demographic_parity_difference"),
        demographic_parity_ratio=aggregate("demographic_parity_ratio"),
        four_fifths_rule=flag(
            data.get("four_fifths_rule"), f"{where}.four_fifths_rule", optional=True
        ),
        equalized_odds_difference=aggregate("equalized_odds_difference"),
        true_positive_rate_difference=aggregate("true_positive_rate_difference"),
        false_positive_rate_difference=aggregate("false_positive_rate_difference"),
        notes=tuple(str(text(n, f"{where}.notes")) for n in notes),
    )
