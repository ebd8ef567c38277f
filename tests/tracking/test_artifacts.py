"""Run artifacts: the service layer (SQLite and PostgreSQL), the HTTP API and blob gc."""

from __future__ import annotations

import contextlib
import io
import shutil
import subprocess
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from mlsteward.errors import (
    AlreadyExists,
    Conflict,
    InvalidArgument,
    NotFound,
    PayloadTooLarge,
    PermissionDenied,
)
from mlsteward.platform import Platform, referenced_blob_addresses
from mlsteward.security import SYSTEM, Actor, add_member, create_user, list_audit_events
from mlsteward.server import API_PREFIX
from mlsteward.store._tables import blob_refs
from mlsteward.tracking import (
    ActiveRun,
    ArtifactInfo,
    RunStatus,
    create_experiment,
    end_run,
    get_or_create_experiment,
    git_diff,
    list_artifacts,
    log_artifact,
    open_artifact,
    set_run_deleted,
    start_run,
)
from mlsteward.tracking._active_run import TRACEBACK_TAG
from mlsteward.tracking._artifacts import ARTIFACT_OWNER, artifact_owner_id, check_artifact_path
from mlsteward.tracking._tables import run_artifacts

from ..client.conftest import World, local_world, remote_world, world
from ..server._state import platform_state
from ..server._support import People, assert_error_shape, bearer
from ..server.conftest import api, api_platform, api_settings, cheap_hashing, people

__all__ = [  # fixtures, used by name
    "api",
    "api_platform",
    "api_settings",
    "cheap_hashing",
    "local_world",
    "people",
    "remote_world",
    "world",
]

HOSTILE_PATHS = [
    "",
    "/etc/passwd",
    "../escape",
    "a/../../escape",
    "a/..",
    "./a",
    "a/./b",
    "a//b",
    "a/",
    "a\\b",
    "..\\..\\windows",
    "nul\x00byte",
    "line\nbreak",
    "bell\x07",
    "%2e%2e/escape",
    "a/%2E%2E/b",
    "a%2fb",
    "a%2Fb",
    "a%5cb",
    "%252e%252e",
    "x" * 1025,
    "/".join(["d"] * 33),
]


def _read(platform: Platform, actor: Actor, run_id: str, path: str) -> bytes:
    with open_artifact(platform, actor, run_id, path) as reader:
        return reader.read()


@pytest.fixture
def run_id(backend_platform: Platform) -> str:
    create_experiment(backend_platform, SYSTEM, "default", "fraud")
    return start_run(backend_platform, SYSTEM, "default", "fraud").id


# -- path validation -------------------------------------------------------------------------


@pytest.mark.parametrize("path", HOSTILE_PATHS)
def test_hostile_paths_are_refused_and_nothing_is_written(
    backend_platform: Platform, run_id: str, path: str
) -> None:
    before = platform_state(backend_platform)
    with pytest.raises(InvalidArgument, match="artifact path"):
        log_artifact(backend_platform, SYSTEM, run_id, path, io.BytesIO(b"payload"))
    assert platform_state(backend_platform) == before


@pytest.mark.parametrize(
    "path",
    ["a", "model/weights.bin", "x" * 1024, "/".join(["d"] * 32), "100%", "a%20b", "..a/b..", "é/ü"],
)
def test_ordinary_paths_pass(path: str) -> None:
    assert check_artifact_path(path) == path


def test_hostile_prefixes_are_refused_when_listing(backend_platform: Platform, run_id: str) -> None:
    for prefix in ["..", "/abs", "a/../b", "a%2fb"]:
        with pytest.raises(InvalidArgument, match="artifact prefix"):
            list_artifacts(backend_platform, SYSTEM, run_id, prefix)


# -- round trip, replace, listing ------------------------------------------------------------


