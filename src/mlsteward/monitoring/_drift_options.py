"""What a drift comparison does: methods, thresholds and their defaults, per column or for all.

The defaults follow Evidently's, so results read the same: a reference of at most 1,000 rows
gets a test (KS for numeric columns, chi-squared for categorical ones, a two-proportion z-test
for binary ones; drift when p < 0.05); a larger one gets a distance (normalised Wasserstein for
numeric, Jensen-Shannon for categorical; drift when >= 0.1). The dataset drifts when at least
half of the compared columns do.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any, Final, Literal

from ..errors import InvalidArgument

__all__ = [
    "CATEGORICAL_METHODS",
    "METHODS",
    "NUMERIC_METHODS",
    "P_VALUE_METHODS",
    "ColumnDriftSpec",
    "DriftOptions",
    "default_threshold",
]

Kind = Literal["numeric", "categorical"]

# method -> default threshold. For p-value methods a column drifts when p < threshold; for
# distances when the distance >= threshold.
METHODS: Final = MappingProxyType(
    {
        "ks": 0.05,
        "chisquare": 0.05,
        "z": 0.05,
        "wasserstein": 0.1,
        "jensenshannon": 0.1,
        "psi": 0.1,
    }
)
P_VALUE_METHODS: Final = frozenset({"ks", "chisquare", "z"})
NUMERIC_METHODS: Final = frozenset({"ks", "wasserstein", "psi", "jensenshannon"})
CATEGORICAL_METHODS: Final = frozenset({"chisquare", "z", "psi", "jensenshannon"})
_KINDS: Final = ("numeric", "categorical")
_MAX_BINS: Final = 1000


def default_threshold(method: str) -> float:
    """The default threshold of ``method`` (a p-value or a distance, see ``METHODS``)."""
    return METHODS[method]


def _number(value: object, name: str) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or math.isnan(value):
        raise InvalidArgument(f"{name} must be a number, got {value!r}")
    return float(value)


def _check_threshold(method: str | None, threshold: float | None, where: str) -> None:
    if threshold is None:
        return
    value = _number(threshold, f"{where} threshold")
    if method in P_VALUE_METHODS and not 0 < value < 1:
        raise InvalidArgument(
            f"{where} threshold of {method!r} is a p-value: it must be between 0 and 1 "
            f"(exclusive), got {threshold!r}"
        )
    if not 0 < value < math.inf:
        raise InvalidArgument(f"{where} threshold must be a positive number, got {threshold!r}")


@dataclass(frozen=True)
class ColumnDriftSpec:
    """How to compare one column (or every column of a kind); None means "the default".

    ``kind`` forces the column to be compared as ``"numeric"`` or ``"categorical"`` (for
    instance an integer code column with many values); ``method`` is one of ``METHODS``;
    ``threshold`` a p-value for KS, chi-squared and z (drift when p < threshold), else a
    distance (drift when statistic >= threshold). Raises InvalidArgument on anything else.
    """

    method: str | None = None
    threshold: float | None = None
    kind: Kind | None = None

    def __post_init__(self) -> None:
        if self.method is not None and self.method not in METHODS:
            raise InvalidArgument(
                f"unknown drift method {self.method!r}; choose one of {sorted(METHODS)}"
            )
        if self.kind is not None and self.kind not in _KINDS:
            raise InvalidArgument(f"kind must be 'numeric' or 'categorical', got {self.kind!r}")
        if self.method is not None and self.kind is not None:
            allowed = NUMERIC_METHODS if self.kind == "numeric" else CATEGORICAL_METHODS
            if self.method not in allowed:
                raise InvalidArgument(
                    f"drift method {self.method!r} does not apply to {self.kind} columns; "
                    f"choose one of {sorted(allowed)}"
                )
        _check_threshold(self.method, self.threshold, "drift")

    def to_json(self) -> dict[str, Any]:
        return {"method": self.method, "threshold": self.threshold, "kind": self.kind}


def _check_spec(spec: object, name: str, kind: Kind | None = None) -> ColumnDriftSpec:
    if spec is None:
        return ColumnDriftSpec()
    if not isinstance(spec, ColumnDriftSpec):
        raise InvalidArgument(f"{name} must be a ColumnDriftSpec, got {type(spec).__name__}")
    if kind is not None:
        if spec.kind is not None:
            raise InvalidArgument(f"{name} applies to {kind} columns; it cannot set a kind")
        allowed = NUMERIC_METHODS if kind == "numeric" else CATEGORICAL_METHODS
        if spec.method is not None and spec.method not in allowed:
            raise InvalidArgument(
                f"{name} method {spec.method!r} does not apply to {kind} columns; "
                f"choose one of {sorted(allowed)}"
            )
    return spec


@dataclass(frozen=True)
class DriftOptions:
    """Options of :func:`compare_profiles`; every field has Evidently-like defaults.

    * ``columns``: a :class:`ColumnDriftSpec` per column name (wins over the kind-wide ones);
    * ``numeric`` / ``categorical``: a spec for every column of that kind;
    * ``drift_share``: the dataset drifts when at least this share of compared columns does;
    * ``small_reference``: a reference column of at most this many rows gets the tests (KS,
      chi-squared, z) by default, a larger one the distances;
    * ``categorical_max_distinct``: a numeric column with at most this many distinct values in
      the reference is compared as categorical;
    * ``bins``: PSI and Jensen-Shannon bins for numeric columns, cut at the reference's
      quantiles (equal reference shares);
    * ``null_share_threshold``: a column also drifts when its share of nulls changes by at
      least this much (absolute); None turns that check off.

    Raises InvalidArgument for a bad value.
    """

    columns: Mapping[str, ColumnDriftSpec] = field(default_factory=dict)
    numeric: ColumnDriftSpec | None = None
    categorical: ColumnDriftSpec | None = None
    drift_share: float = 0.5
    small_reference: int = 1000
    categorical_max_distinct: int = 5
    bins: int = 10
    null_share_threshold: float | None = 0.1

    def __post_init__(self) -> None:
        if not isinstance(self.columns, Mapping):
            raise InvalidArgument("columns must map column names to ColumnDriftSpec")
        for name, spec in self.columns.items():
            if not isinstance(name, str):
                raise InvalidArgument(f"column names in columns must be strings, got {name!r}")
            _check_spec(spec, f"columns[{name!r}]")
        object.__setattr__(self, "columns", MappingProxyType(dict(self.columns)))
        _check_spec(self.numeric, "numeric", "numeric")
        _check_spec(self.categorical, "categorical", "categorical")
        share = _number(self.drift_share, "drift_share")
        if not 0 < share <= 1:
            raise InvalidArgument(f"drift_share must be in (0, 1], got {self.drift_share!r}")
        for name, low, high in (
            ("small_reference", 0, 10**12),
            ("categorical_max_distinct", 0, 10**6),
            ("bins", 2, _MAX_BINS),
        ):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
                raise InvalidArgument(
                    f"{name} must be an integer from {low} to {high}, got {value!r}"
                )
        if self.null_share_threshold is not None:
            null = _number(self.null_share_threshold, "null_share_threshold")
            if not 0 < null <= 1:
                raise InvalidArgument(
                    "null_share_threshold must be in (0, 1] or None, "
                    f"got {self.null_share_threshold!r}"
                )

    def spec_for(self, column: str, kind: Kind) -> ColumnDriftSpec:
        """The column's spec merged with the kind-wide one; None fields mean "automatic".

        The column's own method and threshold win; where it names no method, the kind-wide
        method applies, and the kind-wide threshold too unless the column sets its own.
        """
        own = self.columns.get(column) or ColumnDriftSpec()
        wide = (self.numeric if kind == "numeric" else self.categorical) or ColumnDriftSpec()
        if own.method is not None:
            return own
        threshold = own.threshold if own.threshold is not None else wide.threshold
        return ColumnDriftSpec(method=wide.method, threshold=threshold, kind=own.kind)

    def to_json(self) -> dict[str, Any]:
        return {
            "columns": {name: spec.to_json() for name, spec in self.columns.items()},
            "numeric": self.numeric.to_json() if self.numeric else None,
            "categorical": self.categorical.to_json() if self.categorical else None,
            "drift_share": self.drift_share,
            "small_reference": self.small_reference,
            "categorical_max_distinct": self.categorical_max_distinct,
            "bins": self.bins,
            "null_share_threshold": self.null_share_threshold,
        }
