"""``mlsteward deploy``: deployments managed by the platform: create, status, list, rollout
(canary or shadow), promote, rollback, logs, stop, start.

Commands go through ``Client``: on the local platform (as ``local-admin``, supervisors on this
machine) or, with ``MLSTEWARD_SERVER_URL``, through the platform server (supervisors on its
machine). Commands that change routing wait until the running server reports the new plan
revision, so a rollback has taken effect for the next request when the command returns.
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Annotated, Any

import typer

from ._local import cli_client
from ._output import (
    emit_json,
    format_time,
    print_message,
    print_success,
    print_table,
    print_warning,
)
from ._serve import (
    InputRangesChoice,
    InputRangesOption,
    LogSampleRateOption,
    LogWindowOption,
    RangeToleranceOption,
)

if TYPE_CHECKING:
    from ..client import Client
    from ..deployments import Deployment, DeploymentEvent

deploy_app = typer.Typer(
    name="deploy",
    help="Deployments: named endpoints serving model versions with canary, shadow and "
    "rollback, supervised by the platform.",
    no_args_is_help=True,
)

JsonOption = Annotated[bool, typer.Option("--json", help="Print JSON to stdout.")]
ProjectOption = Annotated[str, typer.Option("--project", help="The deployment's project.")]
NameArg = Annotated[str, typer.Argument(help="Deployment name.")]
TimeoutOption = Annotated[
    float,
    typer.Option(
        "--timeout",
        min=0,
        help="Seconds to wait for the running server to confirm the change (0: do not wait).",
    ),
]
_POLL_SECONDS = 0.5


def _plan_text(deployment: Deployment) -> str:
    plan = deployment.plan
    parts = [
        f"v{route.version} {route.weight}%" + (" (stable)" if route.version == plan.stable else "")
        for route in plan.routes
    ]
    if plan.shadow is not None:
        parts.append(f"shadow v{plan.shadow}")
    return ", ".join(parts)


def _options_text(deployment: Deployment) -> str:
    logged = (
        f"prediction log every {deployment.log_window:g} s, "
        f"{deployment.log_sample_rate * 100:.4g} % of the rows sampled"
        if deployment.prediction_log
        else "no prediction log"
    )
    ranges = (
        f"input ranges checked (tolerance {deployment.range_tolerance:g})"
        if deployment.input_ranges.value == "reject"
        else "input ranges not checked"
    )
    return f"{logged}; {ranges}"


def _confirm(
    client: Client,
    deployment: Deployment,
    timeout: float,
    json_output: bool,
    done: str,
    extra: dict[str, Any] | None = None,
) -> None:
    """Wait for the server to serve ``deployment``'s revision, then report (a warning, exit
    code 0, when it did not confirm in time)."""
    confirmed = timeout > 0 and client.wait_for_deployment(
        deployment.name, deployment.revision, project=deployment.project, timeout=timeout
    )
    if json_output:
        emit_json({**deployment.to_json(), "confirmed": confirmed, **(extra or {})})
        return
    print_success(f"{done} (revision {deployment.revision}: {_plan_text(deployment)})")
    if confirmed:
        print_message(f"the server at {deployment.url} serves revision {deployment.revision}")
    elif timeout > 0:
        print_warning(
            f"the server at {deployment.url} has not confirmed revision {deployment.revision} "
            f"within {timeout:g} s: it may still be loading a version, or be down; see "
            f"`mlsteward deploy status {deployment.name}` and `mlsteward deploy logs "
            f"{deployment.name}`"
        )


@deploy_app.command("create")
def deploy_create(
    name: NameArg,
    model: Annotated[
        str,
        typer.Option(
            "--model", help="The version to serve: models:/NAME/VERSION or models:/NAME@ALIAS."
        ),
    ],
    port: Annotated[
        int | None,
        typer.Option("--port", min=1, max=65535, help="Port (default: a free one)."),
    ] = None,
    host: Annotated[str, typer.Option("--host", help="Address to listen on.")] = "127.0.0.1",
    sticky_header: Annotated[
        str | None,
        typer.Option(
            "--sticky-header",
            help="Request header whose value keeps a caller on one version (X-Routing-Key).",
        ),
    ] = None,
    max_error_rate: Annotated[
        float | None,
        typer.Option(
            "--max-error-rate",
            min=0,
            max=1,
            help="Roll a canary back automatically above this share of errors (0.05 = 5 %).",
        ),
    ] = None,
    max_p99_ms: Annotated[
        float | None,
        typer.Option(
            "--max-p99-ms", help="Roll a canary back automatically above this p99 latency (ms)."
        ),
    ] = None,
    min_requests: Annotated[
        int | None,
        typer.Option(
            "--min-requests",
            min=1,
            help="Requests a canary needs in the window before an automatic rollback (50).",
        ),
    ] = None,
    api_key_file: Annotated[
        str | None,
        typer.Option("--api-key-file", help="Accept requests with one of these keys (one a line)."),
    ] = None,
    platform_tokens: Annotated[
        bool,
        typer.Option("--platform-tokens", help="Accept platform tokens with the predict scope."),
    ] = False,
    prediction_log: Annotated[
        bool,
        typer.Option(
            "--prediction-log/--no-prediction-log",
            help="Log predictions to the platform (per-window profiles, sampled rows, feedback "
            "labels) for monitoring.",
        ),
    ] = True,
    log_sample_rate: LogSampleRateOption = 0.01,
    log_window: LogWindowOption = 60.0,
    input_ranges: InputRangesOption = InputRangesChoice.reject,
    range_tolerance: RangeToleranceOption = 0.1,
    project: ProjectOption = "default",
    timeout: TimeoutOption = 30.0,
    json_output: JsonOption = False,
) -> None:
    """Deploy a registered model version as NAME and start its supervised server.

    Automatic rollback is on when any of --max-error-rate, --max-p99-ms, --min-requests is
    given (the others take their defaults). Predictions are logged to the platform and inputs
    checked against the training data's ranges unless --no-prediction-log, --input-ranges off."""
    from pathlib import Path

    from ..serving._routing import AutoRollbackRule

    rule = None
    if max_error_rate is not None or max_p99_ms is not None or min_requests is not None:
        defaults = AutoRollbackRule()
        rule = AutoRollbackRule(
            max_error_rate=defaults.max_error_rate if max_error_rate is None else max_error_rate,
            max_p99_ms=max_p99_ms,
            min_requests=defaults.min_requests if min_requests is None else min_requests,
        )
    key_file = None if api_key_file is None else str(Path(api_key_file).absolute())
    with cli_client() as client:
        created = client.create_deployment(
            name,
            model,
            project=project,
            host=host,
            port=port,
            sticky_header=sticky_header,
            auto_rollback=rule,
            api_key_file=key_file,
            platform_tokens=platform_tokens,
            prediction_log=prediction_log,
            log_sample_rate=log_sample_rate,
            log_window=log_window,
            input_ranges=input_ranges.value,
            range_tolerance=range_tolerance,
        )
        _confirm(client, created, timeout, json_output, f"deployed {created.model} as {name}")
        if not json_output:
            print_message(f"  OIP v2:  {created.url}/v2/models/{created.model}/infer")
            print_message(f"  MLflow:  {created.url}/invocations")
            print_message(f"  plain:   {created.url}/v1/models/{created.model}/predict")
            if created.prediction_log:
                print_message(
                    f"  feedback: {created.url}/v1/models/{created.model}/feedback (predictions "
                    f"logged to the platform every {created.log_window:g} s)"
                )