def test_round_trip_replace_and_audit(backend_platform: Platform, run_id: str) -> None:
    p = backend_platform
    first = log_artifact(p, SYSTEM, run_id, "model/weights.bin", io.BytesIO(b"v1"))
    assert (first.path, first.size, first.is_dir) == ("model/weights.bin", 2, False)
    assert _read(p, SYSTEM, run_id, "model/weights.bin") == b"v1"
    second = log_artifact(p, SYSTEM, run_id, "model/weights.bin", io.BytesIO(b"version 2"))
    assert _read(p, SYSTEM, run_id, "model/weights.bin") == b"version 2"
    assert list_artifacts(p, SYSTEM, run_id, "model") == [
        ArtifactInfo(
            "model/weights.bin",
            size=9,
            address=second.address,
            created_at=second.created_at,
        )
    ]
    events = [e for e in list_audit_events(p, SYSTEM) if e.action == "run.artifact"]
    # newest first
    assert [e.details.get("replaced") for e in events[:2]] == [first.address, None]
    assert events[0].target_id == run_id
    with p.db.read() as conn:
        refs = conn.execute(
            select(blob_refs.c.address, blob_refs.c.owner_id).where(
                blob_refs.c.owner_type == ARTIFACT_OWNER
            )
        ).all()
    assert [tuple(r) for r in refs] == [(second.address, f"{run_id}/model/weights.bin")]


def test_listing_is_one_level_like_ls(backend_platform: Platform, run_id: str) -> None:
    p = backend_platform
    for path in ["b.txt", "a/one.txt", "a/deep/two.txt", "a/deep/three.txt", "Z/x", "a0"]:
        log_artifact(p, SYSTEM, run_id, path, io.BytesIO(path.encode()))
    top = list_artifacts(p, SYSTEM, run_id)
    assert [(e.path, e.is_dir) for e in top] == [
        ("Z", True),
        ("a", True),
        ("a0", False),
        ("b.txt", False),
    ]
    assert all(e.size is None and e.address is None for e in top if e.is_dir)
    assert [(e.path, e.is_dir) for e in list_artifacts(p, SYSTEM, run_id, "a")] == [
        ("a/deep", True),
        ("a/one.txt", False),
    ]
    assert [e.path for e in list_artifacts(p, SYSTEM, run_id, "a/deep")] == [
        "a/deep/three.txt",
        "a/deep/two.txt",
    ]
    assert [e.path for e in list_artifacts(p, SYSTEM, run_id, "b.txt")] == ["b.txt"]
    assert list_artifacts(p, SYSTEM, run_id, "A") == []  # exact case, even on SQLite
    assert list_artifacts(p, SYSTEM, run_id, "nothing") == []


def test_a_path_cannot_be_both_file_and_folder(backend_platform: Platform, run_id: str) -> None:
    p = backend_platform
    log_artifact(p, SYSTEM, run_id, "a/b", io.BytesIO(b"x"))
    before = platform_state(p)
    with pytest.raises(Conflict, match="is a folder"):
        log_artifact(p, SYSTEM, run_id, "a", io.BytesIO(b"y"))
    with pytest.raises(Conflict, match="is a file"):
        log_artifact(p, SYSTEM, run_id, "a/b/c", io.BytesIO(b"z"))
    assert platform_state(p) == before


def test_long_paths_fit_the_blob_reference(backend_platform: Platform, run_id: str) -> None:
    path = "/".join(["segment-" + "x" * 40] * 20)[:1024]
    log_artifact(backend_platform, SYSTEM, run_id, path, io.BytesIO(b"deep"))
    assert _read(backend_platform, SYSTEM, run_id, path) == b"deep"
    assert len(artifact_owner_id(run_id, path)) <= 200
    assert artifact_owner_id(run_id, path).startswith(f"{run_id}/")


def test_missing_artifact_and_run(backend_platform: Platform, run_id: str) -> None:
    with pytest.raises(NotFound, match="no artifact"):
        open_artifact(backend_platform, SYSTEM, run_id, "absent")
    with pytest.raises(NotFound):
        list_artifacts(backend_platform, SYSTEM, "f" * 32)


