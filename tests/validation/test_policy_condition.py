"""The alias-policy condition ``training_data_validated`` in a real promotion flow."""

from __future__ import annotations

import contextlib

import pandas as pd
import pytest
from sqlalchemy import insert

from mlsteward.data import log_table_version
from mlsteward.data._tables import lineage_edges
from mlsteward.errors import AlreadyExists, PolicyNotMet
from mlsteward.platform import Platform
from mlsteward.registry import (
    ModelFile,
    condition_types,
    register_model_version,
    set_alias,
    set_alias_policy,
)
from mlsteward.security import SYSTEM
from mlsteward.store import utcnow
from mlsteward.tracking import create_experiment, start_run
from mlsteward.validation import attach_suite, save_suite, validate_dataset_version

SUITE = (
    "name: amounts\nexpectations:\n"
    "  - expect_column_values_to_be_between: {column: amount, min_value: 0}\n"
)


def version_trained_on(platform: Platform, *dataset_version_ids: str) -> int:
    with contextlib.suppress(AlreadyExists):
        create_experiment(platform, SYSTEM, "default", "exp")
    run = start_run(platform, SYSTEM, "default", "exp")
    with platform.db.write() as conn:
        for version_id in dataset_version_ids:
            conn.execute(
                insert(lineage_edges).values(
                    source_type="dataset_version",
                    source_id=version_id,
                    target_type="run",
                    target_id=run.id,
                    relation="input_of",
                    project_id=None,
                    created_at=utcnow(),
                    created_by="test",
                )
            )
    blob = platform.blobs.put_bytes(b"weights")
    version = register_model_version(
        platform, SYSTEM, "default", "fraud", source_uri=f"runs:/{run.id}/model",
        flavor="sklearn", files=[ModelFile("model.skops", blob.address, blob.size)],
        source_run_id=run.id, scan={"status": "clean"},
    )  # fmt: skip
    return version.version


def test_training_data_must_have_passed_validation(backend_platform: Platform) -> None:
    p = backend_platform
    assert "training_data_validated" in condition_types()
    good = log_table_version(p, SYSTEM, "default", "train", pd.DataFrame({"amount": [1.0, 2.0]}))
    other = log_table_version(p, SYSTEM, "default", "extra", pd.DataFrame({"amount": [-1.0]}))
    number = version_trained_on(p, good.id, other.id)
    set_alias_policy(p, SYSTEM, "default", "production", [{"type": "training_data_validated"}])
    with pytest.raises(PolicyNotMet) as caught:
        set_alias(p, SYSTEM, "default", "fraud", "production", number)
    assert "train@1 (not validated)" in caught.value.message
    assert "extra@1 (not validated)" in caught.value.message
    save_suite(p, SYSTEM, "default", SUITE)
    attach_suite(p, SYSTEM, "default", "amounts", "train")
    attach_suite(p, SYSTEM, "default", "amounts", "extra")
    assert validate_dataset_version(p, SYSTEM, good.id)[0].success
    assert not validate_dataset_version(p, SYSTEM, other.id)[0].success
    with pytest.raises(PolicyNotMet) as caught:
        set_alias(p, SYSTEM, "default", "fraud", "production", number)
    assert "extra@1 (failed validation)" in caught.value.message
    assert "train@1" not in caught.value.message
    fixed = log_table_version(p, SYSTEM, "default", "extra", pd.DataFrame({"amount": [3.0]}))
    assert validate_dataset_version(p, SYSTEM, fixed.id)[0].success
    with pytest.raises(PolicyNotMet):  # the run read version 1, which still failed
        set_alias(p, SYSTEM, "default", "fraud", "production", number)
    assert set_alias(
        p, SYSTEM, "default", "fraud", "production", version_trained_on(p, good.id, fixed.id)
    )


def test_a_version_without_a_source_run_or_inputs_fails(platform: Platform) -> None:
    blob = platform.blobs.put_bytes(b"weights")
    register_model_version(
        platform, SYSTEM, "default", "fraud", source_uri="file:///m", flavor="sklearn",
        files=[ModelFile("model.skops", blob.address, blob.size)], scan={"status": "clean"},
    )  # fmt: skip
    number = version_trained_on(platform)
    set_alias_policy(
        platform, SYSTEM, "default", "production", [{"type": "training_data_validated"}]
    )
    with pytest.raises(PolicyNotMet, match="has no source run"):
        set_alias(platform, SYSTEM, "default", "fraud", "production", 1)
    with pytest.raises(PolicyNotMet, match="has no dataset version as input"):
        set_alias(platform, SYSTEM, "default", "fraud", "production", number)
