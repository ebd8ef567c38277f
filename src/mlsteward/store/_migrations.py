"""Alembic, driven from code: ``mlsteward db upgrade`` and ``db current``."""

from __future__ import annotations

import functools
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from alembic.config import Config

    from ._database import Database

MIGRATIONS_DIR = Path(__file__).parent / "migrations"


def _alembic_config(database: Database | None = None) -> Config:
    from alembic.config import Config

    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    if database is not None:
        config.attributes["engine"] = database.engine
    return config


@functools.cache
def shipped_revisions() -> tuple[str, ...]:
    """Every migration this release ships, oldest first.

    Read from the file names (``NNNN_title.py``, revision ``NNNN``, each revising the one
    before): opening the platform checks the schema on every command, and importing Alembic's
    script machinery for that cost 0.2 s of start-up. A test holds this to Alembic's own view.
    """
    names = (path.name for path in (MIGRATIONS_DIR / "versions").glob("[0-9]*_*.py"))
    return tuple(sorted(name.split("_", 1)[0] for name in names))


def head_revision() -> str:
    """The newest migration this release ships."""
    return shipped_revisions()[-1]


def is_known_revision(revision: str) -> bool:
    """Whether this release ships the migration ``revision``."""
    return revision in shipped_revisions()


def upgrade(database: Database, revision: str = "head") -> str | None:
    """Migrate the database to ``revision``; returns the revision it ended at.

    Raises ``SchemaOutOfDate`` when the database was migrated by a newer release.
    """
    from alembic import command

    from ..errors import SchemaOutOfDate

    current = database.schema_revision()
    if current is not None and not is_known_revision(current):
        raise SchemaOutOfDate(
            f"database schema is at {current}, which this release does not know: it was "
            "migrated by a newer mlsteward; upgrade mlsteward",
            details={"current": current},
        )
    command.upgrade(_alembic_config(database), revision)
    return database.schema_revision()
