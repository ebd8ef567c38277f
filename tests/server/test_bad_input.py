"""Malformed, hostile and oversized requests: a 4xx in the one error shape, nothing written."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from mlsteward.security import SYSTEM, create_project
from mlsteward.server import API_PREFIX

from ._state import platform_state
from ._support import SharedApi, assert_error_shape, bearer

MAX_REQUEST = 2048
MAX_UPLOAD = 4096
JSON = "application/json"


API_SETTINGS = {"max_request_bytes": MAX_REQUEST, "max_upload_bytes": MAX_UPLOAD}


@pytest.fixture(scope="module")
def app(shared_api: SharedApi) -> FastAPI:
    create_project(shared_api.platform, SYSTEM, "proj")
    return shared_api.app()


@pytest.fixture
def admin_http(app: FastAPI, shared_api: SharedApi) -> Iterator[TestClient]:
    """The API as the administrator; the test fails if anything was written meanwhile."""
    http = TestClient(app, headers=bearer(shared_api.people.admin_token))
    http.get(f"{API_PREFIX}/me")  # token bookkeeping happens before the snapshot
    before = platform_state(shared_api.platform)
    yield http
    assert platform_state(shared_api.platform) == before


def _send(http: TestClient, method: str, path: str, body: Any, content_type: str) -> httpx.Response:
    raw = body if isinstance(body, bytes) else httpx.Request("POST", "/", json=body).content
    return http.request(
        method, API_PREFIX + path, content=raw, headers={"Content-Type": content_type}
    )


BAD_BODIES = {
    "malformed JSON": ("POST", "/projects", b'{"name": ', JSON),
    "truncated string": ("POST", "/projects", b'{"name": "abc', JSON),
    "unknown field": ("POST", "/projects", {"name": "ok", "owner": "me"}, JSON),
    "wrong type": ("POST", "/projects", {"name": 5}, JSON),
    "list, not object": ("POST", "/projects", [], JSON),
    "null body": ("POST", "/projects", b"null", JSON),
    "missing field": ("POST", "/projects", {}, JSON),
    "JSON sent as text": ("POST", "/projects", b'{"name": "ok"}', "text/plain"),
    "invalid name": ("POST", "/projects", {"name": "Bad Name!"}, JSON),
    "NUL in name": ("POST", "/projects", {"name": "a\x00b"}, JSON),
    "invalid UTF-8": ("POST", "/projects", b'{"name": "\xff\xfe"}', JSON),
    "deeply nested": ("POST", "/projects", b"[" * 1000 + b"]" * 1000, JSON),
    "bool as string": (
        "POST",
        "/users",
        {"username": "u1", "password": "p" * 12, "is_admin": "yes"},
        JSON,
    ),
    "short password": ("POST", "/users", {"username": "u1", "password": "short"}, JSON),
    "days as string": ("POST", "/tokens", {"name": "t", "expires_in_days": "90"}, JSON),
    "days out of range": ("POST", "/tokens", {"name": "t", "expires_in_days": 10**40}, JSON),
    "days as float": ("POST", "/tokens", {"name": "t", "expires_in_days": 1.5}, JSON),
    "scopes as string": ("POST", "/tokens", {"name": "t", "scopes": "read"}, JSON),
    "unknown scope": ("POST", "/tokens", {"name": "t", "scopes": ["root"]}, JSON),
    "no scopes": ("POST", "/tokens", {"name": "t", "scopes": []}, JSON),
    "unknown role": (
        "POST",
        "/projects/proj/members",
        {"username": "admin", "role": "emperor"},
        JSON,
    ),
    "role as number": ("PATCH", "/projects/proj/members/admin", {"role": 3}, JSON),
    "null password": (
        "POST",
        "/me/password",
        {"current_password": None, "new_password": "p" * 12},
        JSON,
    ),
}


@pytest.mark.parametrize("case", BAD_BODIES.values(), ids=BAD_BODIES.keys())
def test_bad_bodies_are_400_and_write_nothing(
    admin_http: TestClient, case: tuple[str, str, Any, str]
) -> None:
    method, path, body, content_type = case
    error = assert_error_shape(_send(admin_http, method, path, body, content_type), 400)
    assert error["code"] == "invalid_argument"


@pytest.mark.parametrize(
    "query",
    ["limit=abc", "limit=0", "limit=1001", "before_seq=1.5", "after_seq=-x"],
)
def test_bad_query_parameters_are_400(admin_http: TestClient, query: str) -> None:
    response = admin_http.get(f"{API_PREFIX}/audit/events?{query}")
    assert_error_shape(response, 400, "invalid_argument")


def test_validation_errors_name_the_field(admin_http: TestClient) -> None:
    response = _send(admin_http, "POST", "/projects", {"name": "ok", "owner": "me"}, JSON)
    error = assert_error_shape(response, 400, "invalid_argument")
    assert "owner" in error["message"]
    assert [p["location"] for p in error["details"]["errors"]] == ["body.owner"]


def _chunks(data: bytes, size: int = 512) -> Iterator[bytes]:
    for start in range(0, len(data), size):
        yield data[start : start + size]


def test_oversized_json_bodies_are_413(admin_http: TestClient) -> None:
    body = httpx.Request("POST", "/", json={"name": "big", "description": "x" * 5000}).content
    declared = admin_http.post(
        f"{API_PREFIX}/projects", content=body, headers={"Content-Type": JSON}
    )
    error = assert_error_shape(declared, 413, "payload_too_large")
    assert error["details"] == {"limit": MAX_REQUEST}
    streamed = admin_http.post(
        f"{API_PREFIX}/projects", content=_chunks(body), headers={"Content-Type": JSON}
    )
    assert "content-length" not in streamed.request.headers
    assert_error_shape(streamed, 413, "payload_too_large")


def test_oversized_uploads_are_413_and_store_nothing(admin_http: TestClient) -> None:
    data = b"y" * (MAX_UPLOAD + 1)
    declared = admin_http.put(f"{API_PREFIX}/blobs", content=data)
    assert_error_shape(declared, 413, "payload_too_large")
    streamed = admin_http.put(f"{API_PREFIX}/blobs", content=_chunks(data))
    assert "content-length" not in streamed.request.headers
    assert_error_shape(streamed, 413, "payload_too_large")


def test_uploads_up_to_the_limit_are_accepted(app: FastAPI, shared_api: SharedApi) -> None:
    response = TestClient(app).put(
        f"{API_PREFIX}/blobs",
        content=_chunks(b"z" * MAX_UPLOAD),
        headers=bearer(shared_api.people.admin_token),
    )
    assert response.status_code == 201
    assert response.json()["size"] == MAX_UPLOAD


HOSTILE_ADDRESSES = {
    "dot-dot slash, encoded": "..%2f..%2fetc%2fpasswd",
    "dots and slash, all encoded": "%2e%2e%2f%2e%2e%2fetc%2fpasswd",
    "double-encoded dots": "%252e%252e%252fetc%252fpasswd",
    "dot-dot, plain": "..",
    "NUL": "%00",
    "NUL inside hex": "0" * 32 + "%00" + "0" * 31,
    "backslashes": "..%5c..%5cwindows%5cwin.ini",
    "UNC path": "%5c%5cserver%5cshare",
    "absolute path": "/etc/passwd",
    "absolute path, encoded": "%2fetc%2fpasswd",
    "uppercase hex": "A" * 64,
    "63 characters": "a" * 63,
    "65 characters": "a" * 65,
    "very long": "a" * 5000,
    "non-ASCII": "%C3%A9" * 64,
    "hex with a dot-dot tail": "0" * 64 + "%2f..%2f..",
}


@pytest.mark.parametrize("address", HOSTILE_ADDRESSES.values(), ids=HOSTILE_ADDRESSES.keys())
def test_hostile_blob_addresses_are_4xx_and_touch_nothing(
    admin_http: TestClient, address: str
) -> None:
    url = f"{API_PREFIX}/blobs/{address}"
    get = admin_http.get(url)
    assert 400 <= get.status_code < 500
    assert_error_shape(get, get.status_code)
    head = admin_http.head(url)
    assert 400 <= head.status_code < 500
    put = admin_http.put(url, content=b"payload")
    assert put.status_code in {404, 405}
    assert_error_shape(put, put.status_code)


def test_a_malformed_address_that_reaches_the_route_is_400(admin_http: TestClient) -> None:
    error = assert_error_shape(admin_http.get(f"{API_PREFIX}/blobs/{'A' * 64}"), 400)
    assert error["code"] == "invalid_argument"
    assert "64 lowercase hex characters" in error["message"]
