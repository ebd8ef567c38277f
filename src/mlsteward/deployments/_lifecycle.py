"""A deployment's status: stop and start (asked by people), failed and restarted (reported
by its supervisor), and the cheap read of the stored plan its server polls."""

from __future__ import annotations

from dataclasses import replace
from typing import TYPE_CHECKING, Any

from sqlalchemy import select

from ..errors import Conflict, NotFound
from ..security import Actor, Role, fetch_project, require_project_role
from ._model import Deployment, DeploymentStatus, EventKind, check_deployment_name
from ._service import append_event, fetch_deployment_row, write_change
from ._tables import deployments

if TYPE_CHECKING:
    from ..platform import Platform
    from ..serving._routing import RoutingPlan


def stop_deployment(platform: Platform, actor: Actor, project: str, name: str) -> Deployment:
    """Ask for the deployment's server to stop (maintainers); ``Conflict`` if it is stopped."""
    return _set_status(platform, actor, project, name, DeploymentStatus.STOPPED, {})


def start_deployment(platform: Platform, actor: Actor, project: str, name: str) -> Deployment:
    """Ask for a stopped or failed deployment's server to run again (maintainers); ``Conflict``
    if it runs."""
    return _set_status(platform, actor, project, name, DeploymentStatus.RUNNING, {})


def record_failure(
    platform: Platform, actor: Actor, project: str, name: str, reason: str
) -> Deployment:
    """Mark a running deployment ``failed``: its server cannot start until something is fixed
    (the supervisor calls it as the ``system`` actor)."""
    return _set_status(
        platform, actor, project, name, DeploymentStatus.FAILED, {"reason": reason[:1000]}
    )


def _set_status(
    platform: Platform,
    actor: Actor,
    project: str,
    name: str,
    status: DeploymentStatus,
    details: dict[str, Any],
) -> Deployment:
    from ..serving._routing import RoutingPlan

    check_deployment_name(name)
    kind = {
        DeploymentStatus.RUNNING: EventKind.STARTED,
        DeploymentStatus.STOPPED: EventKind.STOPPED,
        DeploymentStatus.FAILED: EventKind.FAILED,
    }[status]
    with platform.db.write() as conn:
        project_row = fetch_project(conn, project)
        require_project_role(conn, actor, project_row.id, Role.MAINTAINER)
        row = fetch_deployment_row(conn, project_row, name, lock=True)
        if row.status == status.value or (
            status == DeploymentStatus.FAILED and row.status != DeploymentStatus.RUNNING.value
        ):
            raise Conflict(
                f"deployment {name!r} is {row.status} already", details={"status": row.status}
            )
        plan = RoutingPlan.from_json(row.plan)
        new_plan = replace(plan, revision=plan.revision + 1)
        return write_change(
            platform, conn, actor, project_row, row, new_plan, kind, details, status=status
        )


def record_restart(
    platform: Platform, actor: Actor, project: str, name: str, details: dict[str, Any]
) -> None:
    """Add a ``restarted`` event (the supervisor restarted a crashed server) with its audit
    event; the plan does not change."""
    check_deployment_name(name)
    with platform.db.write() as conn:
        project_row = fetch_project(conn, project)
        require_project_role(conn, actor, project_row.id, Role.MAINTAINER)
        row = fetch_deployment_row(conn, project_row, name)
        append_event(conn, actor, row.id, row.revision, EventKind.RESTARTED, details)
        platform.audit.record(
            conn,
            actor,
            "deployment.restarted",
            target_type="deployment",
            target_id=name,
            project_id=project_row.id,
            details={"revision": row.revision, **details},
        )


def stored_plan(
    platform: Platform, deployment_id: str, newer_than: int
) -> tuple[str, RoutingPlan | None]:
    """The deployment's status, and its plan if its revision is above ``newer_than`` (one
    indexed row: what a serving process polls twice a second). ``NotFound`` once deleted."""
    from ..serving._routing import RoutingPlan

    with platform.db.read() as conn:
        row = conn.execute(
            select(deployments.c.status, deployments.c.revision).where(
                deployments.c.id == deployment_id
            )
        ).first()
        if row is None:
            raise NotFound("the deployment no longer exists")
        if row.revision <= newer_than:
            return row.status, None
        plan_json = conn.execute(
            select(deployments.c.plan).where(deployments.c.id == deployment_id)
        ).scalar_one()
        return row.status, RoutingPlan.from_json(plan_json)
