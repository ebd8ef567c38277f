"""``/users``: administrators manage accounts."""

from __future__ import annotations

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from mlsteward.server import API_PREFIX

from ._support import SharedApi, assert_error_shape, bearer

USERS = f"{API_PREFIX}/users"


@pytest.fixture(scope="module")
def app(shared_api: SharedApi) -> FastAPI:
    return shared_api.app()


@pytest.fixture
def admin(app: FastAPI, shared_api: SharedApi) -> TestClient:
    return TestClient(app, headers=bearer(shared_api.people.admin_token))


def test_create_list_and_get(admin: TestClient) -> None:
    body = {"username": "carol", "password": "carol-password-1", "display_name": "Carol"}
    created = admin.post(USERS, json=body)
    assert created.status_code == 201
    user = created.json()
    assert set(user) == {"id", "username", "display_name", "is_admin", "disabled", "created_at"}
    assert (user["username"], user["display_name"], user["is_admin"]) == ("carol", "Carol", False)
    assert "carol" in [u["username"] for u in admin.get(USERS).json()["users"]]
    assert admin.get(f"{USERS}/carol").json() == user
    assert "password" not in created.text


def test_duplicates_and_unknown_users(admin: TestClient) -> None:
    body = {"username": "dave", "password": "dave-password-12"}
    assert admin.post(USERS, json=body).status_code == 201
    assert_error_shape(admin.post(USERS, json=body), 409, "already_exists")
    assert_error_shape(admin.get(f"{USERS}/nobody"), 404, "not_found")
    assert_error_shape(admin.post(f"{USERS}/nobody/disable"), 404, "not_found")


def test_disabling_a_user_stops_their_tokens(
    admin: TestClient, app: FastAPI, shared_api: SharedApi
) -> None:
    token = shared_api.people.token_for("erin")
    erin = TestClient(app, headers=bearer(token))
    assert erin.get(f"{API_PREFIX}/me").status_code == 200
    disabled = admin.post(f"{USERS}/erin/disable")
    assert disabled.json()["disabled"] is True
    assert_error_shape(erin.get(f"{API_PREFIX}/me"), 401, "unauthenticated")
    assert admin.post(f"{USERS}/erin/enable").json()["disabled"] is False
    assert erin.get(f"{API_PREFIX}/me").status_code == 200


def test_administrators_cannot_disable_themselves(admin: TestClient) -> None:
    assert_error_shape(admin.post(f"{USERS}/admin/disable"), 409, "conflict")


def test_setting_a_password(admin: TestClient, shared_api: SharedApi) -> None:
    from mlsteward.security import authenticate_password

    shared_api.people.token_for("frank")
    url = f"{USERS}/frank/password"
    assert admin.post(url, json={"new_password": "franks-new-password"}).status_code == 204
    assert authenticate_password(shared_api.platform, "frank", "franks-new-password")
    assert_error_shape(admin.post(url, json={"new_password": "short"}), 400, "invalid_argument")
