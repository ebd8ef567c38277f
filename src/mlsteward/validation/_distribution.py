"""Distribution checks against a reference profile, and custom row-level checks.

``expect_column_distribution_to_match_profile`` compares a numeric column with the KLL
quantiles of a reference :class:`~mlsteward.profiles.ColumnProfile`: the reference's quantiles
at ``i / bins`` are the cut points; the engine counts current values at or below each cut point
in the same single pass as every other check; the reference's CDF comes from its sketch. PSI
compares the shares per bin, KS the largest CDF gap at the cut points (a lower bound of the
exact two-sample KS statistic, within the sketch's rank error of about 1.65 %).
"""

from __future__ import annotations

import inspect
import math
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any

from ..errors import InvalidArgument
from ._expectation import (
    NUMERIC_KINDS,
    ColumnMapExpectation,
    Expectation,
    bad,
    check_column,
    check_mostly,
    kind_mismatch,
    register_expectation,
    spark_col,
)

if TYPE_CHECKING:
    import polars as pl
    from pyspark.sql import Column

    from ..profiles import ColumnProfile

PSI_EPSILON = 1e-4
_DEFAULTS = {"psi": (0.2, 10), "ks": (0.1, 50)}


@register_expectation
class ExpectColumnDistributionToMatchProfile(Expectation):
    """The column's distribution is close to a reference profile's: PSI (default threshold
    0.2, 10 bins) or KS (default 0.1, 50 cut points) at most ``threshold``.

    ``profile`` is a ``ColumnProfile`` or its ``to_dict()`` (what a suite stores).
    """

    name = "expect_column_distribution_to_match_profile"

    def __init__(
        self,
        column: str,
        profile: ColumnProfile | Mapping[str, Any],
        method: str = "psi",
        threshold: float | None = None,
        bins: int | None = None,
    ) -> None:
        self.column = column
        self.profile = profile
        self.method = method
        self.threshold = threshold
        self.bins = bins

    def columns(self) -> tuple[str, ...]:
        return (self.column,)

    def _reference(self) -> ColumnProfile:
        reference: ColumnProfile | None = getattr(self, "reference_", None)
        if reference is None:
            from ..profiles import ColumnProfile

            if isinstance(self.profile, ColumnProfile):
                reference = self.profile
            elif isinstance(self.profile, Mapping):
                try:
                    reference = ColumnProfile.from_dict(self.profile)
                except InvalidArgument as exc:
                    raise bad("profile", exc.message) from None
            else:
                raise bad("profile", "must be a ColumnProfile or its to_dict() output")
            self.reference_ = reference
        return reference

    def check(self) -> None:
        check_column(self.column)
        if self.method not in _DEFAULTS:
            raise bad("method", f"must be one of {sorted(_DEFAULTS)}")
        if self.threshold is not None and (
            isinstance(self.threshold, bool)
            or not isinstance(self.threshold, int | float)
            or not 0 < self.threshold < math.inf
        ):
            raise bad("threshold", "must be a positive number")
        if self.bins is not None and (
            isinstance(self.bins, bool)
            or not isinstance(self.bins, int)
            or not 2 <= self.bins <= 200
        ):
            raise bad("bins", "must be an integer from 2 to 200")
        if self._reference().quantile(0.5) is None:
            raise bad("profile", "the reference profile has no numeric values")

    def _settings(self) -> tuple[float, int]:
        threshold, bins = _DEFAULTS[self.method]
        return (
            float(self.threshold) if self.threshold is not None else threshold,
            self.bins or bins,
        )

    def _cut_points(self) -> list[float]:
        reference = self._reference()
        _, bins = self._settings()
        points = {reference.quantile(i / bins) for i in range(1, bins)}
        return sorted(p for p in points if p is not None and math.isfinite(p))

    def schema_result(self, types: Mapping[str, str]) -> dict[str, Any] | None:
        return kind_mismatch(self.column, types, NUMERIC_KINDS)

    def polars_aggregates(self, types: Mapping[str, str]) -> dict[str, pl.Expr]:
        import polars as pl

        col = pl.col(self.column).cast(pl.Float64)
        valid = col.is_not_null() & col.is_not_nan()
        aggregates = {"n": valid.sum().cast(pl.Int64)}
        for i, point in enumerate(self._cut_points()):
            aggregates[f"le{i}"] = (valid & (col <= point)).sum().cast(pl.Int64)
        return aggregates

    def spark_aggregates(self, types: Mapping[str, str]) -> dict[str, Column]:
        from pyspark.sql import functions as F

        col = spark_col(self.column).cast("double")
        valid = col.isNotNull() & ~F.isnan(col)

        def count(condition: Column) -> Column:
            return F.coalesce(F.sum(F.when(condition, 1).otherwise(0)), F.lit(0)).cast("long")

        aggregates = {"n": count(valid)}
        for i, point in enumerate(self._cut_points()):
            aggregates[f"le{i}"] = count(valid & (col <= point))
        return aggregates

    def evaluate(self, values: Mapping[str, Any], row_count: int) -> dict[str, Any]:
        threshold, _ = self._settings()
        points = self._cut_points()
        n = int(values["n"] or 0)
        if n == 0:
            return {"success": False, "error": f"column {self.column!r} has no numeric values"}
        current = [int(values[f"le{i}"] or 0) / n for i in range(len(points))]
        reference = self._reference_cdf(points)
        if self.method == "ks":
            statistic = max(
                (abs(c - r) for c, r in zip(current, reference, strict=True)), default=0
            )
        else:
            statistic = _psi(_shares(current), _shares(reference))
        return {
            "success": statistic <= threshold,
            "observed_value": statistic,
            "element_count": row_count,
            "details": {"method": self.method, "threshold": threshold, "cut_points": len(points)},
        }

    def _reference_cdf(self, points: list[float]) -> list[float]:
        if not points:
            return []
        # ColumnProfile has no public CDF reader yet; its KLL sketch answers P(X <= x).
        kll = self._reference()._kll
        cdf = kll.get_cdf(points, True)
        return [float(c) for c in cdf[: len(points)]]


