"""Users, projects, roles and tokens: what each actor may and may not do."""

from __future__ import annotations

import datetime as dt

import pytest
from sqlalchemy import func, select, update

from mlsteward.errors import (
    AlreadyExists,
    Conflict,
    InvalidArgument,
    NotFound,
    PermissionDenied,
    Unauthenticated,
)
from mlsteward.platform import Platform
from mlsteward.security import (
    ANONYMOUS,
    Actor,
    Role,
    Scope,
    add_member,
    authenticate_password,
    authenticate_token,
    create_project,
    create_token,
    create_user,
    get_project,
    list_members,
    list_projects,
    list_tokens,
    remove_member,
    revoke_token,
    set_member_role,
    set_password,
    set_user_disabled,
)
from mlsteward.store._tables import api_tokens, audit_events, users

PASSWORD = "a-long-password-1"


def _audit_count(platform: Platform) -> int:
    with platform.db.read() as conn:
        return int(conn.execute(select(func.count()).select_from(audit_events)).scalar_one())


@pytest.fixture
def bob(platform: Platform, admin: Actor) -> Actor:
    create_user(platform, admin, "bob", PASSWORD)
    return authenticate_password(platform, "bob", PASSWORD)


def test_passwords_are_argon2id_hashes_never_plaintext(platform: Platform, bob: Actor) -> None:
    with platform.db.read() as conn:
        stored = conn.execute(select(users.c.password_hash).where(users.c.username == "bob"))
        value = stored.scalar_one()
    assert value.startswith("$argon2id$")
    assert PASSWORD not in value


@pytest.mark.parametrize(
    ("username", "password"),
    [
        ("Bad Name", PASSWORD),
        ("../etc", PASSWORD),
        ("", PASSWORD),
        ("x" * 65, PASSWORD),
        ("nul\x00byte", PASSWORD),
        ("short", "short"),
        ("huge", "x" * 5000),
    ],
)
def test_bad_user_input_is_refused_and_nothing_written(
    platform: Platform, admin: Actor, username: str, password: str
) -> None:
    before = _audit_count(platform)
    with pytest.raises(InvalidArgument):
        create_user(platform, admin, username, password)
    assert _audit_count(platform) == before


def test_duplicate_user_and_project(platform: Platform, admin: Actor, bob: Actor) -> None:
    with pytest.raises(AlreadyExists):
        create_user(platform, admin, "bob", PASSWORD)
    create_project(platform, admin, "fraud")
    with pytest.raises(AlreadyExists):
        create_project(platform, bob, "fraud")


def test_only_admins_create_users(platform: Platform, bob: Actor) -> None:
    with pytest.raises(PermissionDenied):
        create_user(platform, bob, "carol", PASSWORD)
    with pytest.raises(Unauthenticated):
        create_user(platform, ANONYMOUS, "carol", PASSWORD)


def test_creator_owns_project_and_roles_are_ordered(
    platform: Platform, admin: Actor, bob: Actor
) -> None:
    create_project(platform, bob, "churn")
    assert [(m.username, m.role) for m in list_members(platform, bob, "churn")] == [
        ("bob", Role.OWNER)
    ]
    create_user(platform, admin, "carol", PASSWORD)
    carol = authenticate_password(platform, "carol", PASSWORD)
    with pytest.raises(PermissionDenied):
        get_project(platform, carol, "churn")
    assert [p.name for p in list_projects(platform, carol)] == []
    add_member(platform, bob, "churn", "carol", "viewer")
    assert get_project(platform, carol, "churn").name == "churn"
    with pytest.raises(PermissionDenied):  # viewers cannot manage members
        add_member(platform, carol, "churn", "admin", "viewer")
    with pytest.raises(AlreadyExists):
        add_member(platform, bob, "churn", "carol", "editor")
    set_member_role(platform, bob, "churn", "carol", "owner")
    set_member_role(platform, carol, "churn", "bob", "editor")
    with pytest.raises(Conflict):  # the last owner stays
        remove_member(platform, carol, "churn", "carol")
    with pytest.raises(Conflict):
        set_member_role(platform, carol, "churn", "carol", "viewer")
    remove_member(platform, carol, "churn", "bob")
    assert [m.username for m in list_members(platform, carol, "churn")] == ["carol"]


