"""``mlsteward alert``: rules on a monitor's metrics (``alert rule
create|list|enable|disable|delete``) and the incidents they open (``alert
list|show|ack|resolve|notifications``) and what was done about them in the lineage graph
(``alert link``).

Commands go through ``Client``: on the local platform (as ``local-admin``) or, with
``MLSTEWARD_SERVER_URL``, through the platform server. Rules are named per monitor; incidents
are named by their id (``alert list`` shows them).
"""

from __future__ import annotations

import shlex
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from ._local import cli_client
from ._output import emit_json, format_time, print_message, print_success, print_table

if TYPE_CHECKING:
    from ..client import Client
    from ..monitoring import Alert, AlertRule

alert_app = typer.Typer(
    name="alert",
    help="Alerts: rules on a monitor's metrics, the incidents they open, their notifications.",
    no_args_is_help=True,
)
rule_app = typer.Typer(
    name="rule", help="Alert rules on a monitor's metrics.", no_args_is_help=True
)
alert_app.add_typer(rule_app, name="rule")

JsonOption = Annotated[bool, typer.Option("--json", help="Print JSON to stdout.")]
ProjectOption = Annotated[str, typer.Option("--project", help="The monitor's project.")]
MonitorArg = Annotated[str, typer.Argument(help="Monitor name.")]
RuleArg = Annotated[str, typer.Argument(help="Rule name (unique per monitor).")]
AlertArg = Annotated[str, typer.Argument(help="Alert id (`mlsteward alert list` shows them).")]
MAX_SECRET_FILE_BYTES = 4096


def _bad(message: str) -> Exception:
    from ..errors import InvalidArgument

    return InvalidArgument(message)


def _condition(
    above: float | None,
    below: float | None,
    windows: int,
    baseline: int | None,
    deviation: float | None,
    relative: bool,
) -> dict[str, Any]:
    """The rule's kind, op, value and windows from the condition options."""
    given = [name for name, v in (("--above", above), ("--below", below),
                                  ("--baseline", baseline)) if v is not None]  # fmt: skip
    if len(given) != 1:
        raise _bad(
            "give exactly one condition: --above X, --below X, or --baseline K --deviation X"
        )
    if baseline is not None:
        if deviation is None:
            raise _bad("--baseline needs --deviation: how far from the baseline mean breaches")
        if windows != 1:
            raise _bad("--for applies to --above and --below, not to --baseline")
        return {"kind": "baseline", "op": ">", "value": deviation, "windows": baseline,
                "relative": relative}  # fmt: skip
    if deviation is not None or relative:
        raise _bad("--deviation and --relative go with --baseline")
    op, value = (">", above) if above is not None else ("<", below)
    kind = "consecutive" if windows > 1 else "threshold"
    return {"kind": kind, "op": op, "value": value, "windows": windows, "relative": False}


def _secret(path: str) -> str:
    """The webhook's signing secret: the file's first line (the file stays where it is)."""
    try:
        with Path(path).open("rb") as handle:
            data = handle.read(MAX_SECRET_FILE_BYTES + 1)
    except OSError as exc:
        raise _bad(f"--secret-file {path!r} cannot be read: {exc.strerror}") from None
    if len(data) > MAX_SECRET_FILE_BYTES:
        raise _bad(f"--secret-file {path!r} is too large for a secret")
    try:
        lines = data.decode().splitlines()
    except UnicodeDecodeError:
        raise _bad(f"--secret-file {path!r} is not text") from None
    if not lines or not lines[0].strip():
        raise _bad(f"--secret-file {path!r} is empty: write the secret on its first line")
    return lines[0].strip()


def _notifiers(
    webhook: str | None, secret_file: str | None, slack: str | None, emails: list[str], log: bool
) -> list[dict[str, Any]]:
    if (webhook is None) != (secret_file is None):
        raise _bad("--webhook and --secret-file go together (receivers check the signature)")
    found: list[dict[str, Any]] = []
    if webhook is not None and secret_file is not None:
        found.append({"kind": "webhook", "url": webhook, "secret": _secret(secret_file)})
    if slack is not None:
        found.append({"kind": "slack", "url": slack})
    if emails:
        found.append({"kind": "email", "to": emails})
    if log:
        found.append({"kind": "log"})
    return found


