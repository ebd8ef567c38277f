"""The metadata store behaves the same on SQLite and PostgreSQL."""

from __future__ import annotations

import datetime as dt
import threading
from pathlib import Path

import pytest
from sqlalchemy import func, insert, select

from mlsteward.platform import Platform
from mlsteward.security import SYSTEM
from mlsteward.store import Database, upgrade, utcnow
from mlsteward.store._tables import audit_events, blob_refs, projects


def test_utc_datetimes_round_trip_exactly(backend_platform: Platform) -> None:
    moment = dt.datetime(2026, 3, 1, 12, 30, 45, 123456, tzinfo=dt.UTC)
    with backend_platform.db.write() as conn:
        conn.execute(
            insert(blob_refs).values(
                address="a" * 64, owner_type="t", owner_id="o", size=1, created_at=moment
            )
        )
    with backend_platform.db.read() as conn:
        got = conn.execute(select(blob_refs.c.created_at)).scalar_one()
    assert got == moment
    assert got.tzinfo is not None


def test_naive_datetimes_are_refused(backend_platform: Platform) -> None:
    from sqlalchemy.exc import StatementError

    with (
        pytest.raises(StatementError, match="naive datetime"),
        backend_platform.db.write() as conn,
    ):
        conn.execute(
            insert(blob_refs).values(
                address="b" * 64,
                owner_type="t",
                owner_id="o",
                size=1,
                created_at=dt.datetime(2026, 1, 1),
            )
        )


def test_failed_transaction_writes_nothing(backend_platform: Platform) -> None:
    class Boom(Exception):
        pass

    before = backend_platform.audit.count(backend_platform.db)
    with pytest.raises(Boom), backend_platform.db.write() as conn:  # noqa: PT012
        backend_platform.audit.record(conn, SYSTEM, "test.write", target_type="t", target_id="x")
        raise Boom
    assert backend_platform.audit.count(backend_platform.db) == before


def test_big_integers_and_unicode_survive(backend_platform: Platform) -> None:
    with backend_platform.db.write() as conn:
        conn.execute(
            insert(blob_refs).values(
                address="c" * 64,
                owner_type="t",
                owner_id="Zürich ✓ 東京",
                size=2**40,
                created_at=utcnow(),
            )
        )
    with backend_platform.db.read() as conn:
        row = conn.execute(select(blob_refs).where(blob_refs.c.address == "c" * 64)).one()
    assert row.size == 2**40
    assert row.owner_id == "Zürich ✓ 東京"


def test_unique_constraints_hold_and_surface_as_conflict(backend_platform: Platform) -> None:
    """A violated constraint (two writers racing on one name) is a clear ``Conflict``."""
    from mlsteward.errors import Conflict

    with pytest.raises(Conflict, match="concurrent change"), backend_platform.db.write() as conn:
        conn.execute(
            insert(projects).values(
                id="x" * 32, name="default", description="", created_at=utcnow()
            )
        )


def test_sqlite_runs_in_wal_mode_with_busy_timeout(tmp_path: Path) -> None:
    db = Database(f"sqlite:///{tmp_path / 'wal.db'}")
    with db.read() as conn:
        assert conn.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
        assert conn.exec_driver_sql("PRAGMA busy_timeout").scalar() >= 10_000
        assert conn.exec_driver_sql("PRAGMA foreign_keys").scalar() == 1


def test_concurrent_sqlite_writers_wait_instead_of_failing(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'busy.db'}"
    setup = Database(url)
    upgrade(setup)
    setup.dispose()
    errors: list[BaseException] = []

    def writer(n: int) -> None:
        db = Database(url)  # separate engine: separate connections, like separate processes
        try:
            for i in range(25):
                with db.write() as conn:
                    conn.execute(
                        insert(blob_refs).values(
                            address=f"{n:02d}{i:062d}",
                            owner_type="t",
                            owner_id="o",
                            size=i,
                            created_at=utcnow(),
                        )
                    )
        except BaseException as exc:  # collected and asserted below
            errors.append(exc)
        finally:
            db.dispose()

    threads = [threading.Thread(target=writer, args=(n,)) for n in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    check = Database(url)
    with check.read() as conn:
        assert conn.execute(select(func.count()).select_from(blob_refs)).scalar_one() == 150
    check.dispose()


def test_concurrent_audit_appends_keep_one_valid_chain(backend_platform: Platform) -> None:
    """Writers racing on the chain head never fork it (advisory lock / BEGIN IMMEDIATE)."""
    url = backend_platform.settings.resolved_database_url
    errors: list[BaseException] = []

    def writer(n: int) -> None:
        db = Database(url)
        try:
            for i in range(15):
                with db.write() as conn:
                    backend_platform.audit.record(
                        conn, SYSTEM, "test.concurrent", target_type="t", target_id=f"{n}-{i}"
                    )
        except BaseException as exc:  # collected and asserted below
            errors.append(exc)
        finally:
            db.dispose()

    threads = [threading.Thread(target=writer, args=(n,)) for n in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    report = backend_platform.audit.verify(backend_platform.db)
    assert report.ok, report
    with backend_platform.db.read() as conn:
        n = conn.execute(
            select(func.count())
            .select_from(audit_events)
            .where(audit_events.c.action == "test.concurrent")
        ).scalar_one()
    assert n == 60
