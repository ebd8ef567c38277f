"""Experiments and runs through the service layer, on SQLite and PostgreSQL."""

from __future__ import annotations

import datetime as dt
import math
import time

import pytest
from sqlalchemy import func, select, update

from mlsteward.errors import AlreadyExists, Conflict, InvalidArgument, NotFound, PermissionDenied
from mlsteward.platform import Platform
from mlsteward.security import SYSTEM, Actor, add_member, create_user, list_audit_events
from mlsteward.tracking import (
    MetricPoint,
    RunStatus,
    capture_environment,
    create_experiment,
    end_run,
    get_or_create_experiment,
    get_run,
    list_experiments,
    log_batch,
    metric_history,
    metric_keys,
    reap_dead_runs,
    set_experiment_deleted,
    set_run_deleted,
    set_run_notes,
    start_run,
)
from mlsteward.tracking._tables import latest_metrics, metric_points, run_params, runs


def _now_ms() -> int:
    return int(time.time() * 1000)


@pytest.fixture
def run_id(backend_platform: Platform) -> str:
    create_experiment(backend_platform, SYSTEM, "default", "fraud")
    return start_run(backend_platform, SYSTEM, "default", "fraud", name="first").id


def test_metrics_params_tags_round_trip_with_non_finite_values(
    backend_platform: Platform, run_id: str
) -> None:
    t = _now_ms()
    points = [
        MetricPoint("auc", 0.5, 0, t),
        MetricPoint("auc", 0.75, 2, t),
        MetricPoint("auc", 0.7, 1, t + 10),
        MetricPoint("loss", math.nan, 0, t),
        MetricPoint("up", math.inf, 0, t),
        MetricPoint("down", -math.inf, 0, t),
    ]
    log_batch(
        backend_platform, SYSTEM, run_id, metrics=points, params={"lr": "0.1"}, tags={"t": "a"}
    )
    run = get_run(backend_platform, SYSTEM, run_id)
    assert run.params == {"lr": "0.1"}
    assert run.tags == {"t": "a"}
    assert run.metrics["auc"] == 0.75  # the highest step, not the last logged
    assert math.isnan(run.metrics["loss"])
    assert run.metrics["up"] == math.inf
    assert run.metrics["down"] == -math.inf
    assert [p.value for p in metric_history(backend_platform, SYSTEM, run_id, "auc")] == [
        0.5,
        0.7,
        0.75,
    ]
    assert metric_keys(backend_platform, SYSTEM, run_id) == ["auc", "down", "loss", "up"]


def test_latest_value_ignores_older_points_logged_later(
    backend_platform: Platform, run_id: str
) -> None:
    t = _now_ms()
    log_batch(backend_platform, SYSTEM, run_id, metrics=[MetricPoint("m", 5.0, 10, t)])
    log_batch(backend_platform, SYSTEM, run_id, metrics=[MetricPoint("m", 1.0, 3, t + 100)])
    log_batch(backend_platform, SYSTEM, run_id, metrics=[MetricPoint("m", 6.0, 10, t + 50)])
    assert get_run(backend_platform, SYSTEM, run_id).metrics["m"] == 6.0
    assert len(metric_history(backend_platform, SYSTEM, run_id, "m")) == 3


def test_params_are_write_once_and_a_conflicting_batch_writes_nothing(
    backend_platform: Platform, run_id: str
) -> None:
    log_batch(backend_platform, SYSTEM, run_id, params={"lr": "0.1"})
    log_batch(backend_platform, SYSTEM, run_id, params={"lr": "0.1"})  # same value: fine
    with pytest.raises(Conflict, match="write-once"):
        log_batch(
            backend_platform,
            SYSTEM,
            run_id,
            params={"lr": "0.2", "depth": "3"},
            metrics=[MetricPoint("m", 1.0, 0, _now_ms())],
        )
    with backend_platform.db.read() as conn:
        assert conn.execute(select(func.count()).select_from(metric_points)).scalar_one() == 0
        assert conn.execute(select(run_params.c.key)).scalars().all() == ["lr"]


def _counts(platform: Platform) -> tuple[int, int, int, int]:
    with platform.db.read() as conn:
        return (
            conn.execute(select(func.count()).select_from(metric_points)).scalar_one(),
            conn.execute(select(func.count()).select_from(latest_metrics)).scalar_one(),
            conn.execute(select(func.count()).select_from(run_params)).scalar_one(),
            len(list_audit_events(platform, SYSTEM, limit=1000)),
        )


