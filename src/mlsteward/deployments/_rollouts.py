"""Routing changes of a running deployment: roll a version out (canary or shadow), set the
canary's weight, promote, roll back, and record an automatic rollback the server made."""

from __future__ import annotations

from dataclasses import replace
from typing import TYPE_CHECKING, Any

from sqlalchemy import Connection, Row

from ..errors import Conflict, InvalidArgument
from ..security import Actor, Role, fetch_project, require_project_role
from ._model import Deployment, DeploymentStatus, EventKind, check_deployment_name, check_weight
from ._service import check_version_exists, fetch_deployment_row, write_change

if TYPE_CHECKING:
    from ..platform import Platform
    from ..security import Project
    from ..serving._routing import RoutingPlan


def _changing(
    conn: Connection, actor: Actor, project: str, name: str
) -> tuple[Project, Row[Any], RoutingPlan]:
    """The locked row of a running deployment and its plan, for a routing change
    (maintainers); ``Conflict`` when it is not running."""
    from ..serving._routing import RoutingPlan

    project_row = fetch_project(conn, project)
    require_project_role(conn, actor, project_row.id, Role.MAINTAINER)
    row = fetch_deployment_row(conn, project_row, name, lock=True)
    if row.status != DeploymentStatus.RUNNING.value:
        raise Conflict(
            f"deployment {name!r} is {row.status}: start it first (`mlsteward deploy start "
            f"{name}`)",
            details={"status": row.status},
        )
    return project_row, row, RoutingPlan.from_json(row.plan)


def rollout(
    platform: Platform,
    actor: Actor,
    project: str,
    name: str,
    version: int,
    *,
    canary: int | None = None,
    shadow: bool = False,
) -> Deployment:
    """Send ``canary`` percent (1..99) of the traffic to ``version`` beside the stable one, or
    (``shadow``) mirror every request to it instead (maintainers). Rolling out the running
    canary again sets its weight.

    ``Conflict`` while another canary runs (promote or roll back first) or when the
    deployment is not running; ``NotFound`` for an unknown version; ``InvalidArgument`` for
    a weight out of range, the stable version, or neither/both of ``canary`` and ``shadow``."""
    from ..serving._routing import Route

    check_deployment_name(name)
    if shadow == (canary is not None):
        raise InvalidArgument(
            "give either a canary weight (--canary N) or --shadow", details={"field": "canary"}
        )
    if canary is not None:
        check_weight(canary)
    with platform.db.write() as conn:
        project_row, row, plan = _changing(conn, actor, project, name)
        check_version_exists(conn, project_row.id, row.model_name, version)
        target = str(version)
        if target == plan.stable:
            raise InvalidArgument(
                f"version {version} is the stable version of {name!r} already",
                details={"field": "version"},
            )
        if shadow:
            new_plan = replace(plan, revision=plan.revision + 1, shadow=target)
            details: dict[str, Any] = {"version": version, "previous_shadow": plan.shadow}
            return write_change(
                platform, conn, actor, project_row, row, new_plan, EventKind.SHADOW, details
            )
        assert canary is not None
        running = [r.version for r in plan.canaries()]
        if running and running != [target]:
            raise Conflict(
                f"version {running[0]} is already a canary of {name!r}: promote it or roll "
                "back first",
                details={"canary": running[0]},
            )
        routes = (Route(plan.stable, 100 - canary), Route(target, canary))
        new_plan = replace(
            plan,
            revision=plan.revision + 1,
            routes=routes,
            shadow=None if plan.shadow == target else plan.shadow,
        )
        details = {"version": version, "weight": canary, "stable": int(plan.stable)}
        return write_change(
            platform, conn, actor, project_row, row, new_plan, EventKind.ROLLOUT, details
        )


def set_canary_weight(
    platform: Platform, actor: Actor, project: str, name: str, weight: int
) -> Deployment:
    """Give the running canary ``weight`` percent (1..99) of the traffic (maintainers);
    ``Conflict`` when there is no canary."""
    check_deployment_name(name)
    check_weight(weight)
    with platform.db.write() as conn:
        plan = _changing(conn, actor, project, name)[2]
        running = plan.canaries()
    if not running:
        raise Conflict(
            f"deployment {name!r} has no canary: roll a version out first "
            f"(`mlsteward deploy rollout {name} --version V --canary {weight}`)"
        )
    return rollout(platform, actor, project, name, int(running[0].version), canary=weight)


def promote(platform: Platform, actor: Actor, project: str, name: str) -> Deployment:
    """Make the canary the stable version at 100 % (maintainers); ``Conflict`` when there is
    no canary."""
    from ..serving._routing import Route

    check_deployment_name(name)
    with platform.db.write() as conn:
        project_row, row, plan = _changing(conn, actor, project, name)
        running = plan.canaries()
        if not running:
            raise Conflict(
                f"deployment {name!r} has no canary to promote: roll a version out first",
                details={"stable": plan.stable},
            )
        winner = running[0].version
        new_plan = replace(
            plan,
            revision=plan.revision + 1,
            stable=winner,
            routes=(Route(winner, 100),),
            shadow=None if plan.shadow == winner else plan.shadow,
        )
        details = {"version": int(winner), "previous_stable": int(plan.stable)}
        return write_change(
            platform, conn, actor, project_row, row, new_plan, EventKind.PROMOTE, details
        )


def rollback(platform: Platform, actor: Actor, project: str, name: str) -> Deployment:
    """Send every request to the stable version at once and drop the canary and the shadow
    (maintainers); ``Conflict`` when the stable version serves alone already."""
    from ..serving._routing import Route

    check_deployment_name(name)
    with platform.db.write() as conn:
        project_row, row, plan = _changing(conn, actor, project, name)
        if plan.shadow is None and plan.routes == (Route(plan.stable, 100),):
            raise Conflict(
                f"deployment {name!r} serves its stable version {plan.stable} alone already: "
                "nothing to roll back"
            )
        new_plan = replace(plan.rolled_back(), revision=plan.revision + 1, shadow=None)
        details = {
            "stable": int(plan.stable),
            "removed_canaries": [int(r.version) for r in plan.canaries()],
            "removed_shadow": None if plan.shadow is None else int(plan.shadow),
        }
        return write_change(
            platform, conn, actor, project_row, row, new_plan, EventKind.ROLLBACK, details
        )


def record_auto_rollback(
    platform: Platform,
    actor: Actor,
    project: str,
    name: str,
    plan: RoutingPlan,
    reason: str,
) -> bool:
    """Store the plan a serving process switched to on its own (``plan.rolled_back()`` of the
    plan it served) if the stored revision is the one it rolled back from; False (nothing
    written) when the deployment moved on meanwhile. The serving process calls it as the
    ``system`` actor; the audit event names the deployment."""
    check_deployment_name(name)
    if not isinstance(reason, str) or not reason:
        raise InvalidArgument("an auto-rollback needs its reason", details={"field": "reason"})
    with platform.db.write() as conn:
        project_row = fetch_project(conn, project)
        require_project_role(conn, actor, project_row.id, Role.MAINTAINER)
        row = fetch_deployment_row(conn, project_row, name, lock=True)
        if row.revision != plan.revision - 1 or row.status != DeploymentStatus.RUNNING.value:
            return False
        details = {"reason": reason[:1000], "from_revision": row.revision, "deployment": name}
        write_change(
            platform, conn, actor, project_row, row, plan, EventKind.AUTO_ROLLBACK, details
        )
        return True
