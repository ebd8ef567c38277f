"""Data drift from two dataset profiles: per column and for the dataset, without raw rows.

Every statistic is computed from the profiles' sketches (see ``docs/monitoring.md``, "Drift"):

* numeric columns: KS from both KLL sketches' CDFs, evaluated at both sketches' quantiles on a
  fine grid (within the sketches' rank error of about 1.3 % each, 99 % confidence, of the
  exact statistic; the p-value is computed for the statistic less both errors, so sketch
  error alone never makes a column drift); W1 from both quantile functions on the same grid,
  divided by the reference's standard deviation (as Evidently normalises); PSI and
  Jensen-Shannon on ``bins`` bins cut at the reference's quantiles.
* categorical columns: buckets from the frequent-items counts (exact while a column has at
  most 192 distinct values per profiled batch) plus an "other" bucket for the rest; float
  columns with few values, which have no frequent items, get one bucket per value from KLL.
* nulls are left out of those statistics (as Evidently drops them) and compared on their own:
  a change of the null share of at least ``null_share_threshold`` makes the column drift.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Final

from ..errors import InvalidArgument
from ._drift_options import (
    CATEGORICAL_METHODS,
    NUMERIC_METHODS,
    P_VALUE_METHODS,
    ColumnDriftSpec,
    DriftOptions,
    Kind,
    default_threshold,
)
from ._drift_sketches import NotComparable, column_statistic, valid_count

if TYPE_CHECKING:
    from ..profiles import ColumnProfile, DatasetProfile

__all__ = ["ColumnDrift", "DriftReport", "compare_profiles"]

_NUMERIC_TYPES: Final = frozenset({"int", "float"})
_CATEGORICAL_TYPES: Final = frozenset({"string", "bool"})


def _finite(value: float | None) -> float | None:
    return value if value is not None and math.isfinite(value) else None


@dataclass(frozen=True)
class ColumnDrift:
    """The drift verdict of one column.

    ``statistic`` is the method's score (KS D, chi-squared, z, or the distance); ``p_value`` is
    set for the tests (KS, chi-squared, z), which drift when ``p_value < threshold``; the
    distances drift when ``statistic >= threshold``. ``null_share_drifted`` says the null
    share alone changed enough. A column that cannot be compared (only in one profile, PII,
    no rows, a type that has no drift method) has ``comparable`` False, a ``reason``, and
    counts in no share.
    """

    column: str
    comparable: bool
    kind: str | None
    method: str | None
    statistic: float | None
    threshold: float | None
    p_value: float | None
    drifted: bool
    null_share_drifted: bool
    reference_count: int | None
    reference_null_share: float | None
    current_count: int | None
    current_null_share: float | None
    reason: str | None = None

    def to_json(self) -> dict[str, Any]:
        return {
            "column": self.column,
            "comparable": self.comparable,
            "kind": self.kind,
            "method": self.method,
            "statistic": _finite(self.statistic),
            "threshold": self.threshold,
            "p_value": self.p_value,
            "drifted": self.drifted,
            "null_share_drifted": self.null_share_drifted,
            "reference": {"count": self.reference_count, "null_share": self.reference_null_share},
            "current": {"count": self.current_count, "null_share": self.current_null_share},
            "reason": self.reason,
        }


@dataclass(frozen=True)
class DriftReport:
    """Drift of a dataset: each column's verdict and the dataset's.

    ``share_drifted`` is drifted / compared columns; the dataset ``drifted`` when that share
    is at least ``drift_share`` (and at least one column was compared).
    """

    columns: tuple[ColumnDrift, ...]
    drift_share: float
    compared: int
    drifted_columns: int
    share_drifted: float
    drifted: bool

    def column(self, name: str) -> ColumnDrift:
        """The result for column ``name``; InvalidArgument if the report has none."""
        for result in self.columns:
            if result.column == name:
                return result
        raise InvalidArgument(f"the drift report has no column {name!r}")

    def drifted_names(self) -> list[str]:
        """Names of the columns that drifted, in report order."""
        return [c.column for c in self.columns if c.drifted]

    def to_json(self) -> dict[str, Any]:
        return {
            "drifted": self.drifted,
            "share_drifted": self.share_drifted,
            "drift_share": self.drift_share,
            "compared": self.compared,
            "drifted_columns": self.drifted_columns,
            "columns": [c.to_json() for c in self.columns],
        }


# -- deciding what to compute -------------------------------------------------------------------


def _kind(reference: ColumnProfile, current: ColumnProfile, options: DriftOptions) -> Kind:
    ref_type, cur_type = reference.inferred_type, current.inferred_type
    base = ref_type or cur_type
    changed = ref_type and cur_type and ref_type != cur_type
    if changed and not {ref_type, cur_type} <= _NUMERIC_TYPES:
        raise NotComparable(f"the value type changed from {ref_type} to {cur_type}")
    if base in _NUMERIC_TYPES:
        few = reference.distinct_estimate() <= options.categorical_max_distinct + 0.5
        return "categorical" if ref_type and few else "numeric"
    if base in _CATEGORICAL_TYPES:
        return "categorical"
    raise NotComparable(f"{base} columns have no drift method")


def _method(
    spec: ColumnDriftSpec, kind: Kind, reference: ColumnProfile, options: DriftOptions
) -> str:
    if spec.method is not None:
        return spec.method
    small = reference.count <= options.small_reference
    if kind == "numeric":
        return "ks" if small else "wasserstein"
    if not small:
        return "jensenshannon"
    return "z" if reference.distinct_estimate() <= 2.5 else "chisquare"


# -- comparing ----------------------------------------------------------------------------------


def _null_share(profile: ColumnProfile | None) -> float | None:
    if profile is None or profile.count == 0:
        return None
    return profile.null_count / profile.count


def _not_comparable(
    name: str, reference: ColumnProfile | None, current: ColumnProfile | None, reason: str
) -> ColumnDrift:
    return ColumnDrift(
        column=name,
        comparable=False,
        kind=None,
        method=None,
        statistic=None,
        threshold=None,
        p_value=None,
        drifted=False,
        null_share_drifted=False,
        reference_count=reference.count if reference is not None else None,
        reference_null_share=_null_share(reference),
        current_count=current.count if current is not None else None,
        current_null_share=_null_share(current),
        reason=reason,
    )


def _obstacle(reference: ColumnProfile | None, current: ColumnProfile | None) -> str | None:
    if reference is None:
        return "the column is only in the current profile"
    if current is None:
        return "the column is only in the reference profile"
    if reference.pii or current.pii:
        return "PII column: its profile keeps no values to compare"
    if reference.count == 0 or current.count == 0:
        side = "reference" if reference.count == 0 else "current"
        return f"the {side} profile has no rows of this column"
    if valid_count(reference) == 0 and valid_count(current) == 0:
        return "the column has only nulls on both sides"
    return None


def _compare_column(
    name: str, reference: ColumnProfile | None, current: ColumnProfile | None, options: DriftOptions
) -> ColumnDrift:
    obstacle = _obstacle(reference, current)
    if obstacle is not None:
        return _not_comparable(name, reference, current, obstacle)
    assert reference is not None
    assert current is not None
    own = options.columns.get(name)
    try:
        kind: Kind = (
            own.kind
            if own is not None and own.kind is not None
            else _kind(reference, current, options)
        )
    except NotComparable as exc:
        return _not_comparable(name, reference, current, str(exc))
    try:
        spec = options.spec_for(name, kind)
    except InvalidArgument as exc:
        raise InvalidArgument(f"drift options for column {name!r}: {exc.message}") from None
    method = _method(spec, kind, reference, options)
    allowed = NUMERIC_METHODS if kind == "numeric" else CATEGORICAL_METHODS
    if method not in allowed:
        raise InvalidArgument(
            f"drift method {method!r} does not apply to column {name!r}, which is {kind}; "
            f"choose one of {sorted(allowed)}"
        )
    threshold = spec.threshold if spec.threshold is not None else default_threshold(method)
    if method in P_VALUE_METHODS and not 0 < threshold < 1:
        raise InvalidArgument(
            f"drift threshold for column {name!r} ({method}) is a p-value: it must be between "
            f"0 and 1, got {threshold!r}"
        )
    statistic: float | None = None
    p_value: float | None = None
    drifted = False
    if valid_count(reference) and valid_count(current):
        try:
            statistic, p_value = column_statistic(method, kind, reference, current, options.bins)
        except NotComparable as exc:
            return _not_comparable(name, reference, current, str(exc))
        drifted = p_value < threshold if p_value is not None else statistic >= threshold
    ref_nulls, cur_nulls = _null_share(reference), _null_share(current)
    assert ref_nulls is not None
    assert cur_nulls is not None
    null_drifted = (
        options.null_share_threshold is not None
        and abs(cur_nulls - ref_nulls) >= options.null_share_threshold
    )
    return ColumnDrift(
        column=name,
        comparable=True,
        kind=kind,
        method=method,
        statistic=statistic,
        threshold=threshold,
        p_value=p_value,
        drifted=bool(drifted or null_drifted),
        null_share_drifted=bool(null_drifted),
        reference_count=reference.count,
        reference_null_share=ref_nulls,
        current_count=current.count,
        current_null_share=cur_nulls,
        reason="the null share changed" if null_drifted and not drifted else None,
    )


def _names(reference: DatasetProfile, current: DatasetProfile) -> Iterable[str]:
    seen = dict.fromkeys(reference.columns)
    seen.update(dict.fromkeys(current.columns))
    return seen


def compare_profiles(
    reference: DatasetProfile, current: DatasetProfile, options: DriftOptions | None = None
) -> DriftReport:
    """Compare a current profile with a reference one: per-column drift and dataset drift.

    Columns come in the reference's order, then those only in the current profile. Columns
    that cannot be compared get a result with ``comparable`` False and a reason. Raises
    InvalidArgument if an input is not a ``DatasetProfile``, ``options`` is not a
    ``DriftOptions``, options name a column in neither profile, or a column's method does
    not fit its kind (``ks`` on a string column, a p-value threshold of 2).
    """
    from ..profiles import DatasetProfile

    for label, value in (("reference", reference), ("current", current)):
        if not isinstance(value, DatasetProfile):
            raise InvalidArgument(f"{label} must be a DatasetProfile, got {type(value).__name__}")
    if options is None:
        options = DriftOptions()
    elif not isinstance(options, DriftOptions):
        raise InvalidArgument(f"options must be DriftOptions, got {type(options).__name__}")
    names = list(_names(reference, current))
    unknown = sorted(set(options.columns) - set(names))
    if unknown:
        raise InvalidArgument(f"drift options name columns in neither profile: {unknown}")
    results = tuple(
        _compare_column(name, reference.columns.get(name), current.columns.get(name), options)
        for name in names
    )
    compared = sum(r.comparable for r in results)
    drifted = sum(r.drifted for r in results)
    share = drifted / compared if compared else 0.0
    return DriftReport(
        columns=results,
        drift_share=options.drift_share,
        compared=compared,
        drifted_columns=drifted,
        share_drifted=share,
        drifted=compared > 0 and share >= options.drift_share,
    )