def _shares(cdf: list[float]) -> list[float]:
    bounds = [0.0, *cdf, 1.0]
    return [max(bounds[i + 1] - bounds[i], 0.0) for i in range(len(bounds) - 1)]


def _psi(current: list[float], reference: list[float]) -> float:
    total = 0.0
    for c, r in zip(current, reference, strict=True):
        c, r = max(c, PSI_EPSILON), max(r, PSI_EPSILON)
        total += (c - r) * math.log(c / r)
    return total


# -- custom checks ----------------------------------------------------------------------------


class _FunctionExpectation(ColumnMapExpectation):
    """A row-level check built from a function returning a Polars boolean expression
    (True where the row is as expected; null counts as expected)."""

    _param_list: tuple[str, ...] = ()
    _polars_function: Callable[..., Any]
    _spark_function: Callable[..., Any] | None = None
    over_all_rows = True

    def __init__(self, mostly: float = 1.0, **params: Any) -> None:
        self.mostly = mostly
        for key, value in params.items():
            setattr(self, key, value)
        self._given = tuple(params)

    @classmethod
    def _param_names(cls) -> tuple[str, ...]:
        return (*cls._param_list, "mostly")

    def columns(self) -> tuple[str, ...]:
        column = getattr(self, "column", None)
        return (column,) if isinstance(column, str) else ()

    def check(self) -> None:
        check_mostly(self.mostly)
        unknown = sorted(set(self._given) - set(self._param_list))
        if unknown:
            raise bad(unknown[0], f"is not a parameter of {self.name}")
        signature = inspect.signature(type(self)._polars_function)
        try:
            signature.bind(**self._call_params())
        except TypeError as exc:
            raise bad("params", f"do not fit {self.name}: {exc}") from None
        if "column" in self._param_list:
            check_column(getattr(self, "column", None))

    def _call_params(self) -> dict[str, Any]:
        return {k: getattr(self, k) for k in self._param_list if hasattr(self, k)}

    def get_params(self) -> dict[str, Any]:
        return {**self._call_params(), "mostly": self.mostly}

    def schema_result(self, types: Mapping[str, str]) -> dict[str, Any] | None:
        missing = [c for c in self.columns() if c not in types]
        return (
            {"success": False, "error": f"column {missing[0]!r} is not in the data"}
            if missing
            else None
        )

    def polars_unexpected(self, types: Mapping[str, str]) -> pl.Expr:
        expected: pl.Expr = type(self)._polars_function(**self._call_params())
        return ~expected.fill_null(True)

    def spark_unexpected(self, types: Mapping[str, str]) -> Column:
        from pyspark.sql import functions as F

        spark_function = type(self)._spark_function
        if spark_function is None:
            raise InvalidArgument(
                f"custom expectation {self.name} has no Spark expression; pass spark=... "
                "to custom_expectation to run it on Spark"
            )
        return ~F.coalesce(spark_function(**self._call_params()), F.lit(True))

    def polars_aggregates(self, types: Mapping[str, str]) -> dict[str, pl.Expr]:
        import polars as pl

        return {
            "unexpected": self.polars_unexpected(types).sum().cast(pl.Int64),
            "non_null": pl.len(),
        }

    def spark_aggregates(self, types: Mapping[str, str]) -> dict[str, Column]:
        from pyspark.sql import functions as F

        unexpected = F.when(self.spark_unexpected(types), 1).otherwise(0)
        return {
            "unexpected": F.coalesce(F.sum(unexpected), F.lit(0)).cast("long"),
            "non_null": F.count(F.lit(1)).cast("long"),
        }


def custom_expectation(
    name: str, *, spark: Callable[..., Any] | None = None, replace: bool = False
) -> Callable[[Callable[..., Any]], type[Expectation]]:
    """Register a row-level check from a function of its parameters that returns a Polars
    boolean expression, True where a row is as expected (null counts as expected).

    ``spark`` is the same check as a function returning a PySpark boolean column, needed to run
    the check on Spark. The registered type takes the function's parameters plus ``mostly``
    (share of rows that must pass), and a ``column`` parameter, if any, names the column whose
    values are shown as failing-row samples::

        @custom_expectation("expect_column_values_to_be_even")
        def even(column: str) -> pl.Expr:
            return pl.col(column) % 2 == 0
    """

    def decorate(function: Callable[..., Any]) -> type[Expectation]:
        params = tuple(
            p.name
            for p in inspect.signature(function).parameters.values()
            if p.kind not in (p.VAR_KEYWORD, p.VAR_POSITIONAL)
        )
        if "mostly" in params:
            raise ValueError("a custom expectation gets 'mostly' itself; rename the parameter")
        cls = type(
            "".join(part.title() for part in name.split("_")),
            (_FunctionExpectation,),
            {
                "name": name,
                "_param_list": params,
                "_polars_function": staticmethod(function),
                "_spark_function": staticmethod(spark) if spark is not None else None,
                "__doc__": function.__doc__,
            },
        )
        return register_expectation(cls, replace=replace)

    return decorate


def _spark_count_all() -> Column:  # pragma: no cover - kept for plugin authors' symmetry
    from pyspark.sql import functions as F

    return F.count(F.lit(1))


__all__ = ["ExpectColumnDistributionToMatchProfile", "custom_expectation", "spark_col"]
