"""``mlsteward monitor``: monitors of deployments, models and table datasets: create, list,
show, results, evaluate, report, delete.

Commands go through ``Client``: on the local platform (as ``local-admin``) or, with
``MLSTEWARD_SERVER_URL``, through the platform server, whose scheduler evaluates the windows
in the background (``MLSTEWARD_MONITOR_INTERVAL_SECONDS``).
"""

from __future__ import annotations

import contextlib
import datetime as dt
import json
import os
import secrets
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from ._local import cli_client
from ._output import emit_json, format_time, print_message, print_success, print_table

if TYPE_CHECKING:
    from ..monitoring import Monitor, MonitorResult

monitor_app = typer.Typer(
    name="monitor",
    help="Monitors: drift, quality, fairness and counts of a deployment's or a model's "
    "predictions, or drift of a table dataset's new versions, per window.",
    no_args_is_help=True,
)

JsonOption = Annotated[bool, typer.Option("--json", help="Print JSON to stdout.")]
ProjectOption = Annotated[str, typer.Option("--project", help="The monitor's project.")]
NameArg = Annotated[str, typer.Argument(help="Monitor name.")]
_SHOWN_METRICS = (
    "infra.rows",
    "drift.share_drifted",
    "drift.dataset_drifted",
    "quality.label_coverage",
    "quality.accuracy",
    "quality.mae",
    "fairness.demographic_parity_ratio",
)


def _reference(text: str) -> dict[str, Any]:
    """``training``, ``dataset:NAME@VERSION`` or ``windows:SINCE/UNTIL`` as a reference."""
    from ..errors import InvalidArgument

    kind, _, rest = text.partition(":")
    if kind == "training" and not rest:
        return {"kind": "training"}
    if kind == "dataset" and "@" in rest:
        name, _, version = rest.rpartition("@")
        if version.isdigit():
            return {"kind": "dataset", "name": name, "version": int(version)}
    if kind == "windows" and "/" in rest:
        since, _, until = rest.partition("/")
        return {"kind": "windows", "since": since, "until": until}
    raise InvalidArgument(
        f"--reference {text[:80]!r} is not valid: write training, dataset:NAME@VERSION or "
        "windows:SINCE/UNTIL (ISO 8601 times with an offset)"
    )


def _value(text: str | None) -> Any:
    """A label given on the command line: JSON when it parses (1, true), else the text."""
    if text is None:
        return None
    try:
        return json.loads(text)
    except ValueError:
        return text


def _json_object(text: str | None, option: str) -> dict[str, Any] | None:
    from ..errors import InvalidArgument

    if text is None:
        return None
    try:
        value = json.loads(text)
    except ValueError as exc:
        raise InvalidArgument(f"{option} must be a JSON object: {exc}") from None
    if not isinstance(value, dict):
        raise InvalidArgument(f"{option} must be a JSON object")
    return value


def _time(text: str | None, option: str) -> dt.datetime | None:
    from ..monitoring._windows import parse_window_time

    return None if text is None else parse_window_time(text, option)


def _stream(monitor: Monitor) -> str:
    if monitor.dataset is not None:
        return f"dataset {monitor.dataset}"
    if monitor.deployment is not None:
        return f"deployment {monitor.deployment}"
    version = f" v{monitor.model_version}" if monitor.model_version else ""
    return f"model {monitor.model_name}{version}"


def _reference_text(reference: dict[str, Any]) -> str:
    if reference["kind"] == "dataset":
        return f"dataset {reference['name']}@{reference['version']}"
    if reference["kind"] == "windows":
        return f"windows {reference['since']} to {reference['until']}"
    return "training profile"


def _fmt(value: float | None) -> str:
    return "-" if value is None else f"{value:.4g}"


def _result_row(result: MonitorResult) -> list[object]:
    return [
        format_time(result.window_start),
        result.status,
        *(_fmt(result.metrics.get(key)) for key in _SHOWN_METRICS),
    ]


_RESULT_COLUMNS = ["window", "status", "rows", "drift share", "drifted", "labels", "accuracy",
                   "mae", "parity ratio"]  # fmt: skip


