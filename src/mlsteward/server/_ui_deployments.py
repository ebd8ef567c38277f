"""The deployment pages of the web UI: a project's deployments, a deployment with its live
charts and history, and the forms that roll a version out, set the canary's weight, promote
and roll back.

Every page and action goes through the deployment services with the logged-in actor. A
refused action (not a maintainer, a canary already running, a bad weight) re-renders the
deployment page with the service's message and HTTP status. The live charts read
``/projects/{project}/deployments/{name}/live`` every 2 seconds (``static/deployments.js``):
the ``deployment_stats`` service's answer shaped by ``_ui_deployment_live``.
"""

from __future__ import annotations

from typing import Annotated
from urllib.parse import quote

from fastapi import APIRouter, Depends, Form
from starlette.responses import JSONResponse, RedirectResponse, Response

from ..deployments import (
    Deployment,
    deployment_history,
    deployment_stats,
    get_deployment,
    list_deployments,
    promote,
    rollback,
    rollout,
    set_canary_weight,
)
from ..errors import InvalidArgument, StewardError
from ..registry import list_model_versions
from ..security import Role, list_projects, my_role
from ._ui_deployment_live import live_view
from ._ui_render import UIRoute, render, status_for
from ._ui_session import Page, flash, viewer, writer

__all__ = ["router"]

router = APIRouter(route_class=UIRoute, include_in_schema=False)
Viewer = Annotated[Page, Depends(viewer)]
Writer = Annotated[Page, Depends(writer)]
FormText = Annotated[str, Form()]

HISTORY_SHOWN = 50
REFRESH_SECONDS = 2
_MODES = ("canary", "shadow")


def _see_other(path: str) -> Response:
    return RedirectResponse(path, status_code=303)


def deployments_path(project: str) -> str:
    return f"/projects/{quote(project, safe='')}/deployments"


def deployment_path(project: str, name: str) -> str:
    return f"{deployments_path(project)}/{quote(name, safe='')}"


def traffic_split(deployment: Deployment) -> list[dict[str, object]]:
    """The plan's routes with traffic, stable version first, each with its left edge in
    percent: the segments of the page's traffic-split bar."""
    plan = deployment.plan
    routes = sorted(
        (r for r in plan.routes if r.weight > 0), key=lambda r: (r.version != plan.stable,)
    )
    segments: list[dict[str, object]] = []
    left = 0
    for route in routes:
        role = "stable" if route.version == plan.stable else "canary"
        segments.append(
            {"version": route.version, "weight": route.weight, "left": left, "role": role}
        )
        left += route.weight
    return segments


# -- pages ------------------------------------------------------------------------------------


@router.get("/deployments")
def deployments_home(page: Viewer) -> Response:
    projects = list_projects(page.platform, page.actor)
    wanted = page.request.query_params.get("project", "")
    if wanted:
        if not any(p.name == wanted for p in projects):
            raise InvalidArgument(f"there is no project {wanted[:64]!r} that you can see")
        return _see_other(deployments_path(wanted))
    if projects:
        return _see_other(deployments_path(projects[0].name))
    return render(
        page, "deployments.html", active="deployments", projects=[], project=None, deployments=[]
    )


@router.get("/projects/{project}/deployments")
def deployments_page(page: Viewer, project: str) -> Response:
    found = list_deployments(page.platform, page.actor, project)
    return render(
        page,
        "deployments.html",
        active="deployments",
        projects=list_projects(page.platform, page.actor),
        project=project,
        deployments=found,
    )


def _deployment_page(
    page: Page,
    project: str,
    name: str,
    *,
    status: int = 200,
    error: str | None = None,
    form: dict[str, str] | None = None,
) -> Response:
    platform, actor = page.platform, page.actor
    deployment = get_deployment(platform, actor, project, name)
    history = deployment_history(platform, actor, project, name, limit=HISTORY_SHOWN)
    role = my_role(platform, actor, project)
    can_change = role is not None and role >= Role.MAINTAINER
    plan = deployment.plan
    candidates = []
    if can_change:
        versions = list_model_versions(platform, actor, project, deployment.model)
        candidates = [v for v in versions if str(v.version) != plan.stable]
    canaries = plan.canaries()
    return render(
        page,
        "deployment.html",
        status=status,
        active="deployments",
        error=error,
        form=form or {},
        project=project,
        deployment=deployment,
        plan=plan,
        canary=canaries[0] if canaries else None,
        segments=traffic_split(deployment),
        history=list(reversed(history)),
        candidates=candidates,
        can_change=can_change,
        refresh_seconds=REFRESH_SECONDS,
        base=deployment_path(project, name),
        list_base=deployments_path(project),
    )


