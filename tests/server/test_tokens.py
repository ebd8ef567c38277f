"""``/tokens``: the secret is returned once and never listed; revoked tokens stop working."""

from __future__ import annotations

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from mlsteward.server import API_PREFIX

from ._support import SharedApi, assert_error_shape, bearer

TOKENS = f"{API_PREFIX}/tokens"


@pytest.fixture(scope="module")
def app(shared_api: SharedApi) -> FastAPI:
    return shared_api.app()


def test_a_secret_is_shown_once(app: FastAPI, shared_api: SharedApi) -> None:
    kim = TestClient(app, headers=bearer(shared_api.people.token_for("kim")))
    created = kim.post(TOKENS, json={"name": "ci", "scopes": ["read"], "expires_in_days": 7})
    assert created.status_code == 201
    assert created.headers["cache-control"] == "no-store"
    body = created.json()
    secret, info = body["secret"], body["token"]
    assert secret.startswith(f"mls_{info['id']}_")
    assert (info["name"], info["scopes"], info["active"]) == ("ci", ["read"], True)

    listing = kim.get(TOKENS)
    assert info["id"] in [t["id"] for t in listing.json()["tokens"]]
    assert secret not in listing.text
    assert secret.rsplit("_", 1)[1] not in listing.text

    ci = TestClient(app, headers=bearer(secret))
    assert ci.get(f"{API_PREFIX}/me").json()["scopes"] == ["read"]
    assert_error_shape(ci.post(TOKENS, json={"name": "more"}), 403, "permission_denied")


def test_revoked_tokens_stop_working(app: FastAPI, shared_api: SharedApi) -> None:
    secret = shared_api.people.token_for("leo")
    leo = TestClient(app, headers=bearer(secret))
    token_id = leo.get(f"{API_PREFIX}/me").json()["token_id"]
    assert leo.delete(f"{TOKENS}/{token_id}").status_code == 204
    assert_error_shape(leo.get(f"{API_PREFIX}/me"), 401, "unauthenticated")


def test_other_peoples_tokens_are_invisible(app: FastAPI, shared_api: SharedApi) -> None:
    people = shared_api.people
    mia = TestClient(app, headers=bearer(people.token_for("mia")))
    nina_token = people.token_for("nina")
    nina_id = TestClient(app, headers=bearer(nina_token)).get(f"{API_PREFIX}/me").json()
    assert_error_shape(mia.delete(f"{TOKENS}/{nina_id['token_id']}"), 404, "not_found")
    assert_error_shape(mia.get(f"{TOKENS}?username=nina"), 403, "permission_denied")
    admin = TestClient(app, headers=bearer(people.admin_token))
    listed = admin.get(f"{TOKENS}?username=nina").json()["tokens"]
    assert [t["id"] for t in listed] == [nina_id["token_id"]]


def test_tokens_never_exceed_their_creator(app: FastAPI, shared_api: SharedApi) -> None:
    olga = TestClient(app, headers=bearer(shared_api.people.token_for("olga")))
    response = olga.post(TOKENS, json={"name": "root", "scopes": ["admin"]})
    assert_error_shape(response, 403, "permission_denied")
