"""Alert rules in the web UI: the form that adds a rule to a monitor, and enabling, disabling
and deleting a rule, on the monitor's page (maintainers; viewers see the rules read-only).

The form sends text; :func:`rule_options` turns it into the keywords of
:func:`create_alert_rule`, which checks everything else. A refused form re-renders the
monitor page with the service's message next to the form and what was typed kept (except a
webhook secret, which is never written back into a page), nothing written. The monitor
forms themselves (create, enable or disable, delete) are in ``_ui_monitoring``.
"""

from __future__ import annotations

import math
import re
from typing import Annotated, Any, Final

from fastapi import APIRouter, Depends, Form
from starlette.responses import RedirectResponse, Response

from ..errors import InvalidArgument, StewardError
from ..monitoring import create_alert_rule, delete_alert_rule, update_alert_rule
from ._ui_monitoring import monitor_page, monitor_path
from ._ui_render import UIRoute, status_for
from ._ui_session import Page, flash, writer

__all__ = ["RULE_FIELDS", "router", "rule_options"]

router = APIRouter(route_class=UIRoute, include_in_schema=False)
Writer = Annotated[Page, Depends(writer)]
FormText = Annotated[str, Form()]

RULE_FIELDS: Final = (
    "name", "metric", "kind", "op", "value", "windows", "relative", "severity",
    "renotify_seconds", "auto_resolve", "notify_log", "webhook_url", "slack_url", "email_to",
)  # fmt: skip
"""The rule form's fields kept when it is refused (``webhook_secret`` is not)."""
MAX_FIELD: Final = 2000
_ADDRESSES = re.compile(r"[\s,;]+")
_NOTIFIER_FIELD = re.compile(r"^notifiers\[(\d+)\](?:\.\w+)?")


def _number(text: str, what: str) -> float:
    try:
        value = float(text.strip())
    except ValueError:
        raise InvalidArgument(f"{what} must be a number, not {text[:20]!r}") from None
    if not math.isfinite(value):
        raise InvalidArgument(f"{what} must be a finite number")
    return value


def _whole(text: str, what: str) -> int:
    try:
        return int(text.strip())
    except ValueError:
        raise InvalidArgument(f"{what} must be a whole number, not {text[:20]!r}") from None


def rule_options(form: dict[str, str], webhook_secret: str) -> tuple[dict[str, Any], list[str]]:
    """The ``create_alert_rule`` keywords of the form, and a label for each notifier in
    order (to name the form field in the service's messages). ``InvalidArgument`` for a
    number that is not one or an over-long field."""
    for key, text in form.items():
        if len(text) > MAX_FIELD:
            raise InvalidArgument(f"{key}: at most {MAX_FIELD} characters")
    notifiers: list[dict[str, Any]] = []
    labels: list[str] = []
    if form["notify_log"]:
        notifiers.append({"kind": "log"})
        labels.append("log")
    if form["webhook_url"].strip() or webhook_secret:
        notifiers.append(
            {"kind": "webhook", "url": form["webhook_url"].strip(), "secret": webhook_secret}
        )
        labels.append("webhook")
    if form["slack_url"].strip():
        notifiers.append({"kind": "slack", "url": form["slack_url"].strip()})
        labels.append("Slack")
    addresses = [a for a in _ADDRESSES.split(form["email_to"]) if a]
    if addresses:
        notifiers.append({"kind": "email", "to": addresses})
        labels.append("e-mail")
    options: dict[str, Any] = {
        "name": form["name"].strip(),
        "metric": form["metric"].strip(),
        "kind": form["kind"],
        "op": form["op"],
        "value": _number(form["value"], "the value"),
        "windows": _whole(form["windows"] or "1", "windows"),
        "relative": bool(form["relative"]),
        "severity": form["severity"],
        "renotify_seconds": _whole(form["renotify_seconds"] or "0", "the re-notify interval"),
        "auto_resolve": bool(form["auto_resolve"]),
        "notifiers": notifiers,
    }
    return options, labels


def _named(message: str, labels: list[str]) -> str:
    """``notifiers[1].url: …`` as the form says it: ``webhook (notifiers[1].url): …``."""
    match = _NOTIFIER_FIELD.match(message)
    if match is None or int(match.group(1)) >= len(labels):
        return message
    return f"{labels[int(match.group(1))]} notifier ({match.group(0)}){message[match.end() :]}"


@router.post("/projects/{project}/monitoring/{name}/rules")
def create_rule_submit(
    page: Writer,
    project: str,
    name: str,
    rule_name: FormText = "",
    metric: FormText = "",
    kind: FormText = "threshold",
    op: FormText = ">",
    value: FormText = "",
    windows: FormText = "1",
    relative: FormText = "",
    severity: FormText = "warning",
    renotify_seconds: FormText = "3600",
    auto_resolve: FormText = "",
    notify_log: FormText = "",
    webhook_url: FormText = "",
    webhook_secret: FormText = "",
    slack_url: FormText = "",
    email_to: FormText = "",
) -> Response:
    """Add an alert rule to the monitor from the form (maintainers)."""
    form = {
        "name": rule_name, "metric": metric, "kind": kind, "op": op, "value": value,
        "windows": windows, "relative": relative, "severity": severity,
        "renotify_seconds": renotify_seconds, "auto_resolve": auto_resolve,
        "notify_log": notify_log, "webhook_url": webhook_url, "slack_url": slack_url,
        "email_to": email_to,
    }  # fmt: skip
    labels: list[str] = []
    try:
        options, labels = rule_options(form, webhook_secret)
        rule = create_alert_rule(page.platform, page.actor, project, monitor=name, **options)
    except StewardError as exc:
        return monitor_page(
            page,
            project,
            name,
            status=status_for(exc),
            rule_form=form,
            rule_error=_named(exc.message, labels),
        )
    flash(page.request, f"Alert rule {rule.name} added: {rule.condition.describe()}.")
    return RedirectResponse(monitor_path(project, name), status_code=303)


@router.post("/projects/{project}/monitoring/{name}/rules/enabled")
def rule_enabled_submit(
    page: Writer, project: str, name: str, rule: FormText = "", enabled: FormText = ""
) -> Response:
    """Turn an alert rule on (``enabled=true``) or off (maintainers)."""
    try:
        if enabled not in ("true", "false"):
            raise InvalidArgument(f"enabled must be true or false, not {enabled[:20]!r}")
        changed = update_alert_rule(
            page.platform, page.actor, project, monitor=name, name=rule, enabled=enabled == "true"
        )
    except StewardError as exc:
        return monitor_page(page, project, name, status=status_for(exc), rule_error=exc.message)
    state = "enabled" if changed.enabled else "disabled"
    flash(page.request, f"Alert rule {changed.name} is {state}.")
    return RedirectResponse(monitor_path(project, name), status_code=303)


@router.post("/projects/{project}/monitoring/{name}/rules/delete")
def rule_delete_submit(page: Writer, project: str, name: str, rule: FormText = "") -> Response:
    """Delete an alert rule with its incidents (maintainers)."""
    try:
        delete_alert_rule(page.platform, page.actor, project, monitor=name, name=rule)
    except StewardError as exc:
        return monitor_page(page, project, name, status=status_for(exc), rule_error=exc.message)
    flash(page.request, f"Alert rule {rule} and its alerts are deleted.")
    return RedirectResponse(monitor_path(project, name), status_code=303)
