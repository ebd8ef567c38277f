"""``mlsteward validate`` and ``mlsteward suites``: data validation with expectation suites.

``validate`` exits with 0 when the data meets the suite, 1 when it does not, 2 for bad input
(an unreadable file, an unknown suite or dataset, a malformed suite).
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from ._output import (
    emit_json,
    format_time,
    print_error,
    print_message,
    print_success,
    print_table,
    stderr_console,
)

if TYPE_CHECKING:
    from ..validation import ExpectationSuite, ValidationResult

suites_app = typer.Typer(
    name="suites",
    help="Expectation suites: create, list, show, delete, attach to datasets.",
    no_args_is_help=True,
)

JsonOption = Annotated[bool, typer.Option("--json", help="Print JSON to stdout.")]
ProjectOption = Annotated[str, typer.Option("--project", help="The suite's project.")]
SuiteArg = Annotated[str, typer.Argument(help="Suite name.")]
DatasetArg = Annotated[str, typer.Argument(help="Dataset name.")]
_EXIT_BAD_INPUT = 2


@contextlib.contextmanager
def _working(message: str, *, quiet: bool) -> Iterator[None]:
    """A spinner on stderr while the one pass runs (only on a terminal, never with --json):
    a single aggregation has no progress to count."""
    console = stderr_console()
    if quiet or not console.is_terminal:
        yield
        return
    with console.status(message):
        yield


def _suite_for(suite: str, project: str) -> ExpectationSuite:
    from ..validation import get_suite, load_suite
    from ._local import local_platform, operator

    if suite.endswith((".yaml", ".yml", ".json")) or Path(suite).is_file():
        return load_suite(Path(suite))
    with local_platform() as platform:
        return get_suite(platform, operator(), project, suite).suite


def _run(target: str, suite: str, project: str) -> ValidationResult:
    from ..validation import validate

    checked = _suite_for(suite, project)
    path = Path(target)
    if path.exists() or "@" not in target:
        return validate(checked, path)
    from ..data import resolve_dataset_ref
    from ..validation import validate_dataset_version
    from ._local import local_platform, operator

    with local_platform() as platform:
        version = resolve_dataset_ref(platform, operator(), project, target)
        stored = validate_dataset_version(platform, operator(), version.id, suite=checked)
    return stored[0].result


def validate_command(
    target: Annotated[
        str, typer.Argument(help="A Parquet or CSV file, or a dataset version: name@version.")
    ],
    suite: Annotated[
        str, typer.Option("--suite", help="A stored suite's name or a suite file (.yaml/.json).")
    ],
    project: ProjectOption = "default",
    json_output: JsonOption = False,
    docs: Annotated[
        Path | None, typer.Option("--docs", help="Also write the HTML data docs to this file.")
    ] = None,
) -> None:
    """Validate a file or a dataset version against a suite (exit 0 pass, 1 fail, 2 bad input).

    A dataset version's result is stored (`mlsteward suites show` lists where it is attached);
    a file's result is only printed.
    """
    from ..errors import InvalidArgument, NotFound
    from ..validation import render_data_docs

    try:
        with _working(f"validating {target}", quiet=json_output):
            result = _run(target, suite, project)
    except (InvalidArgument, NotFound) as exc:
        print_error(exc)
        raise typer.Exit(_EXIT_BAD_INPUT) from None
    if docs is not None:
        docs.write_text(render_data_docs(result, title=f"Data docs: {target}"), encoding="utf-8")
    if json_output:
        emit_json(result.to_json())
    else:
        rows = [
            (
                r.index,
                r.expectation,
                "pass" if r.success else "FAIL",
                r.observed_value,
                r.unexpected_count,
                r.error or "",
            )
            for r in result.results
        ]
        print_table(
            ("#", "expectation", "result", "observed", "unexpected", "error"),
            rows,
            title=f"suite {result.suite_name}",
        )
        stats = result.statistics
        summary = (
            f"{stats['successful_expectations']} of {stats['evaluated_expectations']} "
            f"expectations met on {stats['row_count']} rows"
        )
        if result.success:
            print_success(summary)
        else:
            print_message(f"validation failed: {summary}")
    if not result.success:
        raise typer.Exit(1)


@suites_app.command("create")
def create(
    file: Annotated[Path, typer.Argument(help="The suite as YAML or JSON.")],
    project: ProjectOption = "default",
    replace: Annotated[
        bool, typer.Option("--replace", help="Replace a suite of the same name.")
    ] = False,
    json_output: JsonOption = False,
) -> None:
    """Store a suite from a YAML or JSON file."""
    from ..validation import load_suite, save_suite
    from ._local import local_platform, operator

    suite = load_suite(file)
    with local_platform() as platform:
        stored = save_suite(platform, operator(), project, suite, replace=replace)
    if json_output:
        emit_json(stored.to_json())
        return
    print_success(f"suite {stored.name} stored ({len(suite.expectations)} expectations)")


@suites_app.command("list")
def list_command(project: ProjectOption = "default", json_output: JsonOption = False) -> None:
    """Every suite of the project."""
    from ..validation import list_suites
    from ._local import local_platform, operator

    with local_platform() as platform:
        suites = list_suites(platform, operator(), project)
    if json_output:
        emit_json([s.to_json() for s in suites])
        return
    print_table(
        ("name", "expectations", "datasets", "updated"),
        [
            (s.name, len(s.suite.expectations), ", ".join(s.datasets), format_time(s.updated_at))
            for s in suites
        ],
        empty="no suites",
    )


@suites_app.command("show")
def show(
    name: SuiteArg, project: ProjectOption = "default", json_output: JsonOption = False
) -> None:
    """A suite's definition (YAML) and the datasets it is attached to."""
    from ..validation import get_suite
    from ._local import local_platform, operator

    with local_platform() as platform:
        stored = get_suite(platform, operator(), project, name)
    if json_output:
        emit_json(stored.to_json())
        return
    typer.echo(stored.suite.to_yaml(), nl=False)
    print_message(f"attached to: {', '.join(stored.datasets) or 'no dataset'}")


@suites_app.command("delete")
def delete(name: SuiteArg, project: ProjectOption = "default") -> None:
    """Delete a suite (its past results stay)."""
    from ..validation import delete_suite
    from ._local import local_platform, operator

    with local_platform() as platform:
        delete_suite(platform, operator(), project, name)
    print_success(f"suite {name} deleted")


@suites_app.command("attach")
def attach(suite: SuiteArg, dataset: DatasetArg, project: ProjectOption = "default") -> None:
    """Validate every new version of a dataset against the suite."""
    from ..validation import attach_suite
    from ._local import local_platform, operator

    with local_platform() as platform:
        attach_suite(platform, operator(), project, suite, dataset)
    print_success(f"suite {suite} attached to {dataset}")


@suites_app.command("detach")
def detach(suite: SuiteArg, dataset: DatasetArg, project: ProjectOption = "default") -> None:
    """Stop validating new versions of a dataset against the suite."""
    from ..validation import detach_suite
    from ._local import local_platform, operator

    with local_platform() as platform:
        detach_suite(platform, operator(), project, suite, dataset)
    print_success(f"suite {suite} detached from {dataset}")


__all__ = ["suites_app", "validate_command"]
