"""Tests for mlsteward.profiles._profile: mergeable column and dataset profiles."""

from __future__ import annotations

import base64
import datetime as dt
import itertools
import json
import math
import struct
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from mlsteward.errors import InvalidArgument
from mlsteward.profiles import (
    ColumnProfile,
    DatasetProfile,
    profile_frame,
    profile_parquet,
)

DATA = Path(__file__).parent / "data"
EXACT = ("count", "null_count", "type_counts", "min", "max", "numeric_count", "pii")


def _frame(rows: int = 20_000, seed: int = 7) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    x = rng.normal(10.0, 3.0, rows)
    x[rng.random(rows) < 0.05] = np.nan
    return pd.DataFrame(
        {
            "x": x,
            "n": rng.integers(-1000, 1000, rows),
            "cat": rng.choice(["a", "b", "c", "d"], rows, p=[0.5, 0.3, 0.15, 0.05]),
            "email": [f"user{i}@example.com" for i in range(rows)],
            "flag": rng.random(rows) < 0.3,
            "ts": pd.date_range("2024-01-01", periods=rows, freq="min"),
        }
    )


def _exact(profile: DatasetProfile) -> dict[str, Any]:
    return {
        "row_count": profile.row_count,
        "columns": {
            name: {k: col.to_dict()[k] for k in EXACT} for name, col in profile.columns.items()
        },
    }


def _close(a: float | None, b: float | None) -> bool:
    if a is None or b is None:
        return a is b
    return math.isclose(a, b, rel_tol=1e-9, abs_tol=1e-12)


def _split(frame: pd.DataFrame, parts: int) -> list[pd.DataFrame]:
    bounds = np.linspace(0, len(frame), parts + 1).astype(int)
    return [frame.iloc[lo:hi] for lo, hi in itertools.pairwise(bounds)]


def _merge_all(parts: list[DatasetProfile]) -> DatasetProfile:
    out = parts[0]
    for part in parts[1:]:
        out = out.merge(part)
    return out


def test_partitions_merge_to_the_whole_frame() -> None:
    frame = _frame()
    whole = profile_frame(frame, pii_columns=["email"])
    parts = [profile_frame(p, pii_columns=["email"]) for p in _split(frame, 7)]
    merged = _merge_all(parts)

    assert _exact(merged) == _exact(whole)
    for name, col in whole.columns.items():
        assert _close(merged.columns[name].mean, col.mean), name
        assert _close(merged.columns[name].variance, col.variance), name

    x = whole.columns["x"]
    valid = frame["x"].dropna().to_numpy()
    assert x.null_count == frame["x"].isna().sum() > 0
    assert x.type_counts["float"] == len(valid)
    assert x.min == valid.min()
    assert x.max == valid.max()
    assert _close(x.mean, float(valid.mean()))
    assert _close(x.variance, float(valid.var()))
    n = whole.columns["n"]
    assert n.type_counts["int"] == len(frame)
    assert isinstance(n.min, int)
    assert whole.columns["flag"].type_counts["bool"] == len(frame)
    assert whole.columns["ts"].type_counts["datetime"] == len(frame)
    assert whole.columns["cat"].type_counts["string"] == len(frame)


def test_sketch_fields_stay_within_error_bounds_after_merging() -> None:
    frame = _frame()
    parts = [profile_frame(p) for p in _split(frame, 5)]
    merged = _merge_all(parts).columns
    valid = np.sort(frame["x"].dropna().to_numpy())

    for q in (0.01, 0.1, 0.5, 0.9, 0.99):
        estimate = merged["x"].quantile(q)
        assert estimate is not None
        rank = np.searchsorted(valid, estimate) / len(valid)
        assert abs(rank - q) < 0.05, q  # KLL k=200: ~1.65 % rank error

    assert merged["email"].distinct_estimate() == pytest.approx(len(frame), rel=0.05)
    assert merged["n"].distinct_estimate() == pytest.approx(frame["n"].nunique(), rel=0.05)
    assert merged["cat"].distinct_estimate() == pytest.approx(4, abs=0.5)

    top = merged["cat"].frequent(2)
    assert [item for item, _ in top] == ["a", "b"]
    assert top[0][1] == (frame["cat"] == "a").sum()  # fewer distinct items than the map: exact

    hist = merged["x"].histogram(10)
    assert len(hist.edges) == 11
    assert len(hist.counts) == 10
    assert sum(hist.counts) == pytest.approx(len(valid))
    true_counts, _ = np.histogram(valid, bins=np.asarray(hist.edges))
    for estimate, true in zip(hist.counts, true_counts, strict=True):
        assert abs(estimate - true) < 0.05 * len(valid)


