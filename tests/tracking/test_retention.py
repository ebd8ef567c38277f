"""Purging deleted runs and experiments: everything of theirs goes, nothing else does."""

from __future__ import annotations

import datetime as dt
import time

import pytest
from sqlalchemy import func, insert, select, update

from mlsteward.errors import InvalidArgument, PermissionDenied
from mlsteward.platform import Platform
from mlsteward.security import SYSTEM, Actor, list_audit_events
from mlsteward.store import utcnow
from mlsteward.store._tables import blob_refs
from mlsteward.tracking import (
    MetricPoint,
    _retention,
    create_experiment,
    get_run,
    log_batch,
    set_experiment_deleted,
    set_run_deleted,
    start_run,
)
from mlsteward.tracking._retention import purge_deleted
from mlsteward.tracking._tables import (
    experiments,
    latest_metrics,
    metric_points,
    run_params,
    run_tags,
    runs,
)


def _filled_run(platform: Platform, experiment: str, points: int = 30) -> str:
    run_id = start_run(platform, SYSTEM, "default", experiment, tags={"t": "1"}).id
    now = int(time.time() * 1000)
    log_batch(
        platform,
        SYSTEM,
        run_id,
        metrics=[MetricPoint("m", float(i), i, now) for i in range(points)],
        params={"p": "1"},
    )
    with platform.db.write() as conn:
        conn.execute(
            insert(blob_refs).values(
                address="a" * 64,
                owner_type="run",
                owner_id=f"{run_id}/model.bin",
                size=1,
                created_at=utcnow(),
            )
        )
    return run_id


def _count(platform: Platform, table: object, run_id: str | None = None) -> int:
    query = select(func.count()).select_from(table)  # type: ignore[arg-type]
    if run_id is not None:
        query = query.where(table.c.run_id == run_id)  # type: ignore[attr-defined]
    with platform.db.read() as conn:
        return int(conn.execute(query).scalar_one())


def test_purge_removes_deleted_runs_and_keeps_the_rest(
    backend_platform: Platform, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(_retention, "POINT_CHUNK", 7)  # several chunks per run
    monkeypatch.setattr(_retention, "RUN_BATCH", 2)  # several batches
    create_experiment(backend_platform, SYSTEM, "default", "keep")
    kept = _filled_run(backend_platform, "keep")
    doomed = [_filled_run(backend_platform, "keep") for _ in range(3)]
    child = start_run(backend_platform, SYSTEM, "default", "keep", parent_run_id=doomed[0]).id
    for run_id in doomed:
        set_run_deleted(backend_platform, SYSTEM, run_id, True)

    report = purge_deleted(backend_platform, SYSTEM)

    assert (report.runs, report.metric_points, report.experiments) == (3, 90, 0)
    for run_id in doomed:
        for table in (metric_points, latest_metrics, run_params, run_tags):
            assert _count(backend_platform, table, run_id) == 0
    assert _count(backend_platform, metric_points, kept) == 30
    assert get_run(backend_platform, SYSTEM, kept).params == {"p": "1"}
    assert get_run(backend_platform, SYSTEM, child).parent_run_id is None
    with backend_platform.db.read() as conn:
        owners = set(conn.execute(select(blob_refs.c.owner_id)).scalars())
        assert {o.split("/")[0] for o in owners} == {kept}
        assert set(conn.execute(select(runs.c.id)).scalars()) == {kept, child}
    purges = list_audit_events(backend_platform, SYSTEM, action="run.purge")
    assert sum(len(e.details["runs"]) for e in purges) == 3
    assert len(purges) == 2  # batches of two


def test_purging_a_deleted_experiment_takes_all_its_runs(backend_platform: Platform) -> None:
    create_experiment(backend_platform, SYSTEM, "default", "old")
    create_experiment(backend_platform, SYSTEM, "default", "live")
    old_runs = [_filled_run(backend_platform, "old", points=5) for _ in range(2)]
    live = _filled_run(backend_platform, "live", points=5)
    set_experiment_deleted(backend_platform, SYSTEM, "default", "old", True)

    report = purge_deleted(backend_platform, SYSTEM)

    assert (report.runs, report.experiments, report.metric_points) == (2, 1, 10)
    with backend_platform.db.read() as conn:
        assert set(conn.execute(select(experiments.c.name)).scalars()) == {"live"}
        assert set(conn.execute(select(runs.c.id)).scalars()) == {live}
    assert not set(old_runs) & {live}


def test_recently_deleted_runs_wait_for_the_age_limit(platform: Platform) -> None:
    create_experiment(platform, SYSTEM, "default", "e")
    run_id = _filled_run(platform, "e")
    set_run_deleted(platform, SYSTEM, run_id, True)
    assert purge_deleted(platform, SYSTEM, older_than=dt.timedelta(days=1)).runs == 0
    with platform.db.write() as conn:
        conn.execute(
            update(runs)
            .where(runs.c.id == run_id)
            .values(deleted_at=utcnow() - dt.timedelta(days=2))
        )
    assert purge_deleted(platform, SYSTEM, older_than=dt.timedelta(days=1)).runs == 1


def test_purge_is_for_administrators(platform: Platform, admin: Actor) -> None:
    outsider = Actor(id="x", name="x", kind="user")
    with pytest.raises(PermissionDenied):
        purge_deleted(platform, outsider)
    with pytest.raises(InvalidArgument):
        purge_deleted(platform, admin, older_than=dt.timedelta(seconds=-1))
    assert purge_deleted(platform, admin).runs == 0
