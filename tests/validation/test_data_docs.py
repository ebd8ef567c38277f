"""HTML data docs: self-contained, every value escaped."""

from __future__ import annotations

import re

import polars as pl

from mlsteward.validation import ExpectationSuite, make_expectation, render_data_docs, validate

HOSTILE = '<script>alert("x")</script>'


def test_docs_show_each_check_and_escape_hostile_input() -> None:
    data = pl.DataFrame({HOSTILE: ["ok", HOSTILE, "<img src=x onerror=alert(1)>"]})
    suite = ExpectationSuite(
        "docs",
        [
            make_expectation(
                "expect_column_values_to_be_in_set", {"column": HOSTILE, "value_set": ["ok"]}
            ),
            make_expectation("expect_table_row_count_to_be_between", {"min_value": 1}),
        ],
        description=HOSTILE,
    )
    result = validate(suite, data)
    html = render_data_docs([result, result], title=HOSTILE)
    assert "<script" not in html
    assert "<img" not in html
    assert "&lt;script&gt;" in html
    assert "&lt;img src=x onerror=alert(1)&gt;" in html
    assert not re.search(r"(src|href)=\"?https?:", html)  # no external assets
    assert html.count("<section>") == 2
    assert html.count('class="fail">fail<') == 2
    assert html.count('class="pass">pass<') == 2
    assert "Content-Security-Policy" in html
    assert "<style>" in html


def test_docs_of_no_results() -> None:
    assert "No validation results." in render_data_docs([])