def _raw_traces(value: object) -> list[bytes]:
    """The ways a raw value could show up in serialized JSON or inside a decoded sketch."""
    if isinstance(value, str):
        return [value.encode()]
    assert isinstance(value, int | float)
    traces = [repr(value).encode(), struct.pack("<d", float(value))]
    if isinstance(value, int):
        traces.append(struct.pack("<q", value))
    return traces


def _serialized_bytes(profile: DatasetProfile) -> bytes:
    """The profile's JSON plus every base64 sketch in it, decoded."""
    data = profile.to_dict()
    decoded = [
        base64.b64decode(field)
        for column in data["columns"].values()
        for field in (column["kll"], column["hll"], column["frequent"])
        if field is not None
    ]
    return json.dumps(data).encode() + b"".join(decoded)


def test_pii_columns_keep_no_raw_values_anywhere() -> None:
    rng = np.random.default_rng(5)
    salaries = np.round(rng.uniform(30_000, 90_000, 500), 3) + 0.125
    account_ids = rng.integers(10**11, 10**12, 500)
    emails = [f"person{i}.secret@example.com" for i in range(500)]
    frame = pd.DataFrame({"salary": salaries, "account": account_ids, "email": emails})
    pii = ["salary", "account", "email"]
    profile = profile_frame(frame, pii_columns=pii)
    blob = _serialized_bytes(profile) + json.dumps(profile.summary()).encode()
    raw: list[object] = [*salaries.tolist(), *account_ids.tolist(), *emails]
    leaked = [value for value in raw if any(trace in blob for trace in _raw_traces(value))]
    assert leaked == []
    for name in pii:
        col = profile.columns[name]
        assert col.pii
        assert (col.min, col.max, col.mean, col.variance) == (None, None, None, None)
        assert col.quantile(0.5) is None
        assert col.histogram(5).counts == ()
        assert col.frequent(10) == []
        assert col.count == 500
        assert col.distinct_estimate() == pytest.approx(500, rel=0.05)
    assert profile.columns["salary"].type_counts["float"] == 500

    # The same data as a non-PII profile does leak them, so the check above can fail.
    plain = profile_frame(frame)
    plain_blob = _serialized_bytes(plain)
    assert any(trace in plain_blob for trace in _raw_traces(float(salaries.max())))
    assert any(trace in plain_blob for trace in _raw_traces(emails[0]))

    # Merging with a non-PII profile of the same column must not bring values back.
    merged = plain.merge(profile)
    assert all(merged.columns[name].pii for name in pii)
    merged_blob = _serialized_bytes(merged)
    assert not any(trace in merged_blob for trace in _raw_traces(float(salaries.max())))
    assert not any(trace in merged_blob for trace in _raw_traces(emails[0]))
    assert merged.columns["account"].count == 1000


def test_schema_version_1_profiles_still_load_and_drop_pii_raw_values() -> None:
    data = json.loads((DATA / "dataset_profile_v1.json").read_text())
    assert data["schema_version"] == 1
    assert data["columns"]["salary"]["max"] == 95321.75  # the old format kept it
    profile = DatasetProfile.from_dict(data)
    amount = profile.columns["amount"]
    assert (amount.count, amount.null_count, amount.min, amount.max) == (6, 1, 3.5, 99.25)
    assert amount.quantile(0.0) == 3.5
    assert profile.columns["code"].frequent(1) == [("3", 3)]
    salary = profile.columns["salary"]
    assert salary.pii
    assert (salary.min, salary.max, salary.mean, salary.quantile(0.5)) == (None,) * 4
    assert salary.distinct_estimate() == pytest.approx(5)
    again = profile.to_dict()
    assert again["schema_version"] == 2
    assert b"95321.75" not in json.dumps(again).encode()
    assert struct.pack("<d", 95321.75) not in _serialized_bytes(profile)


