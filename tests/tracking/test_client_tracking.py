"""Experiment tracking through ``Client``: the same suite in-process and over real HTTP."""

from __future__ import annotations

import math
import threading
import time

import pytest

from mlsteward.errors import AlreadyExists, Conflict, InvalidArgument, NotFound, PermissionDenied
from mlsteward.tracking import ActiveRun, MetricPoint, RunStatus
from mlsteward.tracking._active_run import TRACEBACK_TAG

from ..client.conftest import World, cheap_hashing, local_world, remote_world, world

__all__ = ["cheap_hashing", "local_world", "remote_world", "world"]  # fixtures, used by name

T0 = 1_700_000_000_000


def _start(world: World, experiment: str = "exp", **kwargs: object) -> ActiveRun:
    return world.admin().start_run("default", experiment, environment=False, **kwargs)  # type: ignore[arg-type]


def test_experiments_round_trip(world: World) -> None:
    client = world.admin()
    name = f"exp-{world.kind}-crud"
    created = client.create_experiment("default", name, "about it")
    assert client.get_experiment("default", name) == created
    assert name in [e.name for e in client.list_experiments("default")]
    with pytest.raises(AlreadyExists):
        client.create_experiment("default", name)
    deleted = client.delete_experiment("default", name)
    assert deleted.deleted_at is not None
    assert name not in [e.name for e in client.list_experiments("default")]
    assert name in [e.name for e in client.list_experiments("default", include_deleted=True)]
    assert client.restore_experiment("default", name).deleted_at is None
    with pytest.raises(NotFound):
        client.get_experiment("default", "no-such-experiment")
    with pytest.raises(InvalidArgument):
        client.create_experiment("default", "a/b")


def test_logged_values_round_trip_including_non_finite(world: World) -> None:
    with _start(world, name="round-trip", tags={"team": "risk"}) as run:
        run.log_params({"lr": 0.01, "model": "rf"})
        run.set_tag("stage", "dev")
        for step, value in enumerate([1.5, math.nan, math.inf, -math.inf, 2]):
            run.log_metric("loss", value, step=step, timestamp=T0 + step)
        run.log_metrics({"acc": 0.9, "train/f1": 0.5}, step=7)
    client = world.admin()
    stored = client.get_run(run.id)
    assert stored.status is RunStatus.FINISHED
    assert stored.name == "round-trip"
    assert stored.params == {"lr": "0.01", "model": "rf"}
    assert stored.tags == {"team": "risk", "stage": "dev"}
    assert stored.metrics == {"loss": 2.0, "acc": 0.9, "train/f1": 0.5}
    history = client.metric_history(run.id, "loss")
    assert [(p.step, p.timestamp) for p in history] == [(i, T0 + i) for i in range(5)]
    values = [p.value for p in history]
    assert values[0] == 1.5
    assert math.isnan(values[1])
    assert values[2:] == [math.inf, -math.inf, 2.0]
    assert [p.key for p in client.metric_history(run.id, "train/f1")] == ["train/f1"]


def test_start_run_creates_the_experiment_and_records_the_environment(world: World) -> None:
    client = world.admin()
    experiment = f"auto-{world.kind}"
    with client.start_run("default", experiment) as run:
        pass
    assert client.get_experiment("default", experiment).id == run.info.experiment_id
    environment = client.get_run(run.id).environment
    assert environment["python"]
    assert "mlsteward" in environment["packages"]


def test_a_parameter_conflict_is_raised_at_flush_and_metrics_survive(world: World) -> None:
    run = _start(world)
    run.log_param("lr", "0.1")
    run.flush()
    run.log_param("lr", "0.2")
    run.log_metric("loss", 1.0)
    with pytest.raises(Conflict, match="write-once"):
        run.flush()
    run.flush()  # the error was reported once; the run goes on
    run.end()
    stored = world.admin().get_run(run.id)
    assert stored.params == {"lr": "0.1"}
    assert stored.metrics == {"loss": 1.0}


def test_logging_to_an_ended_run_fails_at_flush(world: World) -> None:
    run = _start(world)
    run.log_metric("loss", 1.0)
    run.flush()
    world.admin().end_run(run.id, "KILLED")  # ended elsewhere
    run.log_metric("loss", 2.0)
    with pytest.raises(Conflict, match="KILLED"):
        run.flush()
    with pytest.raises(Conflict):
        run.end()  # the end itself is refused: the run had already ended
    assert [p.value for p in world.admin().metric_history(run.id, "loss")] == [1.0]


def test_ending_reports_errors_after_ending_the_run(world: World) -> None:
    run = _start(world)
    run.log_param("p", "1")
    run.flush()
    run.log_param("p", "2")
    with pytest.raises(Conflict):
        run.end()
    assert world.admin().get_run(run.id).status is RunStatus.FINISHED
    assert run.end().status is RunStatus.FINISHED  # ending twice is harmless
    with pytest.raises(Conflict, match="has ended"):
        run.log_metric("loss", 1.0)


