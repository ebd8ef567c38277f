"""Platform tokens checked over HTTP: an inference server that reaches the platform only
through ``MLSTEWARD_SERVER_URL`` asks a real platform server (uvicorn on 127.0.0.1) and
reaches the same verdicts as the local database check."""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import hashlib
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
from sqlalchemy import update
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from mlsteward.errors import ConfigurationError
from mlsteward.models._model_dir import load_model_dir
from mlsteward.platform import Platform
from mlsteward.security import (
    SYSTEM,
    add_member,
    create_project,
    create_token,
    create_user,
    revoke_token,
    set_user_disabled,
)
from mlsteward.server import create_app as create_platform_app
from mlsteward.serving import ModelRepository, ServedModel
from mlsteward.serving._app import create_app
from mlsteward.serving._platform_tokens import (
    PlatformTokens,
    RemoteTokenLookup,
    TokenVerdicts,
    check_predict_token,
)
from mlsteward.settings import load_settings
from mlsteward.store._tables import api_tokens

from ..server._live_server import serve
from ..server._support import cheap_password_hashing
from ._support import free_port, iris_frame, ready_server, save_iris_model
from .test_serve_command import _serving

PASSWORD = "a-password-for-the-tests"
PROJECT = "fraud"


@dataclass
class Platformed:
    """A platform (authentication required) served over HTTP at ``url``."""

    platform: Platform
    url: str
    tokens: dict[str, str]


@pytest.fixture(scope="module")
def remote(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Platformed]:
    """Project ``fraud``: alice is its viewer, bob has none, carol (a viewer) is disabled."""
    settings = load_settings(home=tmp_path_factory.mktemp("platform"), auth_mode="required")
    platform = Platform.open(settings)
    tokens: dict[str, str] = {}
    with cheap_password_hashing():
        create_project(platform, SYSTEM, PROJECT)
        for name in ("alice", "bob", "carol"):
            create_user(platform, SYSTEM, name, PASSWORD)
    add_member(platform, SYSTEM, PROJECT, "alice", "viewer")
    add_member(platform, SYSTEM, PROJECT, "carol", "viewer")
    for label, user, scopes in [
        ("predict", "alice", ["predict"]),
        ("predict+read", "alice", ["predict", "read"]),
        ("read", "alice", ["read"]),
        ("expired", "alice", ["predict"]),
        ("revoked", "alice", ["predict"]),
        ("outsider", "bob", ["predict"]),
        ("disabled", "carol", ["predict"]),
        ("to-revoke", "alice", ["predict"]),
    ]:
        tokens[label] = create_token(platform, SYSTEM, label, scopes, username=user).secret
    with platform.db.write() as conn:
        conn.execute(
            update(api_tokens)
            .where(api_tokens.c.id == _token_id(tokens["expired"]))
            .values(expires_at=dt.datetime.now(dt.UTC) - dt.timedelta(minutes=1))
        )
    revoke_token(platform, SYSTEM, _token_id(tokens["revoked"]))
    set_user_disabled(platform, SYSTEM, "carol", True)
    tokens["unknown"] = "mls_000000000000_" + "A" * 43
    tokens["forged"] = tokens["predict"][:-3] + "xyz"
    tokens["garbage"] = "mls_garbage"
    tokens["not-ascii"] = "mls_\ufffd\ufffd"  # what the middleware passes for non-UTF-8 bytes
    tokens["control"] = "mls_a\tb"
    with serve(create_platform_app(platform)) as url:
        yield Platformed(platform, url, tokens)
    platform.close()


def _token_id(secret: str) -> str:
    return secret.split("_")[1]


@contextlib.contextmanager
def lookup_at(url: str, project: str = PROJECT) -> Iterator[RemoteTokenLookup]:
    lookup = RemoteTokenLookup(url, project)
    try:
        yield lookup
    finally:
        lookup.close()


def _dead_url() -> str:
    return f"http://127.0.0.1:{free_port()}"  # nothing listens there


# -- the lookup ---------------------------------------------------------------------------

LABELS = [
    "predict",
    "predict+read",
    "read",
    "outsider",
    "expired",
    "revoked",
    "disabled",
    "unknown",
    "forged",
    "garbage",
    "not-ascii",
    "control",
]


@pytest.mark.parametrize("project", [PROJECT, "ghost"])
@pytest.mark.parametrize("label", LABELS)
def test_remote_verdicts_equal_the_local_ones(remote: Platformed, label: str, project: str) -> None:
    token = remote.tokens[label]
    with lookup_at(remote.url, project) as lookup:
        verdict = lookup(token)
    assert verdict == check_predict_token(remote.platform, project, token)
    assert verdict.status in {200, 401, 403}


