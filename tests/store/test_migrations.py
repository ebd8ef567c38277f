"""Migrations upgrade an empty database on SQLite and PostgreSQL and match the table code."""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from pathlib import Path

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext

from mlsteward._schema import load_all_tables
from mlsteward.data._search_index import include_search_index_name
from mlsteward.errors import ConfigurationError, SchemaOutOfDate
from mlsteward.platform import Platform
from mlsteward.settings import load_settings
from mlsteward.store import Database, head_revision, normalize_database_url, upgrade


@pytest.fixture(params=["sqlite", "postgresql"])
def empty_db(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Database]:
    if request.param == "sqlite":
        db = Database(f"sqlite:///{tmp_path / 'empty.db'}")
    else:
        db = Database(request.getfixturevalue("postgres_url"))
    yield db
    db.dispose()


def test_upgrade_empty_database_reaches_head(empty_db: Database) -> None:
    assert empty_db.schema_revision() is None
    assert upgrade(empty_db) == head_revision()
    assert empty_db.schema_revision() == head_revision()
    # A second upgrade is a no-op.
    assert upgrade(empty_db) == head_revision()


def test_migrated_schema_matches_table_definitions(empty_db: Database) -> None:
    upgrade(empty_db)
    with empty_db.engine.connect() as conn:
        # The full-text objects (FTS5 table, expression index) live outside the tables.
        opts = {"compare_type": True, "include_name": include_search_index_name}
        diff = compare_metadata(MigrationContext.configure(conn, opts=opts), load_all_tables())
    assert diff == []


def test_explicit_database_is_not_migrated_on_open(tmp_path: Path) -> None:
    settings = load_settings(home=tmp_path, database_url=f"sqlite:///{tmp_path / 'x.db'}")
    with pytest.raises(SchemaOutOfDate, match="mlsteward db upgrade"):
        Platform.open(settings)
    # Opening did not create tables as a side effect.
    db = Database(settings.resolved_database_url)
    assert db.schema_revision() is None
    db.dispose()


def test_embedded_default_migrates_on_first_use_and_creates_default_project(
    tmp_path: Path,
) -> None:
    platform = Platform.open(load_settings(home=tmp_path / "fresh"))
    assert platform.db.schema_revision() == head_revision()
    from mlsteward.security import SYSTEM, list_projects

    assert [p.name for p in list_projects(platform, SYSTEM)] == ["default"]
    platform.close()


@pytest.mark.parametrize(
    "url", ["mysql://root@localhost/x", "not a url", "oracle+cx_oracle://u@h/db"]
)
def test_unsupported_database_urls_are_refused(url: str) -> None:
    with pytest.raises(ConfigurationError):
        normalize_database_url(url)


def test_plain_postgresql_url_uses_psycopg3() -> None:
    assert normalize_database_url("postgresql://u@h/db") == "postgresql+psycopg://u@h/db"


def test_database_from_a_newer_release_is_refused_clearly(tmp_path: Path) -> None:
    from sqlalchemy import text

    db = Database(f"sqlite:///{tmp_path / 'newer.db'}")
    upgrade(db)
    with db.write() as conn:
        conn.execute(text("UPDATE alembic_version SET version_num = 'f00dfeed'"))
    with pytest.raises(SchemaOutOfDate, match="newer mlsteward"):
        upgrade(db)
    with pytest.raises(SchemaOutOfDate, match="newer mlsteward"):
        db.require_current_schema()
    db.dispose()


def test_nul_characters_are_a_clear_error_on_every_backend(empty_db: Database) -> None:
    """PostgreSQL refuses NUL in text (InvalidArgument, not a 500); SQLite finds nothing."""
    from mlsteward.errors import InvalidArgument, NotFound
    from mlsteward.security import fetch_project

    upgrade(empty_db)
    expected = NotFound if empty_db.is_sqlite else InvalidArgument
    with pytest.raises(expected), empty_db.read() as conn:
        fetch_project(conn, "bad\x00name")


def test_the_cheap_revision_list_matches_alembic() -> None:
    """``shipped_revisions`` reads file names instead of importing Alembic's scripts: it must
    agree with Alembic on every revision and on the chain's order."""
    from alembic.script import ScriptDirectory

    from mlsteward.store._migrations import _alembic_config, shipped_revisions

    scripts = ScriptDirectory.from_config(_alembic_config())
    chain = [script.revision for script in scripts.walk_revisions()][::-1]
    assert list(shipped_revisions()) == chain
    assert head_revision() == scripts.get_current_head()
    for older, newer in itertools.pairwise(chain):
        assert scripts.get_revision(newer).down_revision == older
