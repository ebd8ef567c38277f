"""Metadata store: SQLAlchemy tables, transactions and Alembic migrations."""

from ._database import Database as Database
from ._database import normalize_database_url as normalize_database_url
from ._migrations import head_revision as head_revision
from ._migrations import upgrade as upgrade
from ._tables import metadata as metadata
from ._types import JSONText as JSONText
from ._types import UTCDateTime as UTCDateTime
from ._types import utcnow as utcnow

__all__ = [
    "Database",
    "JSONText",
    "UTCDateTime",
    "head_revision",
    "metadata",
    "normalize_database_url",
    "upgrade",
    "utcnow",
]
