"""``mlsteward runs``: inspect runs, end, delete or restore them, reap runs whose process died."""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Mapping
from typing import TYPE_CHECKING, Annotated, Any

import typer

from ._output import emit_json, format_time, print_message, print_success, print_table

if TYPE_CHECKING:
    from ..platform import Platform
    from ..security import Actor
    from ..tracking import MetricPoint, Run

runs_app = typer.Typer(
    name="runs",
    help="Show, end, delete and restore runs; reap runs without a heartbeat.",
    no_args_is_help=True,
)

JsonOption = Annotated[bool, typer.Option("--json", help="Print JSON to stdout.")]
RunIdArg = Annotated[str, typer.Argument(help="Run id (32 lowercase hex characters).")]
END_STATUSES = ("FINISHED", "FAILED", "KILLED")
# The same floor as MLSTEWARD_RUN_HEARTBEAT_TIMEOUT_SECONDS: shorter would kill live runs.
MIN_REAP_TIMEOUT = 5.0


def _number(value: float) -> str:
    """A metric value as text: shortest exact form; NaN and infinities spelled as in JSON."""
    if math.isnan(value):
        return "NaN"
    if math.isinf(value):
        return "Infinity" if value > 0 else "-Infinity"
    return repr(value)


def _names(platform: Platform, actor: Actor, run: Run) -> tuple[str | None, str | None]:
    """The names of the run's project and experiment (None if they cannot be found)."""
    from ..security import list_projects
    from ..tracking import list_experiments

    project = next((p.name for p in list_projects(platform, actor) if p.id == run.project_id), None)
    if project is None:
        return None, None
    experiment = next(
        (
            e.name
            for e in list_experiments(platform, actor, project, include_deleted=True)
            if e.id == run.experiment_id
        ),
        None,
    )
    return project, experiment


def environment_summary(environment: Mapping[str, Any]) -> dict[str, Any]:
    """Python version, git commit and dirtiness, and host from a run's environment record.

    The record comes from clients, so any field may be missing or of another type: those read
    as None.
    """
    git = environment.get("git")
    git = git if isinstance(git, Mapping) else {}
    python, host = environment.get("python"), environment.get("host")
    commit, dirty = git.get("commit"), git.get("dirty")
    return {
        "python": python if isinstance(python, str) else None,
        "git_commit": commit if isinstance(commit, str) else None,
        "git_dirty": dirty if isinstance(dirty, bool) else None,
        "host": host if isinstance(host, str) else None,
    }


def _git_text(summary: Mapping[str, Any]) -> str:
    commit = summary["git_commit"]
    if commit is None:
        return ""
    return f"{commit} (uncommitted changes)" if summary["git_dirty"] else commit


@runs_app.command("list")
def list_(
    project: Annotated[str, typer.Option("--project", help="The runs' project.")] = "default",
    experiment: Annotated[
        list[str] | None,
        typer.Option("--experiment", help="Only runs of this experiment; repeat for several."),
    ] = None,
    filter_: Annotated[
        str,
        typer.Option(
            "--filter",
            help="Search query, e.g. \"metrics.auc > 0.9 and params.lr = '0.01'\".",
        ),
    ] = "",
    order_by: Annotated[
        list[str] | None,
        typer.Option(
            "--order-by",
            help="Sort key, e.g. 'metrics.auc desc'; repeat for several (default: newest first).",
        ),
    ] = None,
    max_results: Annotated[
        int, typer.Option("--max-results", help="Runs per page (1-10000).")
    ] = 100,
    page_token: Annotated[
        str | None,
        typer.Option("--page-token", help="Next page of the same search (printed with each page)."),
    ] = None,
    deleted: Annotated[bool, typer.Option("--deleted", help="Include deleted runs.")] = False,
    json_output: JsonOption = False,
) -> None:
    """Search a project's runs: filter, order and page."""
    from ..errors import NotFound
    from ..tracking import list_experiments, search_runs
    from ._local import local_platform, operator

    with local_platform() as platform:
        experiments = list_experiments(platform, operator(), project, include_deleted=True)
        ids = {e.name: e.id for e in experiments}
        missing = [name for name in experiment or [] if name not in ids]
        if missing:
            raise NotFound(f"no experiment named {missing[0]!r} in {project!r}")
        page = search_runs(
            platform,
            operator(),
            project,
            experiment_ids=[ids[name] for name in experiment] if experiment else None,
            filter=filter_,
            order_by=order_by or (),
            max_results=max_results,
            page_token=page_token,
            include_deleted=deleted,
        )
    if json_output:
        emit_json(page.to_json())
        return
    names = {e.id: e.name for e in experiments}
    print_table(
        ["run", "name", "experiment", "status", "started (UTC)", "metrics"],
        [
            [
                run.id,
                run.name,
                names.get(run.experiment_id, run.experiment_id),
                run.status.value,
                format_time(run.start_time),
                ", ".join(f"{k}={_number(run.metrics[k])}" for k in sorted(run.metrics)),
            ]
            for run in page.runs
        ],
        empty="no runs match" if page_token is None else "no more runs",
    )
    if page.next_page_token is not None:
        print_message(f"more runs: add --page-token {page.next_page_token}")


