"""The same suite on Spark (local mode): same verdicts and observed values as Polars, in one
aggregation action."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pandas as pd
import polars as pl
import pytest

from mlsteward.errors import InvalidArgument
from mlsteward.profiles import profile_frame
from mlsteward.validation import (
    ExpectationSuite,
    custom_expectation,
    load_suite,
    make_expectation,
    validate,
)

from ._frames import frame_dict, normal_values
from .test_polars_engine import SUITE, summary


@pytest.fixture(scope="module")
def spark() -> Iterator[Any]:
    pyspark_sql = pytest.importorskip("pyspark.sql")
    session = (
        pyspark_sql.SparkSession.builder.master("local[1]")
        .appName("mlsteward-validation-tests")
        .config("spark.ui.enabled", "false")
        .config("spark.sql.shuffle.partitions", "2")
        .config("spark.sql.session.timeZone", "UTC")
        .config("spark.ui.showConsoleProgress", "false")
        # Tiny data: compiling generated code costs more than it saves.
        .config("spark.sql.codegen.wholeStage", "false")
        .getOrCreate()
    )
    session.sparkContext.setLogLevel("ERROR")
    yield session
    session.stop()


def spark_frame(spark: Any, data: dict[str, list[Any]]) -> Any:
    # Through Arrow-free rows: pandas >= 3 is not fully supported by PySpark's converter.
    frame = pd.DataFrame(data)
    rows = [tuple(None if pd.isna(v) else v for v in row) for row in frame.itertuples(index=False)]
    schema = "id long, x double, score double, s string"
    return spark.createDataFrame(rows, schema=schema)


def test_same_verdicts_and_observed_values_as_polars_in_one_action(
    spark: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    suite = load_suite(SUITE)
    data = spark_frame(spark, frame_dict())
    frame_class = type(data)  # the classic (non-Connect) DataFrame class of Spark 4
    calls = {"agg": 0, "collect": 0}
    real_agg, real_collect = frame_class.agg, frame_class.collect

    def agg(self: Any, *args: Any) -> Any:
        calls["agg"] += 1
        return real_agg(self, *args)

    def collect(self: Any) -> Any:
        calls["collect"] += 1
        return real_collect(self)

    monkeypatch.setattr(frame_class, "agg", agg)
    monkeypatch.setattr(frame_class, "collect", collect)
    on_spark = validate(suite, data)
    # One aggregation and one action for the 12 checks, one more for the failing samples.
    assert calls == {"agg": 1, "collect": 2}
    on_polars = validate(suite, pl.DataFrame(frame_dict()))
    assert on_spark.engine == "spark"
    assert summary(on_spark) == summary(on_polars)
    in_set = on_spark.results[2]
    assert not in_set.success
    assert in_set.samples == ("zz",)


def test_distribution_check_matches_polars(spark: Any) -> None:
    from pyspark.sql import functions as F

    values = normal_values(500)
    reference = profile_frame(pd.DataFrame({"v": normal_values(500, seed=1)})).columns["v"]
    suite = ExpectationSuite(
        "d",
        [
            make_expectation(
                "expect_column_distribution_to_match_profile",
                {"column": "v", "profile": reference, "method": method},
            )
            for method in ("psi", "ks")
        ],
    )

    @custom_expectation(
        "expect_test_values_to_be_small",
        spark=lambda column: F.abs(F.col(column)) < 2.5,
        replace=True,
    )
    def small(column: str) -> pl.Expr:
        return pl.col(column).abs() < 2.5

    suite = ExpectationSuite(
        "d", [*suite.expectations, make_expectation(small.name, {"column": "v"})]
    )
    on_polars = validate(suite, pl.DataFrame({"v": values}))
    frame = spark.createDataFrame([(float(v),) for v in values], "v double")
    on_spark = validate(suite, frame)
    assert summary(on_spark) == summary(on_polars)
    assert on_spark.results[2].unexpected_count == on_polars.results[2].unexpected_count > 0
    assert len(on_spark.results[2].samples) == min(20, on_spark.results[2].unexpected_count)

    @custom_expectation("expect_test_polars_only", replace=True)
    def polars_only(column: str) -> pl.Expr:
        return pl.col(column) > 0

    only = ExpectationSuite("p", [make_expectation(polars_only.name, {"column": "v"})])
    with pytest.raises(InvalidArgument, match="has no Spark expression"):
        validate(only, frame)