@monitor_app.command("create")
def monitor_create(
    name: NameArg,
    deployment: Annotated[
        str | None, typer.Option("--deployment", help="Watch this deployment's predictions.")
    ] = None,
    model: Annotated[
        str | None, typer.Option("--model", help="Watch this registered model's predictions.")
    ] = None,
    version: Annotated[
        str | None, typer.Option("--version", help="Only this version of --model.")
    ] = None,
    dataset: Annotated[
        str | None,
        typer.Option("--dataset", help="Watch the new versions of this table dataset."),
    ] = None,
    reference: Annotated[
        str | None,
        typer.Option(
            "--reference",
            help="training (the version's training profile; the default for --deployment "
            "and --model), dataset:NAME@VERSION (the default for --dataset: its version 1) "
            "or windows:SINCE/UNTIL.",
        ),
    ] = None,
    window_seconds: Annotated[
        int, typer.Option("--window-seconds", help="Evaluation window (at least 60 s).")
    ] = 300,
    drift_options: Annotated[
        str | None,
        typer.Option("--drift-options", help='Drift options as JSON, e.g. {"drift_share": 0.3}.'),
    ] = None,
    quality_task: Annotated[
        str | None,
        typer.Option("--quality-task", help="classification or regression: quality from labels."),
    ] = None,
    positive_label: Annotated[
        str | None, typer.Option("--positive-label", help="The positive class (binary quality).")
    ] = None,
    prediction_column: Annotated[
        str, typer.Option("--prediction-column", help="The output column with the prediction.")
    ] = "prediction",
    sensitive: Annotated[
        str | None,
        typer.Option("--sensitive", help="Fairness across the segments of this input column."),
    ] = None,
    favourable: Annotated[
        str, typer.Option("--favourable", help="The favourable decision (fairness).")
    ] = "1",
    min_rows: Annotated[
        int, typer.Option("--min-rows", help="Segments with fewer rows are flagged (fairness).")
    ] = 30,
    disabled: Annotated[
        bool, typer.Option("--disabled", help="Create it without background evaluation.")
    ] = False,
    project: ProjectOption = "default",
    json_output: JsonOption = False,
) -> None:
    """Create a monitor of a deployment (--deployment), of a model (--model [--version]) or
    of a table dataset's versions (--dataset)."""
    quality = None
    if quality_task is not None:
        quality = {
            "task": quality_task,
            "positive_label": _value(positive_label),
            "prediction_column": prediction_column,
        }
    fairness = None
    if sensitive is not None:
        fairness = {"sensitive": sensitive, "favourable": _value(favourable), "min_rows": min_rows}
    with cli_client() as client:
        created = client.create_monitor(
            name,
            project=project,
            deployment=deployment,
            model_name=model,
            model_version=version,
            dataset=dataset,
            reference=None if reference is None else _reference(reference),
            window_seconds=window_seconds,
            drift_options=_json_object(drift_options, "--drift-options"),
            quality=quality,
            fairness=fairness,
            enabled=not disabled,
        )
    if json_output:
        emit_json(created.to_json())
        return
    print_success(
        f"monitor {created.name} watches {_stream(created)} every {created.window_seconds} s "
        f"against the {_reference_text(created.reference)}"
    )


@monitor_app.command("list")
def monitor_list(project: ProjectOption = "default", json_output: JsonOption = False) -> None:
    """The project's monitors."""
    with cli_client() as client:
        found = client.list_monitors(project)
    if json_output:
        emit_json({"monitors": [m.to_json() for m in found]})
        return
    rows = [
        [m.name, _stream(m), _reference_text(m.reference), m.window_seconds,
         "yes" if m.enabled else "no", format_time(m.updated_at)]
        for m in found
    ]  # fmt: skip
    print_table(["name", "watches", "reference", "window s", "enabled", "updated"], rows)


@monitor_app.command("show")
def monitor_show(
    name: NameArg, project: ProjectOption = "default", json_output: JsonOption = False
) -> None:
    """A monitor and its latest results."""
    with cli_client() as client:
        monitor = client.get_monitor(name, project=project)
        results = client.monitor_results(name, project=project, limit=10)
    if json_output:
        emit_json({"monitor": monitor.to_json(), "results": [r.to_json() for r in results]})
        return
    state = "enabled" if monitor.enabled else "disabled"
    print_message(
        f"{monitor.name}: {_stream(monitor)}, windows of {monitor.window_seconds} s against the "
        f"{_reference_text(monitor.reference)}, {state}"
    )
    if monitor.quality:
        print_message(f"  quality: {monitor.quality['task']}")
    if monitor.fairness:
        print_message(f"  fairness across {monitor.fairness['sensitive']}")
    print_table(_RESULT_COLUMNS, [_result_row(r) for r in results], title="latest results")


@monitor_app.command("results")
def monitor_results(
    name: NameArg,
    since: Annotated[
        str | None, typer.Option("--since", help="Windows starting at or after (ISO 8601).")
    ] = None,
    until: Annotated[
        str | None, typer.Option("--until", help="Windows starting before (ISO 8601).")
    ] = None,
    limit: Annotated[int, typer.Option("--limit", help="At most N (the newest).")] = 100,
    project: ProjectOption = "default",
    json_output: JsonOption = False,
) -> None:
    """The monitor's results per window, oldest first."""
    with cli_client() as client:
        results = client.monitor_results(
            name,
            project=project,
            since=_time(since, "since"),
            until=_time(until, "until"),
            limit=limit,
        )
    if json_output:
        emit_json({"results": [r.to_json() for r in results]})
        return
    print_table(_RESULT_COLUMNS, [_result_row(r) for r in results])


