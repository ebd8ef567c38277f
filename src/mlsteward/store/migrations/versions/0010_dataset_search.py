"""dataset full-text search

Revision ID: 0010
Revises: 0009
Create Date: 2026-11-29 07:45:00.000000

SQLite: an FTS5 table ``datasets_fts`` kept in sync with ``datasets.search_text`` by triggers.
PostgreSQL: a GIN index on ``to_tsvector('simple', search_text)``. Both live outside the
table definitions (see ``mlsteward.data._search_index``); the SQL is spelled out here so this
revision stays what it was when it shipped.
"""

from alembic import op

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None

_SQLITE_UPGRADE = (
    "CREATE VIRTUAL TABLE datasets_fts USING fts5("
    "dataset_id UNINDEXED, search_text, tokenize = 'unicode61 remove_diacritics 2')",
    """CREATE TRIGGER datasets_fts_insert AFTER INSERT ON datasets BEGIN
        INSERT INTO datasets_fts (dataset_id, search_text) VALUES (new.id, new.search_text);
    END""",
    """CREATE TRIGGER datasets_fts_update AFTER UPDATE OF search_text, id ON datasets BEGIN
        DELETE FROM datasets_fts WHERE dataset_id = old.id;
        INSERT INTO datasets_fts (dataset_id, search_text) VALUES (new.id, new.search_text);
    END""",
    """CREATE TRIGGER datasets_fts_delete AFTER DELETE ON datasets BEGIN
        DELETE FROM datasets_fts WHERE dataset_id = old.id;
    END""",
    "INSERT INTO datasets_fts (dataset_id, search_text) SELECT id, search_text FROM datasets",
)
_SQLITE_DOWNGRADE = (
    "DROP TRIGGER IF EXISTS datasets_fts_insert",
    "DROP TRIGGER IF EXISTS datasets_fts_update",
    "DROP TRIGGER IF EXISTS datasets_fts_delete",
    "DROP TABLE IF EXISTS datasets_fts",
)


def upgrade() -> None:
    if op.get_bind().dialect.name == "sqlite":
        for statement in _SQLITE_UPGRADE:
            op.execute(statement)
    else:
        op.execute(
            "CREATE INDEX ix_datasets_search_text_tsvector ON datasets "
            "USING gin (to_tsvector('simple'::regconfig, search_text))"
        )


def downgrade() -> None:
    if op.get_bind().dialect.name == "sqlite":
        for statement in _SQLITE_DOWNGRADE:
            op.execute(statement)
    else:
        op.execute("DROP INDEX IF EXISTS ix_datasets_search_text_tsvector")
