"""Platform tokens with the ``predict`` scope as inference keys: real tokens made by the
services, a real server on 127.0.0.1, and the cache that keeps lookups off the hot path."""

from __future__ import annotations

import asyncio
import datetime as dt
import hashlib
import json
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select, update

from mlsteward.errors import ConfigurationError
from mlsteward.models._model_dir import load_model_dir
from mlsteward.platform import Platform
from mlsteward.security import (
    SYSTEM,
    add_member,
    authenticate_password,
    create_project,
    create_token,
    create_user,
    revoke_token,
    set_user_disabled,
)
from mlsteward.serving import ModelRepository, ServedModel
from mlsteward.serving._app import create_app
from mlsteward.serving._platform_tokens import (
    PlatformTokens,
    TokenVerdict,
    TokenVerdicts,
    check_predict_token,
)
from mlsteward.serving._run import check_protection
from mlsteward.settings import Settings, load_settings
from mlsteward.store._tables import api_tokens

from ..server._support import cheap_password_hashing
from ._support import free_port, iris_frame, ready_server, save_iris_model
from .test_serve_command import _serving

PASSWORD = "a-password-for-the-tests"
API_KEY = "an-api-key-from-the-key-file-" + "k" * 10


# -- the cache ------------------------------------------------------------------------------


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


class CountingLookup:
    def __init__(self, verdicts: dict[str, TokenVerdict]) -> None:
        self.verdicts = verdicts
        self.calls: list[str] = []
        self.fail = False

    def __call__(self, token: str) -> TokenVerdict:
        self.calls.append(token)
        if self.fail:
            raise OSError("the database is down")
        return self.verdicts.get(token, TokenVerdict(401, "invalid"))


GOOD = TokenVerdict(200, "", "alice")


def test_a_pass_is_cached_for_the_cache_time_then_looked_up_again() -> None:
    clock, lookup = Clock(), CountingLookup({"mls_good": GOOD})
    verdicts = TokenVerdicts(lookup, cache_seconds=30, clock=clock)

    async def main() -> list[TokenVerdict]:
        first = await verdicts.verdict(b"mls_good")
        clock.now += 29
        second = await verdicts.verdict(b"mls_good")
        lookup.verdicts["mls_good"] = TokenVerdict(401, "revoked")
        clock.now += 2  # past 30 s: looked up again, now refused
        third = await verdicts.verdict(b"mls_good")
        return [first, second, third]

    first, second, third = asyncio.run(main())
    assert (first.status, second.status, third.status) == (200, 200, 401)
    assert lookup.calls == ["mls_good", "mls_good"]


def test_a_refusal_is_cached_for_a_few_seconds_only() -> None:
    clock, lookup = Clock(), CountingLookup({})
    verdicts = TokenVerdicts(lookup, cache_seconds=30, clock=clock)
    assert verdicts.invalid_seconds == 5

    async def main() -> None:
        assert (await verdicts.verdict(b"mls_bad")).status == 401
        clock.now += 4
        assert (await verdicts.verdict(b"mls_bad")).status == 401
        assert len(lookup.calls) == 1
        lookup.verdicts["mls_bad"] = GOOD  # e.g. the user was just added to the project
        clock.now += 2
        assert (await verdicts.verdict(b"mls_bad")).status == 200

    asyncio.run(main())
    assert len(lookup.calls) == 2


def test_concurrent_requests_with_one_token_share_one_lookup() -> None:
    gate = threading.Event()

    def slow(token: str) -> TokenVerdict:
        gate.wait(10)
        return GOOD

    verdicts = TokenVerdicts(slow)

    async def main() -> list[TokenVerdict]:
        tasks = [asyncio.ensure_future(verdicts.verdict(b"mls_same")) for _ in range(20)]
        await asyncio.sleep(0.05)
        gate.set()
        return await asyncio.gather(*tasks)

    assert [v.status for v in asyncio.run(main())] == [200] * 20
    assert verdicts.lookups == 1


