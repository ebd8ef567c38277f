"""Expectation suites, validation of dataset versions and the catalog's PII columns through
``Client``, in-process and over HTTP: the same results and the same errors in both worlds."""

from __future__ import annotations

import itertools
from typing import Any

import pandas as pd
import pytest

from mlsteward.client import Client
from mlsteward.errors import InvalidArgument, NotFound, PermissionDenied
from mlsteward.validation import ExpectationSuite

from .conftest import World

_PROJECTS = itertools.count()


def _suite(name: str = "orders") -> ExpectationSuite:
    return ExpectationSuite.from_dict(
        {
            "name": name,
            "expectations": [
                {"expectation": "expect_column_values_to_not_be_null", "params": {"column": "id"}},
                {
                    "expectation": "expect_column_values_to_be_between",
                    "params": {"column": "amount", "min_value": 0},
                },
            ],
        }
    )


def _team(world: World) -> tuple[str, Client, Client, Client]:
    """A new project; clients of an editor, a viewer and an outsider."""
    n = next(_PROJECTS)
    project = f"checks{n}"
    owner = world.user(f"vowner{n}")
    owner.create_project(project)
    editor, viewer, outsider = (world.user(f"v{role}{n}") for role in ("ed", "vi", "out"))
    owner.add_member(project, f"ved{n}", "editor")
    owner.add_member(project, f"vvi{n}", "viewer")
    return project, editor, viewer, outsider


def _orders(amounts: list[float]) -> pd.DataFrame:
    return pd.DataFrame(
        {
            "id": range(len(amounts)),
            "amount": amounts,
            "email": [f"buyer{i}@example.com" for i in range(len(amounts))],
        }
    )


def test_a_stored_suite_validates_versions_and_the_verdicts_are_kept(world: World) -> None:
    project, editor, _, _ = _team(world)
    editor.save_suite(project, _suite())
    editor.save_suite(project, _suite())  # replacing a suite of that name is allowed
    good = editor.log_dataset(_orders([1.0, 2.5, 3.0] * 10), "orders", project=project)
    result = editor.validate_dataset_version(project, good, "orders")
    assert (result.suite_name, result.success) == ("orders", True)
    assert result.statistics["evaluated_expectations"] == 2
    bad = editor.log_dataset(_orders([1.0, -2.0, 3.0] * 10), "orders", project=project)
    failed = editor.validate_dataset_version(project, bad, "orders")
    assert failed.success is False
    assert failed.statistics["unsuccessful_expectations"] == 1


def test_the_catalog_names_the_pii_columns_it_detected(world: World) -> None:
    project, editor, viewer, outsider = _team(world)
    editor.log_dataset(_orders([1.0, 2.0] * 20), "orders", project=project)
    assert viewer.dataset_pii_columns(project, "orders") == {"email": "email"}
    with pytest.raises((PermissionDenied, NotFound)):
        outsider.dataset_pii_columns(project, "orders")
    with pytest.raises(NotFound):
        viewer.dataset_pii_columns(project, "no-such-dataset")


@pytest.mark.parametrize(
    ("call", "error"),
    [
        ("suite_not_a_suite", InvalidArgument),
        ("empty_suite_name", InvalidArgument),
        ("unknown_suite", NotFound),
        ("viewer_saves", PermissionDenied),
    ],
)
def test_bad_calls_are_refused_alike(world: World, call: str, error: type[Exception]) -> None:
    project, editor, viewer, _ = _team(world)
    version = editor.log_dataset(_orders([1.0] * 5), "orders", project=project)
    calls: dict[str, Any] = {
        "suite_not_a_suite": lambda: editor.save_suite(project, {"name": "x"}),  # type: ignore[arg-type]
        "empty_suite_name": lambda: editor.validate_dataset_version(project, version, ""),
        "unknown_suite": lambda: editor.validate_dataset_version(project, version, "nope"),
        "viewer_saves": lambda: viewer.save_suite(project, _suite()),
    }
    with pytest.raises(error):
        calls[call]()