def test_bad_keys_and_values_are_refused_at_the_call(world: World) -> None:
    with _start(world) as run:
        for bad in ("", " ", "k" * 251, "a\nb", "a\x00b"):
            with pytest.raises(InvalidArgument):
                run.log_metric(bad, 1.0)
        with pytest.raises(InvalidArgument, match="bool"):
            run.log_metric("m", True)  # type: ignore[arg-type]
        with pytest.raises(InvalidArgument, match="number"):
            run.log_metric("m", "1.0")  # type: ignore[arg-type]
        with pytest.raises(InvalidArgument, match="whole number"):
            run.log_metric("m", 1.0, step=math.inf)  # type: ignore[arg-type]
        with pytest.raises(InvalidArgument, match="64-bit"):
            run.log_metric("m", 1.0, step=2**63)
        with pytest.raises(InvalidArgument, match="out of range"):
            run.log_metric("m", 1.0, timestamp=-1)
        with pytest.raises(InvalidArgument, match="limit"):
            run.log_param("p", "x" * 6001)
        run.log_metric("m", 3, step=2.0)  # type: ignore[arg-type]
    assert world.admin().get_run(run.id).metrics == {"m": 3.0}
    assert world.admin().get_run(run.id).params == {}


def test_context_manager_marks_failure_with_the_traceback(world: World) -> None:
    run = _start(world)

    def train() -> None:
        with run:
            run.log_metric("loss", 1.0)
            _ = 1 / 0

    with pytest.raises(ZeroDivisionError):
        train()
    stored = world.admin().get_run(run.id)
    assert stored.status is RunStatus.FAILED
    assert "ZeroDivisionError" in stored.tags[TRACEBACK_TAG]
    assert stored.metrics == {"loss": 1.0}


def test_nested_runs_and_notes_delete_restore(world: World) -> None:
    client = world.admin()
    with _start(world) as parent, _start(world, parent_run_id=parent.id) as child:
        pass
    assert client.get_run(child.id).parent_run_id == parent.id
    assert client.set_run_notes(parent.id, "# notes").notes == "# notes"
    assert client.delete_run(parent.id).deleted_at is not None
    with pytest.raises(Conflict):
        client.delete_run(parent.id)
    assert client.restore_run(parent.id).deleted_at is None


def test_direct_log_batch_and_its_errors(world: World) -> None:
    client = world.admin()
    run = _start(world)
    points = [MetricPoint("m", float(i), i, T0) for i in range(10)]
    client.log_batch(run.id, metrics=points, params={"a": "1"}, tags={"t": "v"})
    assert client.get_run(run.id).metrics == {"m": 9.0}
    with pytest.raises(InvalidArgument):
        client.log_batch(run.id, metrics=[("m", 1.0, 0, T0)])  # type: ignore[list-item]
    with pytest.raises(InvalidArgument):
        client.log_batch("not-a-run-id", metrics=points)
    with pytest.raises(NotFound):
        client.log_batch("0" * 32, metrics=points)
    run.end()
    with pytest.raises(Conflict):
        client.log_batch(run.id, metrics=points)
    assert len(client.metric_history(run.id, "m")) == 10


def test_users_need_a_role_in_the_project(world: World) -> None:
    outsider = world.client(world.people.outsider_token)
    run = _start(world)
    with pytest.raises(PermissionDenied):
        outsider.get_run(run.id)
    with pytest.raises(PermissionDenied):
        outsider.log_batch(run.id, metrics=[MetricPoint("m", 1.0, 0, T0)])
    run.end()
    assert world.admin().get_run(run.id).metrics == {}


def test_search_runs(world: World) -> None:
    client = world.admin()
    experiment = f"search-{world.kind}"
    for loss in (3.0, 1.0, 2.0):
        with client.start_run("default", experiment, environment=False) as run:
            run.log_metric("loss", loss)
    exp_id = client.get_experiment("default", experiment).id
    page = client.search_runs(
        "default",
        experiment_ids=[exp_id],
        filter="metrics.loss < 2.5",
        order_by=["metrics.loss asc"],
        max_results=1,
    )
    assert [r.metrics["loss"] for r in page.runs] == [1.0]
    assert page.next_page_token is not None
    rest = client.search_runs(
        "default",
        experiment_ids=[exp_id],
        filter="metrics.loss < 2.5",
        order_by=["metrics.loss asc"],
        max_results=1,
        page_token=page.next_page_token,
    )
    assert [r.metrics["loss"] for r in rest.runs] == [2.0]
    with pytest.raises(InvalidArgument):
        client.search_runs("default", filter="metrics.loss <<< 1")


