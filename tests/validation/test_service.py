"""Suites and results as services on SQLite and PostgreSQL: permissions, audit, PII masking,
dataset versions validated against their attached suites."""

from __future__ import annotations

from typing import Any

import pandas as pd
import pytest
from sqlalchemy import func, select

from mlsteward.data import log_table_version
from mlsteward.errors import AlreadyExists, InvalidArgument, NotFound, PermissionDenied
from mlsteward.platform import Platform
from mlsteward.security import SYSTEM, Actor, add_member, authenticate_password, create_user
from mlsteward.validation import (
    attach_suite,
    delete_suite,
    detach_suite,
    get_suite,
    get_validation_result,
    list_suites,
    list_validation_results,
    load_suite,
    save_suite,
    validate_data,
    validate_dataset_version,
)
from mlsteward.validation._tables import validation_results, validation_suites

from ..server._support import cheap_password_hashing

SUITE = """
name: payments
expectations:
  - expect_column_values_to_not_be_null: {column: card}
  - expect_column_values_to_be_between: {column: amount, min_value: 0, max_value: 100}
  - expect_column_values_to_be_in_set: {column: card, value_set: ["4111 1111 1111 1111"]}
"""
CARDS = ["4111 1111 1111 1111", "5500 0000 0000 0004", "3400 0000 0000 009", "4012 8888 8888 1881"]


def payments() -> pd.DataFrame:
    return pd.DataFrame({"card": CARDS, "amount": [5.0, 50.0, 500.0, 1.0]})


def user(platform: Platform, name: str, role: str) -> Actor:
    with cheap_password_hashing():
        create_user(platform, SYSTEM, name, "a-long-password-1")
        add_member(platform, SYSTEM, "default", name, role)
        return authenticate_password(platform, name, "a-long-password-1")


def count(platform: Platform, table: Any) -> int:
    with platform.db.read() as conn:
        return int(conn.execute(select(func.count()).select_from(table)).scalar_one())


def test_suite_crud_with_roles_and_audit(backend_platform: Platform) -> None:
    viewer = user(backend_platform, "vic", "viewer")
    editor = user(backend_platform, "eve", "editor")
    before = backend_platform.audit.count(backend_platform.db)
    stored = save_suite(backend_platform, editor, "default", SUITE)
    assert stored.name == "payments"
    assert len(stored.suite.expectations) == 3
    assert get_suite(backend_platform, viewer, "default", "payments").suite == stored.suite
    assert [s.name for s in list_suites(backend_platform, viewer, "default")] == ["payments"]
    with pytest.raises(PermissionDenied):
        save_suite(backend_platform, viewer, "default", SUITE.replace("payments", "other"))
    with pytest.raises(AlreadyExists, match="replace"):
        save_suite(backend_platform, editor, "default", SUITE)
    replaced = save_suite(
        backend_platform, editor, "default", SUITE.replace("max_value: 100", "max_value: 1000"),
        replace=True,
    )  # fmt: skip
    assert replaced.id == stored.id
    assert replaced.suite.expectations[1].get_params()["max_value"] == 1000
    with pytest.raises(PermissionDenied):
        delete_suite(backend_platform, viewer, "default", "payments")
    delete_suite(backend_platform, editor, "default", "payments")
    with pytest.raises(NotFound, match="mlsteward suites create"):
        get_suite(backend_platform, viewer, "default", "payments")
    assert backend_platform.audit.count(backend_platform.db) == before + 3
    assert stored.to_json()["definition"]["type"] == "mlsteward.expectation_suite"


def test_bad_input_writes_nothing(platform: Platform) -> None:
    audit = platform.audit.count(platform.db)
    bad_calls = [
        lambda: save_suite(platform, SYSTEM, "default", "name: x\nexpectations: [{expect_x: {}}]"),
        lambda: save_suite(platform, SYSTEM, "nope", SUITE),
        lambda: save_suite(platform, SYSTEM, "default", 42),  # type: ignore[arg-type]
        lambda: validate_data(platform, SYSTEM, "default", "missing", payments()),
        lambda: validate_data(platform, SYSTEM, "default", "bad name!", payments()),
        lambda: validate_data(platform, SYSTEM, "default", load_suite(SUITE), 42),
        lambda: validate_data(
            platform, SYSTEM, "default", load_suite(SUITE), payments(), dataset_version_id="x" * 32
        ),
        lambda: validate_dataset_version(platform, SYSTEM, "0" * 32),
        lambda: attach_suite(platform, SYSTEM, "default", "payments", "no-such-dataset"),
    ]
    for call in bad_calls:
        with pytest.raises((InvalidArgument, NotFound)):
            call()
    assert count(platform, validation_suites) == 0
    assert count(platform, validation_results) == 0
    assert platform.audit.count(platform.db) == audit


def test_results_are_stored_with_card_numbers_masked(backend_platform: Platform) -> None:
    editor = user(backend_platform, "eve", "editor")
    save_suite(backend_platform, editor, "default", SUITE)
    stored = validate_data(backend_platform, editor, "default", "payments", payments())
    assert not stored.success
    card_check = stored.result.results[2]
    assert card_check.unexpected_count == 3
    assert card_check.samples
    assert all(s.startswith("****") for s in card_check.samples)
    assert set(card_check.samples) == {"****0004", "****0009", "****1881"}
    assert card_check.details["samples_masked_as"] == "payment_card"
    assert stored.result.results[1].samples == (500.0,)  # not PII: shown as is
    again = get_validation_result(backend_platform, editor, "default", stored.id)
    assert again.to_json() == stored.to_json()
    assert "4012" not in str(again.to_json())
    listed = list_validation_results(backend_platform, editor, "default", suite="payments")
    assert [r.id for r in listed] == [stored.id]
    viewer = user(backend_platform, "vic", "viewer")
    with pytest.raises(PermissionDenied):
        validate_data(backend_platform, viewer, "default", "payments", payments())
    assert len(list_validation_results(backend_platform, viewer, "default")) == 1


def test_an_attached_suite_validates_a_dataset_version(backend_platform: Platform) -> None:
    editor = user(backend_platform, "eve", "editor")
    good = payments().iloc[[0, 1, 3]]
    version = log_table_version(backend_platform, editor, "default", "payments", good)
    save_suite(
        backend_platform, editor, "default",
        SUITE.replace('value_set: ["4111 1111 1111 1111"]', f"value_set: {CARDS!r}"),
    )  # fmt: skip
    assert validate_dataset_version(backend_platform, editor, version.id) == []  # not attached
    attached = attach_suite(backend_platform, editor, "default", "payments", "payments")
    assert attached.datasets == ("payments",)
    (result,) = validate_dataset_version(backend_platform, editor, version.id)
    assert result.success
    assert result.dataset_version_id == version.id
    assert result.result.statistics["row_count"] == 3
    bad = log_table_version(backend_platform, editor, "default", "payments", payments())
    (failed,) = validate_dataset_version(backend_platform, editor, bad.id)
    assert not failed.success
    assert failed.result.results[1].unexpected_count == 1
    by_version = list_validation_results(
        backend_platform, editor, "default", dataset_version_id=bad.id
    )
    # Logging ``bad`` ran the attached suite already; the explicit call ran it again.
    assert len(by_version) == 2
    assert failed.id in {r.id for r in by_version}
    assert not any(r.success for r in by_version)
    detach_suite(backend_platform, editor, "default", "payments", "payments")
    assert validate_dataset_version(backend_platform, editor, bad.id) == []
    with pytest.raises(NotFound, match="not attached"):
        detach_suite(backend_platform, editor, "default", "payments", "payments")
