"""Which columns of a model version's training data the catalog classifies as PII: what a
prediction log masks in its sampled rows."""

from __future__ import annotations

from typing import TYPE_CHECKING

from sqlalchemy import select

from ..data._tables import dataset_columns, dataset_versions, lineage_edges
from ..errors import InvalidArgument
from ..registry._tables import model_versions, registered_models
from ..security import Actor, Role, fetch_project, require_project_role

if TYPE_CHECKING:
    from ..platform import Platform

__all__ = ["training_pii_columns"]


def training_pii_columns(
    platform: Platform, actor: Actor, project: str, model_name: str, version: str | int
) -> dict[str, str]:
    """Column name -> PII class, for every column the catalog marks as PII in the datasets
    whose versions were inputs of the run that produced the model version (viewers). {} when
    the model, the version, its run or its datasets are unknown: the platform knows no PII
    then. ``InvalidArgument`` for a version that is not a number."""
    try:
        number = int(version)
    except (TypeError, ValueError):
        raise InvalidArgument(
            f"model version must be a number, got {str(version)[:40]!r}"
        ) from None
    with platform.db.read() as conn:
        project_row = fetch_project(conn, project)
        require_project_role(conn, actor, project_row.id, Role.VIEWER)
        run_id = conn.execute(
            select(model_versions.c.source_run_id)
            .join(registered_models, registered_models.c.id == model_versions.c.model_id)
            .where(
                registered_models.c.project_id == project_row.id,
                registered_models.c.name == model_name,
                model_versions.c.version == number,
            )
        ).scalar_one_or_none()
        if run_id is None:
            return {}
        rows = conn.execute(
            select(dataset_columns.c.name, dataset_columns.c.pii_class)
            .join(dataset_versions, dataset_versions.c.dataset_id == dataset_columns.c.dataset_id)
            .join(lineage_edges, lineage_edges.c.source_id == dataset_versions.c.id)
            .where(
                lineage_edges.c.source_type == "dataset_version",
                lineage_edges.c.target_type == "run",
                lineage_edges.c.target_id == run_id,
                lineage_edges.c.relation == "input_of",
                dataset_columns.c.pii_class.is_not(None),
            )
            .order_by(dataset_columns.c.name)
        ).all()
    return {row.name: row.pii_class for row in rows}
