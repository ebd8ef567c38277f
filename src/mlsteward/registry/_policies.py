"""Alias policies: the conditions a model version must meet to take an alias.

A policy is a list of conditions such as ``{"type": "approval"}``,
``{"type": "metric_at_least", "metric": "auc", "threshold": 0.9}``, ``{"type": "clean_scan"}``
and ``{"type": "signed_package"}``. Condition types are pluggable: a subsystem registers its
own with ``register_condition`` (data validation adds one for the training data). Every path
that moves an alias (API, CLI, UI, client) goes through ``unmet_conditions``, and a refusal
lists every unmet condition, not only the first.
"""

from __future__ import annotations

import math
import uuid
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from sqlalchemy import Connection, insert, select, update

from ..errors import InvalidArgument, NotFound
from ..security import Actor, Role, fetch_project, require_project_role
from ..store import utcnow
from ._model import ModelVersion, PromotionRequest, UnmetCondition, check_alias
from ._tables import alias_policies, registered_models

if TYPE_CHECKING:
    from ..platform import Platform

MAX_CONDITIONS = 20


@dataclass(frozen=True)
class PolicyContext:
    """What a condition may look at: the version, the alias, and the approved request that
    asks for this move (if any)."""

    conn: Connection
    version: ModelVersion
    alias: str
    approval: PromotionRequest | None


@dataclass(frozen=True)
class ConditionType:
    """A kind of condition: ``validate`` checks (and normalises) its parameters when a policy
    is saved; ``check`` returns None when met, else why not."""

    name: str
    description: str
    validate: Callable[[dict[str, Any]], dict[str, Any]]
    check: Callable[[PolicyContext, dict[str, Any]], str | None]


_CONDITION_TYPES: dict[str, ConditionType] = {}


def register_condition(condition: ConditionType) -> None:
    """Make a condition type available to policies (built-ins and subsystems alike)."""
    if not condition.name or condition.name in _CONDITION_TYPES:
        raise ValueError(f"condition type {condition.name!r} is empty or registered already")
    _CONDITION_TYPES[condition.name] = condition


# Subsystems whose conditions register on import; imported on first use of a policy, not at
# import of the registry (keeps it cheap and free of import cycles).
_PLUGIN_CONDITION_MODULES = ("mlsteward.validation._policy_condition",)


def _load_plugin_conditions() -> None:
    import importlib

    for module in _PLUGIN_CONDITION_MODULES:
        importlib.import_module(module)


def condition_types() -> dict[str, str]:
    """Name -> description of every registered condition type."""
    _load_plugin_conditions()
    return {name: c.description for name, c in sorted(_CONDITION_TYPES.items())}


def _no_params(params: dict[str, Any]) -> dict[str, Any]:
    if params:
        raise InvalidArgument(f"this condition takes no parameters, got {sorted(params)}")
    return {}


def _metric_params(params: dict[str, Any]) -> dict[str, Any]:
    metric, threshold = params.get("metric"), params.get("threshold")
    if set(params) != {"metric", "threshold"}:
        raise InvalidArgument('a metric condition takes exactly "metric" and "threshold"')
    if not isinstance(metric, str) or not 0 < len(metric) <= 250:
        raise InvalidArgument("metric must be a metric key (1-250 characters)")
    if isinstance(threshold, bool) or not isinstance(threshold, int | float):
        raise InvalidArgument("threshold must be a number")
    if not math.isfinite(threshold):
        raise InvalidArgument("threshold must be finite")
    return {"metric": metric, "threshold": float(threshold)}


def _check_approval(context: PolicyContext, params: dict[str, Any]) -> str | None:
    if context.approval is None:
        return (
            f"needs an approved promotion request for @{context.alias} (request it, then a "
            "maintainer other than the requester approves)"
        )
    return None


def _metric_check(at_least: bool) -> Callable[[PolicyContext, dict[str, Any]], str | None]:
    def check(context: PolicyContext, params: dict[str, Any]) -> str | None:
        metric, threshold = params["metric"], params["threshold"]
        value = context.version.metrics.get(metric)
        relation = ">=" if at_least else "<="
        if value is None:
            return (
                f"metric {metric!r} {relation} {threshold:g} needed; the version has no {metric!r}"
            )
        ok = value >= threshold if at_least else value <= threshold
        if not ok:  # NaN fails both
            return f"metric {metric!r} {relation} {threshold:g} needed; the version has {value:g}"
        return None

    return check


