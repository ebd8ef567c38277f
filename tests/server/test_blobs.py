"""``/blobs``: streamed uploads and downloads of content-addressed blobs, audited."""

from __future__ import annotations

import hashlib
import tracemalloc
from collections.abc import Iterator

import blake3
import httpx
import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from mlsteward.security import SYSTEM, list_audit_events
from mlsteward.server import API_PREFIX

from ._live_server import serve
from ._support import SharedApi, assert_error_shape, bearer

BLOBS = f"{API_PREFIX}/blobs"
MiB = 1024 * 1024


@pytest.fixture(scope="module")
def app(shared_api: SharedApi) -> FastAPI:
    return shared_api.app()


@pytest.fixture
def admin(app: FastAPI, shared_api: SharedApi) -> TestClient:
    return TestClient(app, headers=bearer(shared_api.people.admin_token))


@pytest.fixture(scope="module")
def live_url(app: FastAPI) -> Iterator[str]:
    with serve(app) as url:
        yield url


def test_put_get_head(admin: TestClient) -> None:
    data = b"model weights, say"
    put = admin.put(BLOBS, content=data, headers={"Content-Type": "application/octet-stream"})
    assert put.status_code == 201
    info = put.json()
    assert info == {"address": blake3.blake3(data).hexdigest(), "size": len(data), "created": True}
    assert put.headers["location"].endswith(f"{BLOBS}/{info['address']}")

    got = admin.get(f"{BLOBS}/{info['address']}")
    assert (got.status_code, got.content) == (200, data)
    assert got.headers["content-type"] == "application/octet-stream"
    assert got.headers["content-length"] == str(len(data))
    assert got.headers["etag"] == f'"{info["address"]}"'

    head = admin.head(f"{BLOBS}/{info['address']}")
    assert (head.status_code, head.content) == (200, b"")
    assert head.headers["content-length"] == str(len(data))


def test_storing_the_same_content_twice_stores_it_once(
    admin: TestClient, shared_api: SharedApi
) -> None:
    first = admin.put(BLOBS, content=b"twice")
    second = admin.put(BLOBS, content=b"twice")
    assert (first.status_code, second.status_code) == (201, 200)
    assert second.json() == {**first.json(), "created": False}
    address = first.json()["address"]
    events = list_audit_events(shared_api.platform, SYSTEM, action="blob.put", target_id=address)
    assert [(e.actor_name, e.details) for e in events] == [
        ("admin", {"size": 5, "created": False}),
        ("admin", {"size": 5, "created": True}),
    ]


def test_an_empty_body_is_the_empty_blob(admin: TestClient) -> None:
    put = admin.put(BLOBS, content=b"")
    assert put.json()["size"] == 0
    assert admin.get(f"{BLOBS}/{put.json()['address']}").content == b""


def test_missing_blobs_are_404(admin: TestClient) -> None:
    address = "ab" * 32
    error = assert_error_shape(admin.get(f"{BLOBS}/{address}"), 404, "not_found")
    assert address in error["message"]
    assert admin.head(f"{BLOBS}/{address}").status_code == 404


def _generated(total: int, chunk: int = MiB) -> Iterator[bytes]:
    for index in range(total // chunk):
        yield bytes([index % 251]) * chunk


def test_uploads_and_downloads_stream_with_bounded_memory(
    live_url: str, shared_api: SharedApi
) -> None:
    """A 64 MiB upload through a real server never holds the body in memory."""
    size = 64 * MiB
    headers = bearer(shared_api.people.admin_token)
    expected = hashlib.sha256()
    for chunk in _generated(size):
        expected.update(chunk)
    with httpx.Client(base_url=live_url, headers=headers, timeout=60) as http:
        tracemalloc.start()
        try:
            put = http.put(BLOBS, content=_generated(size))
            _, peak = tracemalloc.get_traced_memory()
        finally:
            tracemalloc.stop()
        assert put.status_code == 201, put.text
        assert put.json()["size"] == size
        assert peak < size // 2, f"peak {peak / MiB:.1f} MiB while uploading 64 MiB"

        received = hashlib.sha256()
        with http.stream("GET", f"{BLOBS}/{put.json()['address']}") as response:
            assert response.headers["content-length"] == str(size)
            for chunk in response.iter_bytes():
                received.update(chunk)
    assert received.hexdigest() == expected.hexdigest()