def test_the_verdicts_say_what_to_do(remote: Platformed) -> None:
    with lookup_at(remote.url) as lookup:
        passed = lookup(remote.tokens["predict"])
        scope = lookup(remote.tokens["read"])
        role = lookup(remote.tokens["outsider"])
        revoked = lookup(remote.tokens["revoked"])
    assert (passed.status, passed.username) == (200, "alice")
    assert (scope.status, scope.username) == (403, "alice")
    assert "--scope predict" in scope.message
    assert (role.status, role.username) == (403, "bob")
    assert "has no role in project 'fraud'" in role.message
    assert revoked.status == 401
    assert revoked.message.startswith("invalid, expired or revoked API token: pass a platform")


def test_a_platform_that_is_down_is_a_503_and_nothing_is_cached() -> None:
    with lookup_at(_dead_url()) as lookup:
        verdicts = TokenVerdicts(lookup)

        async def main() -> list[int]:
            return [(await verdicts.verdict(b"mls_" + b"x" * 40)).status for _ in range(2)]

        assert asyncio.run(main()) == [503, 503]
    assert len(verdicts) == 0
    assert verdicts.lookups == 2  # the second request asked again


def _odd_platform(status: int, body: bytes, content_type: str) -> Starlette:
    """A server at the platform's address that answers every request with ``status``."""

    async def answer(request: Request) -> Response:
        return Response(body, status_code=status, media_type=content_type)

    return Starlette(routes=[Route("/{path:path}", answer)])


@pytest.mark.parametrize(
    ("status", "body", "content_type"),
    [
        (500, b'{"error": {"code": "internal", "message": "boom", "details": {}}}', "json"),
        (429, b"slow down", "text"),
        (302, b"", "text"),
        (401, b"<html>proxy login</html>", "text"),
        (403, b'{"error": "not the platform shape"}', "json"),
        (200, b"<html>a web page</html>", "text"),
        (200, b'{"username": "alice", "project": "other"}', "json"),
        (200, b"[]", "json"),
    ],
    ids=[
        "500",
        "429",
        "redirect",
        "401-not-json",
        "403-other-shape",
        "200-html",
        "200-other-project",
        "200-list",
    ],
)
def test_answers_that_are_not_a_verdict_are_503s(
    status: int, body: bytes, content_type: str
) -> None:
    app = _odd_platform(status, body, f"application/{content_type}")
    with serve(app) as url, lookup_at(url) as lookup:
        verdicts = TokenVerdicts(lookup)

        async def main() -> int:
            return (await verdicts.verdict(b"mls_" + b"x" * 40)).status

        assert asyncio.run(main()) == 503
        assert len(verdicts) == 0


def test_a_revoked_token_is_refused_at_once_with_no_cache(remote: Platformed) -> None:
    token = remote.tokens["to-revoke"]
    with lookup_at(remote.url) as lookup:
        verdicts = TokenVerdicts(lookup, cache_seconds=0)

        async def status() -> int:
            return (await verdicts.verdict(token.encode())).status

        assert asyncio.run(status()) == 200
        revoke_token(remote.platform, SYSTEM, _token_id(token))
        assert asyncio.run(status()) == 401
    assert verdicts.lookups == 2


# -- the start-up check -------------------------------------------------------------------


def _tokens_for(url: str, cache_seconds: float = 30.0) -> PlatformTokens:
    return PlatformTokens(PROJECT, load_settings(server_url=url), cache_seconds)


def test_a_reachable_platform_passes_the_check(remote: Platformed) -> None:
    _tokens_for(remote.url).check()
    _tokens_for(remote.url + "/").check()


@pytest.mark.parametrize(
    ("url", "message"),
    [
        ("dead", "cannot reach the platform at http://127.0.0.1:"),
        ("ftp://platform.example", "invalid server URL 'ftp://platform.example'"),
        ("http://", "invalid server URL"),
        ("not a url", "invalid server URL"),
    ],
    ids=["down", "scheme", "no-host", "garbage"],
)
def test_a_wrong_platform_url_fails_the_check(url: str, message: str) -> None:
    url = _dead_url() if url == "dead" else url
    with pytest.raises(ConfigurationError, match="^" + message.replace(".", r"\.")):
        _tokens_for(url).check()


@pytest.mark.parametrize(
    ("status", "message"),
    [(404, "does not check platform tokens"), (500, "answered 500 to a token check")],
)
def test_a_server_that_is_not_the_platform_fails_the_check(status: int, message: str) -> None:
    with (
        serve(_odd_platform(status, b"", "text/plain")) as url,
        pytest.raises(ConfigurationError, match=message),
    ):
        _tokens_for(url).check()


# -- a real inference server ----------------------------------------------------------------


