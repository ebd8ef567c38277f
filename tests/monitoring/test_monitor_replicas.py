"""Each monitor window is evaluated exactly once, even by several replicas at once: two
platforms on one PostgreSQL database run the scheduler's pass concurrently; a claim whose
evaluator died is taken over once its lease expired, never before; a claimant that lost its
claim cannot store its result."""

from __future__ import annotations

import datetime as dt
import threading
from collections.abc import Callable, Iterator

import numpy as np
import pytest
from sqlalchemy import insert, select

from mlsteward.errors import Conflict
from mlsteward.monitoring import (
    create_monitor,
    evaluate_monitor,
    list_monitor_results,
    run_due_evaluations,
)
from mlsteward.monitoring._monitor_eval import Evaluation
from mlsteward.monitoring._monitor_runs import _complete, claim_window
from mlsteward.monitoring._tables import monitor_results
from mlsteward.platform import Platform
from mlsteward.security import SYSTEM, list_audit_events
from mlsteward.settings import Settings

from ._monitor_support import inputs, record_window, register_model

MINUTE = dt.timedelta(minutes=1)


@pytest.fixture
def replicas(
    migrated_postgres_url: str, make_settings: Callable[..., Settings]
) -> Iterator[tuple[Platform, Platform]]:
    """Two platforms (two engines, as two server replicas) on one PostgreSQL database and
    one blob store."""
    first = Platform(make_settings(database_url=migrated_postgres_url))
    second = Platform(make_settings(database_url=migrated_postgres_url))
    yield first, second
    first.close()
    second.close()


