"""A deployment in the lineage graph: its node (labelled with its name) and the edges
``model version -deployed_as-> deployment`` for every version a plan routes traffic to."""

from __future__ import annotations

from typing import TYPE_CHECKING

from sqlalchemy import Connection, select
from sqlalchemy.dialects import postgresql, sqlite

from ..data._lineage import record_edge
from ..data._lineage_nodes import LineageNodeRef
from ..data._tables import lineage_nodes
from ..store import utcnow

if TYPE_CHECKING:
    from ..security import Actor, Project
    from ..serving._routing import RoutingPlan


def served_versions(plan: RoutingPlan) -> list[int]:
    """The versions that answer requests under ``plan``: routed ones and the shadow."""
    found = {int(route.version) for route in plan.routes if route.weight > 0}
    if plan.shadow is not None:
        found.add(int(plan.shadow))
    return sorted(found)


def record_deployment_lineage(
    conn: Connection,
    actor: Actor,
    project: Project,
    deployment_id: str,
    name: str,
    model: str,
    plan: RoutingPlan,
) -> None:
    """Upsert the deployment's node and add an edge from each served version (idempotent), in
    the caller's transaction."""
    from ..registry._tables import model_versions, registered_models

    node = LineageNodeRef("deployment", deployment_id)
    values = {"label": f"deployment {name}", "facets": {"model": model}, "updated_at": utcnow()}
    dialect = postgresql if conn.dialect.name == "postgresql" else sqlite
    statement = dialect.insert(lineage_nodes).values(
        node_type=node.node_type, node_id=node.node_id, project_id=project.id, **values
    )
    conn.execute(
        statement.on_conflict_do_update(
            index_elements=[lineage_nodes.c.node_type, lineage_nodes.c.node_id], set_=values
        )
    )
    version_ids = conn.execute(
        select(model_versions.c.id)
        .join(registered_models, registered_models.c.id == model_versions.c.model_id)
        .where(
            registered_models.c.project_id == project.id,
            registered_models.c.name == model,
            model_versions.c.version.in_(served_versions(plan)),
        )
    ).scalars()
    for version_id in version_ids:
        source = LineageNodeRef("model_version", version_id)
        record_edge(conn, actor, source, node, "deployed_as", project.id)
