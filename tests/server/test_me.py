"""``/me``: who is calling, and changing your own password."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from fastapi.testclient import TestClient

from mlsteward.errors import Unauthenticated
from mlsteward.platform import Platform
from mlsteward.security import authenticate_password
from mlsteward.server import API_PREFIX, create_app
from mlsteward.settings import Settings

from ._state import platform_state
from ._support import USER_PASSWORD, People, assert_error_shape, bearer


def test_me_describes_the_token_holder(api: TestClient, people: People) -> None:
    response = api.get(f"{API_PREFIX}/me", headers=bearer(people.outsider_token))
    assert response.status_code == 200
    body = response.json()
    assert body["name"] == "outsider"
    assert body["kind"] == "token"
    assert body["is_admin"] is False
    assert body["scopes"] == ["read", "write"]
    assert people.outsider_token.startswith(f"mls_{body['token_id']}_")


def test_me_on_loopback_without_login_is_the_local_admin(
    make_settings: Callable[..., Settings],
) -> None:
    platform = Platform.open(make_settings(auth_mode="auto", host="127.0.0.1"))
    try:
        http = TestClient(create_app(platform), base_url="http://localhost")
        body = http.get(f"{API_PREFIX}/me").json()
    finally:
        platform.close()
    assert (body["name"], body["kind"], body["is_admin"]) == ("local-admin", "local", True)


def test_changing_your_password_needs_the_current_one(
    api: TestClient, api_platform: Platform, people: People
) -> None:
    headers = bearer(people.outsider_token)
    url = f"{API_PREFIX}/me/password"
    api.get(f"{API_PREFIX}/me", headers=headers)
    before = platform_state(api_platform)
    wrong = {"current_password": "not-the-password", "new_password": "new-password-123"}
    error = assert_error_shape(api.post(url, json=wrong, headers=headers), 400)
    assert error["message"] == "the current password is wrong"
    assert platform_state(api_platform) == before

    right = {"current_password": USER_PASSWORD, "new_password": "new-password-123"}
    assert api.post(url, json=right, headers=headers).status_code == 204
    assert authenticate_password(api_platform, "outsider", "new-password-123").name == "outsider"
    with pytest.raises(Unauthenticated):
        authenticate_password(api_platform, "outsider", USER_PASSWORD)
