"""The fraud demo's stages on a real platform: a validated dataset version with its PII
classified, three tracked candidate runs, the best one registered with lineage back to the data,
and a four-eyes promotion to @production."""

from __future__ import annotations

import json
import subprocess
import sys
from dataclasses import dataclass
from typing import Any

import pandas as pd
import pytest

from mlsteward.client import Client
from mlsteward.data import DatasetVersion
from mlsteward.demos import (
    FEATURES,
    LABEL,
    CandidateRun,
    VersionedData,
    generate_transactions,
    production_policy,
    register_best,
    request_and_approve_production,
    train_candidates,
    version_data,
)
from mlsteward.demos._fraud_models import CANDIDATES, METRICS
from mlsteward.demos._fraud_stages import fraud_suite
from mlsteward.errors import InvalidArgument, PermissionDenied
from mlsteward.registry import ModelVersion, RequestStatus
from mlsteward.security import SYSTEM
from mlsteward.validation import list_validation_results

from .conftest import PROJECT, Platforms

ROWS = 12_000
MODEL = "fraud-detector"


@dataclass
class Trained:
    client: Client
    frame: pd.DataFrame
    data: VersionedData
    runs: list[CandidateRun]
    version: ModelVersion


@pytest.fixture(scope="module")
def frame() -> pd.DataFrame:
    return generate_transactions(ROWS, seed=21)


@pytest.fixture(scope="module")
def trained(platforms: Platforms, frame: pd.DataFrame) -> Trained:
    ed = platforms.client("ed", remote=False)
    data = version_data(ed, frame, project=PROJECT, dataset="transactions")
    runs = train_candidates(
        ed, frame, data=data.version, project=PROJECT, experiment="candidates", seed=21
    )
    version = register_best(ed, runs, project=PROJECT, model_name=MODEL)
    return Trained(ed, frame, data, runs, version)


def _stored_verdicts(platforms: Platforms, version: DatasetVersion) -> list[bool]:
    results = list_validation_results(
        platforms.platform, SYSTEM, PROJECT, dataset_version_id=version.id
    )
    return [r.success for r in results]


@pytest.mark.parametrize("remote", [False, True], ids=["local", "remote"])
def test_version_data_classifies_pii_and_validates(
    platforms: Platforms, frame: pd.DataFrame, remote: bool
) -> None:
    ed = platforms.client("ed", remote=remote)
    dataset = f"tx-{'remote' if remote else 'local'}"
    data = version_data(ed, frame.head(3_000), project=PROJECT, dataset=dataset)
    assert (data.version.ref, data.version.kind, data.version.row_count) == (
        f"{dataset}@1",
        "table",
        3_000,
    )
    assert data.pii_columns == {"card_number": "payment_card", "email": "email"}
    assert data.valid
    evaluated = data.validation.statistics["evaluated_expectations"]
    assert evaluated == len(fraud_suite().expectations) > 10
    assert _stored_verdicts(platforms, data.version) == [True]  # what the policy reads
    loaded = ed.load_dataset(data.version.ref, project=PROJECT)
    assert list(loaded.columns) == list(frame.columns)
    assert len(loaded) == 3_000


@pytest.mark.parametrize("remote", [False, True], ids=["local", "remote"])
def test_broken_data_is_versioned_and_fails_validation_by_name(
    platforms: Platforms, frame: pd.DataFrame, remote: bool
) -> None:
    ed = platforms.client("ed", remote=remote)
    broken = frame.head(500).copy()
    broken.loc[broken.index[:3], "amount"] = -1.0
    broken.loc[broken.index[5], "country"] = "ZZ"
    broken.loc[broken.index[7], LABEL] = 2
    dataset = f"broken-{'remote' if remote else 'local'}"
    data = version_data(ed, broken, project=PROJECT, dataset=dataset)
    assert not data.valid
    failed = {(r.expectation, r.params["column"]) for r in data.validation.failed}
    assert failed == {
        ("expect_column_values_to_be_between", "amount"),
        ("expect_column_values_to_be_in_set", "country"),
        ("expect_column_values_to_be_in_set", LABEL),
    }
    assert _stored_verdicts(platforms, data.version) == [False]


