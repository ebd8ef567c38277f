"""Tests for mlsteward.profiles._frames: every input type gives the same profile."""

from __future__ import annotations

import datetime as dt
import json
import math
import subprocess
import sys
from typing import Any

import numpy as np
import pandas as pd
import polars as pl
import pyarrow as pa
import pytest

from mlsteward.errors import InvalidArgument
from mlsteward.profiles import DatasetProfile, profile_frame

EXACT = ("count", "null_count", "type_counts", "min", "max", "numeric_count", "pii")


def _data(rows: int = 5_000) -> dict[str, list[Any]]:
    rng = np.random.default_rng(11)
    x = rng.normal(0.0, 2.0, rows)
    return {
        "x": [None if i % 17 == 0 else float(v) for i, v in enumerate(x)],
        "n": rng.integers(-50, 50, rows).tolist(),
        "big": (rng.integers(0, 10**15, rows)).tolist(),
        "cat": [None if i % 23 == 0 else f"c{v}" for i, v in enumerate(rng.integers(0, 9, rows))],
        "flag": (rng.random(rows) < 0.25).tolist(),
        "day": [dt.date(2024, 1, 1) + dt.timedelta(days=int(d)) for d in rng.integers(0, 30, rows)],
        "email": [f"user{i}@example.com" for i in range(rows)],
    }


def _fingerprint(profile: DatasetProfile) -> dict[str, Any]:
    """What must not depend on the input type: exact fields and deterministic sketches."""
    out: dict[str, Any] = {"row_count": profile.row_count}
    for name, col in profile.columns.items():
        data = col.to_dict()
        out[name] = {k: data[k] for k in EXACT} | {
            "mean": col.mean,
            "distinct": col.distinct_estimate(),
            "frequent": col.frequent(5),
        }
    return out


def _close_means(a: dict[str, Any], b: dict[str, Any]) -> dict[str, Any]:
    for name, col in a.items():
        if isinstance(col, dict) and col["mean"] is not None:
            assert math.isclose(col["mean"], b[name]["mean"], rel_tol=1e-9), name
            col = col | {"mean": None}
            b = b | {name: b[name] | {"mean": None}}
        a = a | {name: col}
    assert a == b
    return a


def test_pandas_polars_and_arrow_inputs_give_the_same_profile() -> None:
    data = _data()
    table = pa.table(data)
    inputs: dict[str, object] = {
        "arrow table": table,
        "arrow record batch": table.to_batches()[0],
        "pandas": pd.DataFrame(data),
        "polars": pl.DataFrame(data),
        "polars lazy": pl.DataFrame(data).lazy().filter(pl.lit(True)),
    }
    assert table.num_rows == table.to_batches()[0].num_rows
    prints = {
        name: _fingerprint(profile_frame(frame, pii_columns=["email"]))
        for name, frame in inputs.items()
    }
    reference = prints.pop("arrow table")
    assert reference["x"]["null_count"] == len([v for v in data["x"] if v is None])
    assert reference["cat"]["frequent"][0][1] > 0
    assert reference["day"]["frequent"][0][0].startswith("2024-01-")
    assert reference["flag"]["frequent"][0][0] == "false"
    assert reference["email"]["frequent"] == []
    for name, fingerprint in prints.items():
        try:
            _close_means(fingerprint, reference)
        except AssertionError as exc:  # name the input type that differs
            raise AssertionError(name) from exc


def test_a_pandas_frame_longer_than_a_slice_profiles_as_arrow_does() -> None:
    # pandas columns go to Arrow slice by slice (262,144 rows): 600,000 rows cross two seams.
    data = _data(600_000)
    frame = pd.DataFrame(data).assign(
        cat=lambda f: f["cat"].astype("category"), n=lambda f: f["n"].astype("Int64")
    )
    from_pandas = _fingerprint(profile_frame(frame, pii_columns=["email"]))
    from_arrow = _fingerprint(profile_frame(pa.table(data), pii_columns=["email"]))
    assert from_pandas["row_count"] == 600_000
    assert from_pandas["x"]["null_count"] == len([v for v in data["x"] if v is None])
    # Nearly every value of "big" is distinct: its frequent items are within the sketch's error
    # bound either way, but which of the ties surface depends on where the batches split.
    for fingerprint in (from_pandas, from_arrow):
        fingerprint["big"].pop("frequent")
    _close_means(from_pandas, from_arrow)


