"""The Spark engine: the same suite on a Spark DataFrame as ONE aggregation
(``df.agg(...)`` with every check's aggregates, one action), with the same verdicts and observed
values as the Polars engine. Failing-row samples take one more action: the union of one bounded
``filter(...).limit(n)`` per failed row-level check (values shown as strings).

Imported lazily; needs the ``spark`` extra.
"""

from __future__ import annotations

from typing import Any

from ..errors import InvalidArgument, MissingExtra
from ._result import ValidationResult, assemble, check_sample_size, failed_row_checks, plan
from ._suite import ExpectationSuite

ROW_COUNT = "__mlsteward_row_count"
_FLAG = "__mlsteward_unexpected"
_SIMPLE = {
    "ByteType": "int8",
    "ShortType": "int16",
    "IntegerType": "int32",
    "LongType": "int64",
    "FloatType": "float32",
    "DoubleType": "float64",
    "DecimalType": "decimal",
    "StringType": "string",
    "VarcharType": "string",
    "CharType": "string",
    "BooleanType": "bool",
    "TimestampType": "datetime",
    "TimestampNTZType": "datetime",
    "DateType": "date",
}


def is_spark_dataframe(data: object) -> bool:
    module = type(data).__module__
    return module.startswith("pyspark.sql") and type(data).__name__ == "DataFrame"


def canonical_type(data_type: Any) -> str:
    name = type(data_type).__name__
    return _SIMPLE.get(name, name.removesuffix("Type").lower())


def validate_spark(
    suite: ExpectationSuite, data: Any, *, sample_size: int = 20
) -> ValidationResult:
    """Validate a Spark DataFrame in one aggregation job (plus one for samples on failure)."""
    try:
        from pyspark.errors import PySparkException
        from pyspark.sql import functions as F
    except ImportError as exc:  # pragma: no cover - depends on the environment
        raise MissingExtra(
            "Spark validation needs PySpark: pip install 'mlsteward[spark]'"
        ) from exc
    check_sample_size(sample_size)
    if not is_spark_dataframe(data):
        raise InvalidArgument(f"validate_spark takes a Spark DataFrame, got {type(data).__name__}")
    types = {field.name: canonical_type(field.dataType) for field in data.schema.fields}
    planned = plan(suite, types)
    columns = [F.count(F.lit(1)).cast("long").alias(ROW_COUNT)]
    for item in planned:
        if item.decided is None:
            aggregates = suite.expectations[item.index].spark_aggregates(types)
            columns.extend(c.alias(item.aggregate_prefix + k) for k, c in aggregates.items())
    try:
        row = data.agg(*columns).collect()[0].asDict(recursive=True)
    except PySparkException as exc:
        raise InvalidArgument(f"cannot validate the data on Spark: {str(exc)[:300]}") from exc
    row_count = int(row[ROW_COUNT])
    samples: dict[int, list[Any]] = {}
    failed = failed_row_checks(suite, planned, row, row_count) if sample_size else []
    if failed:
        parts = []
        for index in failed:
            expectation = suite.expectations[index]
            column = expectation.sample_column()
            assert column is not None  # failed_row_checks keeps checks with a sample column
            condition = expectation.spark_unexpected(types)
            assert condition is not None
            # A flag column first: window conditions (uniqueness) are not allowed in WHERE.
            part = (
                data.select(
                    F.col("`" + column.replace("`", "``") + "`").alias("value"),
                    condition.alias(_FLAG),
                )
                .where(F.col(_FLAG))
                .limit(sample_size)
                .select(F.lit(index).alias("check"), F.col("value").cast("string").alias("value"))
            )
            parts.append(part)
        union = parts[0]
        for part in parts[1:]:
            union = union.unionByName(part)
        for sample in union.collect():
            samples.setdefault(int(sample["check"]), []).append(sample["value"])
    return assemble(suite, planned, row, row_count, "spark", samples)


__all__ = ["is_spark_dataframe", "validate_spark"]
