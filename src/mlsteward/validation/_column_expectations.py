"""Row-level built-in expectations: each value of a column is checked (GE's names and
``mostly``). Nulls are never unexpected except for ``expect_column_values_to_not_be_null``;
pandas NaN counts as null (pandas' convention), a NaN read from Parquet or Polars is a value.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from ._expectation import (
    NUMERIC_KINDS,
    ColumnMapExpectation,
    Expectation,
    bad,
    check_bool,
    check_bounds,
    check_column,
    check_value_set,
    kind_mismatch,
    kind_of,
    map_outcome,
    polars_distinct_count,
    register_expectation,
    spark_col,
)

if TYPE_CHECKING:
    import polars as pl
    from pyspark.sql import Column

MAX_REGEX_LENGTH = 1_000


@register_expectation
class ExpectColumnValuesToNotBeNull(ColumnMapExpectation):
    """No value of ``column`` is null (at least ``mostly`` of all rows are not)."""

    name = "expect_column_values_to_not_be_null"
    over_all_rows = True

    def sample_column(self) -> str | None:
        return None  # the failing values are all null: nothing to show

    def __init__(self, column: str, mostly: float = 1.0) -> None:
        self.column = column
        self.mostly = mostly

    def _polars_condition(self, types: Mapping[str, str]) -> pl.Expr:
        import polars as pl

        return pl.col(self.column).is_null()

    def _spark_condition(self, types: Mapping[str, str]) -> Column:
        return spark_col(self.column).isNull()


@register_expectation
class ExpectColumnValuesToBeBetween(ColumnMapExpectation):
    """Every non-null value of a numeric column is within [min_value, max_value] (either bound
    may be None; ``strict_min`` / ``strict_max`` exclude the bound)."""

    name = "expect_column_values_to_be_between"
    kinds = NUMERIC_KINDS

    def __init__(
        self,
        column: str,
        min_value: float | None = None,
        max_value: float | None = None,
        strict_min: bool = False,
        strict_max: bool = False,
        mostly: float = 1.0,
    ) -> None:
        self.column = column
        self.min_value = min_value
        self.max_value = max_value
        self.strict_min = strict_min
        self.strict_max = strict_max
        self.mostly = mostly

    def check(self) -> None:
        super().check()
        check_bounds(self.min_value, self.max_value)
        check_bool(self.strict_min, "strict_min")
        check_bool(self.strict_max, "strict_max")

    def _polars_condition(self, types: Mapping[str, str]) -> pl.Expr:
        import polars as pl

        col = pl.col(self.column)
        inside = pl.lit(True)
        if self.min_value is not None:
            inside = inside & (col > self.min_value if self.strict_min else col >= self.min_value)
        if self.max_value is not None:
            inside = inside & (col < self.max_value if self.strict_max else col <= self.max_value)
        return ~inside  # null stays null: not unexpected

    def _spark_condition(self, types: Mapping[str, str]) -> Column:
        from pyspark.sql import functions as F

        col = spark_col(self.column)
        inside = F.lit(True)
        if self.min_value is not None:
            inside = inside & (col > self.min_value if self.strict_min else col >= self.min_value)
        if self.max_value is not None:
            inside = inside & (col < self.max_value if self.strict_max else col <= self.max_value)
        return ~inside


def _compatible(values: list[Any], kind: str) -> list[Any]:
    """The members of a value set that can equal a value of a column of ``kind``."""
    if kind == "string":
        return [v for v in values if isinstance(v, str)]
    if kind == "bool":
        return [v for v in values if isinstance(v, bool)]
    if kind in NUMERIC_KINDS:
        numbers = [v for v in values if isinstance(v, int | float) and not isinstance(v, bool)]
        if kind == "int":
            return [int(v) for v in numbers if float(v).is_integer()]
        return [float(v) for v in numbers]
    return [v for v in values if isinstance(v, str)]


@register_expectation
class ExpectColumnValuesToBeInSet(ColumnMapExpectation):
    """Every non-null value of ``column`` is one of ``value_set``."""

    name = "expect_column_values_to_be_in_set"
    kinds = frozenset({"int", "float", "string", "bool"})

    def __init__(self, column: str, value_set: list[Any], mostly: float = 1.0) -> None:
        self.column = column
        self.value_set = value_set
        self.mostly = mostly

    def check(self) -> None:
        super().check()
        check_value_set(self.value_set)

    def _polars_condition(self, types: Mapping[str, str]) -> pl.Expr:
        return polars_not_in(self.column, self.value_set, types)

    def _spark_condition(self, types: Mapping[str, str]) -> Column:
        return spark_not_in(self.column, self.value_set, types)


def polars_not_in(column: str, value_set: list[Any], types: Mapping[str, str]) -> pl.Expr:
    import polars as pl

    members = _compatible(list(value_set), kind_of(types[column]))
    col = pl.col(column)
    if not members:
        return col.is_not_null()
    members_series = pl.Series(members).cast(col_dtype(types[column]))
    return ~col.is_in(members_series.implode())


def spark_not_in(column: str, value_set: list[Any], types: Mapping[str, str]) -> Column:
    members = _compatible(list(value_set), kind_of(types[column]))
    col = spark_col(column)
    if not members:
        return col.isNotNull()
    return ~col.isin(members)


def col_dtype(type_name: str) -> Any:
    import polars as pl

    return {
        "int8": pl.Int8, "int16": pl.Int16, "int32": pl.Int32, "int64": pl.Int64,
        "uint8": pl.UInt8, "uint16": pl.UInt16, "uint32": pl.UInt32, "uint64": pl.UInt64,
        "float32": pl.Float32, "float64": pl.Float64, "bool": pl.Boolean, "string": pl.String,
    }.get(type_name, pl.String)  # fmt: skip


class DistinctAndNonNullCounts:
    """The aggregates of the checks on distinct values: distinct and non-null counts of
    ``self.column``."""

    column: str

    def polars_aggregates(self, types: Mapping[str, str]) -> dict[str, pl.Expr]:
        import polars as pl

        return {
            "distinct": polars_distinct_count(self.column, types),
            "non_null": pl.col(self.column).count().cast(pl.Int64),
        }

    def spark_aggregates(self, types: Mapping[str, str]) -> dict[str, Column]:
        from pyspark.sql import functions as F

        col = spark_col(self.column)
        return {
            "distinct": F.count_distinct(col).cast("long"),
            "non_null": F.count(col).cast("long"),
        }


@register_expectation
class ExpectColumnValuesToBeUnique(DistinctAndNonNullCounts, ColumnMapExpectation):
    """No non-null value of ``column`` repeats. ``unexpected_count`` is the number of repeats
    (non-null values minus distinct values), the same on every engine in one aggregation."""

    name = "expect_column_values_to_be_unique"

    def __init__(self, column: str, mostly: float = 1.0) -> None:
        self.column = column
        self.mostly = mostly

    def evaluate(self, values: Mapping[str, Any], row_count: int) -> dict[str, Any]:
        non_null = int(values["non_null"] or 0)
        repeats = non_null - int(values["distinct"] or 0)
        return map_outcome(repeats, non_null, row_count, self.mostly, over_all_rows=False)

    def polars_unexpected(self, types: Mapping[str, str]) -> pl.Expr:
        import polars as pl

        col = pl.col(self.column)
        return col.is_not_null() & col.is_duplicated()

    def spark_unexpected(self, types: Mapping[str, str]) -> Column:
        from pyspark.sql import Window
        from pyspark.sql import functions as F

        col = spark_col(self.column)
        return col.isNotNull() & (F.count(F.lit(1)).over(Window.partitionBy(col)) > 1)


@register_expectation
class ExpectColumnValuesToMatchRegex(ColumnMapExpectation):
    """Every non-null string of ``column`` contains a match of ``regex`` (anchor it with ``^``
    and ``$`` to match whole values). Polars runs Rust's linear-time regex engine; Spark runs
    Java's, so keep patterns to the common syntax."""

    name = "expect_column_values_to_match_regex"
    kinds = frozenset({"string"})

    def __init__(self, column: str, regex: str, mostly: float = 1.0) -> None:
        self.column = column
        self.regex = regex
        self.mostly = mostly

    def check(self) -> None:
        super().check()
        check_regex(self.regex)

    def _polars_condition(self, types: Mapping[str, str]) -> pl.Expr:
        import polars as pl

        col = pl.col(self.column)
        return ~col.str.contains(self.regex)

    def _spark_condition(self, types: Mapping[str, str]) -> Column:
        col = spark_col(self.column)
        return ~col.rlike(self.regex)