def test_unknown_role_user_project(platform: Platform, admin: Actor) -> None:
    create_project(platform, admin, "fraud")
    with pytest.raises(InvalidArgument, match="unknown role"):
        add_member(platform, admin, "fraud", "admin", "superuser")
    with pytest.raises(NotFound, match="no user"):
        add_member(platform, admin, "fraud", "ghost", "viewer")
    with pytest.raises(NotFound, match="no project"):
        add_member(platform, admin, "ghost", "admin", "viewer")


def test_token_is_shown_once_stored_as_hash_and_authenticates(
    platform: Platform, bob: Actor
) -> None:
    created = create_token(platform, bob, "laptop", ["read"])
    assert created.secret.startswith("mls_")
    with platform.db.read() as conn:
        stored = conn.execute(select(api_tokens)).one()
    assert created.secret not in str(dict(stored._mapping))
    actor = authenticate_token(platform, created.secret)
    assert (actor.name, actor.kind, actor.scopes) == ("bob", "token", frozenset({Scope.READ}))
    listed = list_tokens(platform, bob)
    assert [t.id for t in listed] == [created.info.id]
    assert listed[0].last_used_at is not None
    assert not hasattr(listed[0], "secret")


def test_read_scoped_token_cannot_write(platform: Platform, bob: Actor) -> None:
    reader = authenticate_token(platform, create_token(platform, bob, "r", ["read"]).secret)
    with pytest.raises(PermissionDenied, match="scope"):
        create_project(platform, reader, "nope")
    with pytest.raises(PermissionDenied, match="scope"):
        create_token(platform, reader, "escalate", ["read", "write"])
    writer = authenticate_token(platform, create_token(platform, bob, "w", ["write"]).secret)
    with pytest.raises(PermissionDenied, match="cannot grant scopes you do not hold: read"):
        create_token(platform, writer, "escalate", ["read", "write"])


def test_admin_scope_only_for_admins(platform: Platform, bob: Actor) -> None:
    with pytest.raises(PermissionDenied):
        create_token(platform, bob, "x", ["admin"])


@pytest.mark.parametrize(
    "token",
    [
        "",
        "mls_",
        "Bearer x",
        "mls_000000000000_" + "A" * 43,
        "mls_" + "z" * 200,
        "x" * 10_000,
        "mls_abc\x00def",
    ],
)
def test_garbage_tokens_are_unauthenticated(platform: Platform, token: str) -> None:
    with pytest.raises(Unauthenticated):
        authenticate_token(platform, token)


def test_revoked_expired_and_disabled_tokens_fail(
    platform: Platform, admin: Actor, bob: Actor
) -> None:
    revoked = create_token(platform, bob, "a")
    revoke_token(platform, bob, revoked.info.id)
    with pytest.raises(Unauthenticated):
        authenticate_token(platform, revoked.secret)

    expired = create_token(platform, bob, "b", expires_in_days=1)
    with platform.db.write() as conn:
        conn.execute(
            update(api_tokens)
            .where(api_tokens.c.id == expired.info.id)
            .values(expires_at=dt.datetime.now(dt.UTC) - dt.timedelta(seconds=1))
        )
    with pytest.raises(Unauthenticated):
        authenticate_token(platform, expired.secret)

    live = create_token(platform, bob, "c")
    set_user_disabled(platform, admin, "bob", True)
    with pytest.raises(Unauthenticated):
        authenticate_token(platform, live.secret)
    with pytest.raises(Unauthenticated):
        authenticate_password(platform, "bob", PASSWORD)


def test_tampered_token_secret_fails(platform: Platform, bob: Actor) -> None:
    secret = create_token(platform, bob, "t").secret
    flipped = secret[:-1] + ("A" if secret[-1] != "A" else "B")
    with pytest.raises(Unauthenticated):
        authenticate_token(platform, flipped)


def test_users_cannot_revoke_others_tokens(platform: Platform, admin: Actor, bob: Actor) -> None:
    mine = create_token(platform, admin, "admin-token", ["read"], username="admin")
    with pytest.raises(NotFound):
        revoke_token(platform, bob, mine.info.id)
    with pytest.raises(PermissionDenied):
        list_tokens(platform, bob, username="admin")


def test_password_change_needs_current_password(platform: Platform, bob: Actor) -> None:
    with pytest.raises(InvalidArgument, match="current password"):
        set_password(platform, bob, "bob", "another-long-password", current_password="wrong")
    set_password(platform, bob, "bob", "another-long-password", current_password=PASSWORD)
    assert authenticate_password(platform, "bob", "another-long-password").name == "bob"
