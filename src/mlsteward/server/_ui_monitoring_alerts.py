"""The alerts page of the web UI: a project's incidents newest first, filtered by state, and
the acknowledge and resolve forms (maintainers) that the monitor pages share.

A form carries ``back``: the monitor whose page it was on (empty: the alerts page), where
the answer goes. A refused action (not a maintainer, an alert no longer firing) re-renders
that page with the service's message and HTTP status, nothing written.
"""

from __future__ import annotations

from typing import Annotated, Final

from fastapi import APIRouter, Depends, Form
from starlette.responses import RedirectResponse, Response

from ..errors import InvalidArgument, StewardError
from ..monitoring import acknowledge_alert, list_alerts, list_monitors, resolve_alert
from ..monitoring._monitor_model import check_monitor_name
from ..security import list_projects
from ._ui_monitoring import (
    ALERTS_SHOWN,
    alert_rows,
    alerts_path,
    can_change,
    monitor_page,
    monitor_path,
)
from ._ui_render import UIRoute, render, status_for
from ._ui_session import Page, flash, viewer, writer

__all__ = ["router"]

router = APIRouter(route_class=UIRoute, include_in_schema=False)
Viewer = Annotated[Page, Depends(viewer)]
Writer = Annotated[Page, Depends(writer)]
FormText = Annotated[str, Form()]

STATES: Final = ("open", "firing", "acknowledged", "resolved")


@router.get("/alerts")
def alerts_home(page: Viewer) -> Response:
    projects = list_projects(page.platform, page.actor)
    wanted = page.request.query_params.get("project", "")
    if wanted:
        if not any(p.name == wanted for p in projects):
            raise InvalidArgument(f"there is no project {wanted[:64]!r} that you can see")
        return RedirectResponse(alerts_path(wanted), status_code=303)
    if projects:
        return RedirectResponse(alerts_path(projects[0].name), status_code=303)
    return render(page, "alerts.html", active="monitoring", projects=[], project=None)


def _alerts_page(
    page: Page, project: str, state: str = "", *, status: int = 200, error: str | None = None
) -> Response:
    platform, actor = page.platform, page.actor
    found = list_alerts(platform, actor, project, state=state or None, limit=ALERTS_SHOWN)
    monitors = list_monitors(platform, actor, project)
    return render(
        page,
        "alerts.html",
        status=status,
        active="monitoring",
        error=error,
        projects=list_projects(platform, actor),
        project=project,
        state=state,
        states=STATES,
        alerts=alert_rows(page, project, found, monitors),
        can_change=can_change(page, project),
        shown=ALERTS_SHOWN,
        base=alerts_path(project),
    )


@router.get("/projects/{project}/alerts")
def alerts_page(page: Viewer, project: str, state: str = "") -> Response:
    return _alerts_page(page, project, state)


def _back_to(project: str, back: str) -> str | None:
    """The monitor named by a form's ``back`` field (None: the alerts page)."""
    if not back:
        return None
    try:
        return check_monitor_name(back)
    except InvalidArgument:
        return None


def _answer(page: Page, project: str, back: str, exc: StewardError | None) -> Response:
    monitor = _back_to(project, back)
    if exc is not None:
        if monitor is not None:
            return monitor_page(page, project, monitor, status=status_for(exc), error=exc.message)
        return _alerts_page(page, project, status=status_for(exc), error=exc.message)
    target = monitor_path(project, monitor) if monitor is not None else alerts_path(project)
    return RedirectResponse(target, status_code=303)


@router.post("/projects/{project}/alerts/{alert_id}/acknowledge")
def acknowledge_submit(page: Writer, project: str, alert_id: str, back: FormText = "") -> Response:
    """Mark a firing alert as being handled (maintainers)."""
    try:
        acknowledge_alert(page.platform, page.actor, project, alert_id)
    except StewardError as exc:
        return _answer(page, project, back, exc)
    flash(page.request, f"Alert {alert_id[:8]} acknowledged by {page.actor.name}.")
    return _answer(page, project, back, None)


@router.post("/projects/{project}/alerts/{alert_id}/resolve")
def resolve_submit(page: Writer, project: str, alert_id: str, back: FormText = "") -> Response:
    """Close an open alert by hand (maintainers)."""
    try:
        resolve_alert(page.platform, page.actor, project, alert_id)
    except StewardError as exc:
        return _answer(page, project, back, exc)
    flash(page.request, f"Alert {alert_id[:8]} resolved by {page.actor.name}.")
    return _answer(page, project, back, None)