def _check_clean_scan(context: PolicyContext, params: dict[str, Any]) -> str | None:
    status = context.version.scan.get("status")
    if status != "clean":
        found = ", ".join(context.version.scan.get("globals", [])[:5])
        detail = f" (imports {found})" if found else ""
        return f"needs a clean model-file scan; the scan is {status or 'missing'}{detail}"
    return None


def _check_signed_package(context: PolicyContext, params: dict[str, Any]) -> str | None:
    package = context.version.package
    if not package or not package.get("key_id") or not package.get("verified"):
        return "needs a package signed by a trusted key (mlsteward package build, then verify)"
    return None


register_condition(
    ConditionType(
        "approval", "a maintainer other than the requester approved", _no_params, _check_approval
    )
)
register_condition(
    ConditionType(
        "metric_at_least",
        "a metric of the version is at least a threshold",
        _metric_params,
        _metric_check(at_least=True),
    )
)
register_condition(
    ConditionType(
        "metric_at_most",
        "a metric of the version is at most a threshold",
        _metric_params,
        _metric_check(at_least=False),
    )
)
register_condition(
    ConditionType(
        "clean_scan",
        "the model files passed the scan (no unsafe pickle globals, no untrusted types)",
        _no_params,
        _check_clean_scan,
    )
)
register_condition(
    ConditionType(
        "signed_package",
        "the version has a package signed by a trusted key",
        _no_params,
        _check_signed_package,
    )
)


def validate_conditions(conditions: object) -> list[dict[str, Any]]:
    """Conditions as stored: each ``{"type": name, **params}``; ``InvalidArgument`` naming the
    entry for an unknown type or bad parameters."""
    if not isinstance(conditions, list) or len(conditions) > MAX_CONDITIONS:
        raise InvalidArgument(f"a policy is a list of at most {MAX_CONDITIONS} conditions")
    _load_plugin_conditions()
    checked: list[dict[str, Any]] = []
    for index, entry in enumerate(conditions):
        if not isinstance(entry, dict) or not isinstance(entry.get("type"), str):
            raise InvalidArgument(f'conditions[{index}] must be an object with a "type"')
        kind = _CONDITION_TYPES.get(entry["type"])
        if kind is None:
            known = ", ".join(sorted(_CONDITION_TYPES))
            raise InvalidArgument(
                f"conditions[{index}]: unknown condition type {entry['type']!r} (known: {known})",
                details={"index": index},
            )
        params = {k: v for k, v in entry.items() if k != "type"}
        try:
            checked.append({"type": kind.name, **kind.validate(params)})
        except InvalidArgument as exc:
            raise InvalidArgument(
                f"conditions[{index}] ({kind.name}): {exc.message}", details={"index": index}
            ) from None
    return checked


def policy_for(
    conn: Connection, project_id: str, model_id: str, alias: str
) -> list[dict[str, Any]]:
    """The model's own policy for ``alias``, else the project-wide one, else no conditions."""
    rows = conn.execute(
        select(alias_policies.c.model_id, alias_policies.c.conditions).where(
            alias_policies.c.project_id == project_id,
            alias_policies.c.alias == alias,
            (alias_policies.c.model_id == model_id) | alias_policies.c.model_id.is_(None),
        )
    ).all()
    own = [row.conditions for row in rows if row.model_id == model_id]
    shared = [row.conditions for row in rows if row.model_id is None]
    found = own or shared
    return list(found[0]) if found else []


def unmet_conditions(
    conn: Connection,
    version: ModelVersion,
    alias: str,
    conditions: Sequence[Mapping[str, Any]],
    approval: PromotionRequest | None,
) -> list[UnmetCondition]:
    """Every condition of the policy that the version does not meet (empty: all met)."""
    _load_plugin_conditions()
    context = PolicyContext(conn, version, alias, approval)
    unmet: list[UnmetCondition] = []
    for entry in conditions:
        kind = _CONDITION_TYPES.get(str(entry.get("type")))
        params = {k: v for k, v in entry.items() if k != "type"}
        if kind is None:  # a plugin that is not installed here: never silently met
            unmet.append(
                UnmetCondition(str(entry.get("type")), "condition type is not installed here")
            )
            continue
        message = kind.check(context, params)
        if message is not None:
            unmet.append(UnmetCondition(kind.name, message))
    return unmet


