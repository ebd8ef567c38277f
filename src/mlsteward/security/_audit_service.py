"""Reading the audit trail, with permission checks: listing, verifying, exporting."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING

from sqlalchemy import select

from ..errors import InvalidArgument
from ..store._tables import audit_events
from ._actors import Actor, Role, Scope
from ._audit import AuditCheckpoint, AuditEvent, AuditVerifyReport, _event_from_row
from ._permissions import require_admin, require_project_role
from ._projects import fetch_project

if TYPE_CHECKING:
    from ..platform import Platform

MAX_PAGE = 1000


def list_audit_events(
    platform: Platform,
    actor: Actor,
    *,
    action: str | None = None,
    actor_name: str | None = None,
    project: str | None = None,
    target_id: str | None = None,
    before_seq: int | None = None,
    after_seq: int | None = None,
    limit: int = 100,
) -> list[AuditEvent]:
    """Events newest first, filtered. Administrators see all; a project's maintainers see
    that project's events (pass ``project``). Page with ``before_seq``."""
    if not 1 <= limit <= MAX_PAGE:
        raise InvalidArgument(f"limit must be between 1 and {MAX_PAGE}")
    query = select(audit_events).order_by(audit_events.c.seq.desc()).limit(limit)
    with platform.db.read() as conn:
        if project is not None:
            project_id = fetch_project(conn, project).id
            require_project_role(conn, actor, project_id, Role.MAINTAINER, Scope.READ)
            query = query.where(audit_events.c.project_id == project_id)
        else:
            require_admin(actor, Scope.READ)
        if action:
            if action.endswith("*"):
                query = query.where(audit_events.c.action.startswith(action[:-1], autoescape=True))
            else:
                query = query.where(audit_events.c.action == action)
        if actor_name:
            query = query.where(audit_events.c.actor_name == actor_name)
        if target_id:
            query = query.where(audit_events.c.target_id == target_id)
        if before_seq is not None:
            query = query.where(audit_events.c.seq < before_seq)
        if after_seq is not None:
            query = query.where(audit_events.c.seq > after_seq)
        return [_event_from_row(r) for r in conn.execute(query)]


def verify_audit(
    platform: Platform, actor: Actor, *, progress: Callable[[int], None] | None = None
) -> AuditVerifyReport:
    """Recompute the hash chain and check signed checkpoints (administrators)."""
    require_admin(actor, Scope.READ)
    return platform.audit.verify(platform.db, progress=progress)


def export_audit(platform: Platform, actor: Actor) -> Iterator[AuditEvent]:
    """Every event in chain order, streamed (administrators)."""
    require_admin(actor, Scope.READ)
    return platform.audit.iter_events(platform.db)


def create_checkpoint(platform: Platform, actor: Actor) -> AuditCheckpoint | None:
    """Sign the head of the chain now (administrators)."""
    require_admin(actor)
    return platform.audit.checkpoint(platform.db)
