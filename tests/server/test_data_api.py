"""The data API: datasets and versions, the catalog and search, lineage with OpenLineage,
validation suites and results — good calls and bad input, through the real app."""

from __future__ import annotations

import uuid
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from fastapi.testclient import TestClient

from mlsteward.data import add_dataset_version, log_table_version
from mlsteward.platform import Platform
from mlsteward.security import SYSTEM, add_member
from mlsteward.tracking import create_experiment, start_run

from ._support import People, assert_error_shape, bearer

SUITE = {
    "name": "amounts",
    "expectations": [
        {"expectation": "expect_column_values_to_not_be_null", "params": {"column": "amount"}},
        {"expectation": "expect_table_row_count_to_be_between", "params": {"min_value": 1}},
    ],
}


@pytest.fixture
def seeded(api_platform: Platform, people: People, tmp_path: Path) -> dict[str, str]:
    """``transactions`` (a table, 2 versions) and ``files`` in ``default``; ed edits, vic
    views; tokens by name."""
    frame = pd.DataFrame({"amount": np.arange(20.0), "email": ["a@example.com"] * 20})
    log_table_version(api_platform, SYSTEM, "default", "transactions", frame)
    log_table_version(api_platform, SYSTEM, "default", "transactions", frame.head(10))
    folder = tmp_path / "files"
    folder.mkdir()
    (folder / "x.txt").write_text("x")
    add_dataset_version(api_platform, SYSTEM, "default", "files", folder)
    tokens = {"ed": people.token_for("ed"), "vic": people.token_for("vic")}
    add_member(api_platform, SYSTEM, "default", "ed", "editor")
    add_member(api_platform, SYSTEM, "default", "vic", "viewer")
    tokens["outsider"] = people.outsider_token
    return tokens


def test_datasets_versions_manifest_and_diff(api: TestClient, seeded: dict[str, str]) -> None:
    vic = bearer(seeded["vic"])
    names = [
        d["name"]
        for d in api.get("/api/v1/projects/default/datasets", headers=vic).json()["datasets"]
    ]
    assert names == ["files", "transactions"]
    versions = api.get("/api/v1/projects/default/datasets/transactions/versions", headers=vic)
    assert [v["version"] for v in versions.json()["versions"]] == [1, 2]
    latest = api.get("/api/v1/projects/default/datasets/transactions/versions/latest", headers=vic)
    assert latest.json()["row_count"] == 10
    manifest = api.get(
        "/api/v1/projects/default/datasets/files/versions/1/manifest", headers=vic
    ).json()
    address = manifest["files"][0]["address"]
    blob = api.get(
        f"/api/v1/projects/default/datasets/files/versions/1/blobs/{address}", headers=vic
    )
    assert blob.content == b"x"
    diff = api.get(
        "/api/v1/projects/default/datasets/transactions/diff", params={"a": 1, "b": 2}, headers=vic
    ).json()
    assert (diff["row_count_a"], diff["row_count_b"]) == (20, 10)


def test_dataset_bad_input_and_permissions(api: TestClient, seeded: dict[str, str]) -> None:
    vic, outsider = bearer(seeded["vic"]), bearer(seeded["outsider"])
    base = "/api/v1/projects/default/datasets"
    assert_error_shape(api.get(f"{base}/transactions/versions/0", headers=vic), 400)
    assert_error_shape(api.get(f"{base}/transactions/versions/x", headers=vic), 400)
    assert_error_shape(api.get(f"{base}/transactions/versions/9", headers=vic), 404)
    assert_error_shape(api.get(f"{base}/nope/versions", headers=vic), 404)
    assert_error_shape(api.get(f"{base}/transactions/diff", params={"a": 1}, headers=vic), 400)
    assert_error_shape(api.get(f"{base}/files/versions/1/blobs/{'a' * 64}", headers=vic), 404)
    assert_error_shape(api.get(f"{base}/files/versions/1/blobs/not-an-address", headers=vic), 400)
    assert_error_shape(api.get(base, headers=outsider), 403)
    # A viewer may not upload or commit.
    assert_error_shape(
        api.post(
            "/api/v1/projects/default/dataset-uploads/missing",
            json={"addresses": []},
            headers=vic,
        ),
        403,
    )
    assert_error_shape(
        api.put("/api/v1/projects/default/dataset-uploads", content=b"x", headers=vic), 403
    )
    assert_error_shape(
        api.post(
            "/api/v1/projects/default/dataset-uploads/missing",
            json={"addresses": "abc"},
            headers=bearer(seeded["ed"]),
        ),
        400,
    )


def test_catalog_entry_update_classify_and_search(api: TestClient, seeded: dict[str, str]) -> None:
    ed, vic = bearer(seeded["ed"]), bearer(seeded["vic"])
    base = "/api/v1/projects/default/datasets/transactions"
    entry = api.get(base, headers=vic).json()
    assert {c["name"]: c["pii_class"] for c in entry["columns"]}["email"] == "email"
    updated = api.patch(
        base, json={"description": "card payments", "tags": {"domain": "fraud"}}, headers=ed
    )
    assert updated.status_code == 200
    assert updated.json()["dataset"]["description"] == "card payments"
    column = api.put(
        f"{base}/columns/amount", json={"pii_class": None, "description": "EUR"}, headers=ed
    )
    assert column.json()["pii_source"] == "manual"
    hits = api.get("/api/v1/dataset-search", params={"q": "fraud"}, headers=vic).json()["hits"]
    assert [h["name"] for h in hits] == ["transactions"]
    assert (
        api.get(
            "/api/v1/dataset-search", params={"q": "fraud"}, headers=bearer(seeded["outsider"])
        ).json()["hits"]
        == []
    )
    assert_error_shape(api.patch(base, json={"description": "x"}, headers=vic), 403)
    assert_error_shape(api.patch(base, json={"colour": "red"}, headers=ed), 400)
    assert_error_shape(
        api.put(f"{base}/columns/amount", json={"pii_class": "shoe_size"}, headers=ed), 400
    )
    assert_error_shape(api.get("/api/v1/dataset-search", params={"q": "x" * 201}, headers=vic), 400)


