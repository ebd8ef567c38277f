"""Monitors of a table dataset's versions, on SQLite and PostgreSQL: each window compares the
versions created in it with a reference version (drift of the drifted columns only, and the
multivariate detector on samples of both tables), the background scheduler evaluates them
once; the multivariate detector also reads a dataset reference's table and the training data
the lineage graph links to a model version (skipped with the reason when it links none); bad
input is refused with nothing written."""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
from sqlalchemy import func, select, update

from mlsteward.data import add_dataset_version, log_table_version
from mlsteward.data._tables import dataset_versions
from mlsteward.deployments import create_deployment
from mlsteward.errors import InvalidArgument, NotFound
from mlsteward.monitoring import (
    create_monitor,
    evaluate_monitor,
    get_monitor,
    list_monitor_results,
    monitor_report,
    run_due_evaluations,
    update_monitor,
)
from mlsteward.monitoring._monitor_datasets import _SAMPLES, NOT_IN_LINEAGE, sample_versions
from mlsteward.monitoring._tables import monitor_results, monitors
from mlsteward.platform import Platform
from mlsteward.security import SYSTEM, list_audit_events

from ..data._lineage_rows import new_run
from ._monitor_support import inputs, record_window, register_model

HOUR = dt.timedelta(hours=1)
PAST = dt.datetime(2026, 1, 1, 10, 0, tzinfo=dt.UTC)
LONG_AGO = dt.datetime(2020, 1, 1, tzinfo=dt.UTC)


def rows_in(platform: Platform) -> tuple[int, int]:
    with platform.db.read() as conn:
        return (
            int(conn.execute(select(func.count()).select_from(monitors)).scalar_one()),
            int(conn.execute(select(func.count()).select_from(monitor_results)).scalar_one()),
        )


def version_at(platform: Platform, name: str, frame: pd.DataFrame, moment: dt.datetime) -> Any:
    """Log ``frame`` as the next version of table dataset ``name``, created at ``moment``."""
    version = log_table_version(platform, SYSTEM, "default", name, frame)
    with platform.db.write() as conn:
        conn.execute(
            update(dataset_versions)
            .where(dataset_versions.c.id == version.id)
            .values(created_at=moment)
        )
    return version


def pairs(rows: int, seed: int, correlation: float) -> pd.DataFrame:
    """Two standard normal columns with the given correlation: flipping its sign keeps both
    columns' distributions (no column drifts) but changes how they relate."""
    rng = np.random.default_rng(seed)
    x = rng.normal(size=rows)
    y = correlation * x + np.sqrt(1 - correlation**2) * rng.normal(size=rows)
    return pd.DataFrame({"x": x, "y": y})


def test_a_dataset_monitor_flags_the_drifted_columns_of_new_versions_once(
    backend_platform: Platform,
) -> None:
    platform = backend_platform
    version_at(platform, "transactions", inputs(3000, 0), LONG_AGO)
    monitor = create_monitor(
        platform, SYSTEM, "default", "data-watch", dataset="transactions", window_seconds=3600
    )
    assert (monitor.dataset, monitor.model_name, monitor.deployment) == ("transactions", None, None)
    assert monitor.reference == {"kind": "dataset", "name": "transactions", "version": 1}
    start = monitor.window_of(monitor.created_at)[1]
    version_at(platform, "transactions", inputs(2000, 1, amount_shift=30.0), start + HOUR / 6)
    version_at(platform, "transactions", inputs(1500, 2), start + HOUR + HOUR / 6)

    assert run_due_evaluations(platform, start + 2 * HOUR + HOUR / 6) == 3

    empty, drifted, steady = list_monitor_results(platform, SYSTEM, "default", "data-watch")
    assert (empty.status, empty.metrics) == ("no_data", {"infra.versions": 0.0, "infra.rows": 0.0})
    assert (drifted.window_start, steady.window_start) == (start, start + HOUR)
    assert drifted.status == "ok", drifted.report.get("errors")
    assert drifted.report["versions"] == [2]
    assert drifted.report["reference"] == {"kind": "dataset", "name": "transactions", "version": 1}
    assert (drifted.metrics["infra.versions"], drifted.metrics["infra.rows"]) == (1.0, 2000.0)
    assert drifted.metrics["drift.column.amount.drifted"] == 1.0
    assert drifted.metrics["drift.column.age.drifted"] == 0.0
    assert drifted.metrics["drift.column.country.drifted"] == 0.0
    assert drifted.metrics["drift.multivariate.drifted"] == 1.0
    assert drifted.report["multivariate"]["columns"] == ["amount", "age", "country"]
    assert drifted.report["multivariate"]["reference_rows"] == 2000  # balanced with 2,000 now
    assert steady.status == "ok", steady.report.get("errors")
    assert steady.report["versions"] == [3]
    assert steady.metrics["drift.drifted_columns"] == 0.0
    assert steady.metrics["drift.multivariate.drifted"] == 0.0
    assert run_due_evaluations(platform, start + 2 * HOUR + HOUR / 6) == 0  # evaluated once
    assert get_monitor(platform, SYSTEM, "default", "data-watch").to_json()["dataset"] == (
        "transactions"
    )


