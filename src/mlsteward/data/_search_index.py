"""The full-text index over ``datasets.search_text``, outside the table definitions.

SQLite: an FTS5 table ``datasets_fts`` (``dataset_id`` unindexed, ``search_text``) that
triggers on ``datasets`` keep in sync. PostgreSQL: a GIN index on
``to_tsvector('simple', search_text)``. Migration 0010 creates both; schema comparison
(``compare_metadata``, autogenerate) skips them through ``include_search_index_name``.

A later migration that recreates ``datasets`` on SQLite (a batch ``ALTER``) drops the triggers
with the old table: it must create them again (see migration 0010) and refill ``datasets_fts``.
"""

from __future__ import annotations

from typing import Any

SQLITE_FTS_TABLE = "datasets_fts"
POSTGRES_INDEX = "ix_datasets_search_text_tsvector"


def include_search_index_name(name: str | None, type_: str, parent_names: Any) -> bool:
    """Alembic ``include_name`` hook: leave the full-text objects (the FTS5 table and its
    shadow tables, the expression index) out of schema comparison, before reflection."""
    if name is None:
        return True
    if type_ == "table" and name.startswith(SQLITE_FTS_TABLE):
        return False
    return not (type_ == "index" and name == POSTGRES_INDEX)