@pytest.fixture(scope="module")
def iris(tmp_path_factory: pytest.TempPathFactory) -> ModelRepository:
    folder = tmp_path_factory.mktemp("iris") / "m"
    save_iris_model(folder)
    return ModelRepository([ServedModel("iris", "1", load_model_dir(folder), "sklearn")])


def _predict(url: str, token: str | None) -> httpx.Response:
    x, _ = iris_frame()
    headers = {} if token is None else {"Authorization": f"Bearer {token}"}
    body = {"dataframe_split": x.head(2).to_dict(orient="split")}
    return httpx.post(f"{url}/invocations", json=body, headers=headers, timeout=30)


def test_an_inference_server_checks_tokens_with_the_platform_server(
    remote: Platformed, iris: ModelRepository
) -> None:
    tokens = _tokens_for(remote.url, cache_seconds=0)
    key = "an-api-key-from-the-key-file-" + "k" * 10
    keys = frozenset({hashlib.sha256(key.encode()).digest()})
    with ready_server(tokens.middleware(create_app(iris), keys)) as served:
        assert _predict(served, remote.tokens["predict"]).status_code == 200
        assert _predict(served, key).status_code == 200
        for label, status in [("read", 403), ("outsider", 403), ("expired", 401)]:
            answer = _predict(served, remote.tokens[label])
            assert answer.status_code == status, answer.text
            expected = check_predict_token(remote.platform, PROJECT, remote.tokens[label])
            assert answer.json() == {"error": expected.message}
        assert _predict(served, None).status_code == 401


def test_an_inference_server_answers_503_while_the_platform_is_down(
    iris: ModelRepository,
) -> None:
    tokens = _tokens_for(_dead_url())
    with ready_server(tokens.middleware(create_app(iris), None)) as served:
        answer = _predict(served, "mls_000000000000_" + "A" * 43)
        assert answer.status_code == 503
        assert answer.headers["retry-after"] == "1"
        assert "cannot check tokens right now" in answer.json()["error"]
        assert _predict(served, None).status_code == 401  # no token: no need to ask


# -- the command ----------------------------------------------------------------------------


@pytest.fixture(scope="module")
def registered(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, dict[str, str]]]:
    """A platform server (login required) with iris registered in ``default``; vera is a
    viewer of ``default`` with a predict token and a read token (the one ``serve`` uses)."""
    from sklearn.linear_model import LogisticRegression

    from mlsteward.client import Client

    settings = load_settings(home=tmp_path_factory.mktemp("serve-home"), auth_mode="required")
    x, y = iris_frame()
    model = LogisticRegression(max_iter=300).fit(x, y)
    with Client(settings) as client, client.start_run(environment=False) as run:
        run.log_model(model, input_example=x.head(3), registered_model_name="iris")
    platform = Platform.open(settings)
    with cheap_password_hashing():
        create_user(platform, SYSTEM, "vera", PASSWORD)
    add_member(platform, SYSTEM, "default", "vera", "viewer")
    tokens = {
        scope: create_token(platform, SYSTEM, scope, [scope], username="vera").secret
        for scope in ("predict", "read")
    }
    with serve(create_platform_app(platform)) as url:
        yield url, tokens
    platform.close()


def test_serve_checks_tokens_with_a_remote_platform(
    registered: tuple[str, dict[str, str]], tmp_path: Path
) -> None:
    url, tokens = registered
    env = {"MLSTEWARD_SERVER_URL": url, "MLSTEWARD_TOKEN": tokens["read"]}
    args = ("models:/iris/1", "--platform-tokens", "--token-cache-seconds", "0")
    with _serving(*args, home=tmp_path, **env) as (served, _):  # an empty home: no database
        assert _predict(served, tokens["predict"]).status_code == 200
        refused = _predict(served, tokens["read"])
        assert refused.status_code == 403
        assert "lacks the 'predict' scope" in refused.json()["error"]
        missing = _predict(served, None)
        assert missing.status_code == 401
        assert missing.headers["www-authenticate"].startswith("Bearer")
    assert not (tmp_path / "mlsteward.db").exists()


def test_serve_refuses_a_platform_url_that_does_not_answer(tmp_path: Path) -> None:
    from ..cli.conftest import cli_env, run_cli_process

    env = cli_env(tmp_path, MLSTEWARD_SERVER_URL=_dead_url())
    answer = run_cli_process("serve", "models:/iris/1", "--platform-tokens", env=env)
    assert answer.returncode == 1
    assert "cannot reach the platform at http://127.0.0.1:" in answer.stderr
    assert "MLSTEWARD_SERVER_URL" in answer.stderr
    assert "serving iris" not in answer.stdout  # refused before the model loaded