def _drop_label(frame: pd.DataFrame) -> Any:
    return frame.drop(columns=[LABEL])


BAD_FRAMES = {
    "empty": (lambda f: f.head(0), "is empty"),
    "no-label": (_drop_label, "lack the columns \\['is_fraud'\\]"),
    "no-feature": (lambda f: f.drop(columns=["amount"]), "lack the columns \\['amount'\\]"),
    "not-a-frame": (lambda f: f.to_dict("list"), "must be a pandas DataFrame"),
}


@pytest.mark.parametrize("case", sorted(BAD_FRAMES), ids=sorted(BAD_FRAMES))
def test_version_data_refuses_bad_frames_and_writes_nothing(
    platforms: Platforms, frame: pd.DataFrame, case: str
) -> None:
    ed = platforms.client("ed", remote=False)
    make, message = BAD_FRAMES[case]
    before = [d.name for d in ed.list_datasets(PROJECT)]
    with pytest.raises(InvalidArgument, match=message):
        version_data(ed, make(frame.head(100)), project=PROJECT, dataset=f"bad-{case}")
    assert [d.name for d in ed.list_datasets(PROJECT)] == before


def test_three_tracked_candidates_with_held_out_metrics(trained: Trained) -> None:
    assert [r.name for r in trained.runs] == list(CANDIDATES)
    for candidate in trained.runs:
        run = trained.client.get_run(candidate.run_id)
        assert run.status == "FINISHED"
        assert run.name == candidate.name
        assert {k: run.metrics[k] for k in METRICS} == pytest.approx(candidate.metrics)
        assert all(0.0 <= v <= 1.0 for v in candidate.metrics.values())
        assert candidate.metrics["roc_auc"] > 0.9  # pattern A is learnable
        assert run.params["candidate"] == candidate.name
        assert run.params["train_rows"] == str(ROWS * 3 // 4)
        assert candidate.model_uri == f"runs:/{run.id}/model"
        files = {a.path for a in trained.client.list_artifacts(run.id, "model")}
        assert {"model/model.skops", "model/training_profile.json"} <= files


def test_the_best_run_is_registered_with_lineage_to_the_data(trained: Trained) -> None:
    best = max(trained.runs, key=lambda r: r.metrics["pr_auc"])
    version = trained.version
    assert version.source_run_id == best.run_id
    assert version.metrics == pytest.approx(best.metrics)
    assert version.flavor == "sklearn"
    assert version.scan["status"] == "clean"
    assert [d["dataset_version_id"] for d in version.datasets] == [trained.data.version.id]
    graph = trained.client.lineage(f"model:{MODEL}/{version.version}", project=PROJECT)
    keys = [n.key for n in graph.nodes]
    assert keys == [
        f"model_version:{version.id}",
        f"run:{best.run_id}",
        f"dataset_version:{trained.data.version.id}",
    ]


def test_the_registered_model_serves_the_features_it_was_trained_on(trained: Trained) -> None:
    loaded = trained.client.load_model(trained.version.uri, project=PROJECT)
    rows = trained.frame[list(FEATURES)].head(200)
    predictions = loaded.predict(rows)
    assert len(predictions) == 200
    assert set(pd.Series(predictions).unique()) <= {0, 1}


def test_register_best_bad_input_registers_nothing(trained: Trained) -> None:
    client = trained.client
    count = len(client.list_model_versions(PROJECT, MODEL))
    with pytest.raises(InvalidArgument, match="metric must be one of"):
        register_best(client, trained.runs, project=PROJECT, model_name=MODEL, metric="accuracy")
    with pytest.raises(InvalidArgument, match="no candidate runs"):
        register_best(client, [], project=PROJECT, model_name=MODEL)
    with pytest.raises(InvalidArgument, match="not in project 'elsewhere'"):
        register_best(client, trained.runs, project="elsewhere", model_name=MODEL)
    assert len(client.list_model_versions(PROJECT, MODEL)) == count


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (_drop_label, "lack the columns \\['is_fraud'\\]"),
        (lambda f: f.head(0), "is empty"),
        (lambda f: f[f[LABEL] == 0], "at least 10 fraud"),
    ],
    ids=["no-label", "empty", "no-fraud"],
)
def test_train_candidates_bad_input_starts_no_run(
    trained: Trained, change: Any, message: str
) -> None:
    client = trained.client
    before = len(client.search_runs(PROJECT).runs)
    with pytest.raises(InvalidArgument, match=message):
        train_candidates(
            client,
            change(trained.frame),
            data=trained.data.version,
            project=PROJECT,
            experiment="candidates",
            seed=1,
        )
    assert len(client.search_runs(PROJECT).runs) == before