def test_the_cache_is_bounded_and_keeps_no_token() -> None:
    lookup = CountingLookup({})
    verdicts = TokenVerdicts(lookup, max_entries=3)

    async def main() -> None:
        for i in range(10):
            await verdicts.verdict(f"mls_{i}".encode())

    asyncio.run(main())
    assert len(verdicts) == 3
    assert all(b"mls_" not in key for key in verdicts._entries)
    assert hashlib.sha256(b"mls_9").digest() in verdicts._entries


def test_a_database_failure_is_a_503_and_is_not_cached() -> None:
    lookup = CountingLookup({"mls_good": GOOD})
    lookup.fail = True
    verdicts = TokenVerdicts(lookup)

    async def main() -> list[int]:
        failed = await verdicts.verdict(b"mls_good")
        lookup.fail = False
        return [failed.status, (await verdicts.verdict(b"mls_good")).status]

    assert asyncio.run(main()) == [503, 200]
    assert len(lookup.calls) == 2


@pytest.mark.parametrize("seconds", [-1.0, 31.0], ids=["negative", "over-30"])
def test_cache_times_beyond_30_seconds_are_refused(seconds: float) -> None:
    with pytest.raises(ConfigurationError, match="from 0 to 30 seconds"):
        TokenVerdicts(CountingLookup({}), cache_seconds=seconds)
    with pytest.raises(ConfigurationError, match="--token-cache-seconds must be from 0 to 30"):
        PlatformTokens("fraud", cache_seconds=seconds).check()


# -- real tokens ----------------------------------------------------------------------------


@dataclass
class World:
    platform: Platform
    settings: Settings
    tokens: dict[str, str]
    ids: dict[str, str]


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    """Project ``fraud``; alice is its viewer, bob has no role, carol is disabled later."""
    settings = load_settings(home=tmp_path_factory.mktemp("tokens-home"))
    platform = Platform.open(settings)
    tokens: dict[str, str] = {}
    ids: dict[str, str] = {}
    with cheap_password_hashing():
        create_project(platform, SYSTEM, "fraud")
        for name in ("alice", "bob", "carol"):
            create_user(platform, SYSTEM, name, PASSWORD)
        add_member(platform, SYSTEM, "fraud", "alice", "viewer")
        add_member(platform, SYSTEM, "fraud", "carol", "viewer")
        alice = authenticate_password(platform, "alice", PASSWORD)
        for label, user, scopes in [
            ("predict", "alice", ["predict"]),
            ("read", "alice", ["read"]),
            ("expired", "alice", ["predict"]),
            ("revoked", "alice", ["predict"]),
            ("outsider", "bob", ["predict"]),
            ("disabled", "carol", ["predict"]),
        ]:
            actor = alice if user == "alice" else authenticate_password(platform, user, PASSWORD)
            created = create_token(platform, actor, label, scopes)
            tokens[label], ids[label] = created.secret, created.info.id
    with platform.db.write() as conn:
        conn.execute(
            update(api_tokens)
            .where(api_tokens.c.id == ids["expired"])
            .values(expires_at=dt.datetime.now(dt.UTC) - dt.timedelta(minutes=1))
        )
    set_user_disabled(platform, SYSTEM, "carol", True)
    yield World(platform, settings, tokens, ids)
    platform.close()


def test_a_non_admin_viewer_creates_a_predict_token(world: World) -> None:
    with world.platform.db.read() as conn:
        scopes = conn.execute(
            select(api_tokens.c.scopes).where(api_tokens.c.id == world.ids["predict"])
        ).scalar_one()
    assert scopes == ["predict"]


@pytest.mark.parametrize(
    ("label", "status", "message"),
    [
        ("predict", 200, ""),
        ("read", 403, "lacks the 'predict' scope"),
        ("outsider", 403, "user 'bob' has no role in project 'fraud'"),
        ("expired", 401, "invalid, expired or revoked API token"),
        ("disabled", 401, "invalid, expired or revoked API token"),
    ],
    ids=["predict", "read-only", "no-access", "expired", "disabled-user"],
)
def test_check_predict_token(world: World, label: str, status: int, message: str) -> None:
    verdict = check_predict_token(world.platform, "fraud", world.tokens[label])
    assert verdict.status == status
    assert message in verdict.message


