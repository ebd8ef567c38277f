"""Every API route declares a permission, and enforces it.

The walk reads the app's route table, so routes added later are covered without editing
this file; only the values used to fill path parameters are listed here.
"""

from __future__ import annotations

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from mlsteward.platform import Platform
from mlsteward.security import SYSTEM, add_member, create_project
from mlsteward.server import API_PREFIX, create_app

from ._routes import WALK_PROJECT, Endpoint, api_endpoints
from ._state import platform_state
from ._support import People, assert_error_shape, bearer


@pytest.fixture
def walk_app(api_platform: Platform, people: People) -> FastAPI:
    create_project(api_platform, SYSTEM, WALK_PROJECT)
    return create_app(api_platform)


@pytest.fixture
def endpoints(walk_app: FastAPI) -> list[Endpoint]:
    return list(api_endpoints(walk_app))


def test_the_walk_sees_the_api(endpoints: list[Endpoint]) -> None:
    seen = {str(e) for e in endpoints}
    assert len(endpoints) >= 25
    assert {"GET /api/v1/me", "PUT /api/v1/blobs", "DELETE /api/v1/tokens/{token_id}"} <= seen
    assert {e.level for e in endpoints if e.requires} >= {
        "authenticated",
        "admin",
        "project:viewer",
        "project:owner",
    }


def test_every_api_route_declares_a_permission(endpoints: list[Endpoint]) -> None:
    missing = [str(e) for e in endpoints if not e.requires]
    assert missing == [], "routes without Depends(Requires(...))"
    several = [str(e) for e in endpoints if len(e.requires) > 1]
    assert several == [], "routes with more than one Requires (which one applies?)"
    project_level = [e for e in endpoints if e.level.startswith("project:")]
    assert all("{project}" in e.path for e in project_level)


def test_every_route_refuses_anonymous_callers(
    walk_app: FastAPI, endpoints: list[Endpoint]
) -> None:
    http = TestClient(walk_app)
    for endpoint in endpoints:
        response = http.request(endpoint.method, endpoint.url)
        assert response.status_code == 401, endpoint
        assert response.headers["www-authenticate"] == "Bearer", endpoint
        if endpoint.method != "HEAD":  # a HEAD response has no body to check
            assert_error_shape(response, 401, "unauthenticated")


def test_bad_credentials_are_refused_everywhere(
    walk_app: FastAPI, endpoints: list[Endpoint]
) -> None:
    http = TestClient(walk_app)
    for headers in ({"Authorization": "Bearer mls_forged"}, {"Authorization": "Basic YTpi"}):
        for endpoint in endpoints:
            response = http.request(endpoint.method, endpoint.url, headers=headers)
            assert response.status_code == 401, (endpoint, headers)


def test_outsiders_get_403_from_admin_and_project_routes(
    walk_app: FastAPI, endpoints: list[Endpoint], api_platform: Platform, people: People
) -> None:
    http = TestClient(walk_app)
    headers = bearer(people.outsider_token)
    http.get(f"{API_PREFIX}/me", headers=headers)  # token bookkeeping, before the snapshot
    before = platform_state(api_platform)
    checked = 0
    for endpoint in endpoints:
        response = http.request(endpoint.method, endpoint.url, headers=headers)
        if endpoint.level == "admin" or endpoint.level.startswith("project:"):
            checked += 1
            assert response.status_code == 403, endpoint
            if endpoint.method != "HEAD":
                assert_error_shape(response, 403, "permission_denied")
        else:
            assert response.status_code < 500, (endpoint, response.text)
    assert checked >= 15
    assert platform_state(api_platform) == before


def test_project_roles_are_enforced_by_rank(
    walk_app: FastAPI, endpoints: list[Endpoint], api_platform: Platform, people: People
) -> None:
    """A viewer of the project passes viewer routes' check and is refused the higher ones."""
    token = people.token_for("viewer")
    add_member(api_platform, SYSTEM, WALK_PROJECT, "viewer", "viewer")
    http = TestClient(walk_app)
    for endpoint in endpoints:
        if not endpoint.level.startswith("project:"):
            continue
        response = http.request(endpoint.method, endpoint.url, headers=bearer(token))
        if endpoint.level == "project:viewer":
            assert response.status_code not in {401, 403}, endpoint
        else:
            assert_error_shape(response, 403, "permission_denied")


def test_read_only_tokens_cannot_write(
    walk_app: FastAPI, endpoints: list[Endpoint], api_platform: Platform, people: People
) -> None:
    token = people.token_for("admin", ["read"])  # even an administrator's token
    http = TestClient(walk_app)
    http.get(f"{API_PREFIX}/me", headers=bearer(token))
    before = platform_state(api_platform)
    for endpoint in endpoints:
        if endpoint.method in {"GET", "HEAD"}:
            continue
        response = http.request(endpoint.method, endpoint.url, headers=bearer(token))
        error = assert_error_shape(response, 403, "permission_denied")
        assert "scope" in error["message"], endpoint
    assert platform_state(api_platform) == before


def test_the_walk_catches_a_route_without_a_permission(walk_app: FastAPI) -> None:
    from fastapi import APIRouter

    careless = APIRouter()

    @careless.post("/careless/{project}")
    def careless_route(project: str) -> None:
        return None

    walk_app.include_router(careless, prefix=API_PREFIX)
    found = [e for e in api_endpoints(walk_app) if e.path == f"{API_PREFIX}/careless/{{project}}"]
    assert [(e.method, e.url, e.requires) for e in found] == [
        ("POST", f"{API_PREFIX}/careless/{WALK_PROJECT}", [])
    ]


def test_the_openapi_document_describes_every_api_route(
    walk_app: FastAPI, endpoints: list[Endpoint]
) -> None:
    document = TestClient(walk_app).get(f"{API_PREFIX}/openapi.json")
    assert document.status_code == 200
    paths = document.json()["paths"]
    for endpoint in endpoints:
        assert endpoint.method.lower() in paths[endpoint.path], endpoint


def test_predict_only_tokens_pass_only_the_predict_routes(
    walk_app: FastAPI, endpoints: list[Endpoint], api_platform: Platform, people: People
) -> None:
    """A ``predict`` token opens inference servers, nothing of the REST API but the routes
    those servers ask (``project:predict``), even for a member of the project."""
    token = people.token_for("predictor", ["predict"])
    add_member(api_platform, SYSTEM, WALK_PROJECT, "predictor", "owner")
    http = TestClient(walk_app)
    http.get(f"{API_PREFIX}/projects/{WALK_PROJECT}/predict-access", headers=bearer(token))
    before = platform_state(api_platform)
    predict_routes = [e for e in endpoints if e.level == "project:predict"]
    assert [str(e) for e in predict_routes] == [
        f"GET {API_PREFIX}/projects/{{project}}/predict-access"
    ]
    for endpoint in endpoints:
        response = http.request(endpoint.method, endpoint.url, headers=bearer(token))
        if endpoint in predict_routes:
            assert response.status_code == 200, (endpoint, response.text)
        elif endpoint.method != "HEAD":
            error = assert_error_shape(response, 403, "permission_denied")
            assert "scope" in error["message"], endpoint
        else:
            assert response.status_code == 403, endpoint
    assert platform_state(api_platform) == before
