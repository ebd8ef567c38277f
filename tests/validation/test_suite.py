"""Suites in Python, YAML and canonical JSON; bad suites give errors naming index and field."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from mlsteward.errors import InvalidArgument
from mlsteward.validation import ExpectationSuite, load_suite, make_expectation

YAML = """
name: orders
description: checks on orders
expectations:
  - expect_column_values_to_not_be_null: {column: id}
  - expectation: expect_column_values_to_be_between
    params: {column: amount, min_value: 0, max_value: 10000, mostly: 0.99}
  - expect_table_columns_to_match_set:
      column_set: [id, amount]
"""


def test_yaml_round_trip_and_canonical_json(tmp_path: Path) -> None:
    suite = load_suite(YAML)
    assert [e.name for e in suite.expectations] == [
        "expect_column_values_to_not_be_null",
        "expect_column_values_to_be_between",
        "expect_table_columns_to_match_set",
    ]
    data = json.loads(suite.to_json())
    assert data["type"] == "mlsteward.expectation_suite"
    assert data["schema_version"] == 1
    assert data["expectations"][1]["params"]["mostly"] == 0.99
    assert suite.to_json() == json.dumps(data, sort_keys=True, separators=(",", ":"))
    path = tmp_path / "orders.yaml"
    path.write_text(suite.to_yaml())
    assert load_suite(path) == suite
    assert load_suite(str(path)) == suite
    assert load_suite(suite.to_json()) == suite
    assert load_suite(data) == suite


def test_python_declared_suite_equals_the_yaml_one() -> None:
    suite = ExpectationSuite(
        "orders",
        [
            make_expectation("expect_column_values_to_not_be_null", {"column": "id"}),
            make_expectation(
                "expect_column_values_to_be_between",
                {"column": "amount", "min_value": 0, "max_value": 10000, "mostly": 0.99},
            ),
            make_expectation("expect_table_columns_to_match_set", {"column_set": ["id", "amount"]}),
        ],
        "checks on orders",
    )
    assert suite == load_suite(YAML)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (
            "name: x\nexpectations:\n  - expect_vibes: {column: a}\n",
            r"expectations\[0\] \(expect_vibes\): unknown expectation",
        ),
        (
            "name: x\nexpectations:\n  - expect_column_values_to_not_be_null: {column: a}\n"
            "  - expect_column_values_to_be_between: {column: a, min_value: high}\n",
            r"expectations\[1\] \(expect_column_values_to_be_between\): field 'min_value'",
        ),
        (
            "name: x\nexpectations:\n"
            "  - expect_column_values_to_match_regex: {column: a, regex: '[z-a'}\n",
            r"expectations\[0\] .*field 'regex': is not a valid regular expression",
        ),
        ("name: x\nexpectations: [\n", r"not valid YAML at line \d+"),
        ("name: x\nexpectations: nope\n", 'needs "expectations"'),
        ("name: 'bad name!'\nexpectations: []\n", "suite name 'bad name!' is not valid"),
        ("- just a list\n", "a suite is a mapping"),
        ("name: x\nschema_version: 99\nexpectations: []\n", "schema_version '99' is not supported"),
        ("name: x\ntype: something.else\nexpectations: []\n", "expected type"),
        ("name: x\nexpectations:\n  - 42\n", r"expectations\[0\] must be"),
        (
            "name: x\nexpectations:\n  - expect_column_values_to_not_be_null: [a]\n",
            r"expectations\[0\].*params must be a mapping",
        ),
        ("name: x\nbogus: 1\nexpectations: []\n", "unknown suite field 'bogus'"),
    ],
)
def test_bad_suites_name_what_is_wrong(text: str, message: str) -> None:
    with pytest.raises(InvalidArgument, match=message):
        load_suite(text)


def test_bad_entry_details_carry_index_and_field() -> None:
    text = (
        "name: x\nexpectations:\n  - expect_column_values_to_not_be_null: {column: a, mostly: 2}\n"
    )
    with pytest.raises(InvalidArgument) as caught:
        load_suite(text)
    assert caught.value.details == {"index": 0, "field": "mostly"}


def test_missing_file_and_non_expectations(tmp_path: Path) -> None:
    with pytest.raises(InvalidArgument, match="does not exist"):
        load_suite(tmp_path / "nope.yaml")
    with pytest.raises(InvalidArgument, match=r"expectations\[0\] is a str"):
        ExpectationSuite("x", ["expect_column_values_to_not_be_null"])  # type: ignore[list-item]
