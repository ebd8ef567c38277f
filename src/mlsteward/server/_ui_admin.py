"""Admin pages: users, and projects with their members.

Each action calls one service function, which checks the permission and writes the audit event;
a refused or invalid action re-renders its page with the service's message and HTTP status.
"""

from __future__ import annotations

from typing import Annotated, Any
from urllib.parse import quote

from fastapi import APIRouter, Depends, Form
from starlette.responses import RedirectResponse, Response

from ..errors import StewardError
from ..security import (
    Role,
    add_member,
    create_project,
    create_user,
    get_project,
    list_members,
    list_projects,
    list_users,
    my_role,
    remove_member,
    set_member_role,
    set_user_disabled,
)
from ._ui_render import UIRoute, render, status_for
from ._ui_session import Page, flash, viewer, writer

router = APIRouter(route_class=UIRoute, include_in_schema=False)
Viewer = Annotated[Page, Depends(viewer)]
Writer = Annotated[Page, Depends(writer)]
FormText = Annotated[str, Form()]
ROLES = tuple(role.label for role in sorted(Role, reverse=True))


def _see_other(path: str) -> Response:
    return RedirectResponse(path, status_code=303)


def _project_path(name: str) -> str:
    return f"/admin/projects/{quote(name, safe='')}"


@router.get("/admin")
def admin_home(page: Viewer) -> Response:
    return render(page, "admin.html", active="admin")


# -- users ----------------------------------------------------------------------------------


def _users_page(
    page: Page, *, status: int = 200, error: str | None = None, form: dict[str, Any] | None = None
) -> Response:
    users = list_users(page.platform, page.actor)
    return render(
        page,
        "admin_users.html",
        active="admin",
        status=status,
        error=error,
        users=users,
        form=form or {},
    )


@router.get("/admin/users")
def users_page(page: Viewer) -> Response:
    return _users_page(page)


@router.post("/admin/users")
def users_create(
    page: Writer,
    username: FormText = "",
    display_name: FormText = "",
    password: FormText = "",
    is_admin: FormText = "",
) -> Response:
    try:
        user = create_user(
            page.platform,
            page.actor,
            username.strip(),
            password,
            display_name=display_name.strip(),
            is_admin=is_admin == "on",
        )
    except StewardError as exc:
        form = {"username": username, "display_name": display_name, "is_admin": is_admin == "on"}
        return _users_page(page, status=status_for(exc), error=exc.message, form=form)
    flash(page.request, f"Created user {user.username}.")
    return _see_other("/admin/users")


def _set_disabled(page: Page, username: str, disabled: bool) -> Response:
    try:
        user = set_user_disabled(page.platform, page.actor, username, disabled)
    except StewardError as exc:
        return _users_page(page, status=status_for(exc), error=exc.message)
    flash(page.request, f"{'Disabled' if disabled else 'Enabled'} user {user.username}.")
    return _see_other("/admin/users")


@router.post("/admin/users/{username}/disable")
def users_disable(page: Writer, username: str) -> Response:
    return _set_disabled(page, username, True)


@router.post("/admin/users/{username}/enable")
def users_enable(page: Writer, username: str) -> Response:
    return _set_disabled(page, username, False)


# -- projects and members ---------------------------------------------------------------------


def _projects_page(
    page: Page, *, status: int = 200, error: str | None = None, form: dict[str, Any] | None = None
) -> Response:
    projects = list_projects(page.platform, page.actor)
    return render(
        page,
        "admin_projects.html",
        active="admin",
        status=status,
        error=error,
        projects=projects,
        form=form or {},
    )


@router.get("/admin/projects")
def projects_page(page: Viewer) -> Response:
    return _projects_page(page)


@router.post("/admin/projects")
def projects_create(page: Writer, name: FormText = "", description: FormText = "") -> Response:
    try:
        project = create_project(page.platform, page.actor, name.strip(), description.strip())
    except StewardError as exc:
        form = {"name": name, "description": description}
        return _projects_page(page, status=status_for(exc), error=exc.message, form=form)
    flash(page.request, f"Created project {project.name}.")
    return _see_other(_project_path(project.name))


def _project_page(
    page: Page,
    name: str,
    *,
    status: int = 200,
    error: str | None = None,
    form: dict[str, Any] | None = None,
) -> Response:
    project = get_project(page.platform, page.actor, name)
    members = list_members(page.platform, page.actor, name)
    role = my_role(page.platform, page.actor, name)
    usernames: list[str] = []
    if page.actor.is_admin:
        usernames = [u.username for u in list_users(page.platform, page.actor) if not u.disabled]
    return render(
        page,
        "admin_project.html",
        active="admin",
        status=status,
        error=error,
        project=project,
        members=members,
        my_role=role.label if role else None,
        can_manage=role is not None and role >= Role.OWNER,
        roles=ROLES,
        usernames=usernames,
        form=form or {},
    )


@router.get("/admin/projects/{project}")
def project_page(page: Viewer, project: str) -> Response:
    return _project_page(page, project)


@router.post("/admin/projects/{project}/members")
def members_add(
    page: Writer, project: str, username: FormText = "", role: FormText = "viewer"
) -> Response:
    try:
        member = add_member(page.platform, page.actor, project, username.strip(), role)
    except StewardError as exc:
        form = {"username": username, "role": role}
        return _project_page(page, project, status=status_for(exc), error=exc.message, form=form)
    flash(page.request, f"Added {member.username} to {project} as {member.role.label}.")
    return _see_other(_project_path(project))


@router.post("/admin/projects/{project}/members/{username}/role")
def members_set_role(page: Writer, project: str, username: str, role: FormText = "") -> Response:
    try:
        member = set_member_role(page.platform, page.actor, project, username, role)
    except StewardError as exc:
        return _project_page(page, project, status=status_for(exc), error=exc.message)
    flash(page.request, f"{member.username} is now {member.role.label} of {project}.")
    return _see_other(_project_path(project))


@router.post("/admin/projects/{project}/members/{username}/remove")
def members_remove(page: Writer, project: str, username: str) -> Response:
    try:
        remove_member(page.platform, page.actor, project, username)
    except StewardError as exc:
        return _project_page(page, project, status=status_for(exc), error=exc.message)
    flash(page.request, f"Removed {username} from {project}.")
    return _see_other(_project_path(project))
