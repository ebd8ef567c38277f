"""The in-process backend: the local administrator by default, a token's user on request."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

import mlsteward
import mlsteward.client
from mlsteward.client import Client
from mlsteward.errors import PermissionDenied, Unauthenticated
from mlsteward.security import LOCAL_ADMIN, SYSTEM, list_audit_events
from mlsteward.settings import Settings

from .conftest import World


def test_the_package_exports_the_client() -> None:
    assert mlsteward.Client is Client
    assert mlsteward.client.__all__ == ["Client"]


def test_without_a_token_it_is_the_local_admin(
    make_settings: Callable[..., Settings], home: Path
) -> None:
    with Client(make_settings()) as client:
        assert client.whoami() == LOCAL_ADMIN
        assert repr(client) == f"<Client local {home}>"
        project = client.create_project("from-the-laptop")
        assert client.list_members("from-the-laptop") == []  # the local admin is no member
        events = client.audit_events(action="project.create", target="from-the-laptop")
    assert [(e.actor_name, e.actor_kind, e.project_id) for e in events] == [
        ("local-admin", "local", project.id)
    ]


def test_the_environment_picks_the_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MLSTEWARD_HOME", str(tmp_path / "env-home"))
    with Client() as client:
        client.create_project("env-project")
    assert (tmp_path / "env-home" / "mlsteward.db").exists()


def test_with_a_token_it_is_that_user_checked_on_every_call(local_world: World) -> None:
    token = local_world.people.token_for("local-user")
    client = local_world.client(token)
    assert client.whoami().name == "local-user"
    with pytest.raises(PermissionDenied):
        client.list_users()
    client.create_project("users-own")
    event = list_audit_events(local_world.platform, SYSTEM, target_id="users-own")[0]
    assert (event.actor_name, event.actor_kind) == ("local-user", "token")

    client.revoke_token(client.whoami().token_id or "")
    with pytest.raises(Unauthenticated):
        client.list_projects()
