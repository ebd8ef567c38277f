"""The fluent layer: ``mlsteward.start_run`` / ``log_metric`` with a ContextVar per thread/task."""

from __future__ import annotations

import asyncio
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

import mlsteward
from mlsteward.client import Client
from mlsteward.errors import Conflict
from mlsteward.settings import load_settings
from mlsteward.tracking import RunStatus
from mlsteward.tracking import _fluent as fluent


@pytest.fixture
def client(tmp_path: Path) -> Iterator[Client]:
    """A local client made the fluent default for the test."""
    client = Client(load_settings(home=tmp_path))
    fluent.set_default_client(client)
    yield client
    run = mlsteward.active_run()
    if run is not None:
        run.end()
    fluent.set_default_client(None)
    client.close()


def test_start_log_end(client: Client) -> None:
    with mlsteward.start_run(experiment="fluent", environment=False) as run:
        assert mlsteward.active_run() is run
        mlsteward.log_param("lr", 0.1)
        mlsteward.log_params({"depth": 3})
        mlsteward.set_tag("stage", "dev")
        mlsteward.set_tags({"team": "risk"})
        mlsteward.log_metric("loss", 0.5, step=1)
        mlsteward.log_metrics({"acc": 0.9, "f1": 0.8}, step=1)
        mlsteward.flush()
    assert mlsteward.active_run() is None
    stored = client.get_run(run.id)
    assert stored.status is RunStatus.FINISHED
    assert stored.params == {"lr": "0.1", "depth": "3"}
    assert stored.tags == {"stage": "dev", "team": "risk"}
    assert stored.metrics == {"loss": 0.5, "acc": 0.9, "f1": 0.8}


def test_nested_runs_record_their_parent(client: Client) -> None:
    parent = mlsteward.start_run(experiment="fluent", environment=False)
    with pytest.raises(Conflict, match="nested=True"):
        mlsteward.start_run(experiment="fluent", environment=False)
    with mlsteward.start_run(experiment="fluent", nested=True, environment=False) as child:
        assert mlsteward.active_run() is child
        mlsteward.log_metric("inner", 1.0)
    assert mlsteward.active_run() is parent
    mlsteward.log_metric("outer", 2.0)
    ended = mlsteward.end_run()
    assert ended is not None
    assert ended.status is RunStatus.FINISHED
    assert mlsteward.active_run() is None
    assert mlsteward.end_run() is None
    assert client.get_run(child.id).parent_run_id == parent.id
    assert client.get_run(child.id).metrics == {"inner": 1.0}
    assert client.get_run(parent.id).metrics == {"outer": 2.0}


def test_logging_without_a_run_starts_one(client: Client) -> None:
    mlsteward.log_metric("loss", 1.0)
    run = mlsteward.active_run()
    assert run is not None
    mlsteward.end_run("FAILED")
    stored = client.get_run(run.id)
    assert stored.status is RunStatus.FAILED
    assert client.get_experiment("default", "Default").id == stored.experiment_id


def test_each_thread_has_its_own_run(client: Client) -> None:
    seen: dict[int, str] = {}
    errors: list[BaseException] = []
    barrier = threading.Barrier(8)

    def work(index: int) -> None:
        try:
            assert mlsteward.active_run() is None  # a new thread starts with no run
            with mlsteward.start_run(experiment="threads", environment=False) as run:
                barrier.wait(10)  # all eight runs active at once
                for step in range(100):
                    mlsteward.log_metric("index", float(index), step=step)
                seen[index] = run.id
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=work, args=(i,)) for i in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert errors == []
    assert len(set(seen.values())) == 8
    for index, run_id in seen.items():
        history = client.metric_history(run_id, "index")
        assert [p.value for p in history] == [float(index)] * 100


def test_each_asyncio_task_has_its_own_run(client: Client) -> None:
    async def task(index: int) -> str:
        run = mlsteward.start_run(experiment="tasks", environment=False)
        await asyncio.sleep(0.01)  # the other tasks start their runs meanwhile
        assert mlsteward.active_run() is run
        mlsteward.log_metric("index", float(index))
        mlsteward.end_run()
        return run.id

    async def main() -> list[str]:
        return await asyncio.gather(*(task(i) for i in range(5)))

    run_ids = asyncio.run(main())
    assert len(set(run_ids)) == 5
    for index, run_id in enumerate(run_ids):
        assert client.get_run(run_id).metrics == {"index": float(index)}


SCRIPT = """
import sys
import mlsteward
run = mlsteward.start_run(experiment="exit", environment=False)
mlsteward.log_metric("loss", 1.0)
print(run.id, flush=True)
if sys.argv[1] == "raise":
    raise RuntimeError("boom")
"""


@pytest.mark.parametrize(("how", "status"), [("normal", "FINISHED"), ("raise", "FAILED")])
def test_runs_open_at_exit_are_flushed_and_ended(tmp_path: Path, how: str, status: str) -> None:
    env = {"MLSTEWARD_HOME": str(tmp_path), "PATH": "/usr/bin:/bin"}
    done = subprocess.run(
        [sys.executable, "-c", SCRIPT, how],
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
        check=False,
    )
    assert done.returncode == (0 if how == "normal" else 1), done.stderr
    run_id = done.stdout.split()[0]
    with Client(load_settings(home=tmp_path)) as client:
        stored = client.get_run(run_id)
    assert stored.status.value == status
    assert stored.metrics == {"loss": 1.0}


def test_import_stays_cheap_and_the_names_are_lazy() -> None:
    code = (
        "import sys, mlsteward; assert 'mlsteward.tracking' not in sys.modules; "
        "f = mlsteward.log_metric; assert 'mlsteward.tracking' in sys.modules; print(f.__name__)"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=False)
    assert done.stdout.strip() == "log_metric", done.stderr