def set_alias_policy(
    platform: Platform,
    actor: Actor,
    project: str,
    alias: str,
    conditions: list[dict[str, Any]],
    *,
    model: str | None = None,
) -> list[dict[str, Any]]:
    """Set the conditions for ``alias`` on one model (maintainers) or, with ``model=None``,
    for every model of the project without its own policy (owners). An empty list removes
    every condition. Returns the stored conditions."""
    check_alias(alias)
    checked = validate_conditions(conditions)
    with platform.db.write() as conn:
        project_row = fetch_project(conn, project)
        needed = Role.OWNER if model is None else Role.MAINTAINER
        require_project_role(conn, actor, project_row.id, needed)
        model_id = None
        if model is not None:
            model_id = conn.execute(
                select(registered_models.c.id)
                .where(
                    registered_models.c.project_id == project_row.id,
                    registered_models.c.name == model,
                )
                .with_for_update()
            ).scalar_one_or_none()
            if model_id is None:
                raise NotFound(f"no registered model named {model!r} in {project!r}")
        scope = (
            alias_policies.c.model_id.is_(None)
            if model_id is None
            else alias_policies.c.model_id == model_id
        )
        existing = conn.execute(
            select(alias_policies.c.id).where(
                alias_policies.c.project_id == project_row.id,
                alias_policies.c.alias == alias,
                scope,
            )
        ).scalar_one_or_none()
        values = {"conditions": checked, "updated_at": utcnow(), "updated_by": actor.name}
        if existing is None:
            conn.execute(
                insert(alias_policies).values(
                    id=uuid.uuid4().hex,
                    project_id=project_row.id,
                    model_id=model_id,
                    alias=alias,
                    **values,
                )
            )
        else:
            conn.execute(
                update(alias_policies).where(alias_policies.c.id == existing).values(**values)
            )
        platform.audit.record(
            conn,
            actor,
            "registry.policy.set",
            target_type="alias_policy",
            target_id=f"{model or '*'}@{alias}",
            project_id=project_row.id,
            details={"conditions": checked},
        )
    return checked


def get_alias_policy(
    platform: Platform, actor: Actor, project: str, alias: str, *, model: str | None = None
) -> list[dict[str, Any]]:
    """The conditions that apply to ``alias`` for ``model`` (its own, else the project's), or
    the project-wide ones with ``model=None`` (viewers)."""
    check_alias(alias)
    with platform.db.read() as conn:
        project_row = fetch_project(conn, project)
        require_project_role(conn, actor, project_row.id, Role.VIEWER)
        if model is None:
            return policy_for(conn, project_row.id, "", alias)
        model_id = conn.execute(
            select(registered_models.c.id).where(
                registered_models.c.project_id == project_row.id,
                registered_models.c.name == model,
            )
        ).scalar_one_or_none()
        if model_id is None:
            raise NotFound(f"no registered model named {model!r} in {project!r}")
        return policy_for(conn, project_row.id, model_id, alias)


def list_alias_policies(
    platform: Platform, actor: Actor, project: str, *, model: str | None = None
) -> dict[str, list[dict[str, Any]]]:
    """Alias -> the conditions that apply, for every alias with a policy: the project-wide
    ones, overridden by ``model``'s own when a model is named (viewers)."""
    with platform.db.read() as conn:
        project_row = fetch_project(conn, project)
        require_project_role(conn, actor, project_row.id, Role.VIEWER)
        model_id = None
        if model is not None:
            model_id = conn.execute(
                select(registered_models.c.id).where(
                    registered_models.c.project_id == project_row.id,
                    registered_models.c.name == model,
                )
            ).scalar_one_or_none()
            if model_id is None:
                raise NotFound(f"no registered model named {model!r} in {project!r}")
        scope = alias_policies.c.model_id.is_(None)
        if model_id is not None:
            scope = scope | (alias_policies.c.model_id == model_id)
        rows = conn.execute(
            select(alias_policies.c.alias, alias_policies.c.model_id, alias_policies.c.conditions)
            .where(alias_policies.c.project_id == project_row.id, scope)
            .order_by(alias_policies.c.alias)
        ).all()
    found: dict[str, list[dict[str, Any]]] = {}
    for row in rows:  # project-wide first, then the model's own replaces it
        if row.model_id is None and row.alias in found:
            continue
        found[row.alias] = list(row.conditions)
    for row in rows:
        if row.model_id is not None:
            found[row.alias] = list(row.conditions)
    return dict(sorted(found.items()))