def _openlineage_event(run_id: str, event_type: str) -> dict[str, object]:
    return {
        "eventType": event_type,
        "eventTime": "2026-11-29T10:00:00Z",
        "run": {"runId": run_id},
        "job": {"namespace": "spark://cluster", "name": "etl.daily"},
        "inputs": [{"namespace": "mlsteward://default", "name": "transactions@2"}],
        "outputs": [{"namespace": "s3://lake", "name": "features/daily"}],
        "producer": "https://github.com/OpenLineage/OpenLineage/tree/1.0.0/integration/spark",
        "schemaURL": "https://openlineage.io/spec/2-0-2/OpenLineage.json#/$defs/RunEvent",
    }


def test_lineage_inputs_graph_and_openlineage(
    api: TestClient, api_platform: Platform, seeded: dict[str, str]
) -> None:
    ed, vic = bearer(seeded["ed"]), bearer(seeded["vic"])
    create_experiment(api_platform, SYSTEM, "default", "train")
    run = start_run(api_platform, SYSTEM, "default", "train")
    version = api.get(
        "/api/v1/projects/default/datasets/transactions/versions/2", headers=vic
    ).json()
    recorded = api.post(
        f"/api/v1/runs/{run.id}/dataset-inputs",
        json={"dataset_version_id": version["id"]},
        headers=ed,
    )
    assert recorded.status_code == 201
    graph = api.get(
        "/api/v1/projects/default/lineage",
        params={"node": f"run:{run.id}", "direction": "upstream"},
        headers=vic,
    ).json()
    assert f"dataset_version:{version['id']}" in {f"{n['type']}:{n['id']}" for n in graph["nodes"]}
    events = api.get(f"/api/v1/runs/{run.id}/openlineage", headers=vic).json()["events"]
    assert events[0]["eventType"] == "START"
    assert events[0]["inputs"][0]["name"] == "transactions@2"

    job_run = str(uuid.uuid4())
    for event_type in ("START", "COMPLETE"):
        posted = api.post(
            "/api/v1/lineage", json=_openlineage_event(job_run, event_type), headers=ed
        )
        assert posted.status_code == 201, posted.text
    downstream = api.get(
        "/api/v1/projects/default/lineage",
        params={"node": "dataset:transactions@2", "direction": "downstream"},
        headers=vic,
    ).json()
    keys = {f"{n['type']}:{n['id']}" for n in downstream["nodes"]}
    assert f"openlineage_run:{job_run}" in keys
    assert "openlineage_dataset:s3://lake/features/daily" in keys

    bad = _openlineage_event("not-a-uuid", "START")
    assert_error_shape(api.post("/api/v1/lineage", json=bad, headers=ed), 400)
    assert_error_shape(
        api.post("/api/v1/lineage", json=_openlineage_event(job_run, "START"), headers=vic), 403
    )
    assert_error_shape(
        api.get("/api/v1/projects/default/lineage", params={"node": "dataset:nope@1"}, headers=vic),
        404,
    )
    assert_error_shape(
        api.get(
            "/api/v1/projects/default/lineage", params={"node": "run:x", "depth": 99}, headers=vic
        ),
        400,
    )


def test_suites_attach_validate_and_results(api: TestClient, seeded: dict[str, str]) -> None:
    ed, vic = bearer(seeded["ed"]), bearer(seeded["vic"])
    suites = "/api/v1/projects/default/validation-suites"
    saved = api.put(f"{suites}/amounts", json=SUITE, headers=ed)
    assert saved.status_code == 200, saved.text
    assert api.get(suites, headers=vic).json()["suites"][0]["name"] == "amounts"
    attached = api.put(f"{suites}/amounts/datasets/transactions", headers=ed)
    assert attached.json()["datasets"] == ["transactions"]
    run = api.post(
        "/api/v1/projects/default/datasets/transactions/versions/2/validations",
        json={},
        headers=ed,
    )
    assert run.status_code == 201, run.text
    [result] = run.json()["results"]
    assert result["success"] is True
    listed = api.get(
        "/api/v1/projects/default/validation-results",
        params={"dataset_version_id": result["dataset_version_id"]},
        headers=vic,
    ).json()["results"]
    assert [r["id"] for r in listed] == [result["id"]]
    one = api.get(f"/api/v1/projects/default/validation-results/{result['id']}", headers=vic)
    assert one.json()["suite_name"] == "amounts"

    assert_error_shape(api.put(f"{suites}/amounts", json=SUITE, headers=vic), 403)
    renamed = {**SUITE, "name": "other"}
    assert_error_shape(api.put(f"{suites}/amounts", json=renamed, headers=ed), 400)
    unknown = {"name": "bad", "expectations": [{"expectation": "expect_magic", "params": {}}]}
    error = assert_error_shape(api.put(f"{suites}/bad", json=unknown, headers=ed), 400)
    assert "unknown expectation" in error["message"]
    assert_error_shape(
        api.post(
            "/api/v1/projects/default/datasets/files/versions/1/validations",
            json={"suite": "amounts"},
            headers=ed,
        ),
        400,
    )
    assert_error_shape(api.get(f"{suites}/nope", headers=vic), 404)
    detached = api.delete(f"{suites}/amounts/datasets/transactions", headers=ed)
    assert detached.json()["datasets"] == []
    assert api.delete(f"{suites}/amounts", headers=ed).status_code == 204
