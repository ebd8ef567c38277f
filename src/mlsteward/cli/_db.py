"""``mlsteward db``: schema migrations of the metadata database."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer

from ._output import emit_json, print_message, print_success, print_table

db_app = typer.Typer(
    name="db", help="Create or migrate the metadata database.", no_args_is_help=True
)

JsonOption = Annotated[bool, typer.Option("--json", help="Print JSON to stdout.")]


def display_url(url: str) -> str:
    """A database URL fit to print: the password is masked."""
    from ..settings import redact_database_url

    return redact_database_url(url)


def _sqlite_file_missing(url: str) -> bool:
    """True for a file-backed SQLite URL whose file does not exist (yet)."""
    from sqlalchemy.engine import make_url

    parsed = make_url(url)
    if parsed.get_backend_name() != "sqlite" or parsed.database in (None, "", ":memory:"):
        return False
    return not Path(parsed.database).exists()


@db_app.command("upgrade")
def upgrade() -> None:
    """Create the database, or migrate it to the schema this release needs."""
    from ..platform import Platform
    from ._local import cli_settings

    settings = cli_settings()
    if not settings.database_url:
        settings.home.mkdir(parents=True, exist_ok=True)
    platform = Platform(settings)
    try:
        before = None if _sqlite_file_missing(platform.db.url) else platform.db.schema_revision()
        after = platform.upgrade_schema()
    finally:
        platform.close()
    where = display_url(platform.db.url)
    if before == after:
        print_message(f"database {where} is already at the newest schema ({after})")
    else:
        print_success(f"database {where} upgraded from {before or 'empty'} to {after}")


@db_app.command("current")
def current(json_output: JsonOption = False) -> None:
    """Show the schema revision of the database and whether it is up to date."""
    from ..store import Database, head_revision
    from ._local import cli_settings

    settings = cli_settings()
    database = Database(settings.resolved_database_url)
    try:
        revision = None if _sqlite_file_missing(database.url) else database.schema_revision()
    finally:
        database.dispose()
    head = head_revision()
    info: dict[str, Any] = {
        "database_url": display_url(database.url),
        "revision": revision,
        "head": head,
        "up_to_date": revision == head,
    }
    if json_output:
        emit_json(info)
        return
    print_table(
        ["database", "revision", "head", "up to date"],
        [[info["database_url"], revision or "(empty)", head, "yes" if revision == head else "no"]],
    )
    if revision != head:
        print_message("run `mlsteward db upgrade` to migrate it")
