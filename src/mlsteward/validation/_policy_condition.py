"""The alias-policy condition ``training_data_validated``: every dataset version that was an
input of the model version's source run (lineage edge ``dataset_version -input_of-> run``) has
a latest validation result, and it succeeded.

The registry imports this module the first time it reads or checks a policy.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import select

from ..data._tables import dataset_versions, datasets, lineage_edges
from ..registry._policies import ConditionType, PolicyContext, _no_params, register_condition
from ._tables import validation_results

CONDITION_NAME = "training_data_validated"
_SHOWN = 10


def check_training_data_validated(context: PolicyContext, params: dict[str, Any]) -> str | None:
    run_id = context.version.source_run_id
    if not run_id:
        return "needs a source run with validated input data; the version has no source run"
    conn = context.conn
    version_ids = sorted(
        conn.execute(
            select(lineage_edges.c.source_id).where(
                lineage_edges.c.source_type == "dataset_version",
                lineage_edges.c.relation == "input_of",
                lineage_edges.c.target_type == "run",
                lineage_edges.c.target_id == run_id,
            )
        ).scalars()
    )
    if not version_ids:
        return f"needs validated training data; run {run_id} has no dataset version as input"
    failing: list[str] = []
    for version_id in version_ids:
        latest = conn.execute(
            select(validation_results.c.success)
            .where(validation_results.c.dataset_version_id == version_id)
            .order_by(validation_results.c.created_at.desc(), validation_results.c.id.desc())
            .limit(1)
        ).first()
        if latest is not None and latest.success:
            continue
        ref = conn.execute(
            select(datasets.c.name, dataset_versions.c.version)
            .join(datasets, datasets.c.id == dataset_versions.c.dataset_id)
            .where(dataset_versions.c.id == version_id)
        ).first()
        shown = f"{ref.name}@{ref.version}" if ref is not None else f"dataset version {version_id}"
        failing.append(f"{shown} ({'not validated' if latest is None else 'failed validation'})")
    if not failing:
        return None
    more = f" and {len(failing) - _SHOWN} more" if len(failing) > _SHOWN else ""
    return "needs training data that passed validation: " + ", ".join(failing[:_SHOWN]) + more


register_condition(
    ConditionType(
        CONDITION_NAME,
        "every dataset version the source run read has a latest validation result that passed",
        _no_params,
        check_training_data_validated,
    )
)
