"""One pass on Polars: the same verdicts on pandas, Polars, Arrow, Parquet and CSV, and one
collect for every check (plus one bounded pass for samples, only when a row check fails)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pandas as pd
import polars as pl
import pyarrow as pa
import pytest

from mlsteward.errors import InvalidArgument
from mlsteward.validation import ExpectationSuite, load_suite, validate

from ._frames import frame_dict

SUITE = """
name: mixed
expectations:
  - expect_column_values_to_not_be_null: {column: score}
  - expect_column_values_to_be_between: {column: x, min_value: 2, max_value: 9, mostly: 0.5}
  - expect_column_values_to_be_in_set: {column: s, value_set: [a, b]}
  - expect_column_values_to_be_unique: {column: id}
  - expect_column_values_to_match_regex: {column: s, regex: "^[ab]$"}
  - expect_column_mean_to_be_between: {column: x, min_value: 5, max_value: 6}
  - expect_column_median_to_be_between: {column: score, min_value: 0.4, max_value: 0.6}
  - expect_column_stdev_to_be_between: {column: x, min_value: 1}
  - expect_table_row_count_to_be_between: {min_value: 5}
  - expect_column_proportion_of_unique_values_to_be_between: {column: s, max_value: 0.5}
  - expect_column_distinct_values_to_be_in_set: {column: s, value_set: [a, b]}
  - expect_column_values_to_be_of_type: {column: id, type_: int64}
"""


def summary(result: Any) -> list[tuple[bool, Any, Any]]:
    return [
        (
            r.success,
            pytest.approx(r.observed_value)
            if isinstance(r.observed_value, float)
            else r.observed_value,
            r.unexpected_count,
        )
        for r in result.results
    ]


@pytest.fixture
def inputs(tmp_path: Path) -> dict[str, object]:
    frame = pd.DataFrame(frame_dict())
    parquet, csv = tmp_path / "d.parquet", tmp_path / "d.csv"
    frame.to_parquet(parquet)
    frame.to_csv(csv, index=False)
    return {
        "pandas": frame,
        "polars": pl.DataFrame(frame_dict()),
        "lazy": pl.DataFrame(frame_dict()).lazy(),
        "arrow": pa.Table.from_pandas(frame, preserve_index=False),
        "parquet": parquet,
        "parquet-str": str(parquet),
        "parquet-list": [parquet, parquet],
        "csv": csv,
    }


def test_same_verdicts_on_every_input(inputs: dict[str, object]) -> None:
    suite = load_suite(SUITE)
    expected = summary(validate(suite, inputs["polars"]))
    assert [s for s, _, _ in expected] == [
        False,
        True,
        False,
        True,
        False,
        True,
        True,
        True,
        True,
        True,
        False,
        True,
    ]
    for name, data in inputs.items():
        if name == "parquet-list":
            continue  # twice the rows
        assert summary(validate(suite, data)) == expected, name
    doubled = validate(suite, inputs["parquet-list"])
    assert doubled.statistics["row_count"] == 20
    csv = inputs["csv"]
    assert validate(suite, [csv, csv]).statistics["row_count"] == 20
    with pytest.raises(InvalidArgument, match="all be Parquet files or all be CSV"):
        validate(suite, [csv, inputs["parquet"]])


class CollectCounter:
    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        self.collects = 0
        self.collect_alls = 0
        real_collect, real_all = pl.LazyFrame.collect, pl.collect_all

        def collect(lf: pl.LazyFrame, *args: Any, **kwargs: Any) -> Any:
            self.collects += 1
            return real_collect(lf, *args, **kwargs)

        def collect_all(*args: Any, **kwargs: Any) -> Any:
            self.collect_alls += 1
            return real_all(*args, **kwargs)

        monkeypatch.setattr(pl.LazyFrame, "collect", collect)
        monkeypatch.setattr(pl, "collect_all", collect_all)


def test_one_collect_for_all_checks(
    inputs: dict[str, object], monkeypatch: pytest.MonkeyPatch
) -> None:
    counter = CollectCounter(monkeypatch)
    passing = ExpectationSuite.from_dict(
        {**load_suite(SUITE).to_dict(), "expectations": [
            e for e, r in zip(load_suite(SUITE).to_dict()["expectations"],
                              validate(load_suite(SUITE), inputs["polars"]).results, strict=True)
            if r.success
        ]}
    )  # fmt: skip
    counter.collects = counter.collect_alls = 0
    assert validate(passing, inputs["parquet"]).success
    assert (counter.collects, counter.collect_alls) == (1, 0)
    failing = load_suite(SUITE)
    result = validate(failing, inputs["parquet"])
    assert (counter.collects, counter.collect_alls) == (2, 1)  # + one bounded sample pass
    assert set(result.results[2].samples) == {"zz"}
    assert validate(failing, inputs["parquet"], sample_size=0).results[2].samples == ()
    assert (counter.collects, counter.collect_alls) == (3, 1)


def test_hostile_column_names_work(tmp_path: Path) -> None:
    name = 'a.b `c"<script>'
    data = pl.DataFrame({name: [1, 2, None]})
    suite = ExpectationSuite.from_dict(
        {
            "name": "h",
            "expectations": [
                {"expectation": "expect_column_values_to_not_be_null", "params": {"column": name}}
            ],
        }
    )
    result = validate(suite, data)
    assert result.results[0].unexpected_count == 1


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (42, "validate takes a pandas or Polars DataFrame"),
        ("/nonexistent/file.parquet", "does not exist"),
    ],
)
def test_bad_data(data: object, message: str) -> None:
    with pytest.raises(InvalidArgument, match=message):
        validate(load_suite(SUITE), data)


def test_unreadable_files(tmp_path: Path) -> None:
    fake = tmp_path / "fake.parquet"
    fake.write_bytes(b"not parquet at all")
    with pytest.raises(InvalidArgument, match="cannot read the data"):
        validate(load_suite(SUITE), fake)
    other = tmp_path / "data.xlsx"
    other.write_bytes(b"x")
    with pytest.raises(InvalidArgument, match="cannot tell the format"):
        validate(load_suite(SUITE), other)
    with pytest.raises(InvalidArgument, match="sample_size"):
        validate(load_suite(SUITE), pl.DataFrame(frame_dict()), sample_size=-1)
