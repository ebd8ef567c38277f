"""``mlsteward blobs``: put, get, list, verify and garbage-collect content-addressed blobs."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from ..errors import StewardError
from ._local import local_platform
from ._output import emit_json, print_error, print_table, stderr_console, stdout_console

if TYPE_CHECKING:
    from ..blobs import BlobStore

__all__ = ["blobs_app", "byte_progress", "steward_errors"]

blobs_app = typer.Typer(
    help="Content-addressed blob storage: put, get, list, verify, gc.", no_args_is_help=True
)

JsonOption = Annotated[bool, typer.Option("--json", help="Print JSON instead of text.")]


@contextmanager
def steward_errors() -> Iterator[None]:
    """Turn a ``StewardError`` into ``error: <message>`` on stderr (red) and exit code 1."""
    try:
        yield
    except StewardError as exc:
        print_error(exc)
        raise typer.Exit(1) from None


@contextmanager
def byte_progress(description: str, *, total: int | None, enabled: bool) -> Iterator[Any]:
    """A Rich progress bar in bytes on stderr (only on a terminal); yields ``advance(n)``."""
    console = stderr_console()
    if not enabled or not console.is_terminal:
        yield lambda count: None
        return
    from rich.progress import (
        BarColumn,
        DownloadColumn,
        Progress,
        TextColumn,
        TimeRemainingColumn,
        TransferSpeedColumn,
    )

    with Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        DownloadColumn(),
        TransferSpeedColumn(),
        TimeRemainingColumn(),
        console=console,
        transient=True,
    ) as progress:
        task = progress.add_task(description, total=total)
        yield lambda count: progress.advance(task, count)


def _store() -> BlobStore:
    from ..blobs import BlobStore
    from ..settings import load_settings

    return BlobStore.from_settings(load_settings())


@blobs_app.command("put")
def put(
    path: Annotated[Path, typer.Argument(help="File to store.")],
    json_output: JsonOption = False,
) -> None:
    """Store a file; print its address."""
    with steward_errors():
        store = _store()
        total = path.stat().st_size if path.is_file() else None
        with byte_progress(f"put {path.name}", total=total, enabled=not json_output) as advance:
            info = store.put_file(path, progress=advance)
    if json_output:
        emit_json(info.to_dict())
    else:
        verb = "stored" if info.created else "already stored"
        stdout_console().print(
            f"{verb} {info.address} ({info.size} bytes)", soft_wrap=True, markup=False
        )


@blobs_app.command("get")
def get(
    address: Annotated[str, typer.Argument(help="Blob address (64 hex characters).")],
    dest: Annotated[Path, typer.Argument(help="File to write.")],
    json_output: JsonOption = False,
) -> None:
    """Write a blob to a file (atomically: DEST appears only when complete and verified)."""
    with steward_errors():
        store = _store()
        total = store.size(address)
        with byte_progress(f"get {address[:12]}", total=total, enabled=not json_output) as advance:
            size = store.get_file(address, dest, progress=advance)
    if json_output:
        emit_json({"address": address, "path": str(dest), "size": size})
    else:
        stdout_console().print(f"wrote {size} bytes to {dest}", soft_wrap=True, markup=False)


@blobs_app.command("ls")
def ls(json_output: JsonOption = False) -> None:
    """List stored blobs with their sizes (plaintext bytes)."""
    with steward_errors():
        store = _store()
        rows = [(address, store.size(address)) for address in store.iter_addresses()]
    if json_output:
        emit_json([{"address": address, "size": size} for address, size in rows])
    else:
        print_table(["address", "size"], rows, empty="no blobs stored")


@blobs_app.command("verify")
def verify(json_output: JsonOption = False) -> None:
    """Re-hash (and decrypt) every blob and check that every blob the metadata refers to
    exists; exit code 1 if any is corrupt, undecryptable or missing."""
    with steward_errors(), local_platform() as platform:
        from ..platform import referenced_blob_addresses

        with byte_progress("verify", total=None, enabled=not json_output) as advance:
            report = platform.blobs.verify(
                progress=advance, expected=referenced_blob_addresses(platform)
            )
    if json_output:
        emit_json(report.to_dict())
    else:
        out = stdout_console()
        out.print(f"checked {report.objects} blobs ({report.bytes} bytes)", soft_wrap=True)
        for address, problem in report.problems.items():
            out.print(f"{address}: {problem}", style="red", markup=False, soft_wrap=True)
        out.print("ok" if report.ok else "problems found", style=None if report.ok else "red")
    if not report.ok:
        raise typer.Exit(1)


@blobs_app.command("gc")
def gc(
    grace_seconds: Annotated[
        int,
        typer.Option(min=0, help="Keep unreferenced blobs younger than this (in-flight writes)."),
    ] = 3600,
    dry_run: Annotated[bool, typer.Option("--dry-run", help="Report, delete nothing.")] = False,
    json_output: JsonOption = False,
) -> None:
    """Delete blobs no metadata references, and stale temporary files."""
    with steward_errors(), local_platform() as platform:
        from ..platform import referenced_blob_addresses

        report = platform.blobs.gc(
            referenced_blob_addresses(platform), grace_seconds=grace_seconds, dry_run=dry_run
        )
    if json_output:
        emit_json(report.to_dict())
    else:
        verb = "would delete" if dry_run else "deleted"
        stdout_console().print(
            f"{verb} {report.deleted} blobs ({report.deleted_bytes} bytes), "
            f"{report.temp_deleted} stale temporary files, "
            f"{report.orphan_keys_deleted} orphan wrapped keys; kept {report.kept} referenced "
            f"and {report.young} recent blobs",
            soft_wrap=True,
        )
