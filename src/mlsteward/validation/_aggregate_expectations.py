"""Built-in expectations on a statistic of a column or of the table (GE's names)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, ClassVar

from ._column_expectations import DistinctAndNonNullCounts, polars_not_in, spark_not_in
from ._expectation import (
    NUMERIC_KINDS,
    Expectation,
    bad,
    check_bool,
    check_bounds,
    check_column,
    check_value_set,
    in_bounds,
    kind_mismatch,
    register_expectation,
    spark_col,
)

if TYPE_CHECKING:
    import polars as pl
    from pyspark.sql import Column

MAX_SHOWN_VALUES = 20


class _ColumnStatisticBetween(Expectation):
    """A statistic of a numeric column is within [min_value, max_value]; a column without
    any non-null value has no statistic and fails."""

    kinds: ClassVar[frozenset[str] | None] = NUMERIC_KINDS

    def __init__(
        self,
        column: str,
        min_value: float | None = None,
        max_value: float | None = None,
        strict_min: bool = False,
        strict_max: bool = False,
    ) -> None:
        self.column = column
        self.min_value = min_value
        self.max_value = max_value
        self.strict_min = strict_min
        self.strict_max = strict_max

    def columns(self) -> tuple[str, ...]:
        return (self.column,)

    def check(self) -> None:
        check_column(self.column)
        check_bounds(self.min_value, self.max_value)
        check_bool(self.strict_min, "strict_min")
        check_bool(self.strict_max, "strict_max")

    def schema_result(self, types: Mapping[str, str]) -> dict[str, Any] | None:
        return kind_mismatch(self.column, types, self.kinds)

    def _polars_statistic(self, col: pl.Expr) -> pl.Expr:
        raise NotImplementedError

    def _spark_statistic(self, col: Column) -> Column:
        raise NotImplementedError

    def polars_aggregates(self, types: Mapping[str, str]) -> dict[str, pl.Expr]:
        import polars as pl

        col = pl.col(self.column)
        return {"value": self._polars_statistic(col).cast(pl.Float64)}

    def spark_aggregates(self, types: Mapping[str, str]) -> dict[str, Column]:
        return {"value": self._spark_statistic(spark_col(self.column)).cast("double")}

    def evaluate(self, values: Mapping[str, Any], row_count: int) -> dict[str, Any]:
        value = values["value"]
        ok = in_bounds(value, self.min_value, self.max_value, self.strict_min, self.strict_max)
        return {"success": ok, "observed_value": value}


@register_expectation
class ExpectColumnMeanToBeBetween(_ColumnStatisticBetween):
    """The mean of the non-null values is within the bounds."""

    name = "expect_column_mean_to_be_between"

    def _polars_statistic(self, col: pl.Expr) -> pl.Expr:
        return col.mean()

    def _spark_statistic(self, col: Column) -> Column:
        from pyspark.sql import functions as F

        return F.avg(col)


@register_expectation
class ExpectColumnMedianToBeBetween(_ColumnStatisticBetween):
    """The exact median (midpoint of the two middle values for an even count)."""

    name = "expect_column_median_to_be_between"

    def _polars_statistic(self, col: pl.Expr) -> pl.Expr:
        return col.quantile(0.5, "linear")  # the median, with less memory than median()

    def _spark_statistic(self, col: Column) -> Column:
        from pyspark.sql import functions as F

        return F.median(col)


@register_expectation
class ExpectColumnStdevToBeBetween(_ColumnStatisticBetween):
    """The sample standard deviation (ddof=1, as GE and pandas) is within the bounds."""

    name = "expect_column_stdev_to_be_between"

    def _polars_statistic(self, col: pl.Expr) -> pl.Expr:
        return col.std(ddof=1)

    def _spark_statistic(self, col: Column) -> Column:
        from pyspark.sql import functions as F

        return F.stddev_samp(col)


@register_expectation
class ExpectColumnProportionOfUniqueValuesToBeBetween(
    DistinctAndNonNullCounts, _ColumnStatisticBetween
):
    """Distinct non-null values / non-null values is within the bounds (0 to 1)."""

    name = "expect_column_proportion_of_unique_values_to_be_between"
    kinds = None

    def check(self) -> None:
        super().check()
        for field_name in ("min_value", "max_value"):
            value = getattr(self, field_name)
            if value is not None and not 0 <= value <= 1:
                raise bad(field_name, "a proportion is between 0 and 1")

    def evaluate(self, values: Mapping[str, Any], row_count: int) -> dict[str, Any]:
        non_null = int(values["non_null"] or 0)
        share = int(values["distinct"] or 0) / non_null if non_null else None
        return super().evaluate({"value": share}, row_count)


@register_expectation
class ExpectTableRowCountToBeBetween(Expectation):
    """The number of rows is within [min_value, max_value] (integers; either may be None)."""

    name = "expect_table_row_count_to_be_between"

    def __init__(self, min_value: int | None = None, max_value: int | None = None) -> None:
        self.min_value = min_value
        self.max_value = max_value

    def check(self) -> None:
        for field_name in ("min_value", "max_value"):
            value = getattr(self, field_name)
            if value is not None and (
                isinstance(value, bool) or not isinstance(value, int) or value < 0
            ):
                raise bad(field_name, "must be a non-negative integer or null")
        check_bounds(self.min_value, self.max_value)

    def polars_aggregates(self, types: Mapping[str, str]) -> dict[str, pl.Expr]:
        return {}  # the engine always counts rows

    def spark_aggregates(self, types: Mapping[str, str]) -> dict[str, Column]:
        return {}

    def evaluate(self, values: Mapping[str, Any], row_count: int) -> dict[str, Any]:
        return {
            "success": in_bounds(row_count, self.min_value, self.max_value),
            "observed_value": row_count,
        }


@register_expectation
class ExpectTableColumnsToMatchSet(Expectation):
    """The table's columns are exactly ``column_set`` (in any order), or include it when
    ``exact_match`` is false. Decided from the schema."""

    name = "expect_table_columns_to_match_set"

    def __init__(self, column_set: list[str], exact_match: bool = True) -> None:
        self.column_set = column_set
        self.exact_match = exact_match

    def check(self) -> None:
        if isinstance(self.column_set, str) or not isinstance(self.column_set, list | tuple):
            raise bad("column_set", "must be a list of column names")
        for name in self.column_set:
            check_column(name, "column_set")
        check_bool(self.exact_match, "exact_match")

    def schema_result(self, types: Mapping[str, str]) -> dict[str, Any] | None:
        actual = list(types)
        missing = sorted(set(self.column_set) - set(actual))
        extra = sorted(set(actual) - set(self.column_set))
        ok = not missing and (not extra or not self.exact_match)
        return {
            "success": ok,
            "observed_value": actual,
            "details": {"missing": missing, "unexpected": extra},
        }


@register_expectation
class ExpectColumnDistinctValuesToBeInSet(Expectation):
    """Every distinct non-null value of ``column`` is in ``value_set``. ``observed_value``
    lists up to 20 distinct values outside the set (sorted); ``unexpected_count`` is how many
    distinct values are outside it."""

    name = "expect_column_distinct_values_to_be_in_set"

    def __init__(self, column: str, value_set: list[Any]) -> None:
        self.column = column
        self.value_set = value_set

    def columns(self) -> tuple[str, ...]:
        return (self.column,)

    def check(self) -> None:
        check_column(self.column)
        check_value_set(self.value_set)

    def schema_result(self, types: Mapping[str, str]) -> dict[str, Any] | None:
        return kind_mismatch(self.column, types, frozenset({"int", "float", "string", "bool"}))

    def polars_aggregates(self, types: Mapping[str, str]) -> dict[str, pl.Expr]:
        import polars as pl

        outside = pl.col(self.column).filter(polars_not_in(self.column, self.value_set, types))
        return {
            "outside": outside.unique().sort().head(MAX_SHOWN_VALUES).implode(),
            "outside_count": outside.n_unique().cast(pl.Int64),
        }

    def spark_aggregates(self, types: Mapping[str, str]) -> dict[str, Column]:
        from pyspark.sql import functions as F

        col = spark_col(self.column)
        outside = F.when(spark_not_in(self.column, self.value_set, types), col)
        return {
            "outside": F.slice(F.array_sort(F.collect_set(outside)), 1, MAX_SHOWN_VALUES),
            "outside_count": F.count_distinct(outside).cast("long"),
        }

    def evaluate(self, values: Mapping[str, Any], row_count: int) -> dict[str, Any]:
        count = int(values["outside_count"] or 0)
        return {
            "success": count == 0,
            "observed_value": list(values["outside"] or []),
            "unexpected_count": count,
        }


__all__ = [
    "ExpectColumnDistinctValuesToBeInSet",
    "ExpectColumnMeanToBeBetween",
    "ExpectColumnMedianToBeBetween",
    "ExpectColumnProportionOfUniqueValuesToBeBetween",
    "ExpectColumnStdevToBeBetween",
    "ExpectTableColumnsToMatchSet",
    "ExpectTableRowCountToBeBetween",
]
