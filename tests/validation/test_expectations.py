"""Every built-in expectation passes and fails where it should; ``mostly``; the
scikit-learn parameter contract; custom checks."""

from __future__ import annotations

from typing import Any

import polars as pl
import pytest

from mlsteward.errors import InvalidArgument
from mlsteward.profiles import profile_frame
from mlsteward.validation import (
    ExpectationSuite,
    custom_expectation,
    expectation_types,
    make_expectation,
    validate,
)

from ._frames import frame_dict, normal_values

FRAME = pl.DataFrame(frame_dict())

# name, params that pass on FRAME, params that fail on FRAME
CASES: list[tuple[str, dict[str, Any], dict[str, Any]]] = [
    ("expect_column_values_to_not_be_null", {"column": "x"}, {"column": "score"}),
    (
        "expect_column_values_to_be_between",
        {"column": "x", "min_value": 1, "max_value": 10},
        {"column": "x", "min_value": 1, "max_value": 10, "strict_max": True},
    ),
    (
        "expect_column_values_to_be_in_set",
        {"column": "s", "value_set": ["a", "b", "zz"]},
        {"column": "s", "value_set": ["a", "b"]},
    ),
    ("expect_column_values_to_be_unique", {"column": "id"}, {"column": "s"}),
    (
        "expect_column_values_to_match_regex",
        {"column": "s", "regex": "^[a-z]+$"},
        {"column": "s", "regex": "^[ab]$"},
    ),
    (
        "expect_column_values_to_be_of_type",
        {"column": "x", "type_": "float64"},
        {"column": "x", "type_": "string"},
    ),
    (
        "expect_column_mean_to_be_between",
        {"column": "x", "min_value": 5.5, "max_value": 5.5},
        {"column": "x", "min_value": 6},
    ),
    (
        "expect_column_median_to_be_between",
        {"column": "x", "min_value": 5.5, "max_value": 5.5},
        {"column": "x", "max_value": 5},
    ),
    (
        "expect_column_stdev_to_be_between",
        {"column": "x", "min_value": 3.0, "max_value": 3.1},
        {"column": "x", "max_value": 2.0},
    ),
    (
        "expect_table_row_count_to_be_between",
        {"min_value": 10, "max_value": 10},
        {"min_value": 11},
    ),
    (
        "expect_table_columns_to_match_set",
        {"column_set": ["s", "x", "score", "id"]},
        {"column_set": ["x", "id"]},
    ),
    (
        "expect_column_proportion_of_unique_values_to_be_between",
        {"column": "id", "min_value": 1.0},
        {"column": "s", "min_value": 0.5},
    ),
    (
        "expect_column_distinct_values_to_be_in_set",
        {"column": "s", "value_set": ["a", "b", "zz", "c"]},
        {"column": "s", "value_set": ["a"]},
    ),
]


def test_the_cases_cover_every_builtin() -> None:
    covered = {c[0] for c in CASES} | {"expect_column_distribution_to_match_profile"}
    builtins = {n for n in expectation_types() if not n.startswith("expect_test_")}
    assert covered == builtins


@pytest.mark.parametrize(("name", "good", "bad"), CASES, ids=[c[0] for c in CASES])
def test_each_expectation_passes_and_fails(
    name: str, good: dict[str, Any], bad: dict[str, Any]
) -> None:
    suite = ExpectationSuite("t", [make_expectation(name, good), make_expectation(name, bad)])
    passed, failed = validate(suite, FRAME).results
    assert passed.success, passed
    assert not failed.success, failed


def test_observed_values_and_unexpected_counts() -> None:
    suite = ExpectationSuite(
        "t",
        [
            make_expectation("expect_column_values_to_not_be_null", {"column": "score"}),
            make_expectation(
                "expect_column_values_to_be_in_set", {"column": "s", "value_set": ["a"]}
            ),
            make_expectation("expect_column_values_to_be_unique", {"column": "s"}),
            make_expectation("expect_column_mean_to_be_between", {"column": "x", "min_value": 0}),
            make_expectation(
                "expect_column_distinct_values_to_be_in_set", {"column": "s", "value_set": ["a"]}
            ),
        ],
    )
    null, in_set, unique, mean, distinct = validate(suite, FRAME).results
    assert (null.unexpected_count, null.missing_count, null.unexpected_percent) == (1, 1, 10.0)
    assert in_set.unexpected_count == 5
    assert set(in_set.samples) == {"b", "zz"}
    assert unique.unexpected_count == 7  # 10 values, 3 distinct
    assert mean.observed_value == pytest.approx(5.5)
    assert distinct.observed_value == ["b", "zz"]
    assert distinct.unexpected_count == 2


def test_mostly_tolerates_a_share_of_unexpected_values() -> None:
    def check(mostly: float) -> bool:
        e = make_expectation(
            "expect_column_values_to_be_in_set",
            {"column": "s", "value_set": ["a", "b"], "mostly": mostly},
        )
        return validate(ExpectationSuite("t", [e]), FRAME).success

    assert check(0.9)
    assert not check(0.95)
    null = make_expectation(
        "expect_column_values_to_not_be_null", {"column": "score", "mostly": 0.9}
    )
    assert validate(ExpectationSuite("t", [null]), FRAME).success


