"""Engines and transactions for SQLite (WAL, busy timeout) and PostgreSQL."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import Any

from sqlalchemy import Connection, Engine, create_engine, event, text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import DataError, OperationalError
from sqlalchemy.exc import IntegrityError as SQLIntegrityError

from ..errors import (
    ConfigurationError,
    Conflict,
    InvalidArgument,
    MissingExtra,
    SchemaOutOfDate,
    Unavailable,
)

SQLITE_CACHE_KIB = 64 * 1024
SQLITE_BUSY_TIMEOUT_MS = 30_000


def normalize_database_url(url: str) -> str:
    """Map plain ``postgresql://`` to the psycopg 3 driver; reject unsupported backends."""
    if url.startswith(("postgresql://", "postgres://")):
        url = "postgresql+psycopg://" + url.split("://", 1)[1]
    try:
        parsed = make_url(url)
    except Exception as exc:  # sqlalchemy raises ArgumentError with a terse message
        raise ConfigurationError(f"cannot parse database URL: {exc}") from None
    if parsed.get_backend_name() not in {"sqlite", "postgresql"}:
        raise ConfigurationError(
            f"unsupported database backend {parsed.get_backend_name()!r}: "
            "use sqlite:///path or postgresql://user@host/db"
        )
    return url


def _configure_sqlite(engine: Engine) -> None:
    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_conn: Any, _record: Any) -> None:
        # We issue BEGIN ourselves (below) so writers can take the lock up front.
        dbapi_conn.isolation_level = None
        cursor = dbapi_conn.cursor()
        cursor.execute(f"PRAGMA busy_timeout = {SQLITE_BUSY_TIMEOUT_MS}")
        cursor.execute("PRAGMA journal_mode = WAL")
        cursor.execute("PRAGMA synchronous = NORMAL")
        cursor.execute("PRAGMA foreign_keys = ON")
        # SQLite's default page cache (2 MiB a connection) made a search over 10,000 runs
        # re-read its index pages from the OS on every query: 64 MiB halved it (1.9 -> 0.9
        # ms). Pages are allocated as they are read, so a small database stays small.
        cursor.execute(f"PRAGMA cache_size = -{SQLITE_CACHE_KIB}")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(conn: Connection) -> None:
        # BEGIN IMMEDIATE takes the write lock at once: concurrent writers queue on the busy
        # timeout instead of failing with "database is locked" when a read lock is upgraded.
        mode = conn.get_execution_options().get("sqlite_begin", "DEFERRED")
        conn.exec_driver_sql(f"BEGIN {mode}")


@contextlib.contextmanager
def _database_errors() -> Iterator[None]:
    """Driver failures as mlsteward errors: unreachable -> ``Unavailable``; a value the
    database refuses (PostgreSQL and NUL characters) -> ``InvalidArgument``; a constraint
    violated by a concurrent writer (two creates of one name racing) -> ``Conflict``."""
    try:
        yield
    except SQLIntegrityError as exc:
        raise Conflict(
            "a concurrent change conflicted with this one (nothing was written); retry",
            details={"constraint": str(exc.orig)[:300]},
        ) from None
    except OperationalError as exc:
        raise Unavailable(f"database error: {exc.orig}") from exc
    except DataError as exc:
        raise InvalidArgument(f"the database refused a value: {exc.orig}") from None


class Database:
    """One engine per process; ``write()`` and ``read()`` give transactions."""

    def __init__(self, url: str, *, echo: bool = False) -> None:
        self.url = normalize_database_url(url)
        self.is_sqlite = self.url.startswith("sqlite")
        try:
            self._create_engines(echo)
        except ModuleNotFoundError as exc:
            raise MissingExtra(
                f"the database driver {exc.name!r} is not installed: "
                "pip install 'mlsteward[postgres]'"
            ) from None

    def _create_engines(self, echo: bool) -> None:
        if self.is_sqlite:
            self.engine = create_engine(
                self.url, echo=echo, connect_args={"timeout": SQLITE_BUSY_TIMEOUT_MS / 1000}
            )
            _configure_sqlite(self.engine)
            self._write_engine: Engine = self.engine.execution_options(sqlite_begin="IMMEDIATE")
        else:
            self.engine = create_engine(self.url, echo=echo, pool_pre_ping=True)
            self._write_engine = self.engine

    @contextlib.contextmanager
    def write(self) -> Iterator[Connection]:
        """A read-write transaction: commits on success, rolls back on any exception."""
        with _database_errors(), self._write_engine.begin() as conn:
            yield conn

    @contextlib.contextmanager
    def read(self) -> Iterator[Connection]:
        """A read transaction (rolled back at the end)."""
        with _database_errors(), self.engine.connect() as conn:
            yield conn

    def schema_revision(self) -> str | None:
        """The Alembic revision the database is at, or None for an empty database."""
        from sqlalchemy import inspect

        with self.read() as conn:
            if not inspect(conn).has_table("alembic_version"):
                return None
            row = conn.execute(text("SELECT version_num FROM alembic_version")).first()
            return None if row is None else str(row[0])

    def require_current_schema(self) -> None:
        """Raise ``SchemaOutOfDate`` unless migrations are at head."""
        from ._migrations import head_revision, is_known_revision

        current, head = self.schema_revision(), head_revision()
        if current is not None and not is_known_revision(current):
            raise SchemaOutOfDate(
                f"database schema is at {current}, which this release does not know: it was "
                "migrated by a newer mlsteward; upgrade mlsteward",
                details={"current": current, "head": head},
            )
        if current != head:
            raise SchemaOutOfDate(
                f"database schema is at {current or 'nothing'} but this release needs {head}: "
                "run `mlsteward db upgrade`",
                details={"current": current, "head": head},
            )

    def dispose(self) -> None:
        self.engine.dispose()