def test_a_column_arrow_cannot_type_in_a_later_slice_is_counted_once() -> None:
    # Python ints that Arrow takes until one beyond 64 bits, 300,000 rows in: the column is
    # profiled value by value instead (as when Arrow refuses its first slice), and no slice
    # that did fit is counted twice.
    values = [*range(300_000), 2**70, 5]
    profile = profile_frame(pd.DataFrame({"n": pd.Series(values, dtype=object)}))
    column = profile.columns["n"]
    assert (column.count, column.null_count) == (300_002, 0)
    assert sum(column.type_counts.values()) == 300_002


def test_polars_categorical_and_string_view_columns() -> None:
    frame = pl.DataFrame({"c": ["a", "b", "a", None]}).with_columns(
        pl.col("c").cast(pl.Categorical).alias("cat")
    )
    profile = profile_frame(frame)
    for name in ("c", "cat"):
        col = profile.columns[name]
        assert (col.count, col.null_count, col.type_counts["string"]) == (4, 1, 3), name
        assert col.frequent(1) == [("a", 2)]


def test_polars_string_columns_profile_as_pandas_does() -> None:
    # Polars hands string columns over as Arrow string views; with or without nulls, next to
    # other columns, the sketches must be the ones pandas' large_string arrays give.
    rng = np.random.default_rng(5)
    words = [f"w{v}" for v in rng.integers(0, 300, 20_000)]
    data = {
        "full": words,
        "x": rng.normal(size=20_000),
        "holes": [None if i % 7 == 0 else w for i, w in enumerate(words)],
        "n": rng.integers(0, 50, 20_000),
        "ids": [f"id{i}" for i in range(20_000)],  # dense HLL: feeding order shows
    }
    ours = profile_frame(pl.DataFrame(data))
    reference = profile_frame(pd.DataFrame(data))
    assert list(ours.columns) == list(data)
    for name in ("full", "holes", "ids"):
        mine, theirs = ours.columns[name].to_dict(), reference.columns[name].to_dict()
        assert mine["null_count"] == (2_858 if name == "holes" else 0), name
        for key in (*EXACT, "hll", "frequent"):
            assert mine[key] == theirs[key], (name, key)


def test_profiling_polars_does_not_import_pandas() -> None:
    # pyarrow's to_numpy and pa.array import pandas on first use: a third of a second of a
    # Polars user's first profile, so the profile code keeps clear of both.
    script = """
import datetime as dt, sys
import polars as pl
from mlsteward.profiles import profile_frame
profile_frame(pl.DataFrame({
    "f": [1.5, None, float("nan")] * 2_000, "i": [1, None, 3] * 2_000,
    "s": ["a", None, "b"] * 2_000, "b": [True, None, False] * 2_000,
    "d": [dt.date(2024, 1, 1), None, dt.date(2024, 1, 2)] * 2_000,
    "t": [dt.datetime(2024, 1, 1), None, dt.datetime(2024, 1, 2)] * 2_000,
    "n": list(range(6_000)), "x": [v / 7 for v in range(6_000)],
}))
print(sorted(m for m in sys.modules if m.split(".")[0] == "pandas"))
"""
    result = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, check=True, timeout=120
    )
    assert result.stdout.strip() == "[]"


def test_polars_nested_binary_and_dictionary_columns_are_counted() -> None:
    # Only plain string columns come over as views: Arrow has no kernels for nested ones.
    frame = pl.DataFrame(
        {
            "b": [b"x", None, b"y"],
            "l": [["a"], None, ["b", None]],
            "st": [{"a": "x"}, None, {"a": None}],
            "e": pl.Series(["x", "y", None], dtype=pl.Enum(["x", "y"])),
            "s": ["a", None, "bb"],
        }
    )
    profile = profile_frame(frame)
    assert [profile.columns[n].type_counts["other"] for n in ("b", "l", "st")] == [2, 2, 2]
    assert profile.columns["e"].frequent() == [("x", 1), ("y", 1)]
    assert all(col.null_count == 1 for col in profile.columns.values())


def test_high_cardinality_ints_keep_error_bounded_frequent_items() -> None:
    # 300 distinct values in one batch: more than the 192 the sketch tracks exactly.
    values = [7] * 500 + list(range(1000, 1300)) * 2
    col = profile_frame(pa.table({"v": values})).columns["v"]
    top = col.frequent(1)
    assert top[0][0] == "7"
    assert 500 <= top[0][1] <= 502  # never an under-count, over by at most the offset (2)


