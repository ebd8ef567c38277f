"""The data of a monitoring report: per window drift, quality, fairness and infrastructure
figures, and reference-vs-current distributions per feature. JSON-ready (with a type tag and a
``schema_version``) and independent of how it was computed, so a report can be rebuilt from
stored monitor results or from profiles (:func:`build_report`), written as JSON and rendered
as HTML (:func:`render_report_html`).
"""

from __future__ import annotations

import datetime as dt
import json
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from functools import reduce
from typing import TYPE_CHECKING, Any, Final

import numpy as np

from .._wire import iso
from ..errors import InvalidArgument
from ._drift import DriftReport, compare_profiles
from ._drift_options import DriftOptions
from ._fairness import FairnessReport
from ._quality import WindowQuality
from ._report_codec import (
    drift_report_from_json,
    fairness_report_from_json,
    integer,
    mapping,
    number,
    required,
    text,
    window_quality_from_json,
)

if TYPE_CHECKING:
    from ..profiles import ColumnProfile, DatasetProfile
    from ._monitor_model import MonitorResult

__all__ = [
    "MONITORING_REPORT_TYPE",
    "OTHER",
    "FeatureDistribution",
    "MonitoringReport",
    "ReportWindow",
    "build_report",
    "distributions_from_profiles",
]

MONITORING_REPORT_TYPE: Final = "mlsteward.monitoring_report"
SCHEMA_VERSION: Final = 1
OTHER: Final = "(other)"
MAX_TITLE: Final = 200
_KINDS: Final = ("numeric", "categorical")


def _time(value: object, where: str) -> dt.datetime:
    if not isinstance(value, dt.datetime) or value.tzinfo is None:
        raise InvalidArgument(
            f"{where} must be a datetime with a timezone (datetime.now(UTC)), got {value!r:.60}"
        )
    return value


def _parse_time(value: object, where: str) -> dt.datetime:
    if not isinstance(value, str):
        raise InvalidArgument(f"{where} must be an ISO 8601 time")
    try:
        moment = dt.datetime.fromisoformat(value)
    except ValueError:
        raise InvalidArgument(f"{where} must be an ISO 8601 time, not {value[:40]!r}") from None
    return _time(moment, where)


def _json_value(value: object, where: str) -> Any:
    """``value`` if it is plain JSON (no NaN or infinity); ``InvalidArgument`` otherwise."""
    try:
        json.dumps(value, allow_nan=False)
    except (TypeError, ValueError) as exc:
        raise InvalidArgument(f"{where} must be plain JSON data: {exc}") from None
    return value


def _shares(values: object, where: str) -> tuple[float, ...]:
    if not isinstance(values, list | tuple):
        raise InvalidArgument(f"{where} must be a list of numbers")
    return tuple(float(number(v, where) or 0.0) for v in values)


