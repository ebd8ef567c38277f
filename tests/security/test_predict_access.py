"""``require_predict_access``: the predict scope and any role in the project, on SQLite and
on PostgreSQL; refusals say why and write nothing."""

from __future__ import annotations

import pytest

from mlsteward.errors import PermissionDenied, Unauthenticated
from mlsteward.platform import Platform
from mlsteward.security import (
    ANONYMOUS,
    LOCAL_ADMIN,
    SYSTEM,
    Actor,
    Role,
    Scope,
    add_member,
    create_project,
    create_user,
    require_predict_access,
)

PASSWORD = "a-password-for-the-tests"


def _actor(platform: Platform, name: str, scopes: set[Scope], *, is_admin: bool = False) -> Actor:
    user = create_user(platform, SYSTEM, name, PASSWORD, is_admin=is_admin)
    return Actor(user.id, name, "token", is_admin=is_admin, scopes=frozenset(scopes))


@pytest.fixture
def world(backend_platform: Platform) -> Platform:
    create_project(backend_platform, SYSTEM, "fraud")
    return backend_platform


def test_any_role_with_the_predict_scope_passes(world: Platform) -> None:
    for role in Role:
        actor = _actor(world, f"user-{role.label}", {Scope.PREDICT})
        add_member(world, SYSTEM, "fraud", actor.name, role.label)
        assert require_predict_access(world, actor, "fraud") is role
    admin = _actor(world, "root", {Scope.PREDICT}, is_admin=True)
    assert require_predict_access(world, admin, "fraud") is Role.OWNER  # no membership needed
    assert require_predict_access(world, LOCAL_ADMIN, "fraud") is Role.OWNER


def test_the_scope_is_checked_before_the_project(world: Platform) -> None:
    actor = _actor(world, "reader", {Scope.READ, Scope.WRITE, Scope.ADMIN}, is_admin=True)
    for project in ("fraud", "ghost"):
        with pytest.raises(PermissionDenied, match="lacks the 'predict' scope") as caught:
            require_predict_access(world, actor, project)
        assert caught.value.details == {"username": "reader", "needed_scope": "predict"}


def test_no_role_or_no_project_is_refused(world: Platform) -> None:
    actor = _actor(world, "bob", {Scope.PREDICT})
    before = world.audit.count(world.db)
    with pytest.raises(PermissionDenied, match="user 'bob' has no role in project 'fraud'"):
        require_predict_access(world, actor, "fraud")
    with pytest.raises(PermissionDenied, match="project 'ghost' of this model no longer exists"):
        require_predict_access(world, actor, "ghost")
    assert world.audit.count(world.db) == before  # a refusal is not an event


@pytest.mark.parametrize(
    "project",
    ["a\x00b", "x" * 5000, "Fraud", "../fraud", ""],
    ids=["nul", "huge", "upper-case", "path", "empty"],
)
def test_names_no_project_may_have_are_refused(world: Platform, project: str) -> None:
    actor = _actor(world, "eve", {Scope.PREDICT}, is_admin=True)
    with pytest.raises(PermissionDenied, match="of this model no longer exists") as caught:
        require_predict_access(world, actor, project)
    assert len(caught.value.message) < 200


def test_an_anonymous_caller_is_unauthenticated(world: Platform) -> None:
    with pytest.raises(Unauthenticated, match="pass a platform token with the predict scope"):
        require_predict_access(world, ANONYMOUS, "fraud")