def test_uint64_beyond_int64_and_datetime_columns() -> None:
    table = pa.table(
        {
            "u": pa.array([2**64 - 1, 1, 2**63], type=pa.uint64()),
            "ts": pa.array(
                [dt.datetime(2024, 5, 1, 12), dt.datetime(2024, 5, 1, 12), None],
                type=pa.timestamp("us"),
            ),
        }
    )
    profile = profile_frame(table)
    u = profile.columns["u"]
    assert (u.min, u.max) == (1, 2**64 - 1)
    assert u.distinct_estimate() == pytest.approx(3)
    ts = profile.columns["ts"]
    assert ts.type_counts["datetime"] == 2
    assert ts.frequent(1) == [("2024-05-01 12:00:00.000000", 2)]
    assert ts.distinct_estimate() == pytest.approx(1)


def test_summary_is_json_ready_and_describes_each_column() -> None:
    rng = np.random.default_rng(3)
    x = rng.uniform(0, 100, 10_000)
    frame = pd.DataFrame(
        {
            "x": np.where(rng.random(10_000) < 0.1, np.nan, x),
            "cat": rng.choice(["red", "green", "blue"], 10_000, p=[0.6, 0.3, 0.1]),
            "ssn": [f"{i:09d}" for i in range(10_000)],
            "inf": [1.0, math.inf] * 5_000,
        }
    )
    summary = profile_frame(frame, pii_columns=["ssn"]).summary(bins=5, top=2)
    assert json.loads(json.dumps(summary, allow_nan=False)) == summary
    assert summary["row_count"] == 10_000
    x_sum = summary["columns"]["x"]
    valid = frame["x"].dropna()
    assert x_sum["count"] == 10_000
    assert x_sum["null_count"] == frame["x"].isna().sum()
    assert x_sum["null_fraction"] == pytest.approx(frame["x"].isna().mean())
    assert x_sum["inferred_type"] == "float"
    assert (x_sum["min"], x_sum["max"]) == (valid.min(), valid.max())
    assert x_sum["mean"] == pytest.approx(valid.mean())
    assert x_sum["stdev"] == pytest.approx(valid.std(ddof=0))
    assert x_sum["distinct_estimate"] == pytest.approx(len(valid), rel=0.05)
    assert list(x_sum["quantiles"]) == ["p01", "p05", "p25", "p50", "p75", "p95", "p99"]
    assert x_sum["quantiles"]["p50"] == pytest.approx(valid.median(), abs=2.0)
    assert len(x_sum["histogram"]["edges"]) == 6
    assert sum(x_sum["histogram"]["counts"]) == pytest.approx(len(valid))
    assert x_sum["frequent"] == []  # floats have no frequent items
    cat = summary["columns"]["cat"]
    assert [item for item, _ in cat["frequent"]] == ["red", "green"]
    assert cat["quantiles"] is None
    assert cat["histogram"] is None
    ssn = summary["columns"]["ssn"]
    assert ssn["pii"] is True
    assert (ssn["min"], ssn["quantiles"], ssn["histogram"], ssn["frequent"]) == (
        None,
        None,
        None,
        [],
    )
    assert ssn["distinct_estimate"] == pytest.approx(10_000, rel=0.05)
    inf = summary["columns"]["inf"]
    assert (inf["min"], inf["max"], inf["mean"], inf["histogram"]) == (1.0, None, None, None)


def test_summary_rejects_bad_arguments() -> None:
    profile = profile_frame(pa.table({"v": [1.0, 2.0]}))
    with pytest.raises(InvalidArgument, match="bins must be between 1 and 10000"):
        profile.summary(bins=0)
    with pytest.raises(InvalidArgument, match="top must be between 0 and 1000"):
        profile.summary(top=-1)


@pytest.mark.parametrize(
    "frame",
    [
        pa.table({"a": [1], "b": [2]}).rename_columns(["a", "a"]),
        pd.DataFrame([[1, 2]], columns=["a", "a"]),
    ],
)
def test_duplicate_column_names_are_rejected(frame: object) -> None:
    with pytest.raises(InvalidArgument, match="column names must be unique"):
        profile_frame(frame)


def test_polars_input_checks_pii_columns() -> None:
    with pytest.raises(InvalidArgument, match=r"not in the data: \['nope'\]"):
        profile_frame(pl.DataFrame({"a": [1]}), pii_columns=["nope"])
    with pytest.raises(InvalidArgument, match="profile_frame takes"):
        profile_frame(pl.Series("a", [1]))