@runs_app.command("show")
def show(run_id: RunIdArg, json_output: JsonOption = False) -> None:
    """Show a run: status, times, parameters, tags, latest metrics and where it ran."""
    from ..tracking import get_run
    from ._local import local_platform, operator

    with local_platform() as platform:
        run = get_run(platform, operator(), run_id)
        project, experiment = _names(platform, operator(), run)
    summary = environment_summary(run.environment or {})
    if json_output:
        emit_json(
            {
                **run.to_json(),
                "project": project,
                "experiment": experiment,
                "environment_summary": summary,
            }
        )
        return
    fields: list[tuple[str, object]] = [
        ("run", run.id),
        ("name", run.name),
        ("project", project),
        ("experiment", experiment),
        ("status", run.status.value),
        ("started (UTC)", format_time(run.start_time)),
        ("ended (UTC)", format_time(run.end_time)),
        ("parent run", run.parent_run_id),
        ("created by", run.created_by),
        ("deleted (UTC)", format_time(run.deleted_at)),
        ("python", summary["python"]),
        ("git commit", _git_text(summary)),
        ("host", summary["host"]),
        ("notes", run.notes),
    ]
    print_table(["field", "value"], [[k, v] for k, v in fields if v not in (None, "")])
    print_table(
        ["parameter", "value"],
        sorted([k, v] for k, v in run.params.items()),
        empty="no parameters",
    )
    print_table(["tag", "value"], sorted([k, v] for k, v in run.tags.items()), empty="no tags")
    print_table(
        ["metric", "latest value"],
        [[k, _number(run.metrics[k])] for k in sorted(run.metrics)],
        empty="no metrics",
    )


@runs_app.command("history")
def history(
    run_id: RunIdArg,
    key: Annotated[str, typer.Argument(help="Metric key.")],
    json_output: JsonOption = False,
) -> None:
    """Every logged value of one metric of a run, by step then time."""
    from ..errors import NotFound
    from ..tracking import metric_history, metric_keys
    from ._local import local_platform, operator

    with local_platform() as platform:
        points = metric_history(platform, operator(), run_id, key)
        if not points:
            known = metric_keys(platform, operator(), run_id)
            logged = f"it has {', '.join(known)}" if known else "it has logged no metrics"
            raise NotFound(f"run {run_id} has no metric {key!r}; {logged}")
    if json_output:
        emit_json([p.to_json() for p in points])
        return
    print_table(["step", "value", "time (UTC)"], [_point_row(p) for p in points], title=key)


def _point_row(point: MetricPoint) -> list[object]:
    when = dt.datetime.fromtimestamp(point.timestamp / 1000, dt.UTC)
    return [point.step, _number(point.value), when.strftime("%Y-%m-%d %H:%M:%S.%f")[:-3]]


@runs_app.command("end")
def end(
    run_id: RunIdArg,
    status: Annotated[
        str, typer.Option("--status", help="FINISHED (default), FAILED or KILLED.")
    ] = "FINISHED",
    json_output: JsonOption = False,
) -> None:
    """End a running run (when its process cannot: it crashed or was lost)."""
    from ..errors import InvalidArgument
    from ..tracking import end_run
    from ._local import local_platform, operator

    final = status.upper()
    if final not in END_STATUSES:
        raise InvalidArgument(
            f"unknown run status {status!r}: a run ends as {', '.join(END_STATUSES)}"
        )
    with local_platform() as platform:
        run = end_run(platform, operator(), run_id, final)
    if json_output:
        emit_json(run.to_json())
    else:
        print_success(f"run {run.id} ended as {run.status.value}")