@router.get("/projects/{project}/deployments/{name}")
def deployment_page(page: Viewer, project: str, name: str) -> Response:
    return _deployment_page(page, project, name)


@router.get("/projects/{project}/deployments/{name}/live")
def deployment_live(page: Viewer, project: str, name: str) -> Response:
    """The live figures of the deployment's server as chart JSON (viewers); an error is
    ``{"error": message}`` with its HTTP status, never a page."""
    try:
        stats = deployment_stats(page.platform, page.actor, project, name)
    except StewardError as exc:
        return JSONResponse({"error": exc.message}, status_code=status_for(exc))
    return JSONResponse(live_view(stats))


# -- actions ----------------------------------------------------------------------------------


def _whole_number(text: str, what: str) -> int:
    try:
        return int(text.strip())
    except ValueError:
        raise InvalidArgument(f"{what} must be a whole number, not {text[:20]!r}") from None


def _refused(
    page: Page, project: str, name: str, exc: StewardError, form: dict[str, str]
) -> Response:
    return _deployment_page(
        page, project, name, status=status_for(exc), error=exc.message, form=form
    )


@router.post("/projects/{project}/deployments/{name}/rollout")
def rollout_submit(
    page: Writer,
    project: str,
    name: str,
    version: FormText = "",
    mode: FormText = "canary",
    weight: FormText = "",
) -> Response:
    """Roll a version out as a canary with ``weight`` percent, or as the shadow (maintainers)."""
    form = {"version": version, "mode": mode, "weight": weight}
    try:
        if mode not in _MODES:
            raise InvalidArgument(f"mode must be canary or shadow, not {mode[:20]!r}")
        number = _whole_number(version, "version")
        if mode == "shadow":
            changed = rollout(page.platform, page.actor, project, name, number, shadow=True)
        else:
            canary = _whole_number(weight, "the canary weight")
            changed = rollout(page.platform, page.actor, project, name, number, canary=canary)
    except StewardError as exc:
        return _refused(page, project, name, exc, form)
    if mode == "shadow":
        message = f"Version {number} now gets a copy of every request as the shadow."
    else:
        weight_now = changed.plan.weight_of(str(number))
        message = f"Version {number} now gets {weight_now} % of the traffic."
    flash(page.request, f"{message} (revision {changed.revision})")
    return _see_other(deployment_path(project, name))


@router.post("/projects/{project}/deployments/{name}/weight")
def weight_submit(page: Writer, project: str, name: str, weight: FormText = "") -> Response:
    """Set the running canary's share of the traffic (maintainers)."""
    try:
        changed = set_canary_weight(
            page.platform, page.actor, project, name, _whole_number(weight, "the canary weight")
        )
    except StewardError as exc:
        return _refused(page, project, name, exc, {"set_weight": weight})
    canary = changed.plan.canaries()[0]
    flash(
        page.request,
        f"Version {canary.version} now gets {canary.weight} % of the traffic "
        f"(revision {changed.revision}).",
    )
    return _see_other(deployment_path(project, name))


@router.post("/projects/{project}/deployments/{name}/promote")
def promote_submit(page: Writer, project: str, name: str) -> Response:
    """Make the canary the stable version (maintainers)."""
    try:
        changed = promote(page.platform, page.actor, project, name)
    except StewardError as exc:
        return _refused(page, project, name, exc, {})
    flash(
        page.request,
        f"Promoted: version {changed.plan.stable} serves all traffic "
        f"(revision {changed.revision}).",
    )
    return _see_other(deployment_path(project, name))


@router.post("/projects/{project}/deployments/{name}/rollback")
def rollback_submit(page: Writer, project: str, name: str) -> Response:
    """Send every request back to the stable version (maintainers)."""
    try:
        changed = rollback(page.platform, page.actor, project, name)
    except StewardError as exc:
        return _refused(page, project, name, exc, {})
    flash(
        page.request,
        f"Rolled back: version {changed.plan.stable} serves all traffic "
        f"(revision {changed.revision}).",
    )
    return _see_other(deployment_path(project, name))
