"""A NUL character anywhere in a request is a 400, on SQLite and on PostgreSQL.

PostgreSQL cannot compare text with a NUL in it, so one that reached a lookup would be a 500
there; the routers refuse it first. Every path and query parameter of every API route is
tried (read from the route table), plus JSON bodies.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from mlsteward.platform import Platform
from mlsteward.security import SYSTEM, create_project
from mlsteward.server import API_PREFIX, create_app

from ._routes import WALK_PROJECT, api_endpoints, fill
from ._state import platform_state
from ._support import People, assert_error_shape, bearer, cheap_password_hashing

NUL = "a\x00b"


@pytest.fixture
def admin_http(backend_platform: Platform) -> Iterator[TestClient]:
    with cheap_password_hashing():
        people = People.create(backend_platform)
    create_project(backend_platform, SYSTEM, WALK_PROJECT)
    http = TestClient(create_app(backend_platform), headers=bearer(people.admin_token))
    http.get(f"{API_PREFIX}/me")
    before = platform_state(backend_platform)
    yield http
    assert platform_state(backend_platform) == before


def test_nul_in_any_path_or_query_parameter(admin_http: TestClient) -> None:
    app = admin_http.app
    assert isinstance(app, FastAPI)
    tried = 0
    for endpoint in api_endpoints(app):
        names = [p.name for p in endpoint.dependant.path_params]
        for name in names:
            url = fill(endpoint.path, {name: "a%00b"})
            response = admin_http.request(endpoint.method, url)
            assert response.status_code == 400, (endpoint, name)
            tried += 1
        for param in endpoint.dependant.query_params:
            url = f"{endpoint.url}?{param.alias}=a%00b"
            response = admin_http.request(endpoint.method, url)
            assert response.status_code == 400, (endpoint, param.alias)
            if endpoint.method != "HEAD":
                assert_error_shape(response, 400, "invalid_argument")
            tried += 1
    assert tried >= 15


@pytest.mark.parametrize(
    ("method", "path", "body"),
    [
        ("POST", "/users", {"username": NUL, "password": "p" * 12}),
        ("POST", "/projects", {"name": NUL}),
        ("POST", f"/projects/{WALK_PROJECT}/members", {"username": NUL, "role": "viewer"}),
        ("PATCH", f"/projects/{WALK_PROJECT}/members/admin", {"role": NUL}),
        ("POST", "/tokens", {"name": "t", "username": NUL}),
        ("POST", "/tokens", {"name": "t", "scopes": ["read", NUL]}),
        ("POST", "/me/password", {"current_password": NUL, "new_password": "p" * 12}),
    ],
)
def test_nul_in_a_json_body(
    admin_http: TestClient, method: str, path: str, body: dict[str, object]
) -> None:
    error = assert_error_shape(admin_http.request(method, API_PREFIX + path, json=body), 400)
    assert error["code"] == "invalid_argument"
    assert "NUL" in error["message"]
