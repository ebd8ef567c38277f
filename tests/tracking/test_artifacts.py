"""Run artifacts: the service layer (SQLite and PostgreSQL), the HTTP API and blob gc."""

from __future__ import annotations

import io

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from mlsteward.errors import Conflict, InvalidArgument, NotFound, PayloadTooLarge, PermissionDenied
from mlsteward.platform import Platform, referenced_blob_addresses
from mlsteward.security import SYSTEM, Actor, add_member, create_user, list_audit_events
from mlsteward.server import API_PREFIX
from mlsteward.store._tables import blob_refs
from mlsteward.tracking import (
    ArtifactInfo,
    create_experiment,
    end_run,
    get_or_create_experiment,
    list_artifacts,
    log_artifact,
    open_artifact,
    set_run_deleted,
    start_run,
)
from mlsteward.tracking._artifacts import ARTIFACT_OWNER, artifact_owner_id, check_artifact_path
from mlsteward.tracking._tables import run_artifacts

from ..server._state import platform_state
from ..server._support import People, assert_error_shape, bearer
from ..server.conftest import api, api_platform, api_settings, cheap_hashing, people

__all__ = ["api", "api_platform", "api_settings", "cheap_hashing", "people"]  # fixtures

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
