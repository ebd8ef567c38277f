"""The client suite, run in-process and over HTTP: same calls, same results, same types."""

from __future__ import annotations

import datetime as dt

import pytest

from mlsteward.errors import InvalidArgument, PermissionDenied, Unauthenticated
from mlsteward.security import (
    SYSTEM,
    Actor,
    AuditEvent,
    CreatedToken,
    Member,
    Project,
    Role,
    Scope,
    TokenInfo,
    User,
    authenticate_password,
    get_user,
    list_audit_events,
    list_tokens,
)
from mlsteward.store import head_revision

from .conftest import World


def test_health_and_whoami(world: World) -> None:
    admin = world.admin()
    assert repr(admin).startswith(f"<Client {world.kind} ")
    assert admin.health() == {"status": "ok", "schema": head_revision()}
    me = admin.whoami()
    assert isinstance(me, Actor)
    assert (me.name, me.kind, me.is_admin) == ("admin", "token", True)
    assert me.scopes == {Scope.READ, Scope.WRITE, Scope.ADMIN}
    assert me.token_id is not None
    assert world.people.admin_token.startswith(f"mls_{me.token_id}_")


def test_projects_and_members(world: World) -> None:
    owner = world.user("pat")
    world.user("quinn")
    project = owner.create_project("pats", "Pat's models")
    assert isinstance(project, Project)
    assert (project.name, project.description) == ("pats", "Pat's models")
    assert owner.get_project("pats") == project
    assert owner.list_projects() == [project]

    added = owner.add_member("pats", "quinn", Role.VIEWER)
    assert isinstance(added, Member)
    assert (added.username, added.role) == ("quinn", Role.VIEWER)
    assert owner.set_member_role("pats", "quinn", "editor").role is Role.EDITOR
    members = owner.list_members("pats")
    assert [(m.username, m.role) for m in members] == [("pat", Role.OWNER), ("quinn", Role.EDITOR)]
    assert owner.remove_member("pats", "quinn") is None
    assert [m.username for m in owner.list_members("pats")] == ["pat"]


def test_users(world: World) -> None:
    admin = world.admin()
    user = admin.create_user("rita", "rita-password-12", display_name="Rita")
    assert isinstance(user, User)
    assert user == get_user(world.platform, SYSTEM, "rita")
    assert admin.get_user("rita") == user
    assert user in admin.list_users()

    rita = world.client(world.people.token_for("rita"))
    assert admin.disable_user("rita").disabled is True
    with pytest.raises(Unauthenticated):
        rita.whoami()
    assert admin.enable_user("rita").disabled is False
    assert rita.whoami().name == "rita"

    admin.set_password("rita", "ritas-new-password")
    assert authenticate_password(world.platform, "rita", "ritas-new-password").name == "rita"
    rita.change_password("ritas-new-password", "ritas-own-password")
    assert authenticate_password(world.platform, "rita", "ritas-own-password").name == "rita"
    with pytest.raises(InvalidArgument, match="current password is wrong"):
        rita.change_password("a-wrong-password", "whatever-password")


def test_tokens(world: World) -> None:
    sam = world.user("sam")
    created = sam.create_token("laptop", [Scope.READ], expires_in_days=30)
    assert isinstance(created, CreatedToken)
    assert created.info.scopes == ("read",)
    assert created.info.expires_at is not None
    lifetime = created.info.expires_at - created.info.created_at
    assert lifetime == dt.timedelta(days=30)
    listed = sam.list_tokens()
    assert all(isinstance(t, TokenInfo) for t in listed)
    assert created.info in listed
    assert listed == list_tokens(world.platform, SYSTEM, "sam")

    laptop = world.client(created.secret)
    assert laptop.whoami().scopes == {Scope.READ}
    with pytest.raises(PermissionDenied):
        laptop.create_project("from-a-read-only-token")
    sam.revoke_token(created.info.id)
    with pytest.raises(Unauthenticated):
        laptop.whoami()
    revoked = next(t for t in sam.list_tokens() if t.id == created.info.id)
    assert revoked.revoked_at is not None
    assert revoked.active is False
    sam.revoke_token(created.info.id)  # twice is harmless
    assert created.info.id in [t.id for t in world.admin().list_tokens("sam")]


def test_audit(world: World) -> None:
    admin = world.admin()
    admin.create_project("audited")
    events = admin.audit_events(action="project.create", target="audited")
    assert len(events) == 1
    assert isinstance(events[0], AuditEvent)
    assert events[0] == list_audit_events(world.platform, SYSTEM, target_id="audited")[0]
    assert (events[0].actor_name, events[0].actor_kind) == ("admin", "token")
    newest_two = admin.audit_events(limit=2)
    older = admin.audit_events(limit=2, before_seq=newest_two[-1].seq)
    assert newest_two[-1].seq > older[0].seq
    report = admin.verify_audit()
    assert report.ok
    assert report.events == world.platform.audit.count(world.platform.db)

    uma = world.user("uma")
    uma.create_project("umas")
    assert [e.action for e in uma.audit_events(project="umas")] == ["project.create"]
    with pytest.raises(PermissionDenied):
        uma.audit_events()
    with pytest.raises(PermissionDenied):
        uma.verify_audit()


def test_role_and_scope_arguments_accept_enums_and_strings(world: World) -> None:
    owner = world.user("walt")
    world.user("xena")
    owner.create_project("walts")
    assert owner.add_member("walts", "xena", "Maintainer").role is Role.MAINTAINER
    assert owner.set_member_role("walts", "xena", Role.VIEWER).role is Role.VIEWER
    assert owner.create_token("single", "read").info.scopes == ("read",)
