"""Shared fixtures: settings in a temporary home, platforms on SQLite and PostgreSQL.

PostgreSQL tests use the server at 127.0.0.1:5432 (trust auth), one fresh database per test.
Without it they skip with a visible reason, unless MLSTEWARD_TEST_REQUIRE_SERVICES=1 (set by
``.ci/run``), which turns the skip into a failure.
"""

from __future__ import annotations

import os
import shutil
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from mlsteward.platform import Platform
from mlsteward.security import Actor, authenticate_password, create_admin
from mlsteward.settings import Settings, load_settings

PG_ADMIN_URL = os.environ.get(
    "MLSTEWARD_TEST_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"
)
REQUIRE_SERVICES = os.environ.get("MLSTEWARD_TEST_REQUIRE_SERVICES") == "1"


def _postgres_available() -> str | None:
    """None when PostgreSQL answers, else the reason it does not."""
    import sqlalchemy

    try:
        engine = sqlalchemy.create_engine(PG_ADMIN_URL)
        with engine.connect() as conn:
            conn.execute(sqlalchemy.text("SELECT 1"))
        engine.dispose()
    except Exception as exc:
        return f"PostgreSQL at {PG_ADMIN_URL} is not reachable: {exc}"
    return None


_PG_PROBLEM: list[str | None] = []


def require_postgres() -> None:
    if not _PG_PROBLEM:
        _PG_PROBLEM.append(_postgres_available())
    problem = _PG_PROBLEM[0]
    if problem is not None:
        if REQUIRE_SERVICES:
            pytest.fail(f"{problem} (required: MLSTEWARD_TEST_REQUIRE_SERVICES=1)")
        pytest.skip(problem)


@pytest.fixture(autouse=True)
def _no_terminal_size_from_the_runner(monkeypatch: pytest.MonkeyPatch) -> None:
    """CLI output is tested as a pipe sees it (wide tables): a ``COLUMNS`` set by the test
    runner (pytest-xdist's workers set it) would wrap them."""
    monkeypatch.delenv("COLUMNS", raising=False)
    monkeypatch.delenv("LINES", raising=False)


@pytest.fixture
def postgres_url() -> Iterator[str]:
    """A fresh, empty PostgreSQL database, dropped after the test."""
    import sqlalchemy

    require_postgres()
    name = f"mls_test_{uuid.uuid4().hex[:12]}"
    admin = sqlalchemy.create_engine(PG_ADMIN_URL, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(sqlalchemy.text(f'CREATE DATABASE "{name}"'))
    url = PG_ADMIN_URL.rsplit("/", 1)[0] + f"/{name}"
    try:
        yield url
    finally:
        with admin.connect() as conn:
            conn.execute(sqlalchemy.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


@pytest.fixture(scope="session")
def migrated_postgres_template(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """The name of a PostgreSQL database migrated to head once per session, the template of
    ``migrated_postgres_url`` (cloning it is much faster than migrating each database)."""
    import sqlalchemy

    require_postgres()
    name = f"mls_template_{uuid.uuid4().hex[:12]}"
    admin = sqlalchemy.create_engine(PG_ADMIN_URL, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(sqlalchemy.text(f'CREATE DATABASE "{name}"'))
    url = PG_ADMIN_URL.rsplit("/", 1)[0] + f"/{name}"
    template = Platform(
        load_settings(home=tmp_path_factory.mktemp("pg-template"), database_url=url)
    )
    template.upgrade_schema()
    template.close()
    try:
        yield name
    finally:
        with admin.connect() as conn:
            conn.execute(sqlalchemy.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


@pytest.fixture
def migrated_postgres_url(migrated_postgres_template: str) -> Iterator[str]:
    """A fresh PostgreSQL database at head (a clone of the template), dropped afterwards."""
    import sqlalchemy

    name = f"mls_test_{uuid.uuid4().hex[:12]}"
    admin = sqlalchemy.create_engine(PG_ADMIN_URL, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(
            sqlalchemy.text(f'CREATE DATABASE "{name}" TEMPLATE "{migrated_postgres_template}"')
        )
    try:
        yield PG_ADMIN_URL.rsplit("/", 1)[0] + f"/{name}"
    finally:
        with admin.connect() as conn:
            conn.execute(sqlalchemy.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


@pytest.fixture
def home(tmp_path: Path) -> Path:
    path = tmp_path / "home"
    path.mkdir()
    return path


@pytest.fixture
def make_settings(home: Path) -> Callable[..., Settings]:
    """Settings rooted in the temporary home; keyword arguments override."""

    def build(**overrides: Any) -> Settings:
        return load_settings(home=home, **overrides)

    return build


@pytest.fixture
def settings(make_settings: Callable[..., Settings]) -> Settings:
    return make_settings()


@pytest.fixture(scope="session")
def migrated_sqlite_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A SQLite database migrated to head (with the ``default`` project), built once: the
    ``platform`` fixture starts from a copy instead of running every migration per test.
    Migrations themselves are tested from empty databases in ``tests/store``."""
    home = tmp_path_factory.mktemp("migrated-template")
    template = Platform.open(load_settings(home=home))
    template.close()
    path = home / "mlsteward.db"
    assert not path.with_name("mlsteward.db-wal").exists()  # closed: everything is in the file
    return path


@pytest.fixture
def platform(settings: Settings, migrated_sqlite_file: Path) -> Iterator[Platform]:
    """The embedded default: SQLite in the temporary home, at head."""
    if not settings.database_url:
        target = settings.home / "mlsteward.db"
        if not target.exists():
            settings.home.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(migrated_sqlite_file, target)
    p = Platform.open(settings)
    yield p
    p.close()


@pytest.fixture(params=["sqlite", "postgresql"])
def backend_platform(
    request: pytest.FixtureRequest, make_settings: Callable[..., Settings], home: Path
) -> Iterator[Platform]:
    """A migrated platform on each metadata backend (for conformance tests)."""
    if request.param == "sqlite":
        shutil.copyfile(request.getfixturevalue("migrated_sqlite_file"), home / "conformance.db")
        url = f"sqlite:///{home / 'conformance.db'}"
    else:
        url = request.getfixturevalue("migrated_postgres_url")
    p = Platform(make_settings(database_url=url))
    p.upgrade_schema()  # a no-op: both start at head
    yield p
    p.close()


ADMIN_PASSWORD = "admin-password-for-tests"


@pytest.fixture
def admin(platform: Platform) -> Actor:
    """An administrator user logged in with a password."""
    create_admin(platform, "admin", ADMIN_PASSWORD)
    return authenticate_password(platform, "admin", ADMIN_PASSWORD)
