"""``mlsteward data``: dataset versions: add, list, show, check out and compare snapshots."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from ._output import (
    emit_json,
    format_time,
    print_message,
    print_success,
    print_table,
    progress_counter,
)

if TYPE_CHECKING:
    from ..data import DatasetDiff, DatasetVersion

data_app = typer.Typer(
    name="data",
    help="Dataset versions: content-addressed snapshots of files, folders and tables.",
    no_args_is_help=True,
)

JsonOption = Annotated[bool, typer.Option("--json", help="Print JSON to stdout.")]
ProjectOption = Annotated[str, typer.Option("--project", help="The dataset's project.")]
NameArg = Annotated[str, typer.Argument(help="Dataset name.")]


def _size(n: int | None) -> str:
    if n is None:
        return ""
    value = float(n)
    for unit in ("B", "KB", "MB", "GB", "TB"):
        if value < 1000 or unit == "TB":
            return f"{value:.0f} {unit}" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1000
    return f"{n} B"  # pragma: no cover


def _version_row(v: DatasetVersion) -> list[object]:
    return [
        v.version,
        format_time(v.created_at),
        v.created_by,
        v.kind,
        v.file_count,
        _size(v.total_bytes),
        _size(v.new_bytes),
        "" if v.row_count is None else v.row_count,
        v.message,
    ]


_VERSION_COLUMNS = [
    "version",
    "created (UTC)",
    "by",
    "kind",
    "files",
    "size",
    "new",
    "rows",
    "message",
]


@data_app.command("add")
def add(
    path: Annotated[Path, typer.Argument(help="The file or folder to snapshot.")],
    name: Annotated[str, typer.Option("--name", help="Dataset name (created on first add).")],
    message: Annotated[str, typer.Option("--message", "-m", help="What changed.")] = "",
    project: ProjectOption = "default",
    json_output: JsonOption = False,
) -> None:
    """Snapshot a file or folder as the next version of a dataset (a .parquet or .csv file is
    versioned as a table); nothing is recorded when nothing changed."""
    version = _unchanged_fast(project, name, path)
    if version is None:
        version = _add(project, name, path, message, json_output)
    if json_output:
        emit_json(version.to_json())
    elif version.unchanged:
        print_message(f"unchanged: {version.ref} has the same content; nothing was recorded")
    else:
        print_success(
            f"added {version.ref}: {version.file_count} file(s), {_size(version.total_bytes)} "
            f"({_size(version.new_bytes)} new to the store)"
        )


def _unchanged_fast(project: str, name: str, path: Path) -> DatasetVersion | None:
    """The answer for nothing changed, before SQLAlchemy and the settings are imported (see
    ``mlsteward.data._unchanged_probe``); None when the ordinary path must run."""
    import os

    from .._embedded_home import embedded_home

    home = embedded_home(os.environ)
    if home is None:
        return None
    from ..data._unchanged_probe import unchanged_version

    return unchanged_version(home, project, name, path)


def _add(project: str, name: str, path: Path, message: str, json_output: bool) -> DatasetVersion:
    from ..data import add_dataset_version
    from ._local import local_platform, operator

    with local_platform() as platform:
        if json_output:
            version = add_dataset_version(
                platform, operator(), project, name, path, message=message
            )
        else:
            with progress_counter(f"adding {path.name or path}", None) as advance:
                version = add_dataset_version(
                    platform, operator(), project, name, path, message=message, progress=advance
                )
    return version


@data_app.command("list")
def list_(project: ProjectOption = "default", json_output: JsonOption = False) -> None:
    """A project's datasets by name."""
    from ..data import list_datasets
    from ._local import local_platform, operator

    with local_platform() as platform:
        found = list_datasets(platform, operator(), project)
    if json_output:
        emit_json([d.to_json() for d in found])
        return
    print_table(
        ["dataset", "latest", "owners", "description", "updated (UTC)"],
        [
            [
                d.name,
                d.latest_version,
                ", ".join(d.owners),
                d.description,
                format_time(d.updated_at),
            ]
            for d in found
        ],
        empty=f"no datasets in {project!r}",
    )