@pytest.mark.parametrize(
    ("metrics", "params", "message"),
    [
        ([MetricPoint("k" * 251, 1.0, 0, 1)], {}, "limit is 250"),
        ([MetricPoint("bad\nkey", 1.0, 0, 1)], {}, "control character"),
        ([MetricPoint("   ", 1.0, 0, 1)], {}, "empty or blank"),
        ([MetricPoint("m", 1.0, math.inf, 1)], {}, "whole number"),
        ([MetricPoint("m", 1.0, math.nan, 1)], {}, "whole number"),
        ([MetricPoint("m", 1.0, 1.5, 1)], {}, "whole number"),
        ([MetricPoint("m", 1.0, 2**64, 1)], {}, "64-bit"),
        ([MetricPoint("m", "high", 0, 1)], {}, "must be a number"),
        ([MetricPoint("m", True, 0, 1)], {}, "must be a number"),
        ([MetricPoint("m", 1.0, 0, -5)], {}, "out of range"),
        ([], {"p": "x" * 6001}, "limit is 6000"),
        ([], {"p": 3}, "must be a string"),
        ([], {"p\x00": "x"}, "control character"),
        ([MetricPoint("ok", 1.0, 0, 1), MetricPoint("k" * 300, 1.0, 0, 1)], {}, "limit"),
    ],
)
def test_bad_input_is_refused_and_nothing_is_written(
    platform: Platform, metrics: list[MetricPoint], params: dict[str, str], message: str
) -> None:
    create_experiment(platform, SYSTEM, "default", "e")
    run_id = start_run(platform, SYSTEM, "default", "e").id
    before = _counts(platform)
    with pytest.raises(InvalidArgument, match=message):
        log_batch(platform, SYSTEM, run_id, metrics=metrics, params=params)
    assert _counts(platform) == before


def test_finished_deleted_and_unknown_runs_take_no_data(
    backend_platform: Platform, run_id: str
) -> None:
    point = [MetricPoint("m", 1.0, 0, _now_ms())]
    with pytest.raises(NotFound):
        log_batch(backend_platform, SYSTEM, "0" * 32, metrics=point)
    with pytest.raises(InvalidArgument, match="32 lowercase hex"):
        log_batch(backend_platform, SYSTEM, "../../etc", metrics=point)
    set_run_deleted(backend_platform, SYSTEM, run_id, True)
    with pytest.raises(Conflict, match="deleted"):
        log_batch(backend_platform, SYSTEM, run_id, metrics=point)
    set_run_deleted(backend_platform, SYSTEM, run_id, False)
    end_run(backend_platform, SYSTEM, run_id, RunStatus.FAILED)
    with pytest.raises(Conflict, match="FAILED"):
        log_batch(backend_platform, SYSTEM, run_id, metrics=point)
    with pytest.raises(Conflict):
        end_run(backend_platform, SYSTEM, run_id)
    run = get_run(backend_platform, SYSTEM, run_id)
    assert run.status is RunStatus.FAILED
    assert run.end_time is not None
    assert run.metrics == {}


def test_runs_without_heartbeat_are_reaped_as_killed(
    backend_platform: Platform, run_id: str
) -> None:
    create_experiment(backend_platform, SYSTEM, "default", "other")
    alive = start_run(backend_platform, SYSTEM, "default", "other").id
    with backend_platform.db.write() as conn:
        conn.execute(
            update(runs)
            .where(runs.c.id == run_id)
            .values(heartbeat_at=dt.datetime.now(dt.UTC) - dt.timedelta(minutes=10))
        )
    assert reap_dead_runs(backend_platform, SYSTEM, timeout_seconds=60) == [run_id]
    assert get_run(backend_platform, SYSTEM, run_id).status is RunStatus.KILLED
    assert get_run(backend_platform, SYSTEM, alive).status is RunStatus.RUNNING
    assert [
        e.target_id for e in list_audit_events(backend_platform, SYSTEM, action="run.killed")
    ] == [run_id]


def test_experiments_lifecycle(platform: Platform) -> None:
    create_experiment(platform, SYSTEM, "default", "churn", "customer churn")
    with pytest.raises(AlreadyExists):
        create_experiment(platform, SYSTEM, "default", "churn")
    assert get_or_create_experiment(platform, SYSTEM, "default", "churn").description == (
        "customer churn"
    )
    assert get_or_create_experiment(platform, SYSTEM, "default", "new").name == "new"
    set_experiment_deleted(platform, SYSTEM, "default", "churn", True)
    assert [e.name for e in list_experiments(platform, SYSTEM, "default")] == ["new"]
    with pytest.raises(Conflict, match="deleted"):
        start_run(platform, SYSTEM, "default", "churn")
    set_experiment_deleted(platform, SYSTEM, "default", "churn", False)
    assert len(list_experiments(platform, SYSTEM, "default")) == 2
    for bad in ("", "a/b", "x" * 201, "tab\tname"):
        with pytest.raises(InvalidArgument):
            create_experiment(platform, SYSTEM, "default", bad)