def test_garbage_and_an_unknown_project_are_refused(world: World) -> None:
    assert check_predict_token(world.platform, "fraud", "mls_nonsense").status == 401
    gone = check_predict_token(world.platform, "ghost", world.tokens["predict"])
    assert (gone.status, gone.message) == (
        403,
        "the project 'ghost' of this model no longer exists",
    )


def test_the_platform_api_refuses_a_predict_only_token(world: World) -> None:
    from mlsteward.server import create_app as create_platform_app

    api = TestClient(create_platform_app(world.platform))
    headers = {"Authorization": f"Bearer {world.tokens['predict']}"}
    for method, path in [
        ("GET", "/api/v1/me"),
        ("GET", "/api/v1/projects"),
        ("GET", "/api/v1/projects/fraud/models"),
        ("POST", "/api/v1/tokens"),
    ]:
        body = {"name": "more", "scopes": ["predict"]} if method == "POST" else None
        answer = api.request(method, path, headers=headers, json=body)
        assert answer.status_code == 403, (path, answer.text)
        assert answer.json()["error"]["code"] == "permission_denied"
    with world.platform.db.read() as conn:
        names = conn.execute(select(api_tokens.c.name)).scalars().all()
    assert "more" not in names  # nothing was written


# -- a real server --------------------------------------------------------------------------