@dataclass(frozen=True)
class ReportWindow:
    """One window of a report: ``[start, end)``, its ``rows`` and what was measured on it.

    ``drift``, ``quality`` and ``fairness`` are None where not measured; ``infra`` maps a
    figure's name (``requests``, ``error_rate``, ``latency_p95_ms``...) to its value, None
    where unknown.
    """

    start: dt.datetime
    end: dt.datetime
    rows: int
    drift: DriftReport | None = None
    quality: WindowQuality | None = None
    fairness: FairnessReport | None = None
    infra: Mapping[str, float | None] = field(default_factory=dict)

    def __post_init__(self) -> None:
        start, end = _time(self.start, "window start"), _time(self.end, "window end")
        if not start < end:
            raise InvalidArgument(f"a window must end after it starts ({iso(start)})")
        if isinstance(self.rows, bool) or not isinstance(self.rows, int) or self.rows < 0:
            raise InvalidArgument(f"window rows must be a whole number >= 0, got {self.rows!r}")
        for name, value, cls in (
            ("drift", self.drift, DriftReport),
            ("quality", self.quality, WindowQuality),
            ("fairness", self.fairness, FairnessReport),
        ):
            if value is not None and not isinstance(value, cls):
                raise InvalidArgument(
                    f"window {name} must be a {cls.__name__} or None, got {type(value).__name__}"
                )
        if not isinstance(self.infra, Mapping):
            raise InvalidArgument("window infra must map figure names to numbers")
        for key, figure in self.infra.items():
            if not isinstance(key, str) or not key:
                raise InvalidArgument("window infra keys must be non-empty strings")
            number(figure, f"infra figure {key[:60]!r}", optional=True)

    def to_json(self) -> dict[str, Any]:
        return {
            "start": iso(self.start),
            "end": iso(self.end),
            "rows": self.rows,
            "drift": None if self.drift is None else self.drift.to_json(),
            "quality": None if self.quality is None else self.quality.to_json(),
            "fairness": None if self.fairness is None else self.fairness.to_json(),
            "infra": dict(self.infra),
        }

    @classmethod
    def from_json(cls, data: object, where: str = "window") -> ReportWindow:
        """The window ``to_json`` wrote; ``InvalidArgument`` naming the field otherwise."""
        data = mapping(data, where)
        drift, quality, fairness = (data.get(k) for k in ("drift", "quality", "fairness"))
        infra = mapping(data.get("infra", {}), f"{where}.infra")
        return cls(
            start=_parse_time(required(data, "start", where), f"{where}.start"),
            end=_parse_time(required(data, "end", where), f"{where}.end"),
            rows=int(integer(required(data, "rows", where), f"{where}.rows") or 0),
            drift=None if drift is None else drift_report_from_json(drift, f"{where}.drift"),
            quality=(
                None if quality is None else window_quality_from_json(quality, f"{where}.quality")
            ),
            fairness=(
                None
                if fairness is None
                else fairness_report_from_json(fairness, f"{where}.fairness")
            ),
            infra={
                str(k): number(v, f"{where}.infra.{str(k)[:60]}", optional=True)
                for k, v in infra.items()
            },
        )

    @classmethod
    def from_result(cls, result: MonitorResult) -> ReportWindow:
        """The window of a stored monitor result (:func:`list_monitor_results`): its drift,
        quality and fairness where they were computed, and its ``infra.*`` metrics (without
        the prefix) as infrastructure figures. ``InvalidArgument`` for a malformed result."""
        report = mapping(getattr(result, "report", None), "the result's report")
        metrics = mapping(getattr(result, "metrics", None), "the result's metrics")
        drift, quality, fairness = (report.get(k) for k in ("drift", "quality", "fairness"))
        # A window without labels stores its coverage only, one without rows a reason only.
        if isinstance(quality, Mapping) and "rows" not in quality:
            quality = None
        if isinstance(fairness, Mapping) and "type" not in fairness:
            fairness = None
        infra = {k.removeprefix("infra."): v for k, v in metrics.items() if k.startswith("infra.")}
        rows = infra.get("rows")
        return cls(
            start=result.window_start,
            end=result.window_end,
            rows=int(rows) if isinstance(rows, int | float) and math.isfinite(rows) else 0,
            drift=None if drift is None else drift_report_from_json(drift, "result drift"),
            quality=None
            if quality is None
            else window_quality_from_json(quality, "result quality"),
            fairness=(
                None if fairness is None else fairness_report_from_json(fairness, "result fairness")
            ),
            infra=infra,
        )