# -- permissions, run state, size limit ------------------------------------------------------


def test_viewers_read_but_cannot_write(platform: Platform, admin: Actor) -> None:
    create_experiment(platform, admin, "default", "e")
    run = start_run(platform, admin, "default", "e")
    log_artifact(platform, admin, run.id, "report.html", io.BytesIO(b"<p>hi</p>"))
    user = create_user(platform, admin, "vic", "a-long-password-1")
    vic = Actor(id=user.id, name="vic", kind="user")
    with pytest.raises(PermissionDenied):
        list_artifacts(platform, vic, run.id)
    add_member(platform, admin, "default", "vic", "viewer")
    assert [e.path for e in list_artifacts(platform, vic, run.id)] == ["report.html"]
    assert _read(platform, vic, run.id, "report.html") == b"<p>hi</p>"
    before = platform_state(platform)
    with pytest.raises(PermissionDenied):
        log_artifact(platform, vic, run.id, "mine.txt", io.BytesIO(b"x"))
    assert platform_state(platform) == before


def test_finished_or_deleted_runs_refuse_writes(backend_platform: Platform, run_id: str) -> None:
    p = backend_platform
    log_artifact(p, SYSTEM, run_id, "kept.txt", io.BytesIO(b"kept"))
    set_run_deleted(p, SYSTEM, run_id, True)
    with pytest.raises(Conflict, match="deleted"):
        log_artifact(p, SYSTEM, run_id, "late.txt", io.BytesIO(b"late"))
    set_run_deleted(p, SYSTEM, run_id, False)
    end_run(p, SYSTEM, run_id)
    before = platform_state(p)
    with pytest.raises(Conflict, match="finished run"):
        log_artifact(p, SYSTEM, run_id, "late.txt", io.BytesIO(b"late"))
    assert platform_state(p) == before
    assert _read(p, SYSTEM, run_id, "kept.txt") == b"kept"


def test_oversized_artifacts_are_refused(make_settings: object) -> None:
    settings = make_settings(max_upload_bytes=1024)  # type: ignore[operator]
    platform = Platform.open(settings)
    try:
        get_or_create_experiment(platform, SYSTEM, "default", "e")
        run = start_run(platform, SYSTEM, "default", "e")
        before = platform_state(platform)
        with pytest.raises(PayloadTooLarge):
            log_artifact(platform, SYSTEM, run.id, "big.bin", io.BytesIO(b"x" * 1025))
        assert platform_state(platform) == before
    finally:
        platform.close()


def test_blob_gc_keeps_artifacts_and_drops_replaced_content(
    backend_platform: Platform, run_id: str
) -> None:
    p = backend_platform
    old = log_artifact(p, SYSTEM, run_id, "model.bin", io.BytesIO(b"old weights"))
    new = log_artifact(p, SYSTEM, run_id, "model.bin", io.BytesIO(b"new weights"))
    kept = log_artifact(p, SYSTEM, run_id, "data/x.csv", io.BytesIO(b"a,b\n1,2\n"))
    p.blobs.gc(referenced_blob_addresses(p), grace_seconds=0)
    assert _read(p, SYSTEM, run_id, "model.bin") == b"new weights"
    assert _read(p, SYSTEM, run_id, "data/x.csv") == b"a,b\n1,2\n"
    assert p.blobs.exists(new.address or "")
    assert p.blobs.exists(kept.address or "")
    assert not p.blobs.exists(old.address or "")


def test_artifact_rows_match_references(backend_platform: Platform, run_id: str) -> None:
    p = backend_platform
    for i in range(3):
        log_artifact(p, SYSTEM, run_id, f"f{i}", io.BytesIO(b"same content"))
    with p.db.read() as conn:
        rows = conn.execute(select(run_artifacts.c.path, run_artifacts.c.address)).all()
        refs = conn.execute(
            select(blob_refs.c.owner_id, blob_refs.c.address).where(
                blob_refs.c.owner_type == ARTIFACT_OWNER
            )
        ).all()
    assert sorted((f"{run_id}/{r.path}", r.address) for r in rows) == sorted(tuple(r) for r in refs)


