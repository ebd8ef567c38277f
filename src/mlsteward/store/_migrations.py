"""Alembic, driven from code: ``mlsteward db upgrade`` and ``db current``."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from .._schema_revisions import head_revision as head_revision
from .._schema_revisions import shipped_revisions as shipped_revisions

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