def _event_row(event: DeploymentEvent) -> list[object]:
    details = ", ".join(f"{k}={v}" for k, v in sorted(event.details.items()) if v is not None)
    return [format_time(event.at), event.revision, event.kind.value, event.actor, details]


_EVENT_COLUMNS = ["at", "revision", "event", "actor", "details"]


def _fmt(value: object) -> str:
    if value is None:
        return "-"
    if isinstance(value, float):
        return f"{value:.4g}"
    return str(value)


@deploy_app.command("status")
def deploy_status(
    name: NameArg, project: ProjectOption = "default", json_output: JsonOption = False
) -> None:
    """The plan (versions, weights), the process (state, restarts) and live per-version
    statistics from the running server, with the latest events."""
    with cli_client() as client:
        deployment = client.get_deployment(name, project=project)
        stats = client.deployment_stats(name, project=project)
        events = client.deployment_history(name, project=project, limit=10)
    if json_output:
        emit_json(
            {
                "deployment": deployment.to_json(),
                "stats": stats,
                "events": [e.to_json() for e in events],
            }
        )
        return
    process = stats.get("process", {})
    print_message(
        f"{deployment.name}: {deployment.model} at {deployment.url}, status "
        f"{deployment.status.value}, revision {deployment.revision}"
    )
    print_message(f"  plan: {_plan_text(deployment)}")
    print_message(f"  {_options_text(deployment)}")
    served = stats.get("revision") if stats.get("running") else None
    print_message(
        f"  process: {process.get('state', 'never started')}, server pid "
        f"{_fmt(process.get('server_pid'))}, restarts {process.get('restarts', 0)}, "
        + (f"serving revision {served}" if served is not None else "not answering")
    )
    versions = stats.get("versions") or {}
    if versions:
        rows = [
            [
                version,
                info.get("role"),
                info.get("weight"),
                info.get("requests"),
                info.get("errors"),
                _fmt(info.get("p50_ms")),
                _fmt(info.get("p99_ms")),
                info.get("requests_total"),
            ]
            for version, info in versions.items()
        ]
        columns = ["version", "role", "weight", "requests", "errors", "p50 ms", "p99 ms", "total"]
        print_table(columns, rows, title=f"last {stats.get('window_seconds', 60):g} s")
    shadow = stats.get("shadow") or {}
    if shadow.get("version"):
        print_message(
            f"  shadow v{shadow['version']}: {shadow.get('requests', 0)} mirrored, "
            f"{shadow.get('disagreements', 0)} disagreements, {shadow.get('dropped', 0)} dropped"
        )
    print_table(_EVENT_COLUMNS, [_event_row(e) for e in events], title="latest events")


