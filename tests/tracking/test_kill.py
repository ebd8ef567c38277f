"""Client processes against a real server: killed mid-run, and 32 of them at once.

Each client is a separate Python process using the HTTP client; the server is uvicorn on
127.0.0.1 in this process, in front of SQLite or PostgreSQL.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import func, select

from mlsteward.platform import Platform
from mlsteward.security import SYSTEM
from mlsteward.server import create_app
from mlsteward.tracking import RunStatus, get_run, metric_history, reap_dead_runs
from mlsteward.tracking._tables import metric_points

from ..server._live_server import serve

FLUSHED = 5000

KILLED_SCRIPT = """
import sys
from mlsteward.client import Client
client = Client(server_url=sys.argv[1])
run = client.start_run("default", "kill", environment=False, batch_size=1000)
for step in range({flushed}):
    run.log_metric("loss", float(step), step=step)
run.flush()
print(run.id, flush=True)
step = {flushed}
while True:
    run.log_metric("loss", float(step), step=step)
    step += 1
    if step % 1000 == 0:
        import time
        time.sleep(0.001)
"""

WORKER_SCRIPT = """
import sys
from mlsteward.client import Client
client = Client(server_url=sys.argv[1])
points = int(sys.argv[2])
with client.start_run("default", "crowd", environment=False, batch_size=250) as run:
    run.log_param("worker", sys.argv[3])
    for step in range(points):
        run.log_metric("value", float(step), step=step)
        if step % 500 == 0:
            run.log_metric("marker", 1.0, step=step)
print(run.id, flush=True)
"""


@pytest.fixture
def server(backend_platform: Platform) -> Iterator[str]:
    with serve(create_app(backend_platform)) as url:
        yield url


def _env(tmp_path: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("MLSTEWARD_")}
    env["MLSTEWARD_HOME"] = str(tmp_path / "client-home")
    return env


def test_a_killed_client_keeps_what_it_flushed_and_is_reaped(
    server: str, backend_platform: Platform, tmp_path: Path
) -> None:
    script = KILLED_SCRIPT.format(flushed=FLUSHED)
    process = subprocess.Popen(
        [sys.executable, "-c", script, server],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=_env(tmp_path),
    )
    try:
        assert process.stdout is not None
        run_id = process.stdout.readline().strip()
        assert run_id, process.stderr.read() if process.stderr else ""
        time.sleep(0.5)  # it keeps logging (and shipping) meanwhile
    finally:
        process.send_signal(signal.SIGKILL)
        process.communicate(timeout=30)
    assert process.returncode == -signal.SIGKILL
    history = metric_history(backend_platform, SYSTEM, run_id, "loss")
    steps = [p.step for p in history]
    assert steps[:FLUSHED] == list(range(FLUSHED))  # everything flushed is there
    assert len(steps) == len(set(steps))  # and nothing twice
    assert steps == list(range(len(steps)))  # what arrived after the flush has no gaps
    assert get_run(backend_platform, SYSTEM, run_id).status is RunStatus.RUNNING
    time.sleep(1.2)
    assert reap_dead_runs(backend_platform, SYSTEM, timeout_seconds=1) == [run_id]
    assert get_run(backend_platform, SYSTEM, run_id).status is RunStatus.KILLED


PROCESSES = 32
POINTS = 2000


def test_concurrent_client_processes_store_every_point_once(
    server: str, backend_platform: Platform, tmp_path: Path
) -> None:
    processes = [
        subprocess.Popen(
            [sys.executable, "-c", WORKER_SCRIPT, server, str(POINTS), str(index)],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env=_env(tmp_path),
        )
        for index in range(PROCESSES)
    ]
    run_ids: list[str] = []
    for process in processes:
        out, err = process.communicate(timeout=240)
        assert process.returncode == 0, err
        assert err == ""
        run_ids.append(out.strip())
    assert len(set(run_ids)) == PROCESSES
    with backend_platform.db.read() as conn:
        rows = conn.execute(
            select(metric_points.c.run_id, func.count(), func.sum(metric_points.c.value))
            .where(metric_points.c.key == "value")
            .group_by(metric_points.c.run_id)
        ).all()
    totals = {row[0]: (row[1], float(row[2])) for row in rows}
    expected = (POINTS, float(sum(range(POINTS))))
    assert totals == dict.fromkeys(run_ids, expected)
    workers = set()
    for run_id in run_ids:
        run = get_run(backend_platform, SYSTEM, run_id)
        assert run.status is RunStatus.FINISHED
        assert run.metrics == {"value": POINTS - 1.0, "marker": 1.0}
        workers.add(run.params["worker"])
    assert workers == {str(i) for i in range(PROCESSES)}