def test_parquet_streaming_matches_in_memory(tmp_path: Path) -> None:
    frame = _frame(10_000)
    path = tmp_path / "data.parquet"
    pq.write_table(pa.Table.from_pandas(frame, preserve_index=False), path, row_group_size=1_500)

    streamed = profile_parquet(path, pii_columns=["email"], batch_rows=1_000)
    in_memory = profile_frame(frame, pii_columns=["email"])
    table = profile_frame(pq.read_table(path), pii_columns=["email"])

    assert _exact(streamed) == _exact(in_memory) == _exact(table)
    for name, col in in_memory.columns.items():
        assert _close(streamed.columns[name].mean, col.mean)
        assert _close(streamed.columns[name].variance, col.variance)
        # Batches feed the HLL sketch exactly what one pass would: the same estimate, bitwise.
        assert streamed.columns[name].distinct_estimate() == col.distinct_estimate(), name
    assert streamed.columns["cat"].frequent(4) == in_memory.columns["cat"].frequent(4)


def test_round_trip_through_json_keeps_every_reader() -> None:
    profile = profile_frame(_frame(3_000), pii_columns=["email"])
    restored = DatasetProfile.from_dict(json.loads(json.dumps(profile.to_dict())))

    def without_frequent_bytes(d: dict[str, Any]) -> dict[str, Any]:
        # The frequent-items sketch re-serializes its hash map in a different order.
        return d | {"columns": {n: c | {"frequent": None} for n, c in d["columns"].items()}}

    assert without_frequent_bytes(restored.to_dict()) == without_frequent_bytes(profile.to_dict())
    for name, col in profile.columns.items():
        again = restored.columns[name]
        assert again.quantile(0.5) == col.quantile(0.5)
        assert again.distinct_estimate() == col.distinct_estimate()
        assert again.frequent(3) == col.frequent(3)
        assert again.histogram(4) == col.histogram(4)


def test_mixed_object_column_is_classified_value_by_value() -> None:
    values = [1, 2.5, "x", True, None, float("nan"), dt.datetime(2024, 1, 1), {"k": 1}, pd.NaT]
    col = profile_frame(pd.DataFrame({"m": values})).columns["m"]
    assert col.count == len(values)
    assert col.null_count == 3
    assert col.type_counts == {
        "int": 1, "float": 1, "string": 1, "bool": 1, "datetime": 1, "other": 1,
    }  # fmt: skip
    assert (col.min, col.max) == (1, 2.5)
    assert col.mean == pytest.approx(1.75)


def test_empty_and_constant_columns() -> None:
    empty = ColumnProfile()
    assert empty.quantile(0.5) is None
    assert empty.mean is None
    assert empty.variance is None
    assert empty.histogram(5).counts == ()
    assert empty.frequent() == []
    assert ColumnProfile.from_dict(empty.to_dict()).to_dict() == empty.to_dict()

    const = profile_frame(pa.table({"c": [3.0] * 10})).columns["c"]
    assert const.histogram(5).counts == (10.0,)
    assert const.variance == 0.0


# -- merge algebra ----------------------------------------------------------------------------

_values = st.lists(
    st.one_of(
        st.none(),
        st.integers(-(10**6), 10**6),
        st.floats(-1e6, 1e6, allow_nan=False),
        st.sampled_from(["a", "b", "c"]),
    ),
    max_size=30,
)


def _column(values: list[Any]) -> ColumnProfile:
    return profile_frame(pd.DataFrame({"v": pd.Series(values, dtype=object)})).columns["v"]


def _exact_col(col: ColumnProfile) -> dict[str, Any]:
    return {k: col.to_dict()[k] for k in EXACT}


def _same(a: ColumnProfile, b: ColumnProfile) -> bool:
    return (
        _exact_col(a) == _exact_col(b) and _close(a.mean, b.mean) and _close(a.variance, b.variance)
    )


@settings(max_examples=60, deadline=None)
@given(_values, _values, _values)
def test_merge_is_associative_and_commutative(a: list[Any], b: list[Any], c: list[Any]) -> None:
    pa_, pb, pc_ = _column(a), _column(b), _column(c)
    assert _same(pa_.merge(pb).merge(pc_), pa_.merge(pb.merge(pc_)))
    assert _same(pa_.merge(pb), pb.merge(pa_))
    assert _exact_col(pa_.merge(pb)) == _exact_col(pb.merge(pa_))
    assert pa_.merge(pb).mean == pb.merge(pa_).mean  # symmetric formula: bitwise commutative
    assert _same(pa_.merge(pb).merge(pc_), _column(a + b + c))

    # The same holds for profiles that went through serialization.
    ra, rb, rc = (
        ColumnProfile.from_dict(json.loads(json.dumps(p.to_dict()))) for p in (pa_, pb, pc_)
    )
    assert _same(ra.merge(rb).merge(rc), pa_.merge(pb.merge(pc_)))
    assert _same(rb.merge(ra), pa_.merge(pb))
    assert ra.merge(rb).distinct_estimate() == pytest.approx(pa_.merge(pb).distinct_estimate())


