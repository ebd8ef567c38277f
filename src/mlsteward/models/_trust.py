"""The audit record of a trust decision: someone chose to load a model whose loading runs
code (an unsafe pickle, untrusted skops types, a Python model's packaged code)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from ..errors import InvalidArgument
from ..security import Actor, Role, Scope, fetch_project, require_project_role, require_scope

if TYPE_CHECKING:
    from ..platform import Platform

MAX_REASON_LENGTH = 2000


def record_trust_decision(
    platform: Platform,
    actor: Actor,
    *,
    target: str,
    reason: str,
    scan: Mapping[str, Any],
    project: str | None = None,
) -> None:
    """Append ``model.trust`` to the audit trail: who trusted which model (``target``, e.g. a
    ``models:/`` or ``runs:/`` URI or a path), why, and what the scan found. With ``project``,
    the actor must be a viewer of it. Call it before the model loads."""
    if not isinstance(reason, str) or not reason.strip() or len(reason) > MAX_REASON_LENGTH:
        raise InvalidArgument(
            f"a trust decision needs a reason of 1-{MAX_REASON_LENGTH} characters",
            details={"field": "reason"},
        )
    if not isinstance(target, str) or not 0 < len(target) <= 2000 or "\x00" in target:
        raise InvalidArgument("target must name the model (1-2000 characters)")
    globals_found = [str(g)[:200] for g in list(scan.get("globals", []))[:50]]
    files = [str(f)[:300] for f in list(scan.get("files", []))[:50]]
    require_scope(actor, Scope.READ)
    with platform.db.write() as conn:
        project_id = None
        if project is not None:
            project_row = fetch_project(conn, project)
            require_project_role(conn, actor, project_row.id, Role.VIEWER)
            project_id = project_row.id
        platform.audit.record(
            conn,
            actor,
            "model.trust",
            target_type="model",
            target_id=target[:200],
            project_id=project_id,
            details={"reason": reason, "globals": globals_found, "files": files},
        )