@dataclass(frozen=True)
class FeatureDistribution:
    """A feature's distribution in the reference and in the current data, on common buckets.

    ``numeric``: ``edges`` (one more than buckets; the first and last bucket also hold the
    values beyond them); ``categorical``: ``labels`` (the most frequent values, then
    ``(other)``). ``reference`` and ``current`` are each side's share of its non-null values
    per bucket (all 0.0 for a side without values); the null shares are of all rows (None
    without rows).
    """

    column: str
    kind: str
    edges: tuple[float, ...]
    labels: tuple[str, ...]
    reference: tuple[float, ...]
    current: tuple[float, ...]
    reference_null_share: float | None
    current_null_share: float | None

    def __post_init__(self) -> None:
        if not isinstance(self.column, str) or not self.column:
            raise InvalidArgument("a distribution's column must be a non-empty string")
        if self.kind not in _KINDS:
            raise InvalidArgument(
                f"distribution kind must be numeric or categorical: {self.kind!r}"
            )
        buckets = len(self.edges) - 1 if self.kind == "numeric" else len(self.labels)
        if buckets < 1 or len(self.reference) != buckets or len(self.current) != buckets:
            raise InvalidArgument(
                f"distribution of {self.column[:60]!r}: the shares must have one value per "
                f"bucket ({max(buckets, 0)})"
            )
        if any(not 0.0 <= v <= 1.0 for v in (*self.reference, *self.current)):
            raise InvalidArgument(f"distribution of {self.column[:60]!r}: shares are 0 to 1")
        if any(b < a for a, b in zip(self.edges, self.edges[1:], strict=False)):
            raise InvalidArgument(f"distribution of {self.column[:60]!r}: edges must ascend")

    @property
    def buckets(self) -> list[str]:
        """A label per bucket: the category, or the numeric range."""
        if self.kind == "categorical":
            return list(self.labels)
        return [f"{a:.4g} to {b:.4g}" for a, b in zip(self.edges, self.edges[1:], strict=False)]

    def to_json(self) -> dict[str, Any]:
        return {
            "column": self.column,
            "kind": self.kind,
            "edges": list(self.edges),
            "labels": list(self.labels),
            "reference": list(self.reference),
            "current": list(self.current),
            "reference_null_share": self.reference_null_share,
            "current_null_share": self.current_null_share,
        }

    @classmethod
    def from_json(cls, data: object, where: str = "distribution") -> FeatureDistribution:
        """The distribution ``to_json`` wrote; ``InvalidArgument`` naming the field otherwise."""
        data = mapping(data, where)
        labels = required(data, "labels", where)
        if not isinstance(labels, list) or not all(isinstance(v, str) for v in labels):
            raise InvalidArgument(f"{where}.labels must be a list of strings")
        return cls(
            column=str(text(required(data, "column", where), f"{where}.column")),
            kind=str(text(required(data, "kind", where), f"{where}.kind")),
            edges=_shares(required(data, "edges", where), f"{where}.edges"),
            labels=tuple(labels),
            reference=_shares(required(data, "reference", where), f"{where}.reference"),
            current=_shares(required(data, "current", where), f"{where}.current"),
            reference_null_share=number(
                data.get("reference_null_share"), f"{where}.reference_null_share", optional=True
            ),
            current_null_share=number(
                data.get("current_null_share"), f"{where}.current_null_share", optional=True
            ),
        )