def test_viewers_read_editors_write(platform: Platform, admin: Actor) -> None:
    create_experiment(platform, admin, "default", "e")
    run = start_run(platform, admin, "default", "e", environment=capture_environment())
    create_user(platform, admin, "vic", "a-long-password-1")
    vic = Actor(id=_user_id(platform, "vic"), name="vic", kind="user")
    with pytest.raises(PermissionDenied):
        get_run(platform, vic, run.id)
    add_member(platform, admin, "default", "vic", "viewer")
    assert get_run(platform, vic, run.id).environment["python"]
    with pytest.raises(PermissionDenied):
        log_batch(platform, vic, run.id, params={"a": "b"})
    with pytest.raises(PermissionDenied):
        start_run(platform, vic, "default", "e")
    with pytest.raises(PermissionDenied):
        set_run_notes(platform, vic, run.id, "mine now")


def test_nested_runs_and_notes(platform: Platform) -> None:
    create_experiment(platform, SYSTEM, "default", "sweep")
    parent = start_run(platform, SYSTEM, "default", "sweep", name="search")
    child = start_run(platform, SYSTEM, "default", "sweep", parent_run_id=parent.id)
    assert child.parent_run_id == parent.id
    assert set_run_notes(platform, SYSTEM, child.id, "best so far").notes == "best so far"
    with pytest.raises(NotFound):
        start_run(platform, SYSTEM, "default", "sweep", parent_run_id="f" * 32)


def _user_id(platform: Platform, username: str) -> str:
    from mlsteward.store._tables import users

    with platform.db.read() as conn:
        return str(
            conn.execute(select(users.c.id).where(users.c.username == username)).scalar_one()
        )


def test_columnar_batches_store_the_same_points(backend_platform: Platform, run_id: str) -> None:
    from mlsteward.tracking._model import MetricColumns

    t = _now_ms()
    columns = MetricColumns.from_points(
        [("auc", 0.5, 0, t), ("loss", math.nan, 0, t), ("auc", 0.75, 1, t), ("up", math.inf, 0, t)]
    )
    assert columns.to_json()["values"] == [0.5, "NaN", 0.75, "Infinity"]
    log_batch(backend_platform, SYSTEM, run_id, metrics=columns)
    run = get_run(backend_platform, SYSTEM, run_id)
    assert run.metrics["auc"] == 0.75
    assert math.isnan(run.metrics["loss"])
    assert run.metrics["up"] == math.inf
    assert [p.step for p in metric_history(backend_platform, SYSTEM, run_id, "auc")] == [0, 1]


@pytest.mark.parametrize(
    ("columns", "message"),
    [
        ((["m"], [0, 0], [1.0], [0, 1], [1, 1]), "same length"),
        ((["m"], [1], [1.0], [0], [1]), "out of range"),
        ((["m"], [-1], [1.0], [0], [1]), "out of range"),
        ((["m"], [True], [1.0], [0], [1]), "out of range"),
        ((["m"], [0], ["high"], [0], [1]), "must be a number"),
        ((["m"], [0], [1.0], [math.inf], [1]), "whole number"),
        ((["m"], [0], [1.0], [0], ["soon"]), "whole milliseconds"),
        ((["bad\tkey"], [0], [1.0], [0], [1]), "control character"),
        (([7], [0], [1.0], [0], [1]), "must be a string"),
    ],
)
def test_bad_columnar_batches_write_nothing(
    platform: Platform, columns: tuple[list[object], ...], message: str
) -> None:
    from mlsteward.tracking._model import MetricColumns

    create_experiment(platform, SYSTEM, "default", "cols")
    run_id = start_run(platform, SYSTEM, "default", "cols").id
    before = _counts(platform)
    with pytest.raises(InvalidArgument, match=message):
        log_batch(platform, SYSTEM, run_id, metrics=MetricColumns(*columns))
    assert _counts(platform) == before


def test_unhashable_column_keys_are_invalid_arguments(platform: Platform) -> None:
    from mlsteward.tracking._model import MetricColumns

    create_experiment(platform, SYSTEM, "default", "keys")
    run_id = start_run(platform, SYSTEM, "default", "keys").id
    with pytest.raises(InvalidArgument, match="must be a string"):
        log_batch(platform, SYSTEM, run_id, metrics=MetricColumns([["a"]], [0], [1.0], [0], [1]))
