"""``mlsteward tokens``: create (shown once), list, revoke."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from mlsteward.errors import Unauthenticated
from mlsteward.security import Actor, Scope, authenticate_token

from .conftest import Cli

ALICE_CI = ("--user", "alice", "--name", "ci")


def _alice_and_root(cli: Cli) -> None:
    cli.ok("users", "create", "alice")
    cli.ok("users", "create-admin", "root")


@pytest.fixture
def people(seeded: Callable[..., Cli]) -> Cli:
    """A home with a user alice and an administrator root."""
    return seeded("alice-and-root", _alice_and_root)


def _authenticate(cli: Cli, token: str) -> Actor | None:
    platform = cli.platform()
    try:
        return authenticate_token(platform, token)
    except Unauthenticated:
        return None
    finally:
        platform.close()


def test_create_json_gives_a_working_token_once(people: Cli) -> None:
    scopes = ["--scope", "read", "--scope", "predict"]
    created = people.json("tokens", "create", *ALICE_CI, *scopes, "--expires-days", "7")
    assert created["username"] == "alice"
    assert created["name"] == "ci"
    assert created["scopes"] == ["predict", "read"]
    assert created["active"] is True
    assert created["expires_at"] is not None
    actor = _authenticate(people, created["token"])
    assert actor is not None
    assert actor.name == "alice"
    assert actor.scopes == frozenset({Scope.READ, Scope.PREDICT})
    listing = people.ok("tokens", "list", "--json").stdout
    assert created["token"] not in listing
    assert created["token"].encode() not in (people.home / "mlsteward.db").read_bytes()


def test_create_human_prints_the_secret_alone_on_stdout(people: Cli) -> None:
    result = people.ok("tokens", "create", "--user", "alice", "--name", "laptop")
    secret = result.stdout.strip()
    assert result.stdout == secret + "\n"
    assert secret.startswith("mls_")
    assert result.output.count(secret) == 1
    assert "scopes: read, write" in result.stderr
    assert _authenticate(people, secret) is not None


def test_never_expires(people: Cli) -> None:
    created = people.json("tokens", "create", "--user", "alice", "--name", "svc", "--never-expires")
    assert created["expires_at"] is None


def test_list_filters_by_user_and_revoke_stops_the_token(people: Cli) -> None:
    mine = people.json("tokens", "create", "--user", "alice", "--name", "ci")
    people.json("tokens", "create", "--user", "root", "--name", "ops", "--scope", "admin")
    assert {t["name"] for t in people.json("tokens", "list")} == {"ci", "ops"}
    only = people.json("tokens", "list", "--user", "alice")
    assert [t["id"] for t in only] == [mine["id"]]
    assert "token" not in only[0]
    people.ok("tokens", "revoke", mine["id"])
    assert _authenticate(people, mine["token"]) is None
    [revoked] = people.json("tokens", "list", "--user", "alice")
    assert revoked["active"] is False
    assert revoked["revoked_at"] is not None
    assert "revoked" in people.ok("tokens", "list", "--user", "alice").stdout
    events = people.audit_count()
    people.ok("tokens", "revoke", mine["id"])
    assert people.audit_count() == events, "revoking twice changes nothing"


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--user", "ghost", "--name", "ci"], "no user named 'ghost'"),
        (["--user", "alice", "--name", "ci", "--scope", "root"], "unknown token scope 'root'"),
        (["--user", "alice", "--name", "ci", "--scope", "admin"], "only for administrator"),
        (["--user", "alice", "--name", "ci", "--expires-days", "0"], "between 1 and 3650"),
        (["--user", "alice", "--name", "ci", "--expires-days", "99999"], "between 1 and 3650"),
        (["--user", "alice", "--name", "  "], "a token needs a name"),
        (["--user", "alice", "--name", "n" * 101], "longer than 100"),
    ],
)
def test_bad_input_fails_cleanly_and_writes_nothing(
    people: Cli, args: list[str], message: str
) -> None:
    events = people.audit_count()
    result = people.fails("tokens", "create", *args)
    assert message in result.stderr
    assert result.stdout == ""
    assert people.audit_count() == events
    assert people.json("tokens", "list") == []


def test_revoke_unknown_token(people: Cli) -> None:
    events = people.audit_count()
    assert (
        "no token with id 'deadbeef0000'" in people.fails("tokens", "revoke", "deadbeef0000").stderr
    )
    assert people.audit_count() == events