@dataclass(frozen=True)
class MonitoringReport:
    """A monitoring report: ``subject`` says what was monitored (``monitor``, ``model``,
    ``version``, ``deployment``, ``reference``: JSON values), ``windows`` oldest first."""

    title: str
    subject: Mapping[str, Any]
    generated_at: dt.datetime
    windows: list[ReportWindow]
    distributions: list[FeatureDistribution]
    alerts: list[dict[str, Any]] = field(default_factory=list)

    def __post_init__(self) -> None:
        if not isinstance(self.title, str) or not 0 < len(self.title) <= MAX_TITLE:
            raise InvalidArgument(f"the title must be a non-empty string of at most {MAX_TITLE}")
        if not isinstance(self.subject, Mapping) or not all(
            isinstance(k, str) for k in self.subject
        ):
            raise InvalidArgument("the subject must map names (strings) to JSON values")
        _json_value(dict(self.subject), "the subject")
        _time(self.generated_at, "generated_at")
        for name, items, cls in (
            ("windows", self.windows, ReportWindow),
            ("distributions", self.distributions, FeatureDistribution),
            ("alerts", self.alerts, dict),
        ):
            if not isinstance(items, list) or not all(isinstance(i, cls) for i in items):
                raise InvalidArgument(f"{name} must be a list of {cls.__name__}")
        starts = [w.start for w in self.windows]
        if starts != sorted(starts):
            raise InvalidArgument("the windows must be in time order, oldest first")
        columns = [d.column for d in self.distributions]
        if len(set(columns)) != len(columns):
            raise InvalidArgument("each column may have one distribution only")
        _json_value(self.alerts, "the alerts")

    def to_json(self) -> dict[str, Any]:
        return {
            "type": MONITORING_REPORT_TYPE,
            "schema_version": SCHEMA_VERSION,
            "title": self.title,
            "subject": dict(self.subject),
            "generated_at": iso(self.generated_at),
            "windows": [w.to_json() for w in self.windows],
            "distributions": [d.to_json() for d in self.distributions],
            "alerts": list(self.alerts),
        }

    @classmethod
    def from_json(cls, data: object) -> MonitoringReport:
        """The report ``to_json`` wrote; ``InvalidArgument`` naming the field otherwise."""
        data = mapping(data, "the report")
        if data.get("type") != MONITORING_REPORT_TYPE:
            raise InvalidArgument(
                f"expected type {MONITORING_REPORT_TYPE!r}, got {str(data.get('type'))[:60]!r}"
            )
        version = data.get("schema_version")
        if isinstance(version, bool) or version != SCHEMA_VERSION:
            raise InvalidArgument(
                f"monitoring report schema_version {version!r} is not supported (this release "
                f"reads {SCHEMA_VERSION}); upgrade mlsteward to read it"
            )
        lists = {}
        for key in ("windows", "distributions", "alerts"):
            value = data.get(key, [])
            if not isinstance(value, list):
                raise InvalidArgument(f"the report's {key} must be a list")
            lists[key] = value
        return cls(
            title=str(text(required(data, "title", "the report"), "title")),
            subject=dict(mapping(data.get("subject", {}), "subject")),
            generated_at=_parse_time(required(data, "generated_at", "the report"), "generated_at"),
            windows=[
                ReportWindow.from_json(w, f"windows[{i}]") for i, w in enumerate(lists["windows"])
            ],
            distributions=[
                FeatureDistribution.from_json(d, f"distributions[{i}]")
                for i, d in enumerate(lists["distributions"])
            ],
            alerts=[dict(mapping(a, f"alerts[{i}]")) for i, a in enumerate(lists["alerts"])],
        )


# -- distributions from profiles ------------------------------------------------------------


def _pmf(column: ColumnProfile, edges: np.ndarray) -> tuple[float, ...]:
    """Shares of the buckets cut at ``edges``' inner points (the outer buckets open-ended)."""
    # ColumnProfile reads a histogram over its own range only; its KLL sketch gives the shares
    # over common edges (as ColumnProfile.histogram computes them).
    sketch = column._kll
    if sketch is None or sketch.is_empty():
        return (0.0,) * (len(edges) - 1)
    inner = edges[1:-1].tolist()
    shares = sketch.get_pmf(inner) if inner else [1.0]
    return tuple(max(float(s), 0.0) for s in shares)


def _numeric(
    name: str, reference: ColumnProfile, current: ColumnProfile, bins: int
) -> FeatureDistribution | None:
    bounds = [
        float(v)
        for side in (reference, current)
        for v in (side.min, side.max, side.quantile(0.0), side.quantile(1.0))
        if v is not None and math.isfinite(float(v))
    ]
    if not bounds:
        return None
    lo, hi = min(bounds), max(bounds)
    edges = np.array([lo, hi]) if lo == hi else np.linspace(lo, hi, bins + 1)
    return FeatureDistribution(
        column=name,
        kind="numeric",
        edges=tuple(float(e) for e in edges),
        labels=(),
        reference=_pmf(reference, edges),
        current=_pmf(current, edges),
        reference_null_share=_null_share(reference),
        current_null_share=_null_share(current),
    )