# -- HTTP ------------------------------------------------------------------------------------


def _http_run(platform: Platform) -> str:
    get_or_create_experiment(platform, SYSTEM, "default", "exp")
    return start_run(platform, SYSTEM, "default", "exp").id


def test_http_round_trip(api: TestClient, api_platform: Platform, people: People) -> None:
    run_id = _http_run(api_platform)
    auth = bearer(people.admin_token)
    url = f"{API_PREFIX}/runs/{run_id}/artifacts"
    body = b"\x00\x01binary" * 1000
    put = api.put(url, params={"path": "model/w.bin"}, content=body, headers=auth)
    assert put.status_code == 201, put.text
    assert put.json()["path"] == "model/w.bin"
    assert put.json()["size"] == len(body)
    listed = api.get(url, headers=auth).json()["artifacts"]
    assert [(e["path"], e["is_dir"]) for e in listed] == [("model", True)]
    listed = api.get(url, params={"prefix": "model"}, headers=auth).json()["artifacts"]
    assert [(e["path"], e["size"]) for e in listed] == [("model/w.bin", len(body))]
    got = api.get(f"{url}/content", params={"path": "model/w.bin"}, headers=auth)
    assert got.status_code == 200
    assert got.content == body
    assert got.headers["content-length"] == str(len(body))
    missing = api.get(f"{url}/content", params={"path": "nope"}, headers=auth)
    assert_error_shape(missing, 404, "not_found")


@pytest.mark.parametrize("path", [p for p in HOSTILE_PATHS if "\x00" not in p] + ["nul\x00"])
def test_http_hostile_paths(
    api: TestClient, api_platform: Platform, people: People, path: str
) -> None:
    run_id = _http_run(api_platform)
    before = platform_state(api_platform)
    response = api.put(
        f"{API_PREFIX}/runs/{run_id}/artifacts",
        params={"path": path},
        content=b"payload",
        headers=bearer(people.admin_token),
    )
    assert_error_shape(response, 400, "invalid_argument")
    response = api.get(
        f"{API_PREFIX}/runs/{run_id}/artifacts/content",
        params={"path": path},
        headers=bearer(people.admin_token),
    )
    assert_error_shape(response, 400, "invalid_argument")
    assert platform_state(api_platform) == before


def test_http_permissions_and_finished_runs(
    api: TestClient, api_platform: Platform, people: People
) -> None:
    run_id = _http_run(api_platform)
    url = f"{API_PREFIX}/runs/{run_id}/artifacts"
    viewer = people.token_for("val")
    add_member(api_platform, SYSTEM, "default", "val", "viewer")
    before = platform_state(api_platform)
    denied = api.put(url, params={"path": "a"}, content=b"x", headers=bearer(viewer))
    assert_error_shape(denied, 403, "permission_denied")
    outsider = api.get(url, headers=bearer(people.outsider_token))
    assert_error_shape(outsider, 403, "permission_denied")
    assert_error_shape(api.get(url), 401, "unauthenticated")
    assert platform_state(api_platform) == before
    assert api.get(url, headers=bearer(viewer)).json() == {"artifacts": []}
    end_run(api_platform, SYSTEM, run_id)
    late = api.put(url, params={"path": "a"}, content=b"x", headers=bearer(people.admin_token))
    assert_error_shape(late, 409, "conflict")


