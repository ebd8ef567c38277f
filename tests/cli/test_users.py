"""``mlsteward users``: the first administrator, users, passwords, disabling."""

from __future__ import annotations

import json

import pytest

from mlsteward.errors import Unauthenticated
from mlsteward.security import authenticate_password

from .conftest import Cli

GOOD_PASSWORD = "correct-horse-battery"


def _can_log_in(cli: Cli, username: str, password: str) -> bool:
    platform = cli.platform()
    try:
        authenticate_password(platform, username, password)
    except Unauthenticated:
        return False
    finally:
        platform.close()
    return True


def test_create_admin_prints_a_generated_password_once_and_it_logs_in(cli: Cli) -> None:
    result = cli.ok("users", "create-admin", "admin")
    password = result.stdout.strip()
    assert result.stdout == password + "\n", "stdout holds the password alone"
    assert len(password) >= 20
    assert result.output.count(password) == 1
    assert "created administrator 'admin'" in result.stderr
    assert "shown only this once" in result.stderr
    assert _can_log_in(cli, "admin", password)
    assert not _can_log_in(cli, "admin", password + "x")
    [user] = cli.json("users", "list")
    assert user["username"] == "admin"
    assert user["is_admin"] is True
    assert password.encode() not in (cli.home / "mlsteward.db").read_bytes()


def test_create_admin_json_carries_the_password(cli: Cli) -> None:
    created = cli.json("users", "create-admin", "root")
    assert created["user"]["username"] == "root"
    assert _can_log_in(cli, "root", created["password"])


def test_create_admin_with_password_stdin_does_not_echo_it(cli: Cli) -> None:
    result = cli.ok("users", "create-admin", "admin", "--password-stdin", input=GOOD_PASSWORD)
    assert GOOD_PASSWORD not in result.output
    assert result.stdout == ""
    assert _can_log_in(cli, "admin", GOOD_PASSWORD)


def test_create_admin_if_no_admin_is_idempotent(cli: Cli) -> None:
    first = cli.ok("users", "create-admin", "admin", "--if-no-admin")
    assert first.stdout.strip()
    events = cli.audit_count()
    second = cli.ok("users", "create-admin", "other", "--if-no-admin")
    assert second.stdout == ""
    assert "already exists" in second.stderr
    assert cli.audit_count() == events
    assert [u["username"] for u in cli.json("users", "list")] == ["admin"]


@pytest.mark.parametrize(
    ("args", "stdin", "message"),
    [
        (["users", "create-admin", "Bad Name"], None, "invalid user name 'Bad Name'"),
        (["users", "create-admin", "x" * 65], None, "invalid user name"),
        (["users", "create-admin", "evil\x00"], None, "invalid user name"),
        (["users", "create", "--", "-dash"], None, "invalid user name '-dash'"),
        (["users", "create-admin", "admin", "--password-stdin"], "short\n", "at least 12"),
        (["users", "create-admin", "admin", "--password-stdin"], "", "no password on stdin"),
        (["users", "create-admin", "admin", "--password-stdin"], "p" * 5000, "longer than"),
        (["users", "disable", "ghost"], None, "no user named 'ghost'"),
        (["users", "enable", "ghost"], None, "no user named 'ghost'"),
        (["users", "set-password", "ghost"], None, "no user named 'ghost'"),
    ],
)
def test_bad_input_fails_cleanly_and_writes_nothing(
    cli: Cli, args: list[str], stdin: str | None, message: str
) -> None:
    cli.ok("db", "upgrade")
    events = cli.audit_count()
    result = cli.fails(*args, input=stdin)
    assert message in result.stderr
    assert result.stdout == ""
    assert cli.audit_count() == events
    assert cli.json("users", "list") == []


def test_duplicate_user_is_refused(cli: Cli) -> None:
    cli.ok("users", "create", "alice")
    events = cli.audit_count()
    result = cli.fails("users", "create-admin", "alice")
    assert "already exists" in result.stderr
    assert cli.audit_count() == events


def test_create_user_and_list(cli: Cli) -> None:
    created = cli.json("users", "create", "alice", "--display-name", "Alice A")
    assert created["user"]["is_admin"] is False
    assert created["user"]["display_name"] == "Alice A"
    assert _can_log_in(cli, "alice", created["password"])
    cli.ok("users", "create", "bob", "--admin", "--password-stdin", input=GOOD_PASSWORD + "\n")
    users = {u["username"]: u for u in cli.json("users", "list")}
    assert set(users) == {"alice", "bob"}
    assert users["bob"]["is_admin"] is True
    assert _can_log_in(cli, "bob", GOOD_PASSWORD)
    table = cli.ok("users", "list").stdout
    assert "alice" in table
    assert "Alice A" in table


def test_disable_and_enable(cli: Cli) -> None:
    cli.ok("users", "create", "alice", "--password-stdin", input=GOOD_PASSWORD)
    assert "disabled user 'alice'" in cli.ok("users", "disable", "alice").stderr
    assert cli.json("users", "list")[0]["disabled"] is True
    assert not _can_log_in(cli, "alice", GOOD_PASSWORD)
    cli.ok("users", "enable", "alice")
    assert cli.json("users", "list")[0]["disabled"] is False
    assert _can_log_in(cli, "alice", GOOD_PASSWORD)


def test_set_password_generates_a_new_one(cli: Cli) -> None:
    cli.ok("users", "create", "alice", "--password-stdin", input=GOOD_PASSWORD)
    result = cli.ok("users", "set-password", "alice")
    new = result.stdout.strip()
    assert new
    assert new != GOOD_PASSWORD
    assert not _can_log_in(cli, "alice", GOOD_PASSWORD)
    assert _can_log_in(cli, "alice", new)


def test_set_password_from_stdin(cli: Cli) -> None:
    cli.ok("users", "create", "alice")
    result = cli.ok("users", "set-password", "alice", "--password-stdin", input=GOOD_PASSWORD)
    assert result.stdout == ""
    assert _can_log_in(cli, "alice", GOOD_PASSWORD)


def test_actions_are_audited_as_the_local_admin(cli: Cli) -> None:
    cli.ok("users", "create-admin", "admin")
    [event] = [e for e in _tail(cli) if e["action"] == "user.create"]
    assert event["actor_name"] == "local-admin"
    assert event["actor_kind"] == "local"
    assert event["target_id"] == "admin"


def _tail(cli: Cli) -> list[dict[str, object]]:
    out = cli.ok("audit", "tail", "--json").stdout
    return [json.loads(line) for line in out.splitlines()]
