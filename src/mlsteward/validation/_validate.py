"""``validate(suite, data)``: pick the engine for the data and run the suite."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from ..errors import InvalidArgument
from ._result import DEFAULT_SAMPLE_SIZE, ValidationResult
from ._suite import ExpectationSuite, load_suite


def as_suite(suite: ExpectationSuite | str | Path | Mapping[str, Any]) -> ExpectationSuite:
    if isinstance(suite, ExpectationSuite):
        return suite
    if isinstance(suite, str | Path | Mapping):
        return load_suite(suite)
    raise InvalidArgument(
        f"suite must be an ExpectationSuite, a YAML/JSON path or text, got {type(suite).__name__}"
    )


def validate(
    suite: ExpectationSuite | str | Path | Mapping[str, Any],
    data: object,
    *,
    sample_size: int = DEFAULT_SAMPLE_SIZE,
) -> ValidationResult:
    """Validate ``data`` against ``suite`` in one pass over the data.

    ``data``: a pandas or Polars DataFrame, a Polars LazyFrame, an Arrow table, Parquet or CSV
    path(s) (Polars engine, streaming), or a Spark DataFrame (Spark engine, one aggregation
    job). Up to ``sample_size`` failing values per failed row-level check are collected in one
    more bounded pass. Raises ``InvalidArgument`` for a bad suite or unreadable data.
    """
    checked = as_suite(suite)
    from ._spark_engine import is_spark_dataframe

    if is_spark_dataframe(data):
        from ._spark_engine import validate_spark

        return validate_spark(checked, data, sample_size=sample_size)
    from ._polars_engine import validate_polars

    return validate_polars(checked, data, sample_size=sample_size)


__all__ = ["as_suite", "validate"]
