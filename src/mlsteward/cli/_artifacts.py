"""``mlsteward artifacts``: list, download and upload the files of a run."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from ._output import emit_json, format_time, print_success, print_table

if TYPE_CHECKING:
    from ..client._local import LocalBackend

artifacts_app = typer.Typer(
    name="artifacts",
    help="List, download and upload the artifacts (files and folders) of a run.",
    no_args_is_help=True,
)

RunIdArg = Annotated[str, typer.Argument(help="Run id (32 lowercase hex characters).")]


@contextlib.contextmanager
def _backend() -> Iterator[LocalBackend]:
    """The in-process client backend, acting as the local operator (``local-admin``)."""
    from ..client._local import LocalBackend
    from ._local import cli_settings

    backend = LocalBackend(cli_settings(), None)
    try:
        yield backend
    finally:
        backend.close()


@artifacts_app.command("ls")
def ls(
    run_id: RunIdArg,
    prefix: Annotated[
        str, typer.Option("--prefix", help="The folder to list (default: the top level).")
    ] = "",
    json_output: Annotated[bool, typer.Option("--json", help="Print JSON to stdout.")] = False,
) -> None:
    """The files and folders directly inside a folder of the run, like `ls`."""
    with _backend() as backend:
        entries = backend.list_artifacts(run_id, prefix)
    if json_output:
        emit_json({"artifacts": [entry.to_dict() for entry in entries]})
        return
    print_table(
        ["path", "size", "created", "address"],
        [
            [
                f"{entry.path}/" if entry.is_dir else entry.path,
                entry.size,
                format_time(entry.created_at),
                entry.address,
            ]
            for entry in entries
        ],
        empty="no artifacts",
    )


@artifacts_app.command("get")
def get(
    run_id: RunIdArg,
    path: Annotated[str, typer.Argument(help="The artifact file or folder inside the run.")],
    dest: Annotated[Path, typer.Argument(help="Local file or folder to write.")],
) -> None:
    """Download an artifact file, or a folder recursively."""
    from ..client._artifact_files import download

    with _backend() as backend:
        written = download(backend, run_id, path, dest)
    print_success(f"wrote {written}")


@artifacts_app.command("put")
def put(
    run_id: RunIdArg,
    local: Annotated[Path, typer.Argument(help="A local file, or a folder to upload whole.")],
    artifact_path: Annotated[
        str | None,
        typer.Option("--path", help="The folder inside the run to upload into (default: top)."),
    ] = None,
) -> None:
    """Upload a local file or folder to a running run."""
    from ..client._artifact_files import upload_file, upload_folder

    with _backend() as backend:
        if local.is_dir():
            stored = upload_folder(backend, run_id, local, artifact_path)
        else:
            stored = [upload_file(backend, run_id, local, artifact_path)]
    print_success(f"stored {len(stored)} artifact(s): " + ", ".join(i.path for i in stored[:5]))