def test_production_needs_a_second_person(platforms: Platforms, trained: Trained) -> None:
    ed = trained.client
    bob = platforms.client("bob", remote=True)
    version = trained.version.version
    with pytest.raises(PermissionDenied, match="four-eyes"):
        request_and_approve_production(bob, bob, project=PROJECT, model_name=MODEL, version=version)
    bob.cancel_promotion(PROJECT, bob.list_promotion_requests(PROJECT, MODEL)[0].id)
    request, unmet = request_and_approve_production(
        ed,
        bob,
        project=PROJECT,
        model_name=MODEL,
        version=version,
        policy=production_policy("pr_auc", 0.5),
    )
    assert (request.status, unmet) == (RequestStatus.APPLIED, [])
    assert ed.resolve_model_uri(PROJECT, f"models:/{MODEL}@production").version == version
    assert [c["type"] for c in bob.get_alias_policy(PROJECT, "production", MODEL)] == [
        "approval",
        "clean_scan",
        "training_data_validated",
        "metric_at_least",
    ]


def test_the_policy_blocks_a_model_whose_data_failed_validation(
    platforms: Platforms, trained: Trained
) -> None:
    ed = trained.client
    bob = platforms.client("bob", remote=False)
    broken = trained.frame.copy()
    broken.loc[broken.index[0], "amount"] = -5.0
    data = version_data(ed, broken, project=PROJECT, dataset="transactions")
    assert not data.valid
    runs = train_candidates(
        ed, broken, data=data.version, project=PROJECT, experiment="candidates", seed=22
    )
    weak = register_best(ed, runs, project=PROJECT, model_name=MODEL)
    request, unmet = request_and_approve_production(
        ed, bob, project=PROJECT, model_name=MODEL, version=weak.version
    )
    assert request.status is RequestStatus.APPROVED
    assert [u["condition"] for u in unmet] == ["training_data_validated"]
    assert data.version.ref in unmet[0]["message"]
    current = ed.resolve_model_uri(PROJECT, f"models:/{MODEL}@production")
    assert current.version == trained.version.version


def test_the_stages_run_against_a_server(platforms: Platforms, frame: pd.DataFrame) -> None:
    ed = platforms.client("ed", remote=True)
    small = frame.head(4_000)
    data = version_data(ed, small, project=PROJECT, dataset="tx-over-http")
    assert data.valid
    runs = train_candidates(
        ed, small, data=data.version, project=PROJECT, experiment="over-http", seed=3
    )
    assert [ed.get_run(r.run_id).status for r in runs] == ["FINISHED"] * len(CANDIDATES)
    version = register_best(ed, runs, project=PROJECT, model_name="fraud-over-http", metric="f1")
    assert version.source_run_id == max(runs, key=lambda r: r.metrics["f1"]).run_id
    graph = ed.lineage(f"model:fraud-over-http/{version.version}", project=PROJECT)
    assert graph.nodes[-1].key == f"dataset_version:{data.version.id}"


def test_importing_the_demos_imports_nothing_heavy() -> None:
    code = (
        "import sys, json, mlsteward.demos; "
        "print(json.dumps(sorted(m for m in sys.modules if m.split('.')[0] in "
        "{'pandas', 'numpy', 'sklearn', 'scipy', 'pyarrow', 'sqlalchemy', 'httpx'})))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert json.loads(out.stdout) == []