def test_a_dataset_monitor_with_a_windows_reference_compares_versions_of_two_periods(
    platform: Platform,
) -> None:
    version_at(platform, "transactions", inputs(2000, 0), LONG_AGO)
    version_at(platform, "transactions", inputs(2000, 1), LONG_AGO + HOUR)
    version_at(platform, "transactions", inputs(2000, 2, amount_shift=30.0), PAST)
    create_monitor(
        platform, SYSTEM, "default", "periods", dataset="transactions", window_seconds=3600,
        reference={"kind": "windows", "since": "2020-01-01T00:00:00Z",
                   "until": "2020-01-02T00:00:00Z"},
    )  # fmt: skip

    result = evaluate_monitor(platform, SYSTEM, "default", "periods", PAST)

    assert result.status == "ok", result.report.get("errors")
    assert result.report["reference"]["versions"] == 2
    assert result.metrics["drift.column.amount.drifted"] == 1.0
    assert result.metrics["drift.column.age.drifted"] == 0.0
    assert result.report["multivariate"]["reference_rows"] == 2000  # of the 4,000 before
    nothing = evaluate_monitor(platform, SYSTEM, "default", "periods", PAST + HOUR)
    assert nothing.status == "no_data"
    report = monitor_report(platform, SYSTEM, "default", "periods")
    assert report.subject["dataset"] == "transactions"
    assert "model" not in report.subject
    assert report.subject["reference"].startswith("table versions created from 2020-01-01")
    assert sorted(d.column for d in report.distributions) == ["age", "amount", "country"]

    update_monitor(
        platform, SYSTEM, "default", "periods",
        reference={"kind": "windows", "since": "2021-01-01T00:00:00Z",
                   "until": "2021-01-02T00:00:00Z"},
    )  # fmt: skip
    empty_period = evaluate_monitor(platform, SYSTEM, "default", "periods", PAST)
    assert empty_period.status == "error"
    assert "holds no table version" in empty_period.report["errors"]["drift"]
    assert "holds no table version" in empty_period.report["errors"]["multivariate"]


def test_the_multivariate_detector_reads_a_dataset_references_table(platform: Platform) -> None:
    """A correlation that flipped: no column drifts, the domain classifier on samples of the
    two tables sees it; the same against a model's prediction windows."""
    version_at(platform, "pairs", pairs(3000, 0, 0.9), LONG_AGO)
    version_at(platform, "pairs", pairs(3000, 1, -0.9), PAST)
    create_monitor(platform, SYSTEM, "default", "joint", dataset="pairs", window_seconds=3600)

    result = evaluate_monitor(platform, SYSTEM, "default", "joint", PAST)

    assert result.status == "ok", result.report.get("errors")
    assert result.metrics["drift.column.x.drifted"] == 0.0
    assert result.metrics["drift.column.y.drifted"] == 0.0
    assert result.metrics["drift.multivariate.drifted"] == 1.0
    assert result.metrics["drift.multivariate.auc"] > 0.9
    assert result.report["multivariate"]["columns"] == ["x", "y"]

    register_model(platform)  # no training profile: the dataset is the reference
    create_monitor(
        platform, SYSTEM, "default", "served", model_name="fraud", window_seconds=60,
        reference={"kind": "dataset", "name": "pairs", "version": 1},
    )  # fmt: skip
    record_window(platform, PAST, pairs(3000, 2, -0.9), np.zeros(3000, int))
    record_window(platform, PAST + 2 * HOUR, pairs(3000, 3, 0.9), np.zeros(3000, int), prefix="s")
    served = evaluate_monitor(platform, SYSTEM, "default", "served", PAST)
    assert served.metrics["drift.multivariate.drifted"] == 1.0
    assert served.report["multivariate"]["columns"] == ["x", "y"]  # not the prediction
    alike = evaluate_monitor(platform, SYSTEM, "default", "served", PAST + 2 * HOUR)
    assert alike.metrics["drift.multivariate.drifted"] == 0.0


def _register_trained(
    platform: Platform, name: str, training: pd.DataFrame, run_id: str | None, datasets: Any
) -> None:
    from mlsteward.profiles import profile_frame
    from mlsteward.registry import ModelFile, register_model_version

    text = profile_frame(training).to_dict()
    import json

    blob = platform.blobs.put_bytes(json.dumps(text).encode())
    register_model_version(
        platform, SYSTEM, "default", name, source_uri="runs:/r/m", flavor="sklearn",
        files=[ModelFile("training_profile.json", blob.address, blob.size)],
        source_run_id=run_id, datasets=datasets,
    )  # fmt: skip