@deploy_app.command("list")
def deploy_list(project: ProjectOption = "default", json_output: JsonOption = False) -> None:
    """The project's deployments."""
    with cli_client() as client:
        found = client.list_deployments(project)
    if json_output:
        emit_json({"deployments": [d.to_json() for d in found]})
        return
    rows = [
        [
            d.name,
            d.model,
            d.status.value,
            d.revision,
            _plan_text(d),
            d.url,
            format_time(d.updated_at),
        ]
        for d in found
    ]
    print_table(["name", "model", "status", "revision", "plan", "url", "updated"], rows)


@deploy_app.command("rollout")
def deploy_rollout(
    name: NameArg,
    version: Annotated[int, typer.Option("--version", min=1, help="The version to roll out.")],
    canary: Annotated[
        int | None,
        typer.Option(
            "--canary",
            min=1,
            max=99,
            help="Percent of the traffic for it (again on the running canary: a new weight).",
        ),
    ] = None,
    shadow: Annotated[
        bool,
        typer.Option("--shadow", help="Mirror every request to it instead (answers discarded)."),
    ] = False,
    project: ProjectOption = "default",
    timeout: TimeoutOption = 10.0,
    json_output: JsonOption = False,
) -> None:
    """Roll VERSION out as a canary (--canary N) or as a shadow (--shadow)."""
    with cli_client() as client:
        changed = client.rollout_deployment(
            name, version, canary=canary, shadow=shadow, project=project
        )
        what = (
            f"version {version} mirrors {name}" if shadow else f"version {version} gets {canary}%"
        )
        _confirm(client, changed, timeout, json_output, what)


@deploy_app.command("promote")
def deploy_promote(
    name: NameArg,
    project: ProjectOption = "default",
    timeout: TimeoutOption = 10.0,
    json_output: JsonOption = False,
) -> None:
    """Make the canary the stable version at 100 %."""
    with cli_client() as client:
        changed = client.promote_deployment(name, project=project)
        done = f"version {changed.plan.stable} is the stable version of {name}"
        _confirm(client, changed, timeout, json_output, done)


@deploy_app.command("rollback")
def deploy_rollback(
    name: NameArg,
    project: ProjectOption = "default",
    timeout: TimeoutOption = 10.0,
    json_output: JsonOption = False,
) -> None:
    """Send every request to the stable version now (canary and shadow dropped)."""
    with cli_client() as client:
        changed = client.rollback_deployment(name, project=project)
        done = f"rolled {name} back to version {changed.plan.stable}"
        _confirm(client, changed, timeout, json_output, done)


@deploy_app.command("stop")
def deploy_stop(
    name: NameArg, project: ProjectOption = "default", json_output: JsonOption = False
) -> None:
    """Stop the server gracefully (in-flight requests finish) and its supervisor."""
    with cli_client() as client:
        stopped = client.stop_deployment(name, project=project)
    if json_output:
        emit_json(stopped.to_json())
    else:
        print_success(f"stopped {name} ({stopped.url} no longer answers)")


@deploy_app.command("start")
def deploy_start(
    name: NameArg,
    project: ProjectOption = "default",
    timeout: TimeoutOption = 30.0,
    json_output: JsonOption = False,
) -> None:
    """Start a stopped or failed deployment's supervised server again."""
    with cli_client() as client:
        started = client.start_deployment(name, project=project)
        _confirm(client, started, timeout, json_output, f"started {name}")


def _new_lines(previous: list[str], current: list[str]) -> list[str]:
    """The lines of ``current`` after its overlap with the end of ``previous``."""
    for size in range(min(len(previous), len(current)), 0, -1):
        if previous[-size:] == current[:size]:
            return current[size:]
    return current


@deploy_app.command("logs")
def deploy_logs(
    name: NameArg,
    lines: Annotated[
        int, typer.Option("--lines", min=1, max=10_000, help="Server log lines to show.")
    ] = 50,
    follow: Annotated[
        bool, typer.Option("--follow", help="Keep printing new log lines (Ctrl-C ends).")
    ] = False,
    project: ProjectOption = "default",
    json_output: JsonOption = False,
) -> None:
    """The deployment's history (every change, restart and automatic rollback), then the last
    lines of its server's log."""
    with cli_client() as client:
        events = client.deployment_history(name, project=project, limit=100)
        shown = client.deployment_log(name, lines=lines, project=project)
        if json_output:
            emit_json({"events": [e.to_json() for e in events], "lines": shown})
        else:
            print_table(_EVENT_COLUMNS, [_event_row(e) for e in events], title="events")
            for line in shown:
                typer.echo(line)
        if not follow:
            return
        try:
            while True:
                time.sleep(_POLL_SECONDS)
                current = client.deployment_log(name, lines=1000, project=project)
                for line in _new_lines(shown, current):
                    typer.echo(line)
                shown = current
        except KeyboardInterrupt:
            return
