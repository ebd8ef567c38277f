"""Aliases (``@production``, ``@staging``, any name): moved atomically under the alias's
policy, with a history of which version held each alias from when to when, set by whom."""

from __future__ import annotations

import uuid
from typing import TYPE_CHECKING, Any

from sqlalchemy import Connection, Row, delete, insert, select, update

from ..errors import NotFound, PolicyNotMet
from ..security import Actor, Role, fetch_project, require_project_role
from ..store import utcnow
from ._model import AliasPeriod, ModelVersion, PromotionRequest, check_alias
from ._models import check_version_number, fetch_model_row, fetch_version_row, version_by_id
from ._policies import policy_for, unmet_conditions
from ._tables import alias_history, model_aliases, model_versions
from ._webhooks import emit_event

if TYPE_CHECKING:
    from ..platform import Platform


def move_alias(
    conn: Connection,
    actor: Actor,
    model_row: Row[Any],
    alias: str,
    version_row: Row[Any],
    *,
    request_id: str | None = None,
) -> bool:
    """Point ``alias`` at the version in the caller's transaction (the model row must be
    locked): closes the open history period and opens a new one. False if it already did."""
    now = utcnow()
    current = conn.execute(
        select(model_aliases.c.version_id).where(
            model_aliases.c.model_id == model_row.id, model_aliases.c.alias == alias
        )
    ).scalar_one_or_none()
    if current == version_row.id:
        return False
    previous = None
    if current is not None:
        previous = conn.execute(
            select(model_versions.c.version).where(model_versions.c.id == current)
        ).scalar_one()
    emit_event(
        conn,
        model_row.project_id,
        "alias.moved",
        {
            "model": model_row.name,
            "alias": alias,
            "version": version_row.version,
            "previous_version": previous,
            "actor": actor.name,
            "request_id": request_id,
        },
    )
    _close_period(conn, actor, model_row.id, alias, now)
    if current is None:
        conn.execute(
            insert(model_aliases).values(
                model_id=model_row.id,
                alias=alias,
                version_id=version_row.id,
                set_at=now,
                set_by=actor.name,
            )
        )
    else:
        conn.execute(
            update(model_aliases)
            .where(model_aliases.c.model_id == model_row.id, model_aliases.c.alias == alias)
            .values(version_id=version_row.id, set_at=now, set_by=actor.name)
        )
    conn.execute(
        insert(alias_history).values(
            id=uuid.uuid4().hex,
            model_id=model_row.id,
            alias=alias,
            version=version_row.version,
            version_id=version_row.id,
            valid_from=now,
            valid_to=None,
            set_by=actor.name,
            ended_by=None,
            request_id=request_id,
        )
    )
    return True


def _close_period(conn: Connection, actor: Actor, model_id: str, alias: str, now: Any) -> None:
    conn.execute(
        update(alias_history)
        .where(
            alias_history.c.model_id == model_id,
            alias_history.c.alias == alias,
            alias_history.c.valid_to.is_(None),
        )
        .values(valid_to=now, ended_by=actor.name)
    )


def check_policy(
    conn: Connection,
    project_id: str,
    model_row: Row[Any],
    version: ModelVersion,
    alias: str,
    approval: PromotionRequest | None,
) -> None:
    """``PolicyNotMet`` listing every unmet condition of the alias's policy."""
    conditions = policy_for(conn, project_id, model_row.id, alias)
    unmet = unmet_conditions(conn, version, alias, conditions, approval)
    if unmet:
        listed = "; ".join(f"{u.condition}: {u.message}" for u in unmet)
        raise PolicyNotMet(
            f"version {version.version} cannot take @{alias}: {len(unmet)} unmet "
            f"condition{'s' if len(unmet) > 1 else ''} ({listed})",
            details={"unmet": [u.to_json() for u in unmet], "alias": alias},
        )


def set_alias(
    platform: Platform, actor: Actor, project: str, name: str, alias: str, version: int
) -> ModelVersion:
    """Point ``alias`` at ``version`` directly (maintainers), if the alias's policy allows it
    without an approval; a policy that needs one refuses with ``PolicyNotMet`` (request a
    promotion instead). Moving an alias to the version that holds it is a no-op."""
    check_alias(alias)
    check_version_number(version)
    with platform.db.write() as conn:
        project_row = fetch_project(conn, project)
        require_project_role(conn, actor, project_row.id, Role.MAINTAINER)
        model_row = fetch_model_row(conn, project_row.id, name, lock=True)
        version_row = fetch_version_row(conn, model_row.id, version)
        target = version_by_id(conn, version_row.id, name)
        check_policy(conn, project_row.id, model_row, target, alias, None)
        if move_alias(conn, actor, model_row, alias, version_row):
            platform.audit.record(
                conn,
                actor,
                "registry.alias.set",
                target_type="registered_model",
                target_id=f"{name}@{alias}",
                project_id=project_row.id,
                details={"version": version},
            )
        return version_by_id(conn, version_row.id, name)


def delete_alias(platform: Platform, actor: Actor, project: str, name: str, alias: str) -> None:
    """Remove ``alias`` from the model (maintainers); its history period ends now."""
    check_alias(alias)
    with platform.db.write() as conn:
        project_row = fetch_project(conn, project)
        require_project_role(conn, actor, project_row.id, Role.MAINTAINER)
        model_row = fetch_model_row(conn, project_row.id, name, lock=True)
        removed = conn.execute(
            delete(model_aliases).where(
                model_aliases.c.model_id == model_row.id, model_aliases.c.alias == alias
            )
        ).rowcount
        if not removed:
            raise NotFound(f"model {name!r} has no alias @{alias}")
        _close_period(conn, actor, model_row.id, alias, utcnow())
        emit_event(
            conn,
            project_row.id,
            "alias.deleted",
            {"model": name, "alias": alias, "actor": actor.name},
        )
        platform.audit.record(
            conn,
            actor,
            "registry.alias.delete",
            target_type="registered_model",
            target_id=f"{name}@{alias}",
            project_id=project_row.id,
        )


def alias_history_of(
    platform: Platform, actor: Actor, project: str, name: str, alias: str | None = None
) -> list[AliasPeriod]:
    """Every period an alias (or every alias) of the model pointed at a version, oldest
    first (viewers)."""
    if alias is not None:
        check_alias(alias)
    with platform.db.read() as conn:
        project_row = fetch_project(conn, project)
        require_project_role(conn, actor, project_row.id, Role.VIEWER)
        model_row = fetch_model_row(conn, project_row.id, name)
        query = select(alias_history).where(alias_history.c.model_id == model_row.id)
        if alias is not None:
            query = query.where(alias_history.c.alias == alias)
        rows = conn.execute(query.order_by(alias_history.c.valid_from, alias_history.c.alias)).all()
        return [
            AliasPeriod(
                r.alias, r.version, r.valid_from, r.valid_to, r.set_by, r.ended_by, r.request_id
            )
            for r in rows
        ]
