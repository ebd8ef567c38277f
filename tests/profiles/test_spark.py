"""Tests for mlsteward.profiles._spark: per-partition profiles merged on the driver.

One local SparkSession for the module (start-up takes seconds); data kept small.
"""

from __future__ import annotations

import sys
from collections.abc import Iterator
from typing import Any

import numpy as np
import pandas as pd
import pytest

from mlsteward.errors import InvalidArgument, MissingExtra
from mlsteward.profiles import profile_frame, profile_spark

EXACT = ("count", "null_count", "type_counts", "min", "max", "numeric_count", "pii")


@pytest.fixture(scope="module")
def spark() -> Iterator[Any]:
    pyspark_sql = pytest.importorskip("pyspark.sql")
    # Executors run Python workers: they must use this interpreter (with mlsteward installed),
    # not whatever python3 is first on PATH.
    patch = pytest.MonkeyPatch()
    patch.setenv("PYSPARK_PYTHON", sys.executable)
    patch.setenv("PYSPARK_DRIVER_PYTHON", sys.executable)
    session = (
        pyspark_sql.SparkSession.builder.master("local[2]")
        .appName("mlsteward-profile-tests")
        .config("spark.ui.enabled", "false")
        .config("spark.sql.shuffle.partitions", "2")
        .config("spark.sql.execution.arrow.maxRecordsPerBatch", "700")
        .getOrCreate()
    )
    session.sparkContext.setLogLevel("ERROR")
    yield session
    session.stop()
    patch.undo()


def _frame(rows: int = 3_000) -> pd.DataFrame:
    rng = np.random.default_rng(21)
    x = rng.normal(5.0, 2.0, rows)
    x[rng.random(rows) < 0.05] = np.nan
    return pd.DataFrame(
        {
            "x": x,
            "n": rng.integers(0, 400, rows),
            "cat": rng.choice(["a", "b", "c"], rows, p=[0.6, 0.3, 0.1]),
            "flag": rng.random(rows) < 0.2,
            "email": [f"user{i}@example.com" for i in range(rows)],
        }
    )


def _spark_frame(spark: Any, frame: pd.DataFrame, partitions: int) -> Any:
    # From rows, not from pandas: PySpark warns (FutureWarning) about pandas 3 on that path.
    types = {"float64": "double", "int64": "bigint", "bool": "boolean"}
    schema = ", ".join(f"{c} {types.get(str(t), 'string')}" for c, t in frame.dtypes.items())
    rows = [tuple(row) for row in frame.astype(object).itertuples(index=False)]
    return spark.createDataFrame(spark.sparkContext.parallelize(rows, partitions), schema)


def test_spark_profile_agrees_with_the_local_profile(spark: Any) -> None:
    frame = _frame()
    df = _spark_frame(spark, frame, 3)
    remote = profile_spark(df, pii_columns=["email"], batch_rows=600)
    local = profile_frame(frame, pii_columns=["email"])

    assert remote.row_count == local.row_count == len(frame)
    assert list(remote.columns) == list(local.columns)
    for name, col in local.columns.items():
        other = remote.columns[name]
        exact = {k: col.to_dict()[k] for k in EXACT}
        # Spark turns NaN into a float NaN too, so null counts agree exactly.
        assert {k: other.to_dict()[k] for k in EXACT} == exact, name
        if col.mean is not None:
            assert other.mean == pytest.approx(col.mean, rel=1e-9)
            assert other.variance == pytest.approx(col.variance, rel=1e-9)
        # HLL lg_k=12: ~1.6 % relative standard error; 5 sigma.
        assert other.distinct_estimate() == pytest.approx(col.distinct_estimate(), rel=0.08)

    valid = np.sort(frame["x"].dropna().to_numpy())
    for q in (0.05, 0.5, 0.95):
        estimate = remote.columns["x"].quantile(q)
        assert estimate is not None
        assert abs(np.searchsorted(valid, estimate) / len(valid) - q) < 0.05  # KLL rank error
    assert remote.columns["cat"].frequent(3) == local.columns["cat"].frequent(3)
    assert remote.columns["n"].frequent(1)[0][1] >= local.columns["n"].frequent(1)[0][1]
    assert remote.columns["email"].frequent() == []
    assert remote.columns["email"].min is None


def test_empty_partitions_and_bad_input(spark: Any) -> None:
    df = _spark_frame(spark, pd.DataFrame({"v": [1.0, 2.0]}), 4)  # two partitions are empty
    profile = profile_spark(df)
    assert profile.row_count == 2
    assert profile.columns["v"].max == 2.0
    with pytest.raises(InvalidArgument, match=r"not in the data: \['w'\]"):
        profile_spark(df, pii_columns=["w"])
    with pytest.raises(InvalidArgument, match="batch_rows must be a positive integer"):
        profile_spark(df, batch_rows=0)
    with pytest.raises(InvalidArgument, match=r"takes a pyspark\.sql\.DataFrame, got DataFrame"):
        profile_spark(pd.DataFrame({"v": [1]}))


def test_missing_pyspark_names_the_spark_extra(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "pyspark.sql", None)
    with pytest.raises(MissingExtra, match=r"pip install 'mlsteward\[spark\]'"):
        profile_spark(object())
