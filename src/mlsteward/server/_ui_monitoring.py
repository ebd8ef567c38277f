"""The monitoring pages of the web UI: a project's monitors with their open alerts and the
form that creates one, and a monitor's dashboard (the drift heatmap, per-feature detail and
distributions, quality, fairness and infrastructure over time, its alert rules and alerts).

Every page and action goes through the monitoring services with the logged-in actor;
maintainers see the forms (create, enable or disable, delete, evaluate now), viewers only
read. A refused action re-renders its page with the service's message and HTTP status,
nothing written. The alerts page and the acknowledge and resolve forms are in
``_ui_monitoring_alerts``; the charts are the standalone report's (``_ui_monitoring_report``).
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Annotated, Any, Final
from urllib.parse import quote

from fastapi import APIRouter, Depends, Form
from fastapi.routing import iter_route_contexts
from starlette.responses import RedirectResponse, Response

from ..data import list_datasets
from ..deployments import list_deployments
from ..errors import InvalidArgument, StewardError
from ..monitoring import (
    Alert,
    Monitor,
    MonitoringReport,
    create_monitor,
    delete_monitor,
    evaluate_monitor,
    get_monitor,
    list_alert_rules,
    list_alerts,
    list_monitor_results,
    list_monitors,
    monitor_report,
    update_monitor,
)
from ..monitoring._alert_rules import KINDS, OPS, Severity
from ..monitoring._monitor_model import DEFAULT_WINDOW_SECONDS
from ..monitoring._report_assets import SCRIPT as REPORT_SCRIPT
from ..security import Role, list_projects, my_role
from ._app import API_PREFIX
from ._ui_monitoring_report import dashboard_charts
from ._ui_render import UIRoute, render, status_for
from ._ui_session import Page, flash, viewer, writer

__all__ = [
    "ALERTS_SHOWN",
    "alert_rows",
    "alerts_path",
    "can_change",
    "monitor_page",
    "monitor_path",
    "monitoring_path",
    "router",
]

router = APIRouter(route_class=UIRoute, include_in_schema=False)
Viewer = Annotated[Page, Depends(viewer)]
Writer = Annotated[Page, Depends(writer)]
FormText = Annotated[str, Form()]

WINDOWS_SHOWN: Final = 500
"""The newest evaluated windows a dashboard charts."""
ALERTS_SHOWN: Final = 200
REFERENCE_KINDS: Final = ("training", "dataset", "windows")
QUALITY_TASKS: Final = ("", "classification", "regression")
REPORT_ROUTE: Final = f"{API_PREFIX}/projects/{{project}}/monitors/{{name}}/report"


def _see_other(path: str) -> Response:
    return RedirectResponse(path, status_code=303)


def monitoring_path(project: str) -> str:
    return f"/projects/{quote(project, safe='')}/monitoring"


def monitor_path(project: str, name: str) -> str:
    return f"{monitoring_path(project)}/{quote(name, safe='')}"


def alerts_path(project: str) -> str:
    return f"/projects/{quote(project, safe='')}/alerts"


def can_change(page: Page, project: str) -> bool:
    role = my_role(page.platform, page.actor, project)
    return role is not None and role >= Role.MAINTAINER


def alert_rows(
    page: Page, project: str, alerts: Sequence[Alert], monitors: Sequence[Monitor]
) -> list[dict[str, Any]]:
    """Each alert with its monitor's name and its rule's name and condition (ids when the
    monitor or rule is gone)."""
    names: dict[str, str] = {m.id: m.name for m in monitors}
    rules = {r.id: r for r in list_alert_rules(page.platform, page.actor, project)}
    rows = []
    for alert in alerts:
        rule = rules.get(alert.rule_id)
        rows.append(
            {
                "alert": alert,
                "monitor": names.get(alert.monitor_id),
                "rule": rule.name if rule is not None else alert.rule_id[:12],
                "condition": rule.condition.describe() if rule is not None else "",
            }
        )
    return rows


def _report_available(page: Page) -> bool:
    """Whether the server has the standalone report's route (its link is hidden otherwise);
    looked up once per app."""
    state = page.request.app.state
    found = getattr(state, "monitor_report_route", None)
    if found is None:
        found = any(
            route.path == REPORT_ROUTE for route in iter_route_contexts(page.request.app.routes)
        )
        state.monitor_report_route = found
    return bool(found)


# -- the project's monitors -------------------------------------------------------------------


@router.get("/monitoring")
def monitoring_home(page: Viewer) -> Response:
    projects = list_projects(page.platform, page.actor)
    wanted = page.request.query_params.get("project", "")
    if wanted:
        if not any(p.name == wanted for p in projects):
            raise InvalidArgument(f"there is no project {wanted[:64]!r} that you can see")
        return _see_other(monitoring_path(wanted))
    if projects:
        return _see_other(monitoring_path(projects[0].name))
    return render(page, "monitoring.html", active="monitoring", projects=[], project=None, rows=[])


def _monitor_row(page: Page, project: str, monitor: Monitor, open_alerts: int) -> dict[str, Any]:
    latest = list_monitor_results(page.platform, page.actor, project, monitor.name, limit=1)
    result = latest[-1] if latest else None
    share = result.metrics.get("drift.share_drifted") if result is not None else None
    return {"monitor": monitor, "latest": result, "share": share, "open_alerts": open_alerts}


def _monitoring_page(
    page: Page,
    project: str,
    *,
    status: int = 200,
    error: str | None = None,
    form: dict[str, str] | None = None,
) -> Response:
    platform, actor = page.platform, page.actor
    monitors = list_monitors(platform, actor, project)
    open_alerts = list_alerts(platform, actor, project, state="open", limit=ALERTS_SHOWN)
    counts: dict[str, int] = {}
    for alert in open_alerts:
        counts[alert.monitor_id] = counts.get(alert.monitor_id, 0) + 1
    changeable = can_change(page, project)
    deployments = list_deployments(platform, actor, project) if changeable else []
    datasets = list_datasets(platform, actor, project) if changeable else []
    return render(
        page,
        "monitoring.html",
        status=status,
        active="monitoring",
        error=error,
        form=form or {},
        projects=list_projects(platform, actor),
        project=project,
        rows=[_monitor_row(page, project, m, counts.get(m.id, 0)) for m in monitors],
        alerts=alert_rows(page, project, open_alerts, monitors),
        can_change=changeable,
        deployments=[d.name for d in deployments],
        datasets=[d.name for d in datasets],
        reference_kinds=REFERENCE_KINDS,
        quality_tasks=QUALITY_TASKS,
        default_window=DEFAULT_WINDOW_SECONDS,
        base=monitoring_path(project),
        alerts_base=alerts_path(project),
    )


@router.get("/projects/{project}/monitoring")
def monitoring_page(page: Viewer, project: str) -> Response:
    return _monitoring_page(page, project)


# -- the create form --------------------------------------------------------------------------


def _whole_number(text: str, what: str) -> int:
    try:
        return int(text.strip())
    except ValueError:
        raise InvalidArgument(f"{what} must be a whole number, not {text[:20]!r}") from None


def _label(text: str) -> Any:
    """A label typed in a form: a JSON number, boolean or quoted string as such, any other
    text as the string it is (``1`` is the number 1, ``"1"`` the string)."""
    text = text.strip()
    try:
        value = json.loads(text)
    except ValueError:
        return text
    return value if isinstance(value, int | float | str | bool) else text


def _reference(form: dict[str, str]) -> dict[str, Any] | None:
    """The form's reference; ``None`` for the default one (the service's: the training
    profile, or version 1 of a watched dataset)."""
    kind = form["reference_kind"]
    if kind == "":
        return None
    if kind == "dataset":
        return {
            "kind": "dataset",
            "name": form["reference_dataset"].strip(),
            "version": _whole_number(form["reference_version"], "the dataset version"),
        }
    if kind == "windows":
        return {
            "kind": "windows",
            "since": form["reference_since"].strip(),
            "until": form["reference_until"].strip(),
        }
    return {"kind": kind}  # training, or anything else for the service to refuse


def _monitor_options(form: dict[str, str]) -> dict[str, Any]:
    """The ``create_monitor`` keywords of the form; ``InvalidArgument`` for a malformed number."""
    target = form["target"]
    if target not in ("deployment", "model", "dataset"):
        raise InvalidArgument(f"watch a deployment, a model or a dataset, not {target[:20]!r}")
    options: dict[str, Any] = {
        "reference": _reference(form),
        "window_seconds": _whole_number(form["window_seconds"], "the window"),
    }
    if target == "deployment":
        options["deployment"] = form["deployment"].strip()
    elif target == "dataset":
        options["dataset"] = form["dataset"].strip()
    else:
        options["model_name"] = form["model_name"].strip()
        version = form["model_version"].strip()
        options["model_version"] = _whole_number(version, "the model version") if version else None
    task = form["quality_task"]
    if task:
        quality: dict[str, Any] = {"task": task}
        if form["positive_label"].strip():
            quality["positive_label"] = _label(form["positive_label"])
        options["quality"] = quality
    sensitive = form["sensitive"].strip()
    if sensitive:
        fairness: dict[str, Any] = {"sensitive": sensitive}
        if form["favourable"].strip():
            fairness["favourable"] = _label(form["favourable"])
        options["fairness"] = fairness
    return options


@router.post("/projects/{project}/monitoring")
def create_submit(
    page: Writer,
    project: str,
    name: FormText = "",
    target: FormText = "deployment",
    deployment: FormText = "",
    model_name: FormText = "",
    model_version: FormText = "",
    dataset: FormText = "",
    reference_kind: FormText = "",
    reference_dataset: FormText = "",
    reference_version: FormText = "",
    reference_since: FormText = "",
    reference_until: FormText = "",
    window_seconds: FormText = "",
    quality_task: FormText = "",
    positive_label: FormText = "",
    sensitive: FormText = "",
    favourable: FormText = "",
) -> Response:
    """Create a monitor from the form (maintainers)."""
    form = {
        "name": name, "target": target, "deployment": deployment, "model_name": model_name,
        "model_version": model_version, "dataset": dataset, "reference_kind": reference_kind,
        "reference_dataset": reference_dataset, "reference_version": reference_version,
        "reference_since": reference_since, "reference_until": reference_until,
        "window_seconds": window_seconds, "quality_task": quality_task,
        "positive_label": positive_label, "sensitive": sensitive, "favourable": favourable,
    }  # fmt: skip
    try:
        options = _monitor_options(form)
        monitor = create_monitor(page.platform, page.actor, project, name.strip(), **options)
    except StewardError as exc:
        return _monitoring_page(page, project, status=status_for(exc), error=exc.message, form=form)
    flash(page.request, f"Monitor {monitor.name} created.")
    return _see_other(monitor_path(project, monitor.name))


# -- a monitor --------------------------------------------------------------------------------


def monitor_page(
    page: Page,
    project: str,
    name: str,
    *,
    status: int = 200,
    error: str | None = None,
    rule_form: dict[str, str] | None = None,
    rule_error: str | None = None,
) -> Response:
    """A monitor's dashboard, with ``error`` shown at the top (a refused action) and
    ``rule_error`` next to the alert rule form, filled with ``rule_form`` (what was sent;
    ``_ui_monitoring_config``)."""
    platform, actor = page.platform, page.actor
    monitor = get_monitor(platform, actor, project, name)
    latest = list_monitor_results(platform, actor, project, name, limit=1)
    try:
        report: MonitoringReport | None = monitor_report(
            platform, actor, project, name, max_windows=WINDOWS_SHOWN
        )
        charts_problem = None
    except InvalidArgument as exc:  # a malformed stored result: the rest of the page still works
        report, charts_problem = None, exc.message
    rules = list_alert_rules(platform, actor, project, monitor_id=monitor.id)
    alerts = list_alerts(platform, actor, project, monitor_id=monitor.id, limit=ALERTS_SHOWN)
    return render(
        page,
        "monitoring_monitor.html",
        status=status,
        active="monitoring",
        error=error,
        project=project,
        monitor=monitor,
        latest=latest[-1] if latest else None,
        charts=None if report is None else dashboard_charts(report),
        charts_problem=charts_problem,
        note=None if report is None else report.subject.get("note"),
        missing_distributions=None if report is None else report.subject.get("distributions"),
        rules=rules,
        rule_form=rule_form or {},
        rule_kinds=KINDS,
        rule_ops=tuple(OPS),
        severities=tuple(s.value for s in Severity),
        rule_error=rule_error,
        alerts=alert_rows(page, project, alerts, [monitor]),
        can_change=can_change(page, project),
        report_url=(
            f"{API_PREFIX}/projects/{quote(project, safe='')}/monitors/"
            f"{quote(name, safe='')}/report?format=html&download=true"
            if _report_available(page)
            else None
        ),
        base=monitor_path(project, name),
        list_base=monitoring_path(project),
        alerts_base=alerts_path(project),
    )


@router.get("/projects/{project}/monitoring/{name}")
def monitor_dashboard(page: Viewer, project: str, name: str) -> Response:
    return monitor_page(page, project, name)


@router.post("/projects/{project}/monitoring/{name}/evaluate")
def evaluate_submit(page: Writer, project: str, name: str) -> Response:
    """Evaluate the monitor's newest complete window now (maintainers)."""
    try:
        result = evaluate_monitor(page.platform, page.actor, project, name)
    except StewardError as exc:
        return monitor_page(page, project, name, status=status_for(exc), error=exc.message)
    start = result.window_start.strftime("%Y-%m-%d %H:%M:%S UTC")
    flash(page.request, f"Evaluated the window starting {start}: {result.status}.")
    return _see_other(monitor_path(project, name))