def _categorical(
    name: str, reference: ColumnProfile, current: ColumnProfile, top: int
) -> FeatureDistribution:
    ref, cur = dict(reference.frequent(100_000)), dict(current.frequent(100_000))
    values = (set(ref) | set(cur)) - {OTHER}  # a value "(other)" counts among the others
    ranked = sorted(values, key=lambda v: (-(ref.get(v, 0) + cur.get(v, 0)), v))
    labels = ranked[:top]
    if all(_numeric_text(v) for v in labels):  # 0, 1, 2 read better in order
        labels.sort(key=float)

    def shares(counts: dict[str, int], column: ColumnProfile) -> tuple[float, ...]:
        valid = column.count - column.null_count
        listed = [float(counts.get(label, 0)) for label in labels]
        # Estimates never under-count, so listed items can exceed the total a little.
        values = [*listed, max(valid - sum(listed), 0.0)]
        total = sum(values)
        return tuple(v / total if total else 0.0 for v in values)

    return FeatureDistribution(
        column=name,
        kind="categorical",
        edges=(),
        labels=(*labels, OTHER),
        reference=shares(ref, reference),
        current=shares(cur, current),
        reference_null_share=_null_share(reference),
        current_null_share=_null_share(current),
    )


def _numeric_text(value: str) -> bool:
    try:
        return math.isfinite(float(value))
    except ValueError:
        return False


def _null_share(column: ColumnProfile) -> float | None:
    return column.null_count / column.count if column.count else None


def _unavailable(reference: ColumnProfile, current: ColumnProfile) -> str | None:
    if reference.pii or current.pii:
        return "it is a PII column, whose profile keeps no values"
    kinds = {k for k in (reference.inferred_type, current.inferred_type) if k is not None}
    if not kinds:
        return "it has no values"
    if not kinds <= {"int", "float", "string", "bool"}:
        return f"its values are of type {'/'.join(sorted(kinds))}"
    return None