@monitor_app.command("evaluate")
def monitor_evaluate(
    name: NameArg,
    at: Annotated[
        str | None,
        typer.Option(
            "--at", help="Evaluate the window holding this time (default: the newest complete one)."
        ),
    ] = None,
    project: ProjectOption = "default",
    json_output: JsonOption = False,
) -> None:
    """Evaluate one window now, replacing its result."""
    with cli_client() as client:
        result = client.evaluate_monitor(name, project=project, at=_time(at, "at"))
    if json_output:
        emit_json(result.to_json())
        return
    print_success(f"evaluated {name} for the window from {format_time(result.window_start)}")
    print_table(_RESULT_COLUMNS, [_result_row(result)])
    for part, message in (result.report.get("errors") or {}).items():
        print_message(f"  {part}: {message}")


@monitor_app.command("delete")
def monitor_delete(
    name: NameArg, project: ProjectOption = "default", json_output: JsonOption = False
) -> None:
    """Delete a monitor and its results."""
    with cli_client() as client:
        client.delete_monitor(name, project=project)
    if json_output:
        emit_json({"deleted": name, "project": project})
        return
    print_success(f"deleted monitor {name} and its results")


def _write_files(texts: dict[Path, str]) -> None:
    """Write each text beside its path, then rename them all into place: a reader sees the
    old files or the new ones, never half of one; on a failure the partial files are removed.
    ``StewardError`` naming the file that could not be written."""
    from ..errors import StewardError

    partials: dict[Path, Path] = {}
    path = next(iter(texts))
    try:
        for path, text in texts.items():
            partial = path.with_name(f".{path.name}.{secrets.token_hex(4)}.partial")
            fd = os.open(partial, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666)
            partials[path] = partial
            with os.fdopen(fd, "w", encoding="utf-8", newline="") as out:
                out.write(text)
                out.flush()
                os.fsync(out.fileno())
        for path, partial in partials.items():
            os.replace(partial, path)
    except OSError as exc:
        for partial in partials.values():
            with contextlib.suppress(OSError):
                partial.unlink()
        raise StewardError(f"cannot write {path}: {exc.strerror or exc}") from None


@monitor_app.command("report")
def monitor_report(
    name: NameArg,
    since: Annotated[
        str | None, typer.Option("--since", help="Windows starting at or after (ISO 8601).")
    ] = None,
    until: Annotated[
        str | None, typer.Option("--until", help="Windows starting before (ISO 8601).")
    ] = None,
    output: Annotated[
        Path | None,
        typer.Option(
            "--output", "-o", dir_okay=False, help="The HTML file (default NAME-report.html)."
        ),
    ] = None,
    json_file: Annotated[
        Path | None,
        typer.Option("--json-output", dir_okay=False, help="Also write the report as JSON here."),
    ] = None,
    max_windows: Annotated[
        int, typer.Option("--max-windows", help="At most N windows (the newest).")
    ] = 500,
    project: ProjectOption = "default",
    json_output: JsonOption = False,
) -> None:
    """Write the monitor's report: one HTML file that opens without a network (drift heatmap,
    distributions, quality and fairness over time, alerts) and, with --json-output, JSON."""
    from ..errors import InvalidArgument
    from ..monitoring import render_report_html

    html_path = output if output is not None else Path(f"{name}-report.html")
    if json_file is not None and json_file.resolve() == html_path.resolve():
        raise InvalidArgument("--json-output must be another file than --output")
    with cli_client() as client:
        report = client.monitor_report(
            name,
            project=project,
            since=_time(since, "since"),
            until=_time(until, "until"),
            max_windows=max_windows,
        )
    texts = {html_path: render_report_html(report)}
    if json_file is not None:
        texts[json_file] = json.dumps(report.to_json(), ensure_ascii=False, allow_nan=False)
    _write_files(texts)
    drifted = sum(1 for w in report.windows if w.drift is not None and w.drift.drifted)
    if json_output:
        emit_json(
            {
                "html": str(html_path),
                "json": None if json_file is None else str(json_file),
                "subject": dict(report.subject),
                "windows": len(report.windows),
                "drifted_windows": drifted,
                "distributions": len(report.distributions),
                "alerts": len(report.alerts),
            }
        )
        return
    windows, alerts = len(report.windows), len(report.alerts)
    print_success(
        f"wrote the report of {name} ({windows} window{'s' * (windows != 1)}, {drifted} with "
        f"dataset drift, {alerts} alert{'s' * (alerts != 1)}) to {html_path}"
    )
    if json_file is not None:
        print_message(f"  and its JSON to {json_file}")
    note = report.subject.get("note")
    if note:
        print_message(f"  {note}")