def _action(callable_name: str | None, command: str | None, timeout: int) -> dict[str, Any] | None:
    if callable_name is not None and command is not None:
        raise _bad("give one action: --action-callable or --action-command")
    if callable_name is not None:
        return {"kind": "callable", "name": callable_name}
    if command is None:
        return None
    try:
        argv = shlex.split(command)
    except ValueError as exc:
        raise _bad(f"--action-command cannot be split into arguments: {exc}") from None
    if not argv:
        raise _bad("--action-command is empty: give the program and its arguments")
    return {"kind": "command", "argv": argv, "timeout_seconds": timeout}


def _notifier_text(rule: AlertRule) -> str:
    shown = []
    for item in rule.notifiers:
        kind = str(item.get("kind"))
        if kind == "email":
            shown.append("email " + ", ".join(item.get("to", [])))
        elif "url" in item:
            shown.append(f"{kind} {item['url']}")
        else:
            shown.append(kind)
    return "; ".join(shown) or "-"


def _action_text(rule: AlertRule) -> str:
    if rule.action is None:
        return "-"
    if rule.action["kind"] == "callable":
        return f"callable {rule.action['name']}"
    return "command " + shlex.join(rule.action["argv"])


def _value(value: float | None) -> str:
    return "-" if value is None else f"{value:.4g}"


@rule_app.command("create")
def rule_create(
    monitor: MonitorArg,
    name: RuleArg,
    metric: Annotated[
        str,
        typer.Option("--metric", help="The monitor metric to watch, e.g. quality.recall."),
    ],
    above: Annotated[
        float | None, typer.Option("--above", help="Breached when the metric is above X.")
    ] = None,
    below: Annotated[
        float | None, typer.Option("--below", help="Breached when the metric is below X.")
    ] = None,
    windows: Annotated[
        int,
        typer.Option("--for", help="Only when --above/--below holds for N windows in a row."),
    ] = 1,
    baseline: Annotated[
        int | None,
        typer.Option(
            "--baseline",
            help="Compare with the mean of the K windows before the newest (with --deviation).",
        ),
    ] = None,
    deviation: Annotated[
        float | None,
        typer.Option("--deviation", help="Breached when off the baseline mean by more than X."),
    ] = None,
    relative: Annotated[
        bool, typer.Option("--relative", help="--deviation is a percent of the baseline mean.")
    ] = False,
    severity: Annotated[
        str, typer.Option("--severity", help="info, warning or critical.")
    ] = "warning",
    renotify: Annotated[
        int,
        typer.Option("--renotify", help="Send a firing alert again every SECONDS (0: never)."),
    ] = 3600,
    webhook: Annotated[
        str | None, typer.Option("--webhook", help="POST signed JSON to this URL.")
    ] = None,
    secret_file: Annotated[
        str | None,
        typer.Option(
            "--secret-file", help="The --webhook signing secret: first line of this file."
        ),
    ] = None,
    slack: Annotated[
        str | None, typer.Option("--slack", help="A Slack incoming-webhook URL.")
    ] = None,
    emails: Annotated[
        list[str] | None, typer.Option("--email", help="Mail this address (repeatable).")
    ] = None,
    log: Annotated[
        bool, typer.Option("--log", help="Write a JSON line to the server's log.")
    ] = False,
    action_callable: Annotated[
        str | None,
        typer.Option(
            "--action-callable", help="Call this registered retraining action when it fires."
        ),
    ] = None,
    action_command: Annotated[
        str | None,
        typer.Option(
            "--action-command",
            help="Run this program (split like a shell would, run without one) when it fires "
            "(administrators).",
        ),
    ] = None,
    action_timeout: Annotated[
        int, typer.Option("--action-timeout", help="Seconds before --action-command is stopped.")
    ] = 3600,
    no_auto_resolve: Annotated[
        bool,
        typer.Option("--no-auto-resolve", help="Keep an alert open when the condition clears."),
    ] = False,
    disabled: Annotated[
        bool, typer.Option("--disabled", help="Create the rule without judging windows.")
    ] = False,
    project: ProjectOption = "default",
    json_output: JsonOption = False,
) -> None:
    """Add a rule on a metric of a monitor: --above X, --below X [--for N], or --baseline K
    --deviation X [--relative]."""
    condition = _condition(above, below, windows, baseline, deviation, relative)
    notifiers = _notifiers(webhook, secret_file, slack, emails or [], log)
    action = _action(action_callable, action_command, action_timeout)
    with cli_client() as client:
        created = client.create_alert_rule(
            monitor,
            name,
            project=project,
            metric=metric,
            severity=severity,
            renotify_seconds=renotify,
            auto_resolve=not no_auto_resolve,
            notifiers=notifiers,
            action=action,
            enabled=not disabled,
            **condition,
        )
    if json_output:
        emit_json(created.to_json())
        return
    print_success(
        f"rule {created.name} on monitor {monitor}: {created.condition.describe()} "
        f"({created.severity})"
    )


