"""``mlsteward experiments``: the named groups of runs inside a project."""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated

import typer

from ._output import emit_json, format_time, print_success, print_table

if TYPE_CHECKING:
    from ..tracking import Experiment

experiments_app = typer.Typer(
    name="experiments",
    help="Create, list, delete and restore experiments.",
    no_args_is_help=True,
)

JsonOption = Annotated[bool, typer.Option("--json", help="Print JSON to stdout.")]
NameArg = Annotated[str, typer.Argument(help="Experiment name.")]
ProjectOption = Annotated[str, typer.Option("--project", help="The experiment's project.")]


@experiments_app.command("list")
def list_(
    project: ProjectOption = "default",
    deleted: Annotated[
        bool, typer.Option("--deleted", help="Include deleted experiments.")
    ] = False,
    json_output: JsonOption = False,
) -> None:
    """List a project's experiments by name (deleted ones only with --deleted)."""
    from ..tracking import list_experiments
    from ._local import local_platform, operator

    with local_platform() as platform:
        experiments = list_experiments(platform, operator(), project, include_deleted=deleted)
    if json_output:
        emit_json([e.to_json() for e in experiments])
        return
    columns = ["experiment", "id", "description", "created (UTC)", "created by"]
    if deleted:
        columns.append("deleted (UTC)")
    print_table(
        columns,
        [_row(e, with_deleted=deleted) for e in experiments],
        empty=f"no experiments in {project!r}",
    )


def _row(experiment: Experiment, *, with_deleted: bool) -> list[object]:
    row: list[object] = [
        experiment.name,
        experiment.id,
        experiment.description,
        format_time(experiment.created_at),
        experiment.created_by,
    ]
    if with_deleted:
        row.append(format_time(experiment.deleted_at))
    return row


@experiments_app.command("create")
def create(
    name: NameArg,
    project: ProjectOption = "default",
    description: Annotated[
        str, typer.Option("--description", help="What the experiment is for.")
    ] = "",
    json_output: JsonOption = False,
) -> None:
    """Create an experiment in a project."""
    from ..tracking import create_experiment
    from ._local import local_platform, operator

    with local_platform() as platform:
        experiment = create_experiment(platform, operator(), project, name, description)
    if json_output:
        emit_json(experiment.to_json())
    else:
        print_success(f"created experiment {name!r} in {project!r} (id {experiment.id})")


@experiments_app.command("delete")
def delete(
    name: NameArg, project: ProjectOption = "default", json_output: JsonOption = False
) -> None:
    """Soft-delete an experiment: hidden from listings, no new runs, until restored."""
    _set_deleted(name, project, deleted=True, json_output=json_output)


@experiments_app.command("restore")
def restore(
    name: NameArg, project: ProjectOption = "default", json_output: JsonOption = False
) -> None:
    """Restore a deleted experiment."""
    _set_deleted(name, project, deleted=False, json_output=json_output)


def _set_deleted(name: str, project: str, *, deleted: bool, json_output: bool) -> None:
    from ..tracking import set_experiment_deleted
    from ._local import local_platform, operator

    with local_platform() as platform:
        experiment = set_experiment_deleted(platform, operator(), project, name, deleted)
    if json_output:
        emit_json(experiment.to_json())
    else:
        print_success(f"{'deleted' if deleted else 'restored'} experiment {name!r} in {project!r}")