class _GatedSink:
    """The client's real backend, with shipping held until the test opens the gate."""

    def __init__(self, world: World) -> None:
        self.backend = world.admin()._backend
        self.gate = threading.Event()
        self.batches: list[int] = []

    def log_batch(self, run_id: str, metrics: object, params: object, tags: object) -> None:
        self.gate.wait()
        self.batches.append(len(metrics))  # type: ignore[arg-type]
        self.backend.log_batch(run_id, metrics, params, tags)  # type: ignore[arg-type]

    def heartbeat(self, run_id: str) -> None:
        self.backend.heartbeat(run_id)

    def end_run(self, run_id: str, status: str) -> object:
        return self.backend.end_run(run_id, status)


def test_a_full_buffer_blocks_the_logger_and_memory_stays_bounded(world: World) -> None:
    sink = _GatedSink(world)
    info = world.admin()._backend.start_run("default", "exp", None, None, {}, {})
    run = ActiveRun(sink, info, batch_size=10, max_buffered=50, flush_interval=0.01)  # type: ignore[arg-type]
    logged = 0
    high_water = 0

    def log_many() -> None:
        nonlocal logged
        for i in range(500):
            run.log_metric("m", float(i), step=i)
            logged += 1

    logger = threading.Thread(target=log_many)
    logger.start()
    for _ in range(50):
        time.sleep(0.01)
        high_water = max(high_water, len(run._queue))
    assert logger.is_alive()  # blocked: the shipper holds its first batch at the gate
    assert logged <= 50 + 10 + 1
    assert high_water <= 50
    sink.gate.set()
    logger.join(30)
    assert not logger.is_alive()
    run.end()
    history = world.admin().metric_history(run.id, "m")
    assert [p.step for p in history] == list(range(500))
    assert max(sink.batches) <= 10


def test_heartbeats_keep_an_idle_run_alive(world: World) -> None:
    run = _start(world, heartbeat_interval=0.05, flush_interval=0.01)
    before = world.platform.db  # heartbeats are stored: read the row's heartbeat time
    from sqlalchemy import select

    from mlsteward.tracking._tables import runs

    def last_beat() -> object:
        with before.read() as conn:
            return conn.execute(select(runs.c.heartbeat_at).where(runs.c.id == run.id)).scalar()

    first = last_beat()
    deadline = time.monotonic() + 10
    while last_beat() == first and time.monotonic() < deadline:
        time.sleep(0.02)
    assert last_beat() != first
    run.end()


def test_every_shipping_error_is_reported(world: World) -> None:
    run = _start(world)
    run.log_param("a", "1")
    run.log_param("b", "1")
    run.flush()
    run.log_param("a", "2")
    run.log_metric("m", 1.0)  # separates the two parameter batches
    run.log_param("b", "2")
    with pytest.raises(Conflict, match="'a'") as info:
        run.flush()
    assert any("'b'" in note for note in info.value.__notes__)
    run.end()


def test_flush_gives_up_after_its_timeout(world: World) -> None:
    sink = _GatedSink(world)
    info = world.admin()._backend.start_run("default", "exp", None, None, {}, {})
    run = ActiveRun(sink, info)  # type: ignore[arg-type]
    run.log_metric("m", 1.0)
    with pytest.raises(TimeoutError):
        run.flush(timeout=0.2)
    sink.gate.set()
    run.flush()
    assert run.end().metrics == {"m": 1.0}


def test_bad_shipping_options_are_refused(world: World) -> None:
    client = world.admin()
    experiment = f"options-{world.kind}"
    bad = ({"batch_size": 0}, {"batch_size": 100_001}, {"max_buffered": 0}, {"flush_interval": 0})
    for options in bad:
        with pytest.raises(InvalidArgument):
            client.start_run("default", experiment, environment=False, **options)  # type: ignore[arg-type]
    with pytest.raises(NotFound):
        client.get_experiment("default", experiment)  # refused before anything was created


def test_compare_and_best_run_agree_locally_and_remotely(world: World) -> None:
    ids = []
    for lr, auc in (("0.1", [0.5, 0.7]), ("0.2", [0.6, math.nan])):
        with _start(world, "cmp") as run:
            run.log_param("lr", lr)
            for step, value in enumerate(auc):
                run.log_metric("auc", value, step=step, timestamp=T0 + step)
        ids.append(run.id)
    client = world.admin()
    compared = client.compare_runs(ids, metric_keys=["auc"])
    assert compared.differing_params == ["lr"]
    assert compared.metrics[0].steps == [0, 1]
    assert compared.metrics[0].values[ids[0]] == [0.5, 0.7]
    second = compared.metrics[0].values[ids[1]]
    assert second[0] == 0.6
    assert second[1] is not None
    assert math.isnan(second[1])
    assert client.best_run("default", "auc").id == ids[0]  # a NaN latest value never wins
    with pytest.raises(InvalidArgument):
        client.best_run("default", "auc", mode="mean")
    with pytest.raises(NotFound):
        client.best_run("default", "never-logged")
    with pytest.raises(InvalidArgument):
        client.compare_runs(["not a run id"])