def test_a_training_reference_uses_the_training_data_the_lineage_graph_links(
    backend_platform: Platform,
) -> None:
    platform = backend_platform
    training = pairs(3000, 0, 0.9)
    trained_on = log_table_version(platform, SYSTEM, "default", "train", training)
    run_id = new_run(platform)
    _register_trained(platform, "fraud", training, run_id, [{"dataset_version_id": trained_on.id}])
    _register_trained(platform, "other", training, None, [])
    create_monitor(platform, SYSTEM, "default", "linked", model_name="fraud", window_seconds=60)
    create_monitor(platform, SYSTEM, "default", "unlinked", model_name="other", window_seconds=60)
    record_window(platform, PAST, pairs(3000, 1, -0.9), np.zeros(3000, int))
    record_window(platform, PAST, pairs(3000, 2, -0.9), np.zeros(3000, int), model="other")

    linked = evaluate_monitor(platform, SYSTEM, "default", "linked", PAST)
    unlinked = evaluate_monitor(platform, SYSTEM, "default", "unlinked", PAST)

    assert linked.status == "ok", linked.report.get("errors")
    assert linked.report["reference"] == {"kind": "training", "model": "fraud", "version": 1}
    assert linked.metrics["drift.column.x.drifted"] == 0.0
    assert linked.metrics["drift.multivariate.drifted"] == 1.0
    assert linked.report["multivariate"]["columns"] == ["x", "y"]
    assert unlinked.status == "ok", unlinked.report.get("errors")
    assert unlinked.metrics["drift.column.x.drifted"] == 0.0  # the profile is compared still
    assert "drift.multivariate.auc" not in unlinked.metrics
    assert unlinked.report["multivariate"] == {"skipped": NOT_IN_LINEAGE}


def test_training_data_in_another_project_is_never_sampled(platform: Platform) -> None:
    # Monitors are evaluated as the system: rows of a dataset of a project the monitor does
    # not belong to stay unread even when the lineage graph links them to the model version.
    from mlsteward.security import create_project

    create_project(platform, SYSTEM, "secrets")
    training = pairs(3000, 0, 0.9)
    elsewhere = log_table_version(platform, SYSTEM, "secrets", "train", training)
    run_id = new_run(platform)
    _register_trained(platform, "fraud", training, run_id, [{"dataset_version_id": elsewhere.id}])
    create_monitor(platform, SYSTEM, "default", "linked", model_name="fraud", window_seconds=60)
    record_window(platform, PAST, pairs(3000, 1, -0.9), np.zeros(3000, int))

    result = evaluate_monitor(platform, SYSTEM, "default", "linked", PAST)

    assert result.status == "ok", result.report.get("errors")
    assert result.report["multivariate"] == {"skipped": NOT_IN_LINEAGE}


def test_a_sample_of_versions_is_seeded_capped_proportional_and_reads_the_columns_asked(
    platform: Platform, tmp_path: Path
) -> None:
    big = version_at(platform, "t", inputs(3000, 0), LONG_AGO)
    small = inputs(1000, 1).assign(age=-1.0)
    folder = tmp_path / "csv"
    folder.mkdir()
    small.to_csv(folder / "t.csv", index=False)
    add_dataset_version(platform, SYSTEM, "default", "t", folder / "t.csv")  # a CSV table
    assert big.row_count == 3000
    with platform.db.read() as conn:
        from mlsteward.monitoring._monitor_datasets import _versions_query

        versions = list(conn.execute(_versions_query().order_by(dataset_versions.c.version)))

    sample = sample_versions(platform, versions, ["age", "amount"], cap=400)

    assert list(sample.columns) == ["age", "amount"]
    assert len(sample) == 400
    assert int((sample["age"] == -1.0).sum()) == 100  # the CSV's share: 1,000 of 4,000 rows
    _SAMPLES.clear()  # drawn again, not kept: the same seeded sample
    assert sample.equals(sample_versions(platform, versions, ["age", "amount"], cap=400))
    assert set(sample["amount"]) <= set(inputs(3000, 0)["amount"]) | set(small["amount"])
    whole = sample_versions(platform, versions, ["country"], cap=10_000)
    assert len(whole) == 4000