@router.post("/projects/{project}/monitoring/{name}/enabled")
def enabled_submit(page: Writer, project: str, name: str, enabled: FormText = "") -> Response:
    """Turn the monitor's scheduled evaluation on (``enabled=true``) or off (maintainers)."""
    try:
        if enabled not in ("true", "false"):
            raise InvalidArgument(f"enabled must be true or false, not {enabled[:20]!r}")
        changed = update_monitor(
            page.platform, page.actor, project, name, enabled=enabled == "true"
        )
    except StewardError as exc:
        return monitor_page(page, project, name, status=status_for(exc), error=exc.message)
    state = "enabled" if changed.enabled else "disabled"
    flash(page.request, f"Monitor {changed.name} is {state}.")
    return _see_other(monitor_path(project, name))


@router.post("/projects/{project}/monitoring/{name}/delete")
def delete_submit(page: Writer, project: str, name: str) -> Response:
    """Delete the monitor and its results (maintainers)."""
    try:
        delete_monitor(page.platform, page.actor, project, name)
    except StewardError as exc:
        return monitor_page(page, project, name, status=status_for(exc), error=exc.message)
    flash(page.request, f"Monitor {name} and its results are deleted.")
    return _see_other(monitoring_path(project))


@router.get("/monitoring/report.js")
def report_script() -> Response:
    """The standalone report's script (feature selection, heatmap tooltip), for the
    dashboard: the page may run scripts from this server only."""
    return Response(
        REPORT_SCRIPT,
        media_type="text/javascript",
        headers={"Cache-Control": "public, max-age=3600"},
    )