@runs_app.command("delete")
def delete(run_id: RunIdArg, json_output: JsonOption = False) -> None:
    """Soft-delete a run: it leaves default listings until restored."""
    _set_deleted(run_id, deleted=True, json_output=json_output)


@runs_app.command("restore")
def restore(run_id: RunIdArg, json_output: JsonOption = False) -> None:
    """Restore a deleted run."""
    _set_deleted(run_id, deleted=False, json_output=json_output)


def _set_deleted(run_id: str, *, deleted: bool, json_output: bool) -> None:
    from ..tracking import set_run_deleted
    from ._local import local_platform, operator

    with local_platform() as platform:
        run = set_run_deleted(platform, operator(), run_id, deleted)
    if json_output:
        emit_json(run.to_json())
    else:
        print_success(f"{'deleted' if deleted else 'restored'} run {run.id}")


@runs_app.command("reap")
def reap(
    timeout_seconds: Annotated[
        float | None,
        typer.Option(
            "--timeout-seconds",
            min=MIN_REAP_TIMEOUT,
            show_default=False,
            help="Seconds without a heartbeat after which a running run counts as dead "
            "(default: MLSTEWARD_RUN_HEARTBEAT_TIMEOUT_SECONDS, else 300).",
        ),
    ] = None,
    json_output: JsonOption = False,
) -> None:
    """Mark KILLED every running run whose process stopped sending heartbeats."""
    from ..tracking import reap_dead_runs
    from ._local import cli_settings, local_platform, operator

    settings = cli_settings()
    timeout = (
        float(settings.run_heartbeat_timeout_seconds)
        if timeout_seconds is None
        else timeout_seconds
    )
    with local_platform(settings) as platform:
        killed = reap_dead_runs(platform, operator(), timeout_seconds=timeout)
    if json_output:
        emit_json({"timeout_seconds": timeout, "killed": killed})
    elif killed:
        print_success(f"marked {len(killed)} run(s) KILLED: {', '.join(killed)}")
    else:
        print_message(f"no running run has been silent for {timeout:g} s")


@runs_app.command("compare")
def compare(
    run_ids: Annotated[list[str], typer.Argument(help="Two or more run ids.")],
    metric: Annotated[
        list[str] | None,
        typer.Option("--metric", help="Metric to align (repeatable; default: all, at most 20)."),
    ] = None,
    json_output: JsonOption = False,
) -> None:
    """Runs side by side: parameters (differences marked) and each metric's latest value;
    --json adds every metric aligned by step."""
    from ..tracking import compare_runs
    from ._local import local_platform, operator

    with local_platform() as platform:
        result = compare_runs(platform, operator(), run_ids, metric_keys=metric)
    if json_output:
        emit_json(result.to_json())
        return
    ids = [r.id for r in result.runs]
    header = ["", *[run_id[:8] for run_id in ids]]
    params = [
        [f"{'* ' if k in result.differing_params else ''}params.{k}", *values.values()]
        for k, values in result.params.items()
    ]
    latest = [
        [f"metrics.{series.key}", *[_latest(series.values[run_id]) for run_id in ids]]
        for series in result.metrics
    ]
    print_table(header, [[c if c is not None else "" for c in row] for row in params + latest])
    if result.differing_params:
        print_message("* parameters whose values differ")


def _latest(values: list[float | None]) -> str:
    present = [v for v in values if v is not None]
    return _number(present[-1]) if present else ""


@runs_app.command("best")
def best(
    metric: Annotated[str, typer.Argument(help="Metric key.")],
    project: Annotated[str, typer.Option("--project", help="Project to search.")] = "default",
    minimum: Annotated[
        bool, typer.Option("--min", help="Lowest value wins (default: highest).")
    ] = False,
    filter_: Annotated[
        str, typer.Option("--filter", help="Only runs matching this search query.")
    ] = "",
    json_output: JsonOption = False,
) -> None:
    """The run with the best latest value of a metric."""
    from ..tracking import best_run
    from ._local import local_platform, operator

    with local_platform() as platform:
        run = best_run(
            platform, operator(), project, metric, mode="min" if minimum else "max", filter=filter_
        )
    if json_output:
        emit_json(run.to_json())
        return
    print_success(f"{run.id} {run.name}: {metric} = {_number(run.metrics[metric])}")
