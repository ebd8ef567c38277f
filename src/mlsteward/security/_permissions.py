"""Permission checks used by every service function."""

from __future__ import annotations

from sqlalchemy import Connection, select

from ..errors import PermissionDenied, Unauthenticated
from ..store._tables import memberships
from ._actors import Actor, Role, Scope


def require_scope(actor: Actor, scope: Scope) -> None:
    """Raise unless the actor is authenticated and its token carries ``scope``."""
    if not actor.is_authenticated:
        raise Unauthenticated("log in or pass an API token (Authorization: Bearer mls_...)")
    if scope not in actor.scopes:
        raise PermissionDenied(
            f"this token lacks the {scope.value!r} scope",
            details={"needed_scope": scope.value},
        )


def require_admin(actor: Actor, scope: Scope = Scope.ADMIN) -> None:
    """Raise unless the actor is a platform administrator (with the ``admin`` scope)."""
    require_scope(actor, scope)
    if not actor.is_admin:
        raise PermissionDenied("only a platform administrator may do this")


def project_role(conn: Connection, actor: Actor, project_id: str) -> Role | None:
    """The actor's role in the project (admins count as owner), or None."""
    if actor.is_admin:
        return Role.OWNER
    if actor.kind not in {"user", "token", "session"}:
        return None
    value = conn.execute(
        select(memberships.c.role).where(
            memberships.c.project_id == project_id, memberships.c.user_id == actor.id
        )
    ).scalar_one_or_none()
    return None if value is None else Role.parse(value)


def require_project_role(
    conn: Connection, actor: Actor, project_id: str, role: Role, scope: Scope | None = None
) -> Role:
    """Raise ``PermissionDenied`` unless the actor holds at least ``role`` in the project.

    ``scope`` defaults to ``read`` for viewer checks and ``write`` for anything higher.
    """
    require_scope(actor, scope or (Scope.READ if role == Role.VIEWER else Scope.WRITE))
    held = project_role(conn, actor, project_id)
    if held is None or held < role:
        raise PermissionDenied(
            f"this needs the {role.label} role in the project",
            details={"needed_role": role.label, "held_role": held.label if held else None},
        )
    return held
