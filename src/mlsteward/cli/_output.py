"""How the CLI talks: results to stdout (Rich tables or ``--json``), messages to stderr.

Machine-readable output (``--json``) is plain JSON on stdout with stable keys and nothing else
there, so it pipes into ``jq``; every human message goes to stderr. Rich is imported on first
use so ``mlsteward --help`` stays fast.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import json
import os
import sys
from collections.abc import Callable, Iterator, Sequence
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from rich.console import Console
    from rich.table import Table

    from ..errors import StewardError

__all__ = [
    "emit_json",
    "emit_json_line",
    "format_time",
    "print_error",
    "print_message",
    "print_secret",
    "print_success",
    "print_table",
    "print_warning",
    "progress_counter",
    "stderr_console",
    "stdout_console",
]

# Batch progress updates: a callback per audit event would spend more time drawing than hashing.
_PROGRESS_BATCH = 500


# Width for tables written to a pipe or file: wide enough that rows are not folded (which would
# break `grep`), since there is no terminal to fit. COLUMNS, when set, still wins.
_PIPE_WIDTH = 200


def stdout_console() -> Console:
    """A console on the current ``sys.stdout`` (built per call, so redirection is honoured)."""
    from rich.console import Console

    console = Console(file=sys.stdout, highlight=False)
    if not console.is_terminal and "COLUMNS" not in os.environ:
        console.width = _PIPE_WIDTH
    return console


def stderr_console() -> Console:
    """A console on the current ``sys.stderr`` for human messages."""
    from rich.console import Console

    return Console(file=sys.stderr, highlight=False)


def _json_default(value: object) -> Any:
    if isinstance(value, dt.datetime):
        return value.isoformat()
    to_json = getattr(value, "to_json", None)
    if callable(to_json):
        return to_json()
    return str(value)


def emit_json(value: Any) -> None:
    """Write ``value`` to stdout as indented JSON (one document)."""
    sys.stdout.write(json.dumps(value, indent=2, ensure_ascii=False, default=_json_default))
    sys.stdout.write("\n")
    sys.stdout.flush()


def emit_json_line(value: Any) -> None:
    """Write ``value`` to stdout as one compact JSON line (for streams: export, tail)."""
    sys.stdout.write(json.dumps(value, ensure_ascii=False, default=_json_default))
    sys.stdout.write("\n")
    sys.stdout.flush()


def print_message(message: str) -> None:
    """A plain human message on stderr (no markup interpretation)."""
    from rich.text import Text

    stderr_console().print(Text(message), soft_wrap=True)


def print_success(message: str) -> None:
    from rich.text import Text

    stderr_console().print(Text(message, style="green"), soft_wrap=True)


def print_warning(message: str) -> None:
    from rich.text import Text

    stderr_console().print(Text(f"warning: {message}", style="yellow"), soft_wrap=True)


def print_error(error: StewardError | str) -> None:
    """``error: <message>`` in red on stderr; never a traceback."""
    from rich.text import Text

    message = error if isinstance(error, str) else error.message
    stderr_console().print(Text(f"error: {message}", style="bold red"), soft_wrap=True)


def print_secret(label: str, secret: str) -> None:
    """Show a secret that is displayed only this once.

    The explanation goes to stderr; the secret alone goes to stdout, so that
    ``PASSWORD=$(mlsteward users create-admin admin)`` captures just the secret.
    """
    from rich.text import Text

    stderr_console().print(
        Text(f"{label} (shown only this once; store it now):", style="bold yellow"),
        soft_wrap=True,
    )
    sys.stdout.write(secret + "\n")
    sys.stdout.flush()


def format_time(value: dt.datetime | None) -> str:
    """A compact UTC timestamp for tables; empty for ``None``."""
    if value is None:
        return ""
    return value.astimezone(dt.UTC).strftime("%Y-%m-%d %H:%M:%S")


def print_table(
    columns: Sequence[str],
    rows: Sequence[Sequence[object]],
    *,
    title: str | None = None,
    empty: str = "nothing to show",
) -> None:
    """A Rich table on stdout; ``empty`` (on stderr) when there are no rows."""
    if not rows:
        print_message(empty)
        return
    table = _table(columns, title)
    for row in rows:
        table.add_row(*("" if cell is None else str(cell) for cell in row))
    stdout_console().print(table)


def _table(columns: Sequence[str], title: str | None) -> Table:
    from rich import box
    from rich.table import Table

    table = Table(
        title=title,
        box=box.SIMPLE_HEAD,
        show_edge=False,
        title_justify="left",
        header_style="bold",
    )
    for i, column in enumerate(columns):
        # The first column (a name or id) never wraps; others fold rather than truncate, so
        # every value stays whole and copy-pasteable in a narrow terminal.
        table.add_column(column, overflow="fold", no_wrap=i == 0)
    return table


@contextlib.contextmanager
def progress_counter(description: str, total: int | None) -> Iterator[Callable[[int], None]]:
    """A Rich progress bar on stderr; yields ``advance(n)``.

    Drawn only when stderr is a terminal (pipes and CI logs stay clean) and removed when done.
    """
    console = stderr_console()
    if not console.is_terminal:
        yield lambda n: None
        return
    from rich.progress import (
        BarColumn,
        MofNCompleteColumn,
        Progress,
        TextColumn,
        TimeRemainingColumn,
    )

    pending = 0
    with Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeRemainingColumn(),
        console=console,
        transient=True,
    ) as progress:
        task = progress.add_task(description, total=total)

        def advance(n: int) -> None:
            nonlocal pending
            pending += n
            if pending >= _PROGRESS_BATCH:
                progress.advance(task, pending)
                pending = 0

        yield advance
        progress.advance(task, pending)
