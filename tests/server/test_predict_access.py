"""``GET /projects/{project}/predict-access``: inference servers that reach the platform over
HTTP ask it whether a token may predict. The answers agree with ``check_predict_token``."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import update

from mlsteward.platform import Platform
from mlsteward.security import (
    SYSTEM,
    add_member,
    create_project,
    create_token,
    revoke_token,
    set_user_disabled,
)
from mlsteward.server import API_PREFIX
from mlsteward.serving._platform_tokens import check_predict_token
from mlsteward.store._tables import api_tokens

from ._state import platform_state
from ._support import SharedApi, assert_error_shape, bearer

PROJECT = "fraud"


def access_url(project: str = PROJECT) -> str:
    return f"{API_PREFIX}/projects/{project}/predict-access"


@dataclass
class Tokens:
    http: TestClient
    platform: Platform
    secrets: dict[str, str]


@pytest.fixture(scope="module")
def tokens(shared_api: SharedApi) -> Tokens:
    """Project ``fraud``: alice is a viewer, bob has no role, carol (a viewer) is disabled."""
    platform, people = shared_api.platform, shared_api.people
    create_project(platform, SYSTEM, PROJECT)
    secrets: dict[str, str] = {
        "predict": people.token_for("alice", ["predict"]),
        "predict+read": people.token_for("alice", ["predict", "read"]),
        "read+write": people.token_for("alice", ["read", "write"]),
        "outsider": people.token_for("bob", ["predict"]),
        "disabled": people.token_for("carol", ["predict"]),
        "expired": people.token_for("alice", ["predict"]),
        "revoked": people.token_for("alice", ["predict"]),
        "admin": people.admin_token,  # an administrator's token, without the predict scope
    }
    admin_predict = create_token(platform, SYSTEM, "p", ["predict"], username="admin")
    secrets["admin+predict"] = admin_predict.secret
    add_member(platform, SYSTEM, PROJECT, "alice", "viewer")
    add_member(platform, SYSTEM, PROJECT, "carol", "viewer")
    set_user_disabled(platform, SYSTEM, "carol", True)
    with platform.db.write() as conn:
        conn.execute(
            update(api_tokens)
            .where(api_tokens.c.id == secrets["expired"].split("_")[1])
            .values(expires_at=dt.datetime.now(dt.UTC) - dt.timedelta(minutes=1))
        )
    revoke_token(platform, SYSTEM, secrets["revoked"].split("_")[1])
    return Tokens(TestClient(shared_api.app()), platform, secrets)


@pytest.mark.parametrize("label", ["predict", "predict+read", "admin+predict"])
def test_a_predict_token_of_a_user_with_a_role_passes(tokens: Tokens, label: str) -> None:
    answer = tokens.http.get(access_url(), headers=bearer(tokens.secrets[label]))
    assert answer.status_code == 200, answer.text
    user = "admin" if label.startswith("admin") else "alice"
    assert answer.json() == {"username": user, "project": PROJECT}


@pytest.mark.parametrize(
    ("label", "message"),
    [
        ("read+write", "this token lacks the 'predict' scope"),
        ("admin", "this token lacks the 'predict' scope"),
        ("outsider", "user 'bob' has no role in project 'fraud'"),
    ],
    ids=["no-predict-scope", "admin-without-predict-scope", "no-role"],
)
def test_a_missing_scope_or_role_is_a_403_saying_which(
    tokens: Tokens, label: str, message: str
) -> None:
    answer = tokens.http.get(access_url(), headers=bearer(tokens.secrets[label]))
    error = assert_error_shape(answer, 403, "permission_denied")
    assert error["message"].startswith(message)
    assert "www-authenticate" not in answer.headers


@pytest.mark.parametrize("label", ["expired", "revoked", "disabled", "unknown", "forged"], ids=str)
def test_a_token_that_is_not_valid_is_a_401(tokens: Tokens, label: str) -> None:
    secret = tokens.secrets.get(label)
    if label == "unknown":
        secret = "mls_000000000000_" + "A" * 43
    elif label == "forged":
        secret = tokens.secrets["predict"][:-3] + "xyz"
    assert secret is not None
    answer = tokens.http.get(access_url(), headers=bearer(secret))
    error = assert_error_shape(answer, 401, "unauthenticated")
    assert error["message"] == "invalid, expired or revoked API token"
    assert answer.headers["www-authenticate"] == "Bearer"


@pytest.mark.parametrize(
    "headers",
    [
        {},
        {"Authorization": "Bearer "},
        {"Authorization": "Basic YTpi"},
        {"Cookie": "mls_session=x"},
    ],
    ids=["none", "empty-bearer", "basic", "bad-session"],
)
def test_missing_or_malformed_credentials_are_a_401(
    tokens: Tokens, headers: dict[str, str]
) -> None:
    answer = tokens.http.get(access_url(), headers=headers)
    assert_error_shape(answer, 401, "unauthenticated")
    assert answer.headers["www-authenticate"] == "Bearer"


def test_an_unknown_project_is_a_403_as_in_the_local_check(tokens: Tokens) -> None:
    for label in ("predict", "admin+predict"):
        answer = tokens.http.get(access_url("ghost"), headers=bearer(tokens.secrets[label]))
        error = assert_error_shape(answer, 403, "permission_denied")
        local = check_predict_token(tokens.platform, "ghost", tokens.secrets[label])
        assert (local.status, local.message) == (403, error["message"])
        assert error["message"] == "the project 'ghost' of this model no longer exists"


@pytest.mark.parametrize(
    "label", ["predict", "read+write", "outsider", "expired", "revoked", "disabled"]
)
def test_the_route_and_the_local_check_agree(tokens: Tokens, label: str) -> None:
    secret = tokens.secrets[label]
    answer = tokens.http.get(access_url(), headers=bearer(secret))
    local = check_predict_token(tokens.platform, PROJECT, secret)
    assert answer.status_code == local.status
    if local.status != 200:
        assert local.message.startswith(answer.json()["error"]["message"])


@pytest.mark.parametrize(
    ("path", "status", "code"),
    [
        (access_url("a%00b"), 400, "invalid_argument"),
        (access_url("x" * 2000), 403, "permission_denied"),
        (access_url("..%2F..%2Fetc"), 404, "not_found"),
        (access_url() + "?project=other", 200, None),
    ],
    ids=["nul", "long-name", "traversal", "extra-query"],
)
def test_hostile_paths(tokens: Tokens, path: str, status: int, code: str | None) -> None:
    answer = tokens.http.get(path, headers=bearer(tokens.secrets["predict"]))
    if code is None:
        assert answer.status_code == status
        assert answer.json()["project"] == PROJECT
    else:
        assert_error_shape(answer, status, code)


def test_only_get_is_answered(tokens: Tokens) -> None:
    headers = bearer(tokens.secrets["predict"])
    for method in ("POST", "PUT", "DELETE"):
        answer = tokens.http.request(method, access_url(), headers=headers)
        assert_error_shape(answer, 405, "method_not_allowed")


def test_checking_writes_nothing(tokens: Tokens) -> None:
    """Reading is not a state change: no audit event, no row (``last_used_at`` aside)."""
    for label in tokens.secrets:  # token bookkeeping first, outside the snapshot
        tokens.http.get(access_url(), headers=bearer(tokens.secrets[label]))
    before = platform_state(tokens.platform)
    for label in tokens.secrets:
        tokens.http.get(access_url(), headers=bearer(tokens.secrets[label]))
        tokens.http.get(access_url("ghost"), headers=bearer(tokens.secrets[label]))
    assert platform_state(tokens.platform) == before