@rule_app.command("list")
def rule_list(
    monitor: MonitorArg, project: ProjectOption = "default", json_output: JsonOption = False
) -> None:
    """The monitor's alert rules (never a webhook secret or a Slack URL's path)."""
    with cli_client() as client:
        found = client.list_alert_rules(monitor, project=project)
    if json_output:
        emit_json({"rules": [r.to_json() for r in found]})
        return
    rows = [
        [r.name, r.condition.describe(), r.severity, _notifier_text(r), _action_text(r),
         "yes" if r.enabled else "no"]
        for r in found
    ]  # fmt: skip
    print_table(["name", "condition", "severity", "notifiers", "action", "enabled"], rows)


def _set_enabled(monitor: str, name: str, enabled: bool, project: str, json_output: bool) -> None:
    with cli_client() as client:
        rule = client.update_alert_rule(monitor, name, enabled=enabled, project=project)
    if json_output:
        emit_json(rule.to_json())
        return
    state = "enabled" if rule.enabled else "disabled"
    print_success(f"rule {rule.name} of monitor {monitor} is {state}")


@rule_app.command("enable")
def rule_enable(
    monitor: MonitorArg,
    name: RuleArg,
    project: ProjectOption = "default",
    json_output: JsonOption = False,
) -> None:
    """Turn a rule on: the monitor's next windows are judged by it again."""
    _set_enabled(monitor, name, True, project, json_output)


@rule_app.command("disable")
def rule_disable(
    monitor: MonitorArg,
    name: RuleArg,
    project: ProjectOption = "default",
    json_output: JsonOption = False,
) -> None:
    """Turn a rule off without deleting it: windows are not judged by it, an open alert stays
    until resolved."""
    _set_enabled(monitor, name, False, project, json_output)


@rule_app.command("delete")
def rule_delete(
    monitor: MonitorArg,
    name: RuleArg,
    project: ProjectOption = "default",
    json_output: JsonOption = False,
) -> None:
    """Delete a rule with its alerts and their notification log."""
    with cli_client() as client:
        client.delete_alert_rule(monitor, name, project=project)
    if json_output:
        emit_json({"deleted": name, "monitor": monitor, "project": project})
        return
    print_success(f"deleted rule {name} of monitor {monitor} and its alerts")


def _names(client: Client, project: str, found: list[Alert]) -> dict[str, str]:
    """Monitor and rule names by id, for the alerts' table."""
    names: dict[str, str] = {m.id: m.name for m in client.list_monitors(project)}
    for monitor_id in {a.monitor_id for a in found}:
        if monitor_id in names:
            rules = client.list_alert_rules(names[monitor_id], project=project)
            names.update({r.id: r.name for r in rules})
    return names


@alert_app.command("list")
def alert_list(
    monitor: Annotated[
        str | None, typer.Option("--monitor", help="Only this monitor's alerts.")
    ] = None,
    state: Annotated[
        str | None,
        typer.Option("--state", help="firing, acknowledged, resolved or open (the first two)."),
    ] = None,
    limit: Annotated[int, typer.Option("--limit", help="At most N (the newest).")] = 100,
    project: ProjectOption = "default",
    json_output: JsonOption = False,
) -> None:
    """The project's alerts, newest first."""
    with cli_client() as client:
        found = client.list_alerts(project=project, monitor=monitor, state=state, limit=limit)
        names = {} if json_output else _names(client, project, found)
    if json_output:
        emit_json({"alerts": [a.to_json() for a in found]})
        return
    rows = [
        [a.id, names.get(a.monitor_id, a.monitor_id), names.get(a.rule_id, a.rule_id), a.state,
         a.severity, format_time(a.opened_at), _value(a.last_value), a.notify_count]
        for a in found
    ]  # fmt: skip
    columns = ["id", "monitor", "rule", "state", "severity", "opened", "value", "sent"]
    print_table(columns, rows)


