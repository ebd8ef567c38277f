"""Promotion requests and four-eyes approval: an editor asks for a version to take an alias; a
maintainer other than the requester approves (with a comment) or rejects; the alias moves when
every condition of its policy holds."""

from __future__ import annotations

import uuid
from typing import TYPE_CHECKING, Any

from sqlalchemy import Connection, Row, insert, select, update

from ..errors import Conflict, InvalidArgument, NotFound, PermissionDenied, PolicyNotMet
from ..security import Actor, Role, fetch_project, require_project_role
from ..store import utcnow
from ._aliases import check_policy, move_alias
from ._model import (
    MAX_COMMENT_LENGTH,
    PromotionRequest,
    PromotionRequestId,
    RequestStatus,
    check_alias,
    check_text,
)
from ._models import check_version_number, fetch_model_row, fetch_version_row, version_by_id
from ._tables import model_versions, promotion_requests, registered_models
from ._webhooks import emit_event

if TYPE_CHECKING:
    from ..platform import Platform

_OPEN = (RequestStatus.PENDING.value, RequestStatus.APPROVED.value)


def _request_from_row(row: Row[Any], model_name: str, version: int) -> PromotionRequest:
    return PromotionRequest(
        PromotionRequestId(row.id),
        model_name,
        version,
        row.alias,
        RequestStatus(row.status),
        row.requested_by,
        row.requested_at,
        row.comment,
        row.decided_by,
        row.decided_at,
        row.decision_comment,
    )


def _fetch_request(
    conn: Connection, project_id: str, request_id: str
) -> tuple[Row[Any], Row[Any], int]:
    if not isinstance(request_id, str) or len(request_id) != 32:
        raise NotFound("no such promotion request")
    row = conn.execute(
        select(promotion_requests, registered_models.c.name, registered_models.c.project_id)
        .join(registered_models, registered_models.c.id == promotion_requests.c.model_id)
        .where(promotion_requests.c.id == request_id)
    ).first()
    if row is None or row.project_id != project_id:
        raise NotFound("no such promotion request in this project")
    version = conn.execute(
        select(model_versions.c.version).where(model_versions.c.id == row.version_id)
    ).scalar_one()
    model_row = fetch_model_row(conn, project_id, row.name, lock=True)
    return row, model_row, version


def request_promotion(
    platform: Platform,
    actor: Actor,
    project: str,
    name: str,
    version: int,
    alias: str,
    comment: str = "",
) -> PromotionRequest:
    """Ask for ``version`` to take ``alias`` (editors). ``Conflict`` while the same version
    has an open request for the alias."""
    check_alias(alias)
    check_version_number(version)
    check_text("comment", comment, MAX_COMMENT_LENGTH)
    with platform.db.write() as conn:
        project_row = fetch_project(conn, project)
        require_project_role(conn, actor, project_row.id, Role.EDITOR)
        model_row = fetch_model_row(conn, project_row.id, name, lock=True)
        version_row = fetch_version_row(conn, model_row.id, version)
        open_request = conn.execute(
            select(promotion_requests.c.id).where(
                promotion_requests.c.version_id == version_row.id,
                promotion_requests.c.alias == alias,
                promotion_requests.c.status.in_(_OPEN),
            )
        ).first()
        if open_request is not None:
            raise Conflict(
                f"version {version} already has an open request for @{alias} ({open_request.id})",
                details={"request_id": open_request.id},
            )
        request_id = uuid.uuid4().hex
        conn.execute(
            insert(promotion_requests).values(
                id=request_id,
                model_id=model_row.id,
                version_id=version_row.id,
                alias=alias,
                status=RequestStatus.PENDING.value,
                requested_by=actor.name,
                requested_by_id=actor.id,
                requested_at=utcnow(),
                comment=comment,
            )
        )
        emit_event(
            conn,
            project_row.id,
            "promotion.requested",
            {
                "model": name,
                "version": version,
                "alias": alias,
                "request_id": request_id,
                "actor": actor.name,
                "comment": comment,
            },
        )
        platform.audit.record(
            conn,
            actor,
            "registry.promotion.request",
            target_type="promotion_request",
            target_id=request_id,
            project_id=project_row.id,
            details={"model": name, "version": version, "alias": alias},
        )
        row = conn.execute(
            select(promotion_requests).where(promotion_requests.c.id == request_id)
        ).one()
        return _request_from_row(row, name, version)


