"""``/projects``: projects and members, with the roles each action needs."""

from __future__ import annotations

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from mlsteward.server import API_PREFIX

from ._support import SharedApi, assert_error_shape, bearer

PROJECTS = f"{API_PREFIX}/projects"


@pytest.fixture(scope="module")
def app(shared_api: SharedApi) -> FastAPI:
    return shared_api.app()


def client_for(app: FastAPI, shared_api: SharedApi, username: str) -> TestClient:
    return TestClient(app, headers=bearer(shared_api.people.token_for(username)))


def test_a_creator_owns_the_project_and_sees_only_their_own(
    app: FastAPI, shared_api: SharedApi
) -> None:
    grace = client_for(app, shared_api, "grace")
    created = grace.post(PROJECTS, json={"name": "graces", "description": "mine"})
    assert created.status_code == 201
    assert created.json()["description"] == "mine"
    assert grace.get(f"{PROJECTS}/graces").json() == created.json()
    assert [p["name"] for p in grace.get(PROJECTS).json()["projects"]] == ["graces"]
    members = grace.get(f"{PROJECTS}/graces/members").json()["members"]
    assert [(m["username"], m["role"]) for m in members] == [("grace", "owner")]
    assert_error_shape(grace.post(PROJECTS, json={"name": "graces"}), 409, "already_exists")


def test_owners_manage_members(app: FastAPI, shared_api: SharedApi) -> None:
    owner = client_for(app, shared_api, "heidi")
    member = client_for(app, shared_api, "ivan")
    owner.post(PROJECTS, json={"name": "heidis"})
    members = f"{PROJECTS}/heidis/members"
    added = owner.post(members, json={"username": "ivan", "role": "viewer"})
    assert (added.status_code, added.json()["role"]) == (201, "viewer")
    assert member.get(f"{PROJECTS}/heidis").status_code == 200
    assert_error_shape(member.post(members, json={"username": "ivan", "role": "owner"}), 403)
    assert_error_shape(owner.post(members, json={"username": "ivan", "role": "editor"}), 409)

    changed = owner.patch(f"{members}/ivan", json={"role": "maintainer"})
    assert changed.json()["role"] == "maintainer"
    assert_error_shape(owner.patch(f"{members}/nobody", json={"role": "viewer"}), 404)
    assert owner.delete(f"{members}/ivan").status_code == 204
    assert_error_shape(member.get(f"{PROJECTS}/heidis"), 403, "permission_denied")


def test_the_last_owner_stays(app: FastAPI, shared_api: SharedApi) -> None:
    owner = client_for(app, shared_api, "judy")
    owner.post(PROJECTS, json={"name": "judys"})
    assert_error_shape(owner.delete(f"{PROJECTS}/judys/members/judy"), 409, "conflict")
    demote = owner.patch(f"{PROJECTS}/judys/members/judy", json={"role": "viewer"})
    assert_error_shape(demote, 409, "conflict")


def test_unknown_projects_are_404(app: FastAPI, shared_api: SharedApi) -> None:
    admin = TestClient(app, headers=bearer(shared_api.people.admin_token))
    assert_error_shape(admin.get(f"{PROJECTS}/no-such-project"), 404, "not_found")
    assert_error_shape(admin.get(f"{PROJECTS}/no-such-project/members"), 404, "not_found")