def test_missing_column_and_wrong_type_fail_that_check_only() -> None:
    suite = ExpectationSuite(
        "t",
        [
            make_expectation(
                "expect_column_mean_to_be_between", {"column": "nope", "min_value": 0}
            ),
            make_expectation("expect_column_mean_to_be_between", {"column": "s", "min_value": 0}),
            make_expectation("expect_table_row_count_to_be_between", {"min_value": 1}),
        ],
    )
    missing, wrong, rows = validate(suite, FRAME).results
    assert missing.error == "column 'nope' is not in the data"
    assert wrong.error == "column 's' is string, not float or int"
    assert rows.success


@pytest.mark.parametrize(("name", "good", "bad"), CASES, ids=[c[0] for c in CASES])
def test_get_params_round_trips(name: str, good: dict[str, Any], bad: dict[str, Any]) -> None:
    expectation = make_expectation(name, good)
    params = expectation.get_params()
    assert set(good) <= set(params)
    again = type(expectation)(**params)
    assert again == expectation
    assert again.get_params() == params


def test_distribution_against_a_reference_profile() -> None:
    reference = profile_frame(pl.DataFrame({"v": normal_values()}).to_arrow()).columns["v"]
    same = pl.DataFrame({"v": normal_values(seed=8)})
    shifted = pl.DataFrame({"v": normal_values(seed=8, loc=1.0)})
    for method in ("psi", "ks"):
        e = make_expectation(
            "expect_column_distribution_to_match_profile",
            {"column": "v", "profile": reference.to_dict(), "method": method},
        )
        suite = ExpectationSuite("d", [e])
        ok = validate(suite, same).results[0]
        drifted = validate(suite, shifted).results[0]
        assert ok.success, (method, ok)
        assert ok.observed_value < 0.1, (method, ok)
        assert not drifted.success, (method, drifted)
        assert drifted.observed_value > 0.3, (method, drifted)
        assert ExpectationSuite.from_dict(suite.to_dict()) == suite


@pytest.mark.parametrize(
    ("name", "params", "field"),
    [
        ("expect_column_values_to_be_between", {"column": "x"}, "min_value"),
        (
            "expect_column_values_to_be_between",
            {"column": "x", "min_value": 3, "max_value": 1},
            "min_value",
        ),
        ("expect_column_values_to_be_between", {"column": "x", "min_value": "1"}, "min_value"),
        ("expect_column_values_to_be_in_set", {"column": "x", "value_set": "abc"}, "value_set"),
        ("expect_column_values_to_not_be_null", {"column": "x", "mostly": 1.5}, "mostly"),
        ("expect_column_values_to_not_be_null", {"column": ""}, "column"),
        ("expect_column_values_to_not_be_null", {"column": "x", "colour": 1}, "colour"),
        ("expect_column_values_to_not_be_null", {}, "column"),
        ("expect_column_values_to_match_regex", {"column": "s", "regex": "(unclosed"}, "regex"),
        ("expect_column_values_to_match_regex", {"column": "s", "regex": "a" * 5000}, "regex"),
        ("expect_column_values_to_be_of_type", {"column": "s", "type_": "varchar"}, "type_"),
        ("expect_table_row_count_to_be_between", {"min_value": -1}, "min_value"),
        (
            "expect_column_distribution_to_match_profile",
            {"column": "x", "profile": {"a": 1}},
            "profile",
        ),
    ],
)
def test_bad_params_name_the_field(name: str, params: dict[str, Any], field: str) -> None:
    with pytest.raises(InvalidArgument) as caught:
        make_expectation(name, params)
    assert caught.value.details["field"] == field
    assert repr(field) in caught.value.message


def test_unknown_expectation_lists_the_known_ones() -> None:
    with pytest.raises(InvalidArgument, match=r"unknown expectation 'expect_vibes'.*expect_column"):
        make_expectation("expect_vibes", {})


def test_custom_expectation_from_a_polars_expression() -> None:
    @custom_expectation("expect_test_values_to_be_even", replace=True)
    def even(column: str) -> pl.Expr:
        return pl.col(column) % 2 == 0

    good = make_expectation("expect_test_values_to_be_even", {"column": "x", "mostly": 0.5})
    bad = make_expectation("expect_test_values_to_be_even", {"column": "x"})
    result = validate(ExpectationSuite("c", [good, bad]), FRAME)
    assert [r.success for r in result.results] == [True, False]
    assert result.results[1].unexpected_count == 5
    assert 1.0 in result.results[1].samples
    assert good.get_params() == {"column": "x", "mostly": 0.5}
    again = ExpectationSuite.from_dict(ExpectationSuite("c", [good]).to_dict())
    assert again.expectations[0] == good
    with pytest.raises(InvalidArgument, match="'size'"):
        make_expectation("expect_test_values_to_be_even", {"column": "x", "size": 3})


@pytest.mark.parametrize(
    ("values", "dtype", "repeats"),
    [
        ([1, 1, None, 2, None, 3], pl.Int64, 1),
        ([None, None], pl.Int64, 0),
        ([], pl.Int64, 0),
        ([1.5, float("nan"), float("nan"), None, 1.5], pl.Float64, 2),
        (["a", None, "a", "b"], pl.String, 1),
    ],
)
def test_unique_counts_repeats_of_non_null_values(
    values: list[Any], dtype: Any, repeats: int
) -> None:
    frame = pl.DataFrame({"v": pl.Series(values, dtype=dtype)})
    suite = ExpectationSuite(
        "u", [make_expectation("expect_column_values_to_be_unique", {"column": "v"})]
    )
    (result,) = validate(suite, frame).results
    assert result.unexpected_count == repeats
    assert result.success is (repeats == 0)