def test_http_uploads_follow_the_upload_limit_not_the_json_limit(
    make_settings: object, cheap_hashing: None
) -> None:
    from mlsteward.server import create_app

    settings = make_settings(  # type: ignore[operator]
        auth_mode="required", max_request_bytes=1024, max_upload_bytes=4096
    )
    platform = Platform.open(settings)
    try:
        people = People.create(platform)
        run_id = _http_run(platform)
        api = TestClient(create_app(platform))
        url = f"{API_PREFIX}/runs/{run_id}/artifacts"
        auth = bearer(people.admin_token)
        ok = api.put(url, params={"path": "mid.bin"}, content=b"x" * 3000, headers=auth)
        assert ok.status_code == 201, ok.text
        before = platform_state(platform)
        big = api.put(url, params={"path": "big.bin"}, content=b"x" * 5000, headers=auth)
        assert_error_shape(big, 413, "payload_too_large")
        assert platform_state(platform) == before
    finally:
        platform.close()


# -- Client, local and remote ----------------------------------------------------------------


def _client_run(world: World) -> ActiveRun:
    return world.admin().start_run("default", "artifacts", environment=False)


def _tree(root: Path) -> dict[str, bytes]:
    return {
        p.relative_to(root).as_posix(): p.read_bytes()
        for p in sorted(root.rglob("*"))
        if p.is_file()
    }


def test_client_files_and_folders_round_trip(world: World, tmp_path: Path) -> None:
    client = world.admin()
    source = tmp_path / "out"
    (source / "plots" / "deep").mkdir(parents=True)
    (source / "metrics.json").write_bytes(b'{"auc": 0.9}')
    (source / "plots" / "roc.png").write_bytes(b"\x89PNG" + bytes(range(256)) * 50)
    (source / "plots" / "deep" / "x.txt").write_bytes(b"")
    single = tmp_path / "weights.bin"
    single.write_bytes(b"w" * 5000)
    with _client_run(world) as run:
        info = client.log_artifact(run.id, single, "model")
        assert (info.path, info.size) == ("model/weights.bin", 5000)
        stored = client.log_artifacts(run.id, source, "report")
        assert sorted(i.path for i in stored) == [
            "report/metrics.json",
            "report/plots/deep/x.txt",
            "report/plots/roc.png",
        ]
        top_file = client.log_artifact(run.id, single)
        assert top_file.path == "weights.bin"
    assert [(e.path, e.is_dir) for e in client.list_artifacts(run.id)] == [
        ("model", True),
        ("report", True),
        ("weights.bin", False),
    ]
    assert [(e.path, e.is_dir) for e in client.list_artifacts(run.id, "report/plots")] == [
        ("report/plots/deep", True),
        ("report/plots/roc.png", False),
    ]
    fetched = client.download_artifact(run.id, "model/weights.bin", tmp_path / "w.bin")
    assert fetched.read_bytes() == b"w" * 5000
    into = tmp_path / "into"
    into.mkdir()
    assert client.download_artifact(run.id, "weights.bin", into) == into / "weights.bin"
    folder = client.download_artifact(run.id, "report", tmp_path / "copy")
    assert _tree(folder) == _tree(source)
    with pytest.raises(NotFound):
        client.download_artifact(run.id, "absent", tmp_path / "absent")
    assert not (tmp_path / "absent").exists()


def test_client_replace_and_refusals(world: World, tmp_path: Path) -> None:
    client = world.admin()
    local = tmp_path / "notes.txt"
    with _client_run(world) as run:
        local.write_bytes(b"first")
        client.log_artifact(run.id, local)
        local.write_bytes(b"second")
        client.log_artifact(run.id, local)
        before = platform_state(world.platform)
        for bad in ["../up", "/abs", "a/./b", "a%2fb", "a\\b"]:
            with pytest.raises(InvalidArgument, match="artifact path"):
                client.log_artifact(run.id, local, bad)
            with pytest.raises(InvalidArgument, match="artifact path"):
                client.log_artifacts(run.id, tmp_path, bad)
        with pytest.raises(NotFound):
            client.log_artifact(run.id, tmp_path / "missing.txt")
        with pytest.raises(InvalidArgument, match="folder"):
            client.log_artifact(run.id, tmp_path)
        assert platform_state(world.platform) == before
    assert client.download_artifact(run.id, "notes.txt", tmp_path / "n").read_bytes() == b"second"
    with pytest.raises(Conflict, match="finished run"):
        client.log_artifact(run.id, local)


