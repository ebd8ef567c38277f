"""Dataset versions through ``Client``, in-process and over HTTP: the same calls give the same
versions, and a remote add sends only the chunks the project lacks."""

from __future__ import annotations

import itertools
import os
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import pandas as pd
import pytest

from mlsteward.client import Client
from mlsteward.client._data_remote import RemoteData
from mlsteward.data._chunking import MAX_CHUNK
from mlsteward.errors import IntegrityError, InvalidArgument, NotFound, PermissionDenied

from ..server._support import bearer
from .conftest import World

_PROJECTS = itertools.count()


def _team(world: World) -> tuple[str, Client, Client]:
    """A new project, an editor's client and a viewer's client."""
    n = next(_PROJECTS)
    project = f"data{n}"
    editor = world.user(f"editor{n}")
    editor.create_project(project)
    world.user(f"viewer{n}")
    editor.add_member(project, f"viewer{n}", "viewer")
    return project, editor, world.user(f"viewer{n}")


def _folder(root: Path, files: dict[str, bytes]) -> Path:
    for name, content in files.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(content)
    return root


def _tree(root: Path) -> dict[str, bytes]:
    return {
        p.relative_to(root).as_posix(): p.read_bytes()
        for p in sorted(root.rglob("*"))
        if p.is_file()
    }


def test_versions_dedup_checkout_and_diff(world: World, tmp_path: Path) -> None:
    project, editor, viewer = _team(world)
    files = {"a.txt": b"alpha\n", "sub/b.bin": os.urandom(50_000), "sub/c.txt": b"gamma\n"}
    data = _folder(tmp_path / "data", files)
    (data / "run.sh").write_bytes(b"#!/bin/sh\necho hi\n")
    os.chmod(data / "run.sh", 0o755)

    first = editor.add_dataset(data, "raw", project=project, message="first")
    assert (first.version, first.kind, first.file_count) == (1, "files", 4)
    assert first.new_bytes >= first.total_bytes  # everything was new (plus the manifest)

    again = editor.add_dataset(data, "raw", project=project)
    assert again.unchanged
    assert again.version == 1

    (data / "a.txt").write_bytes(b"alpha, edited\n")
    second = editor.add_dataset(data, "raw", project=project, message="edit a")
    assert second.version == 2
    # Only the edited file (and the new manifest) is new: the 50 kB file is stored once.
    assert second.new_bytes < 5_000

    assert [v.version for v in viewer.list_dataset_versions("raw", project=project)] == [1, 2]
    assert viewer.get_dataset_version("raw", project=project).version == 2

    out = tmp_path / "out"
    checkout = viewer.checkout_dataset("raw@1", out, project=project)
    assert checkout.file_count == 4
    expected = {**files, "run.sh": b"#!/bin/sh\necho hi\n"}
    assert _tree(out) == expected
    assert os.stat(out / "run.sh").st_mode & 0o111

    diff = viewer.diff_datasets("raw", 1, 2, project=project)
    assert [c.path for c in diff.changed] == ["a.txt"]
    assert diff.added == ()
    assert diff.removed == ()


def test_viewers_cannot_add_and_nothing_is_recorded(world: World, tmp_path: Path) -> None:
    project, _editor, viewer = _team(world)
    data = _folder(tmp_path / "data", {"x.txt": b"x"})
    with pytest.raises(PermissionDenied):
        viewer.add_dataset(data, "blocked", project=project)
    assert viewer.list_datasets(project=project) == []


