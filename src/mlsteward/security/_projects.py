"""Projects (the unit of tenancy) and their members."""

from __future__ import annotations

import datetime as dt
import uuid
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from sqlalchemy import Connection, Row, delete, func, insert, select, update

from ..errors import AlreadyExists, Conflict, NotFound
from ..store import utcnow
from ..store._tables import memberships, projects, users
from ._actors import Actor, Role, Scope
from ._permissions import project_role, require_project_role, require_scope
from ._users import fetch_user
from ._validation import check_name, check_text

if TYPE_CHECKING:
    from ..platform import Platform


@dataclass(frozen=True)
class Project:
    id: str
    name: str
    description: str
    created_at: dt.datetime

    def to_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "name": self.name,
            "description": self.description,
            "created_at": self.created_at.isoformat(),
        }


@dataclass(frozen=True)
class Member:
    username: str
    role: Role
    created_at: dt.datetime

    def to_json(self) -> dict[str, Any]:
        return {
            "username": self.username,
            "role": self.role.label,
            "created_at": self.created_at.isoformat(),
        }


def _project_from_row(row: Row[Any]) -> Project:
    m = row._mapping
    return Project(m["id"], m["name"], m["description"], m["created_at"])


def fetch_project(conn: Connection, name: str) -> Project:
    """The project called ``name``; ``NotFound`` otherwise."""
    row = conn.execute(select(projects).where(projects.c.name == name)).first()
    if row is None:
        raise NotFound(f"no project named {name!r}", details={"project": name})
    return _project_from_row(row)


def create_project(platform: Platform, actor: Actor, name: str, description: str = "") -> Project:
    """Create a project; a user who creates one becomes its owner."""
    require_scope(actor, Scope.WRITE)
    check_name("project", name)
    check_text("description", description, 10_000)
    project = Project(uuid.uuid4().hex, name, description, utcnow())
    with platform.db.write() as conn:
        if conn.execute(select(projects.c.id).where(projects.c.name == name)).first():
            raise AlreadyExists(f"a project named {name!r} already exists")
        conn.execute(
            insert(projects).values(
                id=project.id,
                name=name,
                description=description,
                created_at=project.created_at,
                created_by=actor.id if actor.kind in {"user", "token", "session"} else None,
            )
        )
        if actor.kind in {"user", "token", "session"}:
            conn.execute(
                insert(memberships).values(
                    project_id=project.id,
                    user_id=actor.id,
                    role=Role.OWNER.label,
                    created_at=project.created_at,
                )
            )
        platform.audit.record(
            conn,
            actor,
            "project.create",
            target_type="project",
            target_id=name,
            project_id=project.id,
        )
    return project


def list_projects(platform: Platform, actor: Actor) -> list[Project]:
    """Projects the actor can see: all for administrators, else those it is a member of."""
    require_scope(actor, Scope.READ)
    query = select(projects).order_by(projects.c.name)
    if not actor.is_admin:
        query = query.join(memberships, memberships.c.project_id == projects.c.id).where(
            memberships.c.user_id == actor.id
        )
    with platform.db.read() as conn:
        return [_project_from_row(r) for r in conn.execute(query)]


def get_project(platform: Platform, actor: Actor, name: str) -> Project:
    with platform.db.read() as conn:
        project = fetch_project(conn, name)
        require_project_role(conn, actor, project.id, Role.VIEWER)
        return project


def my_role(platform: Platform, actor: Actor, name: str) -> Role | None:
    with platform.db.read() as conn:
        return project_role(conn, actor, fetch_project(conn, name).id)


def list_members(platform: Platform, actor: Actor, project_name: str) -> list[Member]:
    with platform.db.read() as conn:
        project = fetch_project(conn, project_name)
        require_project_role(conn, actor, project.id, Role.VIEWER)
        rows = conn.execute(
            select(users.c.username, memberships.c.role, memberships.c.created_at)
            .join(users, users.c.id == memberships.c.user_id)
            .where(memberships.c.project_id == project.id)
            .order_by(users.c.username)
        )
        return [Member(r.username, Role.parse(r.role), r.created_at) for r in rows]


def _owner_count(conn: Connection, project_id: str) -> int:
    return int(
        conn.execute(
            select(func.count())
            .select_from(memberships)
            .where(memberships.c.project_id == project_id, memberships.c.role == Role.OWNER.label)
        ).scalar_one()
    )


def _membership(conn: Connection, project_id: str, user_id: str) -> Row[Any] | None:
    return conn.execute(
        select(memberships).where(
            memberships.c.project_id == project_id, memberships.c.user_id == user_id
        )
    ).first()


def add_member(
    platform: Platform, actor: Actor, project_name: str, username: str, role: Role | str
) -> Member:
    """Give a user a role in a project (project owners and administrators)."""
    role = Role.parse(role) if isinstance(role, str) else role
    with platform.db.write() as conn:
        project = fetch_project(conn, project_name)
        require_project_role(conn, actor, project.id, Role.OWNER)
        user = fetch_user(conn, username)
        existing = _membership(conn, project.id, user.id)
        if existing is not None:
            raise AlreadyExists(
                f"{username!r} is already a {existing.role} of {project_name!r}; "
                "change the role instead"
            )
        member = Member(username, role, utcnow())
        conn.execute(
            insert(memberships).values(
                project_id=project.id,
                user_id=user.id,
                role=role.label,
                created_at=member.created_at,
            )
        )
        platform.audit.record(
            conn,
            actor,
            "project.member_add",
            target_type="user",
            target_id=username,
            project_id=project.id,
            details={"role": role.label},
        )
    return member


def set_member_role(
    platform: Platform, actor: Actor, project_name: str, username: str, role: Role | str
) -> Member:
    """Change a member's role; the last owner cannot be demoted."""
    role = Role.parse(role) if isinstance(role, str) else role
    with platform.db.write() as conn:
        project = fetch_project(conn, project_name)
        require_project_role(conn, actor, project.id, Role.OWNER)
        user = fetch_user(conn, username)
        row = _membership(conn, project.id, user.id)
        if row is None:
            raise NotFound(f"{username!r} is not a member of {project_name!r}")
        if (
            row.role == Role.OWNER.label
            and role != Role.OWNER
            and _owner_count(conn, project.id) == 1
        ):
            raise Conflict("a project must keep at least one owner; add another owner first")
        conn.execute(
            update(memberships)
            .where(memberships.c.project_id == project.id, memberships.c.user_id == user.id)
            .values(role=role.label)
        )
        platform.audit.record(
            conn,
            actor,
            "project.member_role",
            target_type="user",
            target_id=username,
            project_id=project.id,
            details={"from": row.role, "to": role.label},
        )
        return Member(username, role, row.created_at)


def remove_member(platform: Platform, actor: Actor, project_name: str, username: str) -> None:
    """Remove a member; the last owner cannot be removed."""
    with platform.db.write() as conn:
        project = fetch_project(conn, project_name)
        require_project_role(conn, actor, project.id, Role.OWNER)
        user = fetch_user(conn, username)
        row = _membership(conn, project.id, user.id)
        if row is None:
            raise NotFound(f"{username!r} is not a member of {project_name!r}")
        if row.role == Role.OWNER.label and _owner_count(conn, project.id) == 1:
            raise Conflict("a project must keep at least one owner; add another owner first")
        conn.execute(
            delete(memberships).where(
                memberships.c.project_id == project.id, memberships.c.user_id == user.id
            )
        )
        platform.audit.record(
            conn,
            actor,
            "project.member_remove",
            target_type="user",
            target_id=username,
            project_id=project.id,
            details={"role": row.role},
        )