def approve_promotion(
    platform: Platform, actor: Actor, project: str, request_id: str, comment: str
) -> tuple[PromotionRequest, list[dict[str, str]]]:
    """Approve a pending request (maintainers other than the requester: four eyes; a comment
    is required). The alias moves at once when every other condition of its policy holds;
    otherwise the request stays ``APPROVED`` and the unmet conditions are returned (fix them,
    then ``apply_promotion``). Returns the request and the unmet conditions."""
    if not isinstance(comment, str) or not comment.strip():
        raise InvalidArgument(
            "an approval needs a comment saying why", details={"field": "comment"}
        )
    check_text("comment", comment, MAX_COMMENT_LENGTH)
    with platform.db.write() as conn:
        project_row = fetch_project(conn, project)
        require_project_role(conn, actor, project_row.id, Role.MAINTAINER)
        row, model_row, version = _fetch_request(conn, project_row.id, request_id)
        if row.status != RequestStatus.PENDING.value:
            raise Conflict(f"the request is {row.status.lower()}, not pending")
        if row.requested_by_id == actor.id:
            raise PermissionDenied(
                "four-eyes rule: the requester cannot approve their own request; ask another "
                "maintainer",
                details={"requested_by": row.requested_by},
            )
        conn.execute(
            update(promotion_requests)
            .where(promotion_requests.c.id == row.id)
            .values(
                status=RequestStatus.APPROVED.value,
                decided_by=actor.name,
                decided_at=utcnow(),
                decision_comment=comment,
            )
        )
        emit_event(
            conn,
            project_row.id,
            "promotion.approved",
            {
                "model": row.name,
                "version": version,
                "alias": row.alias,
                "request_id": row.id,
                "actor": actor.name,
                "comment": comment,
            },
        )
        platform.audit.record(
            conn,
            actor,
            "registry.promotion.approve",
            target_type="promotion_request",
            target_id=row.id,
            project_id=project_row.id,
            details={"model": row.name, "version": version, "alias": row.alias},
        )
        unmet = _try_apply(platform, conn, actor, project_row.id, row.id, model_row, version)
        return _reload(conn, row.id, row.name, version), unmet


def apply_promotion(
    platform: Platform, actor: Actor, project: str, request_id: str
) -> PromotionRequest:
    """Move the alias of an approved request once its policy's other conditions hold
    (maintainers); ``PolicyNotMet`` lists the ones that still do not."""
    with platform.db.write() as conn:
        project_row = fetch_project(conn, project)
        require_project_role(conn, actor, project_row.id, Role.MAINTAINER)
        row, model_row, version = _fetch_request(conn, project_row.id, request_id)
        if row.status != RequestStatus.APPROVED.value:
            raise Conflict(f"the request is {row.status.lower()}, not approved")
        unmet = _try_apply(platform, conn, actor, project_row.id, row.id, model_row, version)
        if unmet:
            check_policy(  # raises PolicyNotMet with the full list
                conn,
                project_row.id,
                model_row,
                version_by_id(conn, row.version_id, row.name),
                row.alias,
                _reload(conn, row.id, row.name, version),
            )
        return _reload(conn, row.id, row.name, version)


def _try_apply(
    platform: Platform,
    conn: Connection,
    actor: Actor,
    project_id: str,
    request_id: str,
    model_row: Row[Any],
    version: int,
) -> list[dict[str, str]]:
    """Move the alias if the policy holds with this approval; the unmet conditions if not."""
    request = _reload(conn, request_id, model_row.name, version)
    version_row = fetch_version_row(conn, model_row.id, version)
    target = version_by_id(conn, version_row.id, model_row.name)
    try:
        check_policy(conn, project_id, model_row, target, request.alias, request)
    except PolicyNotMet as exc:
        return list(exc.details["unmet"])
    move_alias(conn, actor, model_row, request.alias, version_row, request_id=request_id)
    conn.execute(
        update(promotion_requests)
        .where(promotion_requests.c.id == request_id)
        .values(status=RequestStatus.APPLIED.value)
    )
    platform.audit.record(
        conn,
        actor,
        "registry.alias.set",
        target_type="registered_model",
        target_id=f"{model_row.name}@{request.alias}",
        project_id=project_id,
        details={"version": version, "request_id": request_id},
    )
    return []


