"""Projects and their members."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Response
from fastapi.responses import JSONResponse

from ...security import (
    add_member,
    create_project,
    get_project,
    list_members,
    list_projects,
    remove_member,
    set_member_role,
)
from ._dependencies import (
    GUARDS,
    Authenticated,
    PlatformDep,
    ProjectOwner,
    ProjectViewer,
    RequestBody,
    listing,
)

router = APIRouter(tags=["projects"], dependencies=GUARDS)


class ProjectCreate(RequestBody):
    name: str
    description: str = ""


class MemberAdd(RequestBody):
    username: str
    role: str


class MemberRole(RequestBody):
    role: str


@router.get("/projects", summary="Projects you can see")
def projects_list(platform: PlatformDep, actor: Authenticated) -> JSONResponse:
    return listing("projects", list_projects(platform, actor))


@router.post("/projects", status_code=201, summary="Create a project (you become its owner)")
def projects_create(
    body: ProjectCreate, platform: PlatformDep, actor: Authenticated
) -> dict[str, Any]:
    return create_project(platform, actor, body.name, body.description).to_json()


@router.get("/projects/{project}", summary="A project")
def projects_get(project: str, platform: PlatformDep, actor: ProjectViewer) -> dict[str, Any]:
    return get_project(platform, actor, project).to_json()


@router.get("/projects/{project}/members", summary="A project's members and their roles")
def members_list(project: str, platform: PlatformDep, actor: ProjectViewer) -> JSONResponse:
    return listing("members", list_members(platform, actor, project))


@router.post("/projects/{project}/members", status_code=201, summary="Add a member")
def members_add(
    project: str, body: MemberAdd, platform: PlatformDep, actor: ProjectOwner
) -> dict[str, Any]:
    return add_member(platform, actor, project, body.username, body.role).to_json()


@router.patch("/projects/{project}/members/{username}", summary="Change a member's role")
def members_set_role(
    project: str, username: str, body: MemberRole, platform: PlatformDep, actor: ProjectOwner
) -> dict[str, Any]:
    return set_member_role(platform, actor, project, username, body.role).to_json()


@router.delete("/projects/{project}/members/{username}", status_code=204, summary="Remove a member")
def members_remove(
    project: str, username: str, platform: PlatformDep, actor: ProjectOwner
) -> Response:
    remove_member(platform, actor, project, username)
    return Response(status_code=204)
