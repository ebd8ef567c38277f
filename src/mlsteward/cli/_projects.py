"""``mlsteward projects``: projects and their members' roles."""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated

import typer

from ._output import emit_json, format_time, print_success, print_table

if TYPE_CHECKING:
    from ..security import Member

projects_app = typer.Typer(
    name="projects", help="Manage projects and their members.", no_args_is_help=True
)
members_app = typer.Typer(
    name="members", help="Who may do what in a project.", no_args_is_help=True
)
projects_app.add_typer(members_app)

JsonOption = Annotated[bool, typer.Option("--json", help="Print JSON to stdout.")]
ProjectArg = Annotated[str, typer.Argument(help="Project name.")]
UserArg = Annotated[str, typer.Argument(help="User name.")]
ROLES_HELP = "viewer, editor, maintainer or owner (each includes the rights of the ones before)"


@projects_app.command("create")
def create(
    name: Annotated[str, typer.Argument(help="Project name (lowercase letters, digits, _ . -).")],
    description: Annotated[str, typer.Option(help="What the project is for.")] = "",
    json_output: JsonOption = False,
) -> None:
    """Create a project. Give it an owner with `projects members add NAME USER --role owner`."""
    from ..security import create_project
    from ._local import local_platform, operator

    with local_platform() as platform:
        project = create_project(platform, operator(), name, description)
    if json_output:
        emit_json(project.to_json())
    else:
        print_success(f"created project {project.name!r}")


@projects_app.command("list")
def list_(json_output: JsonOption = False) -> None:
    """List every project."""
    from ..security import list_projects
    from ._local import local_platform, operator

    with local_platform() as platform:
        projects = list_projects(platform, operator())
    if json_output:
        emit_json([p.to_json() for p in projects])
        return
    print_table(
        ["project", "description", "created (UTC)"],
        [[p.name, p.description, format_time(p.created_at)] for p in projects],
        empty="no projects yet",
    )


def _member_rows(members: list[Member]) -> list[list[object]]:
    return [[m.username, m.role.label, format_time(m.created_at)] for m in members]


@projects_app.command("show")
def show(name: ProjectArg, json_output: JsonOption = False) -> None:
    """Show a project and its members."""
    from ..security import get_project, list_members
    from ._local import local_platform, operator

    with local_platform() as platform:
        project = get_project(platform, operator(), name)
        members = list_members(platform, operator(), name)
    if json_output:
        emit_json({**project.to_json(), "members": [m.to_json() for m in members]})
        return
    print_table(
        ["project", "id", "description", "created (UTC)"],
        [[project.name, project.id, project.description, format_time(project.created_at)]],
    )
    print_table(
        ["member", "role", "since (UTC)"],
        _member_rows(members),
        empty=f"{name!r} has no members yet",
    )


@members_app.command("list")
def members_list(project: ProjectArg, json_output: JsonOption = False) -> None:
    """List a project's members and their roles."""
    from ..security import list_members
    from ._local import local_platform, operator

    with local_platform() as platform:
        members = list_members(platform, operator(), project)
    if json_output:
        emit_json([m.to_json() for m in members])
        return
    print_table(
        ["member", "role", "since (UTC)"],
        _member_rows(members),
        empty=f"{project!r} has no members yet",
    )


@members_app.command("add")
def members_add(
    project: ProjectArg,
    username: UserArg,
    role: Annotated[str, typer.Option(help=f"Role: {ROLES_HELP}.")] = "viewer",
    json_output: JsonOption = False,
) -> None:
    """Give a user a role in a project."""
    from ..security import add_member
    from ._local import local_platform, operator

    with local_platform() as platform:
        member = add_member(platform, operator(), project, username, role)
    if json_output:
        emit_json(member.to_json())
    else:
        print_success(f"added {username!r} to {project!r} as {member.role.label}")


@members_app.command("role")
def members_role(
    project: ProjectArg,
    username: UserArg,
    role: Annotated[str, typer.Argument(help=f"New role: {ROLES_HELP}.")],
    json_output: JsonOption = False,
) -> None:
    """Change a member's role (a project always keeps at least one owner)."""
    from ..security import set_member_role
    from ._local import local_platform, operator

    with local_platform() as platform:
        member = set_member_role(platform, operator(), project, username, role)
    if json_output:
        emit_json(member.to_json())
    else:
        print_success(f"{username!r} is now {member.role.label} of {project!r}")


@members_app.command("remove")
def members_remove(project: ProjectArg, username: UserArg) -> None:
    """Remove a member from a project (not its last owner)."""
    from ..security import remove_member
    from ._local import local_platform, operator

    with local_platform() as platform:
        remove_member(platform, operator(), project, username)
    print_success(f"removed {username!r} from {project!r}")