@data_app.command("versions")
def versions(
    name: NameArg, project: ProjectOption = "default", json_output: JsonOption = False
) -> None:
    """A dataset's versions, oldest first."""
    from ..data import list_dataset_versions
    from ._local import local_platform, operator

    with local_platform() as platform:
        found = list_dataset_versions(platform, operator(), project, name)
    if json_output:
        emit_json([v.to_json() for v in found])
        return
    print_table(_VERSION_COLUMNS, [_version_row(v) for v in found], empty=f"{name} has no versions")


@data_app.command("show")
def show(
    ref: Annotated[str, typer.Argument(help="NAME (the latest version) or NAME@VERSION.")],
    project: ProjectOption = "default",
    json_output: JsonOption = False,
) -> None:
    """One version: its source, size, message and, for a table, schema and row count."""
    from ..data import resolve_dataset_ref
    from ._local import local_platform, operator

    with local_platform() as platform:
        found = resolve_dataset_ref(platform, operator(), project, ref)
    if json_output:
        emit_json(found.to_json())
        return
    rows: list[tuple[str, object]] = [
        ("kind", found.kind),
        ("created (UTC)", f"{format_time(found.created_at)} by {found.created_by}"),
        ("source", found.source),
        ("files", found.file_count),
        ("size", f"{_size(found.total_bytes)} ({_size(found.new_bytes)} new when added)"),
        ("manifest", found.manifest_address),
        ("message", found.message),
    ]
    if found.kind == "table":
        columns = (found.table_schema or {}).get("columns", [])
        rows.append(("rows", found.row_count))
        rows.append(("columns", ", ".join(f"{c['name']} ({c['type']})" for c in columns)))
    print_table(["field", "value"], rows, title=found.ref)


@data_app.command("checkout")
def checkout(
    ref: Annotated[str, typer.Argument(help="NAME@VERSION (or NAME: the latest).")],
    dest: Annotated[Path, typer.Argument(help="A new or empty folder.")],
    copy: Annotated[
        bool, typer.Option("--copy", help="Always copy bytes (no reflinks on CoW file systems).")
    ] = False,
    project: ProjectOption = "default",
    json_output: JsonOption = False,
) -> None:
    """Write every file of a version into a new or empty folder."""
    from ..data import checkout_dataset_version, parse_dataset_ref
    from ._local import local_platform, operator

    name, number = parse_dataset_ref(ref)
    with local_platform() as platform:
        done = checkout_dataset_version(
            platform, operator(), project, name, number, dest, link="copy" if copy else "auto"
        )
    if json_output:
        emit_json(done.to_json())
        return
    print_success(
        f"checked out {name}@{done.version} into {done.dest}: {done.file_count} file(s), "
        f"{_size(done.total_bytes)}"
    )


def _print_diff(diff: DatasetDiff) -> None:
    rows: list[list[object]] = [["added", e.path, "", _size(e.size)] for e in diff.added]
    rows += [["removed", e.path, _size(e.size), ""] for e in diff.removed]
    rows += [["changed", c.path, _size(c.size_a), _size(c.size_b)] for c in diff.changed]
    title = f"{diff.dataset_name}: version {diff.version_a} → {diff.version_b}"
    print_table(["change", "path", "before", "after"], rows, title=title, empty="files: identical")
    if diff.row_count_a is not None or diff.row_count_b is not None:
        print_table(
            ["change", "column", "before", "after"],
            [["rows", "", diff.row_count_a, diff.row_count_b]]
            + [[c.change, c.name, c.type_a, c.type_b] for c in diff.columns]
            + [
                [s.statistic, s.column, _number(s.value_a), _number(s.value_b)]
                for s in diff.statistics
            ],
            title="table",
        )


def _number(value: float | None) -> str:
    return "" if value is None else f"{value:.6g}"


@data_app.command("diff")
def diff(
    name: NameArg,
    a: Annotated[int, typer.Argument(help="The older version.", min=1)],
    b: Annotated[int, typer.Argument(help="The newer version.", min=1)],
    project: ProjectOption = "default",
    json_output: JsonOption = False,
) -> None:
    """Files added, removed and changed between two versions; for tables also schema, row
    count and column statistics."""
    from ..data import diff_dataset_versions
    from ._local import local_platform, operator

    with local_platform() as platform:
        found = diff_dataset_versions(platform, operator(), project, name, a, b)
    if json_output:
        emit_json(found.to_json())
        return
    _print_diff(found)