def check_regex(regex: object, field_name: str = "regex") -> str:
    if not isinstance(regex, str) or not 0 < len(regex) <= MAX_REGEX_LENGTH:
        raise bad(field_name, f"must be a regular expression of 1-{MAX_REGEX_LENGTH} characters")
    try:
        re.compile(regex)
    except re.error as exc:
        raise bad(field_name, f"is not a valid regular expression: {exc}") from None
    try:
        import polars as pl
    except ImportError:  # the data extra is missing; the engine reports that when it runs
        return regex
    try:
        pl.select(pl.lit("").str.contains(regex)).item()
    except pl.exceptions.PolarsError as exc:
        first = str(exc).strip().splitlines()[0][:200]
        raise bad(field_name, f"is not a regular expression Polars accepts: {first}") from None
    return regex


TYPE_NAMES = frozenset(
    {
        "int8", "int16", "int32", "int64", "uint8", "uint16", "uint32", "uint64",
        "float32", "float64", "decimal", "string", "bool", "datetime", "date",
        "int", "float", "numeric",
    }
)  # fmt: skip


@register_expectation
class ExpectColumnValuesToBeOfType(Expectation):
    """``column`` has type ``type_``: an exact type (``int64``, ``float64``, ``string``,
    ``bool``, ``datetime``, ``date``...) or a family (``int``, ``float``, ``numeric``).
    Decided from the schema, without reading the data."""

    name = "expect_column_values_to_be_of_type"

    def __init__(self, column: str, type_: str) -> None:
        self.column = column
        self.type_ = type_

    def columns(self) -> tuple[str, ...]:
        return (self.column,)

    def check(self) -> None:
        check_column(self.column)
        if self.type_ not in TYPE_NAMES:
            raise bad("type_", f"must be one of {sorted(TYPE_NAMES)}")

    def schema_result(self, types: Mapping[str, str]) -> dict[str, Any] | None:
        missing = kind_mismatch(self.column, types, None)
        if missing is not None:
            return missing
        actual = types[self.column]
        kind = kind_of(actual)
        ok = actual == self.type_ or kind == self.type_
        ok = ok or (self.type_ == "numeric" and kind in NUMERIC_KINDS)
        return {"success": ok, "observed_value": actual}


__all__ = [
    "ExpectColumnValuesToBeBetween",
    "ExpectColumnValuesToBeInSet",
    "ExpectColumnValuesToBeOfType",
    "ExpectColumnValuesToBeUnique",
    "ExpectColumnValuesToMatchRegex",
    "ExpectColumnValuesToNotBeNull",
    "check_column",
]
