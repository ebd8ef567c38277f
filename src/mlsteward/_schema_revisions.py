"""The schema revisions this release ships, from the migration file names (stdlib only).

Opening the platform checks the schema on every command, and importing Alembic's script
machinery for that cost 0.2 s of start-up; the fast path of an unchanged ``data add`` checks it
without SQLAlchemy at all. A test holds this to Alembic's own view.
"""

from __future__ import annotations

import functools
from pathlib import Path

MIGRATION_VERSIONS_DIR = Path(__file__).parent / "store" / "migrations" / "versions"


@functools.cache
def shipped_revisions() -> tuple[str, ...]:
    """Every migration this release ships, oldest first (``NNNN_title.py`` is revision
    ``NNNN``, each revising the one before)."""
    names = (path.name for path in MIGRATION_VERSIONS_DIR.glob("[0-9]*_*.py"))
    return tuple(sorted(name.split("_", 1)[0] for name in names))


def head_revision() -> str:
    """The newest migration this release ships."""
    return shipped_revisions()[-1]