def test_merge_leaves_inputs_untouched() -> None:
    a, b = _column([1, 2, "x"]), _column([3, "y"])
    before = (a.to_dict(), b.to_dict())
    a.merge(b)
    assert (a.to_dict(), b.to_dict()) == before


def test_dataset_merge_keeps_columns_present_on_one_side() -> None:
    left = profile_frame(pa.table({"a": [1, 2], "b": ["x", "y"]}))
    right = profile_frame(pa.table({"a": [3], "c": [1.5]}))
    merged = left.merge(right)
    assert merged.row_count == 3
    assert set(merged.columns) == {"a", "b", "c"}
    assert merged.columns["a"].count == 3
    assert merged.columns["a"].max == 3


# -- bad input --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"type": "mlsteward.suite"}, "expected type"),
        ({"schema_version": 3}, "schema_version 3 is not supported"),
        ({"schema_version": None}, "schema_version None is not supported"),
        ({"count": -1}, "'count' must be a non-negative integer"),
        ({"count": 999}, "inconsistent"),
        ({"kll": "!!!not base64"}, "not valid base64"),
        ({"hll": "Z2FyYmFnZQ=="}, "not a serialized sketch"),
        ({"min": "a"}, "must be a number"),
        ({"type_counts": {"int": 1}}, "type_counts"),
    ],
)
def test_bad_column_dicts_are_rejected(change: dict[str, Any], message: str) -> None:
    data = profile_frame(pa.table({"v": [1, 2, 3]})).columns["v"].to_dict() | change
    with pytest.raises(InvalidArgument, match=message):
        ColumnProfile.from_dict(data)


def test_missing_field_and_bad_dataset_dicts_are_rejected() -> None:
    data = ColumnProfile().to_dict()
    del data["kll"]
    with pytest.raises(InvalidArgument, match="missing field 'kll'"):
        ColumnProfile.from_dict(data)
    good = profile_frame(pa.table({"v": [1]})).to_dict()
    with pytest.raises(InvalidArgument, match="expected type"):
        DatasetProfile.from_dict(good | {"type": "mlsteward.column_profile"})
    with pytest.raises(InvalidArgument, match="schema_version"):
        DatasetProfile.from_dict(good | {"schema_version": 0})
    with pytest.raises(InvalidArgument, match="columns"):
        DatasetProfile.from_dict(good | {"columns": []})
    with pytest.raises(InvalidArgument, match="must be a mapping"):
        DatasetProfile.from_dict([])  # type: ignore[arg-type]


@pytest.mark.parametrize("data", [[1, 2, 3], {"a": [1]}, np.zeros(3), "frame", None])
def test_non_frame_input_is_rejected(data: object) -> None:
    with pytest.raises(
        InvalidArgument, match="profile_frame takes a pandas DataFrame, a Polars DataFrame"
    ):
        profile_frame(data)


def test_bad_arguments_are_rejected(tmp_path: Path) -> None:
    table = pa.table({"v": [1.0]})
    with pytest.raises(InvalidArgument, match=r"not in the data: \['nope'\]"):
        profile_frame(table, pii_columns=["nope"])
    with pytest.raises(InvalidArgument, match="not one string"):
        profile_frame(table, pii_columns="v")
    col = profile_frame(table).columns["v"]
    with pytest.raises(InvalidArgument, match="between 0 and 1"):
        col.quantile(1.5)
    with pytest.raises(InvalidArgument, match="bins"):
        col.histogram(0)
    with pytest.raises(InvalidArgument, match="can only merge"):
        col.merge(profile_frame(table))  # type: ignore[arg-type]
    not_parquet = tmp_path / "x.parquet"
    not_parquet.write_text("hello")
    with pytest.raises(InvalidArgument, match="as Parquet"):
        profile_parquet(not_parquet)
    with pytest.raises(InvalidArgument, match="as Parquet"):
        profile_parquet(tmp_path / "missing.parquet")
