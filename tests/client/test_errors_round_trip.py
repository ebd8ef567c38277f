"""The remote client raises exactly what the local client raises for the same calls.

Each case runs in both worlds (which start with the same users); the error class, message
and details must be identical, and the class must be the one the case names.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from mlsteward import errors
from mlsteward.client import Client

from .conftest import World

Case = Callable[[World], object]


def _missing_project(world: World) -> object:
    return world.admin().get_project("no-such-project")


def _missing_user(world: World) -> object:
    return world.admin().get_user("nobody")


def _missing_token(world: World) -> object:
    return world.admin().revoke_token("000000000000")


def _missing_member(world: World) -> object:
    admin = world.admin()
    admin.create_project("lonely")
    return admin.remove_member("lonely", "outsider")


def _duplicate_project(world: World) -> object:
    admin = world.admin()
    admin.create_project("twice")
    return admin.create_project("twice")


def _duplicate_user(world: World) -> object:
    return world.admin().create_user("outsider", "another-password")


def _outsider_reads_a_project(world: World) -> object:
    world.admin().create_project("private")
    return world.client(world.people.outsider_token).get_project("private")


def _outsider_lists_users(world: World) -> object:
    return world.client(world.people.outsider_token).list_users()


def _read_only_token_writes(world: World) -> object:
    return world.client(world.people.token_for("reader", ["read"])).create_project("nope")


def _admin_scope_for_a_non_admin(world: World) -> object:
    return world.admin().create_token("boost", ["admin"], username="outsider")


def _revoked_token(world: World) -> object:
    client = world.user("revoked")
    client.revoke_token(client.whoami().token_id or "")
    return client.whoami()


def _forged_token(world: World) -> object:
    return world.client("mls_forged0000000_" + "x" * 43).list_projects()


def _bad_project_name(world: World) -> object:
    return world.admin().create_project("Not A Valid Name")


def _bad_scope(world: World) -> object:
    return world.admin().create_token("t", ["root"])


def _bad_limit(world: World) -> object:
    return world.admin().audit_events(limit=0)


def _bad_role(world: World) -> object:
    admin = world.admin()
    admin.create_project("roles")
    return admin.add_member("roles", "outsider", "emperor")


def _slash_in_a_name(world: World) -> object:
    return world.admin().get_project("a/b")


def _dot_dot_as_a_name(world: World) -> object:
    return world.admin().get_project("..")


def _hostile_blob_address(world: World) -> object:
    return world.admin().blob_size("../../etc/passwd")


def _last_owner_leaves(world: World) -> object:
    owner = world.user("solo")
    owner.create_project("solos")
    return owner.remove_member("solos", "solo")


CASES: dict[str, tuple[Case, type[errors.StewardError]]] = {
    "missing project": (_missing_project, errors.NotFound),
    "missing user": (_missing_user, errors.NotFound),
    "missing token": (_missing_token, errors.NotFound),
    "missing member": (_missing_member, errors.NotFound),
    "'..' as a project name": (_dot_dot_as_a_name, errors.NotFound),
    "duplicate project": (_duplicate_project, errors.AlreadyExists),
    "duplicate user": (_duplicate_user, errors.AlreadyExists),
    "outsider reads a project": (_outsider_reads_a_project, errors.PermissionDenied),
    "outsider lists users": (_outsider_lists_users, errors.PermissionDenied),
    "read-only token writes": (_read_only_token_writes, errors.PermissionDenied),
    "admin scope for a non-admin": (_admin_scope_for_a_non_admin, errors.PermissionDenied),
    "revoked token": (_revoked_token, errors.Unauthenticated),
    "forged token": (_forged_token, errors.Unauthenticated),
    "bad project name": (_bad_project_name, errors.InvalidArgument),
    "bad scope": (_bad_scope, errors.InvalidArgument),
    "bad limit": (_bad_limit, errors.InvalidArgument),
    "bad role": (_bad_role, errors.InvalidArgument),
    "slash in a name": (_slash_in_a_name, errors.InvalidArgument),
    "hostile blob address": (_hostile_blob_address, errors.InvalidArgument),
    "last owner leaves": (_last_owner_leaves, errors.Conflict),
}


def _raised(case: Case, world: World) -> tuple[type[errors.StewardError], str, dict[str, Any]]:
    with pytest.raises(errors.StewardError) as caught:
        case(world)
    return type(caught.value), caught.value.message, caught.value.details


@pytest.mark.parametrize("name", CASES)
def test_remote_raises_what_local_raises(
    name: str, local_world: World, remote_world: World
) -> None:
    case, expected = CASES[name]
    try:
        local = _raised(case, local_world)
        remote = _raised(case, remote_world)
    finally:
        local_world.close_clients()
        remote_world.close_clients()
    assert local[0] is expected
    assert remote == local


def test_every_case_class_is_covered() -> None:
    wanted = {
        errors.NotFound,
        errors.AlreadyExists,
        errors.PermissionDenied,
        errors.Unauthenticated,
        errors.InvalidArgument,
    }
    assert wanted <= {expected for _, expected in CASES.values()}


def test_the_remote_error_is_the_servers_own_class(remote_world: World) -> None:
    client: Client = remote_world.admin()
    try:
        with pytest.raises(errors.NotFound) as caught:
            client.get_project("no-such-project-either")
    finally:
        remote_world.close_clients()
    assert isinstance(caught.value, LookupError)  # NotFound's builtin base survives the wire
    assert caught.value.details == {"project": "no-such-project-either"}