def due_count(created: dt.datetime, now: dt.datetime, seconds: int) -> int:
    """How many windows of ``seconds`` end at least a minute before ``now``, from the one
    holding ``created`` on (the scheduler's rule, counted independently)."""
    first = int(created.timestamp()) // seconds * seconds
    last = (int((now - MINUTE).timestamp()) // seconds - 1) * seconds
    return (last - first) // seconds + 1


def test_two_replicas_evaluate_each_window_exactly_once(
    replicas: tuple[Platform, Platform],
) -> None:
    one, two = replicas
    register_model(one, training=inputs(2000, 0))
    monitors = [
        create_monitor(one, SYSTEM, "default", name, model_name="fraud", window_seconds=60)
        for name in ("a", "b")
    ]
    created = max(m.created_at for m in monitors)
    start = monitors[0].window_of(created)[1]
    for minute in range(6):
        frame = inputs(300, minute + 1, amount_shift=10.0 * minute)
        record_window(one, start + minute * MINUTE, frame, np.zeros(300, int), prefix=f"m{minute}")
    now = start + 30 * MINUTE  # 30+ due windows per monitor: more than one pass each (20)
    barrier = threading.Barrier(2)
    counts: list[int] = []
    failures: list[BaseException] = []

    def scheduler(platform: Platform) -> None:
        try:
            barrier.wait()
            for _ in range(3):
                counts.append(run_due_evaluations(platform, now))
        except BaseException as exc:  # reported below, in the test's thread
            failures.append(exc)

    threads = [threading.Thread(target=scheduler, args=(p,)) for p in (one, two)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=300)
    assert failures == []

    expected = sum(due_count(m.created_at, now, 60) for m in monitors)
    assert sum(counts) == expected
    events = list_audit_events(one, SYSTEM, action="monitoring.monitor.evaluate", limit=1000)
    assert len(events) == expected  # one completion per window, whoever claimed it
    for monitor in monitors:
        results = list_monitor_results(one, SYSTEM, "default", monitor.name)
        starts = [r.window_start for r in results]
        assert len(starts) == len(set(starts)) == due_count(monitor.created_at, now, 60)
        assert {r.status for r in results} <= {"ok", "no_data"}
        with_data = [r for r in results if r.status == "ok"]
        assert [r.window_start for r in with_data] == [start + m * MINUTE for m in range(6)]
    assert run_due_evaluations(two, now) == 0


def _claim_row(platform: Platform, monitor_id: str, start: dt.datetime, lease: dt.datetime) -> None:
    """What an evaluator that died mid-way leaves: a running claim with its lease."""
    with platform.db.write() as conn:
        conn.execute(
            insert(monitor_results).values(
                id=f"dead{start.minute:028d}", monitor_id=monitor_id, window_start=start,
                window_end=start + MINUTE, status="running", claimed_by="dead-replica",
                lease_until=lease, evaluated_at=None, metrics={}, report={},
            )
        )  # fmt: skip


def _status(platform: Platform, monitor_id: str, start: dt.datetime) -> tuple[str, str]:
    with platform.db.read() as conn:
        row = conn.execute(
            select(monitor_results.c.status, monitor_results.c.claimed_by).where(
                monitor_results.c.monitor_id == monitor_id,
                monitor_results.c.window_start == start,
            )
        ).one()
    return str(row.status), str(row.claimed_by)


def test_an_expired_claim_is_taken_over_and_a_live_one_is_left_alone(
    backend_platform: Platform,
) -> None:
    platform = backend_platform
    register_model(platform, training=inputs(500, 0))
    monitor = create_monitor(
        platform, SYSTEM, "default", "m", model_name="fraud", window_seconds=60
    )
    first = monitor.window_of(monitor.created_at)[0]
    now = first + 5 * MINUTE
    _claim_row(platform, monitor.id, first, lease=now - MINUTE)  # expired
    _claim_row(platform, monitor.id, first + MINUTE, lease=now + 10 * MINUTE)  # still held

    run_due_evaluations(platform, now)

    assert _status(platform, monitor.id, first)[0] == "no_data"
    assert _status(platform, monitor.id, first + MINUTE) == ("running", "dead-replica")

    assert run_due_evaluations(platform, now + 11 * MINUTE) > 0  # the lease ran out
    assert _status(platform, monitor.id, first + MINUTE)[0] == "no_data"


def test_evaluating_a_window_another_evaluator_holds_is_a_conflict(platform: Platform) -> None:
    register_model(platform, training=inputs(500, 0))
    monitor = create_monitor(platform, SYSTEM, "default", "m", model_name="fraud")
    past = dt.datetime(2026, 1, 1, 10, 0, tzinfo=dt.UTC)
    _claim_row(platform, monitor.id, past, lease=monitor.created_at + dt.timedelta(hours=1))
    with pytest.raises(Conflict, match="another evaluator"):
        evaluate_monitor(platform, SYSTEM, "default", "m", past)
    assert _status(platform, monitor.id, past) == ("running", "dead-replica")


def test_a_claimant_that_lost_its_claim_cannot_store_its_result(
    backend_platform: Platform,
) -> None:
    platform = backend_platform
    register_model(platform, training=inputs(500, 0))
    monitor = create_monitor(platform, SYSTEM, "default", "m", model_name="fraud")
    start, end = monitor.window_of(monitor.created_at)
    slow = claim_window(platform, monitor.id, start, end, start, lease_seconds=1)
    assert slow is not None
    assert claim_window(platform, monitor.id, start, end, start) is None  # held
    later = start + MINUTE
    fast = claim_window(platform, monitor.id, start, end, later)
    assert fast is not None  # the first lease expired
    done = Evaluation("ok", {"infra.rows": 1.0}, {})
    assert (
        _complete(platform, SYSTEM, monitor, monitor_project(platform), start, slow, done) is None
    )
    stored = _complete(platform, SYSTEM, monitor, monitor_project(platform), start, fast, done)
    assert stored is not None
    assert stored.metrics == {"infra.rows": 1.0}
    assert claim_window(platform, monitor.id, start, end, later) is None  # evaluated already
    assert _status(platform, monitor.id, start) == ("ok", fast)


def monitor_project(platform: Platform) -> str:
    from mlsteward.security import fetch_project

    with platform.db.read() as conn:
        return fetch_project(conn, "default").id