def test_a_sample_is_kept_for_the_next_windows_and_handed_out_as_a_copy(
    platform: Platform, monkeypatch: pytest.MonkeyPatch
) -> None:
    version_at(platform, "t", inputs(2000, 0), LONG_AGO)
    with platform.db.read() as conn:
        from mlsteward.monitoring._monitor_datasets import _versions_query

        versions = list(conn.execute(_versions_query()))
    _SAMPLES.clear()
    reads: list[str] = []
    get_bytes = platform.blobs.get_bytes

    def counted(address: str) -> bytes:
        reads.append(address)
        return get_bytes(address)

    monkeypatch.setattr(platform.blobs, "get_bytes", counted)
    first = sample_versions(platform, versions, ["amount"], cap=300)
    read_once = len(reads)
    assert read_once > 0
    first["amount"] = 0.0  # the caller's copy: what is kept stays as drawn
    again = sample_versions(platform, versions, ["amount"], cap=300)
    assert len(reads) == read_once  # no blob read the second time
    assert len(again) == 300
    assert (again["amount"] != 0.0).any()
    sample_versions(platform, versions, ["age"], cap=300)  # other columns: drawn anew
    assert len(reads) > read_once


def _files_dataset(platform: Platform, tmp_path: Path) -> None:
    folder = tmp_path / "docs"
    folder.mkdir()
    (folder / "readme.txt").write_text("not a table")
    add_dataset_version(platform, SYSTEM, "default", "docs", folder)


BAD_DATASET_MONITORS = [
    ("unknown-dataset", {"dataset": "nope"}, NotFound, "no dataset named 'nope'"),
    ("files-dataset", {"dataset": "docs"}, InvalidArgument, "holds files, not a table"),
    ("and-deployment", {"dataset": "transactions", "deployment": "prod"}, InvalidArgument,
     "exactly one of deployment, model_name and dataset"),
    ("and-model", {"dataset": "transactions", "model_name": "fraud"}, InvalidArgument,
     "exactly one of deployment, model_name and dataset"),
    ("bad-name", {"dataset": "../x"}, InvalidArgument, "invalid dataset name"),
    ("model-version", {"dataset": "transactions", "model_version": 1}, InvalidArgument,
     "model_version goes with model_name"),
    ("training", {"dataset": "transactions", "reference": {"kind": "training"}},
     InvalidArgument, "has no model, so no training profile"),
    ("quality", {"dataset": "transactions", "quality": {"task": "regression"}},
     InvalidArgument, "quality is for monitors of predictions"),
    ("fairness", {"dataset": "transactions", "fairness": {"sensitive": "country"}},
     InvalidArgument, "fairness is for monitors of predictions"),
    ("unknown-reference", {"dataset": "transactions", "reference": {
        "kind": "dataset", "name": "transactions", "version": 9}}, NotFound, "no version 9"),
    ("no-version-1", {"dataset": "empty"}, NotFound, "has no version 1"),
]  # fmt: skip


@pytest.mark.parametrize(
    ("changes", "error", "message"),
    [c[1:] for c in BAD_DATASET_MONITORS],
    ids=[c[0] for c in BAD_DATASET_MONITORS],
)
def test_bad_dataset_monitors_are_refused_and_nothing_is_written(
    backend_platform: Platform,
    tmp_path: Path,
    changes: dict[str, Any],
    error: type[Exception],
    message: str,
) -> None:
    from mlsteward.data import create_dataset

    platform = backend_platform
    log_table_version(platform, SYSTEM, "default", "transactions", inputs(100, 0))
    create_dataset(platform, SYSTEM, "default", "empty")
    _files_dataset(platform, tmp_path)
    register_model(platform, training=inputs(100, 0))
    create_deployment(platform, SYSTEM, "default", "prod", "models:/fraud/1")
    before = len(list_audit_events(platform, SYSTEM))
    with pytest.raises(error) as raised:
        create_monitor(platform, SYSTEM, "default", "watch", **changes)
    assert message in str(raised.value)
    assert rows_in(platform) == (0, 0)
    assert len(list_audit_events(platform, SYSTEM)) == before


def test_a_dataset_monitor_refuses_updates_it_cannot_have(platform: Platform) -> None:
    log_table_version(platform, SYSTEM, "default", "transactions", inputs(100, 0))
    created = create_monitor(platform, SYSTEM, "default", "watch", dataset="transactions")
    before = len(list_audit_events(platform, SYSTEM))
    for changes, message in (
        ({"reference": {"kind": "training"}}, "no training profile"),
        ({"quality": {"task": "regression"}}, "quality is for monitors of predictions"),
        ({"fairness": {"sensitive": "country"}}, "fairness is for monitors of predictions"),
        ({"reference": {"kind": "dataset", "name": "transactions", "version": 2}}, "no version 2"),
    ):
        with pytest.raises((InvalidArgument, NotFound)) as raised:
            update_monitor(platform, SYSTEM, "default", "watch", **changes)
        assert message in str(raised.value)
    assert get_monitor(platform, SYSTEM, "default", "watch") == created
    assert len(list_audit_events(platform, SYSTEM)) == before
