"""A suite attached to a dataset validates every new table version; a failing suite does not
undo the add."""

from __future__ import annotations

import pandas as pd

from mlsteward.data import log_table_version
from mlsteward.platform import Platform
from mlsteward.security import Actor
from mlsteward.validation import attach_suite, list_validation_results, save_suite

SUITE = {
    "name": "positive",
    "expectations": [
        {
            "expectation": "expect_column_values_to_be_between",
            "params": {"column": "amount", "min_value": 0},
        }
    ],
}


def test_every_new_version_is_validated(platform: Platform, admin: Actor) -> None:
    first = log_table_version(platform, admin, "default", "tx", pd.DataFrame({"amount": [1.0]}))
    save_suite(platform, admin, "default", SUITE)
    attach_suite(platform, admin, "default", "positive", "tx")
    good = log_table_version(platform, admin, "default", "tx", pd.DataFrame({"amount": [2.0]}))
    bad = log_table_version(platform, admin, "default", "tx", pd.DataFrame({"amount": [-5.0]}))
    same = log_table_version(platform, admin, "default", "tx", pd.DataFrame({"amount": [-5.0]}))
    assert same.unchanged

    def verdicts(version_id: str) -> list[bool]:
        results = list_validation_results(platform, admin, "default", dataset_version_id=version_id)
        return [r.success for r in results]

    assert verdicts(first.id) == []  # added before the suite was attached
    assert verdicts(good.id) == [True]
    assert verdicts(bad.id) == [False]  # recorded once: the unchanged re-add ran nothing


def test_a_check_on_a_missing_column_fails_and_the_version_is_kept(
    platform: Platform, admin: Actor
) -> None:
    broken = {
        "name": "needs-a-column",
        "expectations": [
            {"expectation": "expect_column_values_to_not_be_null", "params": {"column": "nope"}}
        ],
    }
    log_table_version(platform, admin, "default", "t2", pd.DataFrame({"amount": [1.0]}))
    save_suite(platform, admin, "default", broken)
    attach_suite(platform, admin, "default", "needs-a-column", "t2")
    version = log_table_version(platform, admin, "default", "t2", pd.DataFrame({"a": [1]}))
    assert version.version == 2
    [stored] = list_validation_results(platform, admin, "default", dataset_version_id=version.id)
    assert not stored.success
    assert stored.result.results[0].error == "column 'nope' is not in the data"
