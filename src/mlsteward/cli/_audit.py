"""``mlsteward audit``: verify, export, tail and sign the hash-chained audit trail."""

from __future__ import annotations

import contextlib
import dataclasses
import json
import os
import sys
import time
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, TextIO

import typer

from ._output import (
    emit_json,
    emit_json_line,
    format_time,
    print_error,
    print_message,
    print_success,
    progress_counter,
)

if TYPE_CHECKING:
    from ..platform import Platform
    from ..security import AuditEvent

audit_app = typer.Typer(
    name="audit", help="Verify, export and follow the audit trail.", no_args_is_help=True
)

JsonOption = Annotated[bool, typer.Option("--json", help="Print JSON to stdout.")]


@audit_app.command("verify")
def verify(json_output: JsonOption = False) -> None:
    """Recompute the hash chain and check the signed checkpoints.

    Exit status 1, naming the first broken position, when the trail was tampered with.
    """
    from ..security import verify_audit
    from ._local import local_platform, operator

    with local_platform() as platform:
        total = platform.audit.count(platform.db)
        with progress_counter("verifying the audit trail", total) as advance:
            report = verify_audit(platform, operator(), progress=advance)
    if json_output:
        emit_json(dataclasses.asdict(report))
    elif report.ok:
        signed = (
            f"{report.checkpoints} signed checkpoints, the newest at #{report.last_checkpoint_seq}"
            if report.last_checkpoint_seq is not None
            else "no signed checkpoints yet (`mlsteward audit checkpoint` signs one)"
        )
        print_success(f"audit trail intact: {report.events} events; {signed}")
    else:
        print_error(
            f"audit trail broken at position #{report.first_bad_seq}: {report.problem} "
            f"({report.events} events before it verified)"
        )
    if not report.ok:
        raise typer.Exit(1)


def _write_lines(events: Iterable[AuditEvent], out: TextIO, advance: Callable[[int], None]) -> int:
    count = 0
    for event in events:
        out.write(json.dumps(event.to_json(), ensure_ascii=False))
        out.write("\n")
        count += 1
        advance(1)
    return count


@audit_app.command("export")
def export(
    output: Annotated[
        Path | None,
        typer.Option(
            "--output",
            "-o",
            help="Write to this file (mode 0600) instead of stdout.",
            dir_okay=False,
        ),
    ] = None,
) -> None:
    """Export every audit event in chain order as JSON lines."""
    from ..errors import StewardError
    from ..security import export_audit
    from ._local import local_platform, operator

    with local_platform() as platform:
        events = export_audit(platform, operator())
        if output is None:
            _write_lines(events, sys.stdout, lambda n: None)
            sys.stdout.flush()
            return
        total = platform.audit.count(platform.db)
        # Write beside the target and rename: a reader never sees half an export.
        partial = output.with_name(f".{output.name}.partial")
        try:
            fd = os.open(partial, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
            with os.fdopen(fd, "w", encoding="utf-8") as out:
                with progress_counter("exporting the audit trail", total) as advance:
                    count = _write_lines(events, out, advance)
                out.flush()
                os.fsync(out.fileno())
            os.replace(partial, output)
        except OSError as exc:
            with contextlib.suppress(OSError):
                partial.unlink()
            raise StewardError(f"cannot write {output}: {exc.strerror or exc}") from None
    print_success(f"exported {count} audit events to {output}")


def _describe(event: AuditEvent) -> str:
    parts = [
        f"#{event.seq}",
        format_time(event.ts),
        f"{event.actor_name} ({event.actor_kind})",
        event.action,
        f"{event.target_type}:{event.target_id}",
    ]
    if event.project_id:
        parts.append(f"project={event.project_id}")
    if event.details:
        parts.append(json.dumps(event.details, ensure_ascii=False, sort_keys=True))
    return "  ".join(parts)


def _show(events: list[AuditEvent], json_output: bool) -> None:
    for event in events:
        if json_output:
            emit_json_line(event.to_json())
        else:
            sys.stdout.write(_describe(event) + "\n")
    sys.stdout.flush()


def _events_after(platform: Platform, after_seq: int) -> list[AuditEvent]:
    """Every event newer than ``after_seq``, oldest first (paging past the page limit)."""
    from ..security import list_audit_events
    from ..security._audit_service import MAX_PAGE
    from ._local import operator

    newest_first: list[AuditEvent] = []
    before: int | None = None
    while True:
        page = list_audit_events(
            platform, operator(), after_seq=after_seq, before_seq=before, limit=MAX_PAGE
        )
        newest_first.extend(page)
        if len(page) < MAX_PAGE:
            return newest_first[::-1]
        before = page[-1].seq


@audit_app.command("tail")
def tail(
    lines: Annotated[
        int, typer.Option("--lines", "-n", min=0, max=1000, help="How many recent events.")
    ] = 20,
    follow: Annotated[
        bool, typer.Option("--follow", "-f", help="Keep printing new events (Ctrl-C stops).")
    ] = False,
    interval: Annotated[
        float, typer.Option(min=0.1, help="Seconds between checks with --follow.")
    ] = 1.0,
    json_output: Annotated[
        bool, typer.Option("--json", help="Print one JSON object per line to stdout.")
    ] = False,
) -> None:
    """Print the newest audit events, oldest first; with --follow, keep printing new ones."""
    from ..security import list_audit_events
    from ._local import local_platform, operator

    with local_platform() as platform:
        newest = list_audit_events(platform, operator(), limit=max(lines, 1))
        _show(newest[:lines][::-1], json_output)
        if not follow:
            if not newest:
                print_message("the audit trail is empty")
            return
        last = newest[0].seq if newest else 0
        try:
            while True:
                time.sleep(interval)
                fresh = _events_after(platform, last)
                if fresh:
                    _show(fresh, json_output)
                    last = fresh[-1].seq
        except KeyboardInterrupt:
            return


@audit_app.command("checkpoint")
def checkpoint(json_output: JsonOption = False) -> None:
    """Sign the newest event now (Ed25519), so later truncation is detected."""
    from ..security import create_checkpoint
    from ._local import local_platform, operator

    with local_platform() as platform:
        signed = create_checkpoint(platform, operator())
    if json_output:
        emit_json(None if signed is None else dataclasses.asdict(signed))
    elif signed is None:
        print_message("nothing to sign: the trail is empty or its newest event is already signed")
    else:
        print_success(f"signed a checkpoint at event #{signed.seq} with key {signed.key_id}")