@pytest.fixture(scope="module")
def url(world: World, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    folder = tmp_path_factory.mktemp("iris") / "m"
    save_iris_model(folder)
    repository = ModelRepository([ServedModel("iris", "1", load_model_dir(folder), "sklearn")])
    tokens = PlatformTokens("fraud", world.settings, cache_seconds=1)
    keys = frozenset({hashlib.sha256(API_KEY.encode()).digest()})
    with ready_server(tokens.middleware(create_app(repository), keys)) as served:
        yield served


def _predict(url: str, token: str | None) -> httpx.Response:
    x, _ = iris_frame()
    headers = {} if token is None else {"Authorization": f"Bearer {token}"}
    body = {"dataframe_split": x.head(2).to_dict(orient="split")}
    return httpx.post(f"{url}/invocations", json=body, headers=headers)


def test_a_predict_token_and_a_key_from_the_file_both_predict(world: World, url: str) -> None:
    assert _predict(url, world.tokens["predict"]).status_code == 200
    assert _predict(url, API_KEY).status_code == 200
    assert httpx.get(f"{url}/v2/health/ready").status_code == 200  # probes need no token


@pytest.mark.parametrize(
    ("label", "status", "message"),
    [
        ("read", 403, "lacks the 'predict' scope"),
        ("outsider", 403, "has no role in project 'fraud'"),
        ("expired", 401, "invalid, expired or revoked"),
        ("disabled", 401, "invalid, expired or revoked"),
        (None, 401, "a platform token with the predict scope is required"),
        ("garbage", 401, "invalid API key or platform token"),
        ("garbage-mls", 401, "invalid, expired or revoked"),
    ],
    ids=["read-only", "no-access", "expired", "disabled", "missing", "garbage", "garbage-mls"],
)
def test_refused_tokens_get_the_error_json(
    world: World, url: str, label: str | None, status: int, message: str
) -> None:
    token = {"garbage": "x" * 40, "garbage-mls": "mls_" + "x" * 40}.get(
        str(label), world.tokens.get(str(label))
    )
    answer = _predict(url, token)
    assert answer.status_code == status, answer.text
    assert message in answer.json()["error"]
    challenge = answer.headers["www-authenticate"]
    assert challenge.startswith('Bearer realm="mlsteward"')
    assert ('error="insufficient_scope"' in challenge) == (status == 403)


def test_a_revoked_token_is_refused_once_the_cache_time_passes(world: World, url: str) -> None:
    token = world.tokens["revoked"]
    assert _predict(url, token).status_code == 200  # now cached as valid for 1 s
    revoke_token(world.platform, SYSTEM, world.ids["revoked"])
    deadline = time.monotonic() + 15
    while (answer := _predict(url, token)).status_code == 200:
        assert time.monotonic() < deadline, "the revoked token still works"
        time.sleep(0.2)
    assert answer.status_code == 401
    assert "revoked" in answer.json()["error"]


def test_tokens_let_a_server_bind_beyond_loopback(world: World) -> None:
    options: dict[str, Any] = {
        "api_key_file": None,
        "tls_certfile": None,
        "tls_keyfile": None,
        "rate_limit": None,
        "burst": None,
        "redis_url": None,
    }
    with pytest.raises(ConfigurationError, match=r"refusing to serve 0\.0\.0\.0"):
        check_protection(host="0.0.0.0", **options)
    tokens = PlatformTokens("fraud", world.settings)
    protection = check_protection(host="0.0.0.0", platform_tokens=tokens, **options)
    assert protection.platform_tokens is tokens
    down = load_settings(server_url=f"http://127.0.0.1:{free_port()}")  # nothing listens
    remote = PlatformTokens("fraud", down)  # checked over HTTP: its URL must answer
    with pytest.raises(ConfigurationError, match="cannot reach the platform at http://127"):
        check_protection(host="127.0.0.1", platform_tokens=remote, **options)


# -- the command ----------------------------------------------------------------------------


@pytest.fixture(scope="module")
def registered(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, str]:
    """A home with iris registered in ``default`` and a predict token of vera, a non-admin
    viewer of ``default``, made with ``mlsteward tokens create``."""
    from sklearn.linear_model import LogisticRegression

    from mlsteward.client import Client

    from ..cli.conftest import cli_env, run_cli_process

    home = tmp_path_factory.mktemp("serve-home")
    settings = load_settings(home=home)
    x, y = iris_frame()
    model = LogisticRegression(max_iter=300).fit(x, y)
    with Client(settings) as client, client.start_run(environment=False) as run:
        run.log_model(model, input_example=x.head(3), registered_model_name="iris")
    platform = Platform.open(settings)
    with cheap_password_hashing():
        create_user(platform, SYSTEM, "vera", PASSWORD)
    add_member(platform, SYSTEM, "default", "vera", "viewer")
    platform.close()
    args = ("tokens", "create", "--user", "vera", "--name", "serving", "--scope", "predict")
    created = run_cli_process(*args, "--json", env=cli_env(home))
    assert created.returncode == 0, created.stderr
    answer = json.loads(created.stdout)
    assert (answer["username"], answer["scopes"]) == ("vera", ["predict"])
    return home, str(answer["token"])


def test_serving_models_uri_with_platform_tokens_requires_a_predict_token(
    registered: tuple[Path, str],
) -> None:
    home, token = registered
    with _serving("models:/iris/1", "--platform-tokens", home=home) as (served, _):
        assert _predict(served, None).status_code == 401
        assert _predict(served, token).status_code == 200
        assert _predict(served, token[:-2] + "xx").status_code == 401


@pytest.mark.parametrize("option", [(), ("--no-platform-tokens",)], ids=["default", "off"])
def test_a_loopback_server_is_open_without_platform_tokens(
    registered: tuple[Path, str], option: tuple[str, ...]
) -> None:
    home, _ = registered
    with _serving("models:/iris/1", *option, home=home) as (served, _):
        assert _predict(served, None).status_code == 200


def test_a_package_cannot_take_platform_tokens(tmp_path: Path) -> None:
    from ..cli.conftest import cli_env, run_cli_process

    answer = run_cli_process(
        "serve", str(tmp_path / "x.mlsb"), "--platform-tokens", env=cli_env(tmp_path)
    )
    assert answer.returncode == 1
    assert "--platform-tokens needs a models:/ source" in answer.stderr


@pytest.mark.parametrize(
    ("option", "from_platform", "host", "wanted"),
    [
        (None, True, "0.0.0.0", True),
        (None, True, "10.1.2.3", True),
        (None, True, "127.0.0.1", False),
        (None, True, "::1", False),
        (None, False, "0.0.0.0", False),  # a package: --api-key-file guards it
        (True, True, "127.0.0.1", True),
        (False, True, "0.0.0.0", False),
    ],
    ids=["any", "address", "loopback", "loopback6", "package", "asked", "refused"],
)
def test_platform_tokens_are_required_by_default_off_loopback(
    option: bool | None, from_platform: bool, host: str, wanted: bool
) -> None:
    from mlsteward.cli._serve import wants_platform_tokens

    assert wants_platform_tokens(option, from_platform=from_platform, host=host) is wanted