def _bounded(value: object, name: str, high: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= high:
        raise InvalidArgument(f"{name} must be a whole number between 1 and {high}, got {value!r}")
    return value


def distributions_from_profiles(
    reference: DatasetProfile,
    current: DatasetProfile,
    columns: Sequence[str] | None = None,
    bins: int = 20,
    top: int = 15,
) -> list[FeatureDistribution]:
    """Each column's distribution in ``reference`` and ``current``, on common buckets.

    Numeric columns: ``bins`` equal-width buckets over both sides' range, shares from the
    sketches; categorical ones (strings, booleans, numbers with at most 5 distinct values and
    item counts): the ``top`` values most frequent on both sides together, then ``(other)``.
    ``columns``: those to include (default: every column in both profiles that has values of
    a comparable type; PII columns keep no values and are left out). ``InvalidArgument`` for
    inputs that are not profiles, a named column missing from either or without a
    distribution, or ``bins`` / ``top`` outside 1-1000.
    """
    from ..profiles import DatasetProfile

    for label, value in (("reference", reference), ("current", current)):
        if not isinstance(value, DatasetProfile):
            raise InvalidArgument(f"{label} must be a DatasetProfile, got {type(value).__name__}")
    bins, top = _bounded(bins, "bins", 1000), _bounded(top, "top", 1000)
    if columns is not None and (
        isinstance(columns, str) or not all(isinstance(c, str) for c in columns)
    ):
        raise InvalidArgument("columns must be a list of column names")
    names = [n for n in reference.columns if n in current.columns] if columns is None else columns
    max_distinct = DriftOptions().categorical_max_distinct
    result = []
    for name in names:
        ref, cur = reference.columns.get(name), current.columns.get(name)
        if ref is None or cur is None:
            side = "reference" if ref is None else "current"
            raise InvalidArgument(f"column {name[:100]!r} is not in the {side} profile")
        reason = _unavailable(ref, cur)
        if reason is not None:
            if columns is None:
                continue
            raise InvalidArgument(f"column {name[:100]!r} has no distribution: {reason}")
        base = ref.inferred_type or cur.inferred_type
        few = ref.distinct_estimate() <= max_distinct + 0.5 and bool(
            ref.frequent(1) or cur.frequent(1)
        )
        if base in ("string", "bool") or (few and base == "int"):
            result.append(_categorical(name, ref, cur, top))
            continue
        numeric = _numeric(name, ref, cur, bins)
        if numeric is not None:
            result.append(numeric)
        elif columns is not None:
            raise InvalidArgument(f"column {name[:100]!r} has no distribution: no finite values")
    return result


# -- building a report from profiles --------------------------------------------------------


def _aligned(values: Sequence[Any] | None, count: int, name: str) -> list[Any]:
    if values is None:
        return [None] * count
    if isinstance(values, str | bytes | Mapping) or not isinstance(values, Sequence):
        raise InvalidArgument(f"{name} must be a list with one entry (or None) per window")
    if len(values) != count:
        raise InvalidArgument(
            f"{name} has {len(values)} entries for {count} windows: give one (or None) per window"
        )
    return list(values)


def build_report(
    reference: DatasetProfile,
    window_profiles: Sequence[tuple[dt.datetime, dt.datetime, DatasetProfile]],
    *,
    quality: Sequence[WindowQuality | None] | None = None,
    fairness: Sequence[FairnessReport | None] | None = None,
    infra: Sequence[Mapping[str, float | None] | None] | None = None,
    drift_options: DriftOptions | None = None,
    title: str = "Monitoring report",
    subject: Mapping[str, Any] | None = None,
    alerts: Sequence[Mapping[str, Any]] = (),
    generated_at: dt.datetime | None = None,
) -> MonitoringReport:
    """A report of ``window_profiles`` (``(start, end, profile)``, any order) against the
    ``reference`` profile: drift per window (:func:`compare_profiles` with ``drift_options``)
    and the distributions of the reference vs all windows merged.

    ``quality``, ``fairness`` and ``infra``: one entry (or None) per window, in the order of
    ``window_profiles``. ``InvalidArgument`` for a profile that is not one, a window that does
    not end after it starts or has a naive time, lists of another length, or what
    :func:`compare_profiles` rejects; nothing is computed half-way.
    """
    from ..profiles import DatasetProfile

    if not isinstance(reference, DatasetProfile):
        raise InvalidArgument(f"reference must be a DatasetProfile, got {type(reference).__name__}")
    if isinstance(window_profiles, str | bytes) or not isinstance(window_profiles, Sequence):
        raise InvalidArgument("window_profiles must be a list of (start, end, profile) triples")
    for i, item in enumerate(window_profiles):
        if not isinstance(item, tuple | list) or len(item) != 3:
            raise InvalidArgument(f"window_profiles[{i}] must be a (start, end, profile) triple")
        if not isinstance(item[2], DatasetProfile):
            raise InvalidArgument(f"window_profiles[{i}]'s profile must be a DatasetProfile")
    count = len(window_profiles)
    extras = zip(
        _aligned(quality, count, "quality"),
        _aligned(fairness, count, "fairness"),
        _aligned(infra, count, "infra"),
        strict=True,
    )
    windows = [
        ReportWindow(
            start=start,
            end=end,
            rows=profile.row_count,
            drift=compare_profiles(reference, profile, drift_options),
            quality=q,
            fairness=f,
            infra=dict(i or {}),
        )
        for (start, end, profile), (q, f, i) in zip(window_profiles, extras, strict=True)
    ]
    windows.sort(key=lambda w: w.start)
    distributions = []
    if window_profiles:
        merged = reduce(lambda a, b: a.merge(b), (p for _, _, p in window_profiles))
        distributions = distributions_from_profiles(reference, merged)
    return MonitoringReport(
        title=title,
        subject=dict(subject or {}),
        generated_at=generated_at or dt.datetime.now(dt.UTC),
        windows=windows,
        distributions=distributions,
        alerts=[dict(a) for a in alerts],
    )