@alert_app.command("show")
def alert_show(
    alert_id: AlertArg, project: ProjectOption = "default", json_output: JsonOption = False
) -> None:
    """An alert: its state, windows, who acknowledged or resolved it, its action's outcome."""
    with cli_client() as client:
        alert = client.get_alert(alert_id, project=project)
    if json_output:
        emit_json(alert.to_json())
        return
    print_message(f"alert {alert.id}: {alert.state}, {alert.severity}")
    print_message(
        f"  opened {format_time(alert.opened_at)} (window from "
        f"{format_time(alert.opened_window_start)}), last window "
        f"{format_time(alert.last_window_start)}, value {_value(alert.last_value)}"
    )
    print_message(f"  notified {alert.notify_count} time(s)")
    if alert.acknowledged_by is not None:
        print_message(
            f"  acknowledged by {alert.acknowledged_by} at {format_time(alert.acknowledged_at)}"
        )
    if alert.resolved_at is not None:
        who = f" by {alert.resolved_by}" if alert.resolved_by else ""
        print_message(f"  resolved ({alert.resolution}){who} at {format_time(alert.resolved_at)}")
    if alert.action_status is not None:
        print_message(f"  action: {alert.action_status}")


@alert_app.command("ack")
def alert_ack(
    alert_id: AlertArg, project: ProjectOption = "default", json_output: JsonOption = False
) -> None:
    """Acknowledge a firing alert: it is not sent again until it resolves."""
    with cli_client() as client:
        alert = client.acknowledge_alert(alert_id, project=project)
    if json_output:
        emit_json(alert.to_json())
        return
    print_success(f"acknowledged alert {alert.id}")


@alert_app.command("resolve")
def alert_resolve(
    alert_id: AlertArg, project: ProjectOption = "default", json_output: JsonOption = False
) -> None:
    """Resolve an alert by hand."""
    with cli_client() as client:
        alert = client.resolve_alert(alert_id, project=project)
    if json_output:
        emit_json(alert.to_json())
        return
    print_success(f"resolved alert {alert.id}")


@alert_app.command("link")
def alert_link(
    alert_id: AlertArg,
    node: Annotated[
        str,
        typer.Argument(
            help="What the alert led to: deployment:<name>, model:<name>/<version>, "
            "models:/<name>@<alias>, run:<id> or dataset:<name>@<version>."
        ),
    ],
    relation: Annotated[
        str,
        typer.Option(
            "--relation",
            help="promoted (the version or deployment it put in production) or "
            "triggered (a retraining run or version).",
        ),
    ] = "promoted",
    project: ProjectOption = "default",
    json_output: JsonOption = False,
) -> None:
    """Record in the lineage graph what an alert led to (maintainers): `alert -promoted->
    deployment:fraud-api` after a rollout, for example. Linking again changes nothing."""
    with cli_client() as client:
        link = client.link_alert(alert_id, node, relation=relation, project=project)
    if json_output:
        emit_json(link.to_json())
        return
    at = f" at revision {link.revision}" if link.revision is not None else ""
    if link.created:
        print_success(f"linked alert {link.alert_id} -{link.relation}-> {link.node}{at}")
    else:
        print_message(f"alert {link.alert_id} was already linked -{link.relation}-> {link.node}")


@alert_app.command("notifications")
def alert_notifications(
    alert_id: AlertArg, project: ProjectOption = "default", json_output: JsonOption = False
) -> None:
    """Every delivery attempt for an alert, oldest first."""
    with cli_client() as client:
        found = client.alert_notifications(alert_id, project=project)
    if json_output:
        emit_json({"notifications": [n.to_json() for n in found]})
        return
    rows = [
        [format_time(n.at), n.notifier, n.target, n.reason, n.attempt, n.status, n.error or ""]
        for n in found
    ]
    print_table(["at", "notifier", "target", "reason", "attempt", "status", "error"], rows)