def reject_promotion(
    platform: Platform, actor: Actor, project: str, request_id: str, comment: str
) -> PromotionRequest:
    """Reject a pending or approved request (maintainers; a comment is required). The
    requester withdraws their own with ``cancel_promotion``."""
    if not isinstance(comment, str) or not comment.strip():
        raise InvalidArgument(
            "a rejection needs a comment saying why", details={"field": "comment"}
        )
    check_text("comment", comment, MAX_COMMENT_LENGTH)
    return _close(platform, actor, project, request_id, RequestStatus.REJECTED, comment)


def cancel_promotion(
    platform: Platform, actor: Actor, project: str, request_id: str
) -> PromotionRequest:
    """Withdraw your own open request (its requester, with the editor role)."""
    return _close(platform, actor, project, request_id, RequestStatus.CANCELLED, None)


def _close(
    platform: Platform,
    actor: Actor,
    project: str,
    request_id: str,
    status: RequestStatus,
    comment: str | None,
) -> PromotionRequest:
    with platform.db.write() as conn:
        project_row = fetch_project(conn, project)
        needed = Role.MAINTAINER if status is RequestStatus.REJECTED else Role.EDITOR
        require_project_role(conn, actor, project_row.id, needed)
        row, _, version = _fetch_request(conn, project_row.id, request_id)
        if row.status not in _OPEN:
            raise Conflict(f"the request is {row.status.lower()} already")
        if status is RequestStatus.CANCELLED and row.requested_by_id != actor.id:
            raise PermissionDenied("only the requester can cancel a request; maintainers reject")
        conn.execute(
            update(promotion_requests)
            .where(promotion_requests.c.id == row.id)
            .values(
                status=status.value,
                decided_by=actor.name,
                decided_at=utcnow(),
                decision_comment=comment,
            )
        )
        if status is RequestStatus.REJECTED:
            emit_event(
                conn,
                project_row.id,
                "promotion.rejected",
                {
                    "model": row.name,
                    "version": version,
                    "alias": row.alias,
                    "request_id": row.id,
                    "actor": actor.name,
                    "comment": comment,
                },
            )
        platform.audit.record(
            conn,
            actor,
            f"registry.promotion.{status.value.lower()}",
            target_type="promotion_request",
            target_id=row.id,
            project_id=project_row.id,
            details={"model": row.name, "version": version, "alias": row.alias},
        )
        return _reload(conn, row.id, row.name, version)


def _reload(conn: Connection, request_id: str, model_name: str, version: int) -> PromotionRequest:
    row = conn.execute(
        select(promotion_requests).where(promotion_requests.c.id == request_id)
    ).one()
    return _request_from_row(row, model_name, version)


def list_promotion_requests(
    platform: Platform,
    actor: Actor,
    project: str,
    name: str,
    *,
    status: RequestStatus | None = None,
) -> list[PromotionRequest]:
    """The model's promotion requests, newest first, optionally of one status (viewers)."""
    with platform.db.read() as conn:
        project_row = fetch_project(conn, project)
        require_project_role(conn, actor, project_row.id, Role.VIEWER)
        model_row = fetch_model_row(conn, project_row.id, name)
        query = (
            select(promotion_requests, model_versions.c.version)
            .join(model_versions, model_versions.c.id == promotion_requests.c.version_id)
            .where(promotion_requests.c.model_id == model_row.id)
        )
        if status is not None:
            query = query.where(promotion_requests.c.status == RequestStatus(status).value)
        rows = conn.execute(query.order_by(promotion_requests.c.requested_at.desc())).all()
        return [_request_from_row(r, name, r.version) for r in rows]
