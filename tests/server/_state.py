"""What "nothing was written" means: every metadata row and every file of the blob store."""

from __future__ import annotations

from pathlib import Path

from sqlalchemy import select

from mlsteward.platform import Platform
from mlsteward.store import metadata

# Bookkeeping a read may update (at most once a minute per token); not a state change.
_VOLATILE_COLUMNS = {"last_used_at"}


def platform_state(platform: Platform) -> dict[str, list[str]]:
    """Every row of every table and every stored file, in a comparable form."""
    state: dict[str, list[str]] = {}
    with platform.db.read() as conn:
        for table in metadata.sorted_tables:
            columns = [c for c in table.columns if c.name not in _VOLATILE_COLUMNS]
            state[table.name] = sorted(repr(tuple(row)) for row in conn.execute(select(*columns)))
    root = Path(platform.settings.resolved_blob_url)
    files = root.rglob("*") if root.exists() else iter(())
    state["blob files"] = sorted(str(p.relative_to(root)) for p in files if p.is_file())
    return state


def audit_count(platform: Platform) -> int:
    return platform.audit.count(platform.db)