def test_client_viewers_read_but_cannot_write(world: World, tmp_path: Path) -> None:
    admin = world.admin()
    username = f"viewer-{world.kind}"
    viewer = world.user(username)
    with contextlib.suppress(AlreadyExists):
        admin.add_member("default", username, "viewer")
    local = tmp_path / "a.txt"
    local.write_bytes(b"shared")
    with _client_run(world) as run:
        admin.log_artifact(run.id, local)
        with pytest.raises(PermissionDenied):
            viewer.log_artifact(run.id, local, "mine")
    assert [e.path for e in viewer.list_artifacts(run.id)] == ["a.txt"]
    assert viewer.download_artifact(run.id, "a.txt", tmp_path / "b").read_bytes() == b"shared"


def test_active_run_log_artifact_flushes_first(world: World, tmp_path: Path) -> None:
    client = world.admin()
    local = tmp_path / "config.yaml"
    local.write_bytes(b"lr: 0.1\n")
    run = client.start_run("default", "artifacts", environment=False, flush_interval=60)
    try:
        run.log_param("lr", 0.1)
        run.log_metric("loss", 1.0)
        info = run.log_artifact(local, "config")
        assert info.path == "config/config.yaml"
        stored = client.get_run(run.id)  # before end(): the flush came first
        assert stored.params == {"lr": "0.1"}
        assert stored.metrics == {"loss": 1.0}
    finally:
        run.end()
    with pytest.raises(Conflict, match="has ended"):
        run.log_artifact(local)


def _fail_inside(run: ActiveRun) -> None:
    with run:
        run.log_metric("x", 1.0)
        _ = 1 / 0


def test_a_failed_run_stores_its_traceback(world: World, tmp_path: Path) -> None:
    client = world.admin()
    run = _client_run(world)
    with pytest.raises(ZeroDivisionError):
        _fail_inside(run)
    stored = client.get_run(run.id)
    assert stored.status is RunStatus.FAILED
    assert "ZeroDivisionError" in stored.tags[TRACEBACK_TAG]
    text = client.download_artifact(run.id, "traceback.txt", tmp_path / "tb.txt").read_text()
    assert text.startswith("Traceback (most recent call last):")
    assert "_ = 1 / 0" in text
    assert text.rstrip().endswith("ZeroDivisionError: division by zero")


def _git(repo: Path, *args: str) -> None:
    subprocess.run(
        ["git", "-c", "user.name=t", "-c", "user.email=t@example.com", *args],
        cwd=repo,
        check=True,
        capture_output=True,
    )


@pytest.mark.skipif(shutil.which("git") is None, reason="git is not installed")
def test_a_dirty_git_tree_is_stored_as_a_diff(
    world: World, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    repo = tmp_path / "repo"
    repo.mkdir()
    _git(repo, "init", "-q")
    (repo / "train.py").write_text("lr = 0.1\n")
    _git(repo, "add", "train.py")
    _git(repo, "commit", "-q", "-m", "first")
    monkeypatch.chdir(repo)
    client = world.admin()
    with client.start_run("default", "artifacts") as clean:
        pass
    assert client.list_artifacts(clean.id) == []
    (repo / "train.py").write_text("lr = 0.5\n")
    with client.start_run("default", "artifacts") as dirty:
        pass
    assert client.get_run(dirty.id).environment["git"]["dirty"] is True
    diff = client.download_artifact(dirty.id, "environment/git.diff", tmp_path / "d").read_text()
    assert "-lr = 0.1" in diff
    assert "+lr = 0.5" in diff
    assert diff == (git_diff(repo) or b"").decode()