def test_a_one_byte_edit_sends_only_a_few_chunks(
    world: World, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    project, editor, _viewer = _team(world)
    rng = np.random.default_rng(7)
    content = bytearray(rng.bytes(24 * 1024 * 1024))
    big = tmp_path / "big" / "blob.bin"
    big.parent.mkdir()
    big.write_bytes(content)
    sent: list[int] = []
    original = RemoteData.upload_dataset_blob

    def counting(self: RemoteData, project: str, digest: str, body: Any) -> dict[str, Any]:
        data = body if isinstance(body, bytes) else body.read()
        sent.append(len(data))
        return original(self, project, digest, data)

    monkeypatch.setattr(RemoteData, "upload_dataset_blob", counting)
    first = editor.add_dataset(big.parent, "big", project=project)
    content[len(content) // 2] ^= 0xFF
    big.write_bytes(content)
    sent.clear()
    second = editor.add_dataset(big.parent, "big", project=project)

    assert second.version == first.version + 1
    assert second.new_bytes < 3 * MAX_CHUNK
    if world.kind == "remote":
        assert 0 < sum(sent) < 3 * MAX_CHUNK, sent
    out = tmp_path / "out"
    editor.checkout_dataset("big@2", out, project=project)
    assert (out / "blob.bin").read_bytes() == bytes(content)


def test_tables_log_load_and_lineage(world: World) -> None:
    project, editor, _viewer = _team(world)
    frame = pd.DataFrame({"amount": np.arange(100, dtype=float), "label": [0, 1] * 50})
    with editor.start_run(project, "train") as run:
        version = editor.log_dataset(frame, "transactions", project=project, run=run)
        loaded = editor.load_dataset("transactions@1", project=project, format="pandas")
    assert version.kind == "table"
    assert version.row_count == 100
    pd.testing.assert_frame_equal(loaded, frame)
    graph = editor.lineage(f"run:{run.id}", direction="upstream", project=project)
    assert f"dataset_version:{version.id}" in {n.key for n in graph.nodes}


def test_load_refuses_folders_and_bad_formats(world: World, tmp_path: Path) -> None:
    project, editor, _viewer = _team(world)
    editor.add_dataset(_folder(tmp_path / "d", {"x.txt": b"x"}), "files", project=project)
    with pytest.raises(InvalidArgument, match="not a table"):
        editor.load_dataset("files", project=project)
    with pytest.raises(InvalidArgument, match="format must be one of"):
        editor.load_dataset("files", project=project, format="excel")
    with pytest.raises(NotFound):
        editor.get_dataset_version("files@9", project=project)


# -- the upload protocol, spoken directly ------------------------------------------------------


def _http(world: World, username: str) -> httpx.Client:
    assert world.url is not None
    return httpx.Client(base_url=world.url, headers=bearer(world.people.token_for(username)))


def test_presence_and_commits_are_per_project(remote_world: World, tmp_path: Path) -> None:
    """Another project's blobs are neither reported present nor claimable by their hash."""
    world = remote_world
    project_a, editor_a, _ = _team(world)
    project_b, _editor_b, _ = _team(world)
    secret = os.urandom(3000)
    version = editor_a.add_dataset(
        _folder(tmp_path / "a", {"s.bin": secret}), "s", project=project_a
    )
    manifest = editor_a._remote_data().manifest(project_a, "s", version.version)  # type: ignore[union-attr]
    address = manifest.entries[0].address
    assert address is not None
    b_user = f"editor{project_b.removeprefix('data')}"
    with _http(world, b_user) as http:
        missing = http.post(
            f"/api/v1/projects/{project_b}/dataset-uploads/missing",
            json={"addresses": [address]},
        )
        assert missing.status_code == 200
        assert missing.json()["missing"] == [address]
        stolen = http.post(
            f"/api/v1/projects/{project_b}/datasets/stolen/versions",
            json={"manifest": manifest.to_json()},
        )
        assert stolen.status_code == 422
        assert stolen.json()["error"]["code"] == IntegrityError.code
        assert "not held by project" in stolen.json()["error"]["message"]
        listed = http.get(f"/api/v1/projects/{project_b}/datasets")
        assert listed.json()["datasets"] == []


def test_an_upload_must_hash_to_the_address_given(remote_world: World) -> None:
    world = remote_world
    project, _editor, _ = _team(world)
    user = f"editor{project.removeprefix('data')}"
    with _http(world, user) as http:
        response = http.put(
            f"/api/v1/projects/{project}/dataset-uploads",
            params={"address": "0" * 64},
            content=b"some bytes",
        )
        assert response.status_code == 422
        assert "do not hash to the address given" in response.json()["error"]["message"]
        bad = http.post(
            f"/api/v1/projects/{project}/dataset-uploads/missing",
            json={"addresses": ["../../etc/passwd"]},
        )
        assert bad.status_code == 400
        empty = http.post(
            f"/api/v1/projects/{project}/datasets/x/versions",
            json={
                "manifest": {"type": "mlsteward.dataset_manifest", "schema_version": 1, "files": []}
            },
        )
        assert empty.status_code == 400
        assert "nothing to add" in empty.json()["error"]["message"]


def test_a_registered_model_traces_back_to_its_training_data(world: World) -> None:
    """The README's flow: log a table, read it in a run, register the run's model; the
    model version's upstream reaches the dataset version."""
    from sklearn.linear_model import LogisticRegression

    project, editor, _viewer = _team(world)
    frame = pd.DataFrame({"x": np.linspace(0, 1, 40), "y": [0, 1] * 20})
    version = editor.log_dataset(frame, "training", project=project)
    with editor.start_run(project, "fraud") as run:
        train = editor.load_dataset("training@1", project=project, run=run)
        model = LogisticRegression().fit(train[["x"]], train["y"])
        run.log_model(model, "model", registered_model_name="fraud")
    graph = editor.lineage("model:fraud/1", direction="upstream", project=project)
    keys = {n.key for n in graph.nodes}
    assert f"run:{run.id}" in keys
    assert f"dataset_version:{version.id}" in keys
    down = editor.lineage("dataset:training@1", direction="downstream", project=project)
    assert any(n.node_type == "model_version" for n in down.nodes)
