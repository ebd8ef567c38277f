"""``mlsteward projects`` and ``projects members``."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from .conftest import Cli


def _alice_and_bob(cli: Cli) -> None:
    cli.ok("users", "create", "alice")
    cli.ok("users", "create", "bob")


@pytest.fixture
def people(seeded: Callable[..., Cli]) -> Cli:
    """A home with users alice and bob."""
    return seeded("alice-and-bob", _alice_and_bob)


def test_create_list_show(people: Cli) -> None:
    created = people.json("projects", "create", "fraud", "--description", "Fraud models")
    assert created["name"] == "fraud"
    assert created["description"] == "Fraud models"
    assert sorted(p["name"] for p in people.json("projects", "list")) == ["default", "fraud"]
    shown = people.json("projects", "show", "fraud")
    assert shown["id"] == created["id"]
    assert shown["members"] == []
    human = people.ok("projects", "show", "fraud")
    assert "Fraud models" in human.stdout
    assert "no members yet" in human.stderr


def test_member_lifecycle(people: Cli) -> None:
    people.ok("projects", "create", "fraud")
    added = people.json("projects", "members", "add", "fraud", "alice", "--role", "owner")
    assert added["username"] == "alice"
    assert added["role"] == "owner"
    default_role = people.json("projects", "members", "add", "fraud", "bob")
    assert default_role["role"] == "viewer"
    changed = people.json("projects", "members", "role", "fraud", "bob", "Maintainer")
    assert changed["role"] == "maintainer"
    members = people.json("projects", "members", "list", "fraud")
    assert [(m["username"], m["role"]) for m in members] == [
        ("alice", "owner"),
        ("bob", "maintainer"),
    ]
    assert (
        "removed 'bob' from 'fraud'"
        in people.ok("projects", "members", "remove", "fraud", "bob").stderr
    )
    assert [m["username"] for m in people.json("projects", "show", "fraud")["members"]] == ["alice"]
    table = people.ok("projects", "members", "list", "fraud").stdout
    assert "alice" in table
    assert "owner" in table


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["projects", "create", "Fraud Models"], "invalid project name 'Fraud Models'"),
        (["projects", "create", "../etc"], "invalid project name"),
        (["projects", "create", "fraud"], "a project named 'fraud' already exists"),
        (["projects", "show", "nope"], "no project named 'nope'"),
        (["projects", "members", "list", "nope"], "no project named 'nope'"),
        (["projects", "members", "add", "fraud", "alice", "--role", "boss"], "unknown role 'boss'"),
        (["projects", "members", "add", "fraud", "ghost"], "no user named 'ghost'"),
        (["projects", "members", "add", "nope", "alice"], "no project named 'nope'"),
        (["projects", "members", "add", "fraud", "alice"], "already a owner"),
        (["projects", "members", "role", "fraud", "alice", "god"], "unknown role 'god'"),
        (["projects", "members", "role", "fraud", "bob", "editor"], "not a member"),
        (["projects", "members", "role", "fraud", "alice", "viewer"], "at least one owner"),
        (["projects", "members", "remove", "fraud", "alice"], "at least one owner"),
        (["projects", "members", "remove", "fraud", "ghost"], "no user named 'ghost'"),
    ],
)
def test_bad_input_fails_cleanly_and_writes_nothing(
    people: Cli, args: list[str], message: str
) -> None:
    people.ok("projects", "create", "fraud")
    people.ok("projects", "members", "add", "fraud", "alice", "--role", "owner")
    before_members = people.json("projects", "members", "list", "fraud")
    before_projects = people.json("projects", "list")
    events = people.audit_count()
    result = people.fails(*args)
    assert message in result.stderr
    assert result.stdout == ""
    assert people.audit_count() == events
    assert people.json("projects", "members", "list", "fraud") == before_members
    assert people.json("projects", "list") == before_projects


def test_unknown_role_names_the_valid_ones(people: Cli) -> None:
    people.ok("projects", "create", "fraud")
    result = people.fails("projects", "members", "add", "fraud", "alice", "--role", "boss")
    assert "viewer, editor, maintainer, owner" in result.stderr
