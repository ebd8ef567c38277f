"""Search runs with a filter and an order, top 100, through the HTTP server (SQLite), mlsteward
vs MLflow.

``python -m benchmarks tracking_search [--quick] [--peer]``: 10,000 runs (mlsteward also
100,000; ``--quick``: 1,000). Each run has params ``model`` (xgb/lgbm/rf/lr), ``lr``,
``depth``, tag ``team`` and metrics ``auc`` and ``loss`` (3 steps each), generated with a
fixed seed and written to one JSON file that both sides load. The query is
``metrics.auc > 0.9 and params.model = 'xgb'`` ordered by ``metrics.auc DESC``, 100 results;
both sides must return the same 100 run names. A repetition is one search; rates are
searches per second.

Seeding: mlsteward's database is filled in-process before its server starts (the experiment
through the service, then runs, params, tags, metric points and latest metrics with bulk
inserts shaped like the rows ``start_run``/``log_batch``/``end_run`` write, with the
environment record of this process, without their audit events); MLflow's through
``MlflowClient`` on its SQLite store (one ``log_batch`` per run), then ``mlflow server`` on
that database.
"""

from __future__ import annotations

import datetime as dt
import json
import random
import statistics
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

from ._harness import Row, Side, peak_rss

PEER_PYTHON = Path(__file__).parent / ".peers" / "mlflow" / "bin" / "python"
PEER_SCRIPT = Path(__file__).parent / "tracking_search_mlflow_peer.py"

FILTER = "metrics.auc > 0.9 and params.model = 'xgb'"
ORDER = "metrics.auc DESC"
STEPS = 3
WARMUP = 5
MIN_SEARCHES = 30
START_MS = 1_790_000_000_000  # 2026-09-21, a fixed start time for the first run


def generate(n: int, seed: int = 20261129) -> list[dict[str, Any]]:
    """``n`` runs, the same for a given ``seed``; the last step of ``auc`` is its latest."""
    rng = random.Random(seed)
    runs = []
    for i in range(n):
        auc = [rng.uniform(0.5, 1.0) for _ in range(STEPS)]
        loss = [rng.uniform(0.05, 1.0) for _ in range(STEPS)]
        runs.append(
            {
                "name": f"run-{i:06d}",
                "start_ms": START_MS + i * 1000,
                "params": {
                    "model": rng.choice(("xgb", "lgbm", "rf", "lr")),
                    "lr": f"{rng.choice((0.001, 0.01, 0.05, 0.1, 0.3))}",
                    "depth": str(rng.randint(2, 12)),
                },
                "tags": {"team": rng.choice(("vision", "nlp", "tabular", "ranking"))},
                "metrics": {"auc": auc, "loss": loss},
            }
        )
    return runs


def expected_top(runs: list[dict[str, Any]]) -> list[str]:
    """The names the query must return, computed in Python."""
    hits = [r for r in runs if r["params"]["model"] == "xgb" and r["metrics"]["auc"][-1] > 0.9]
    hits.sort(key=lambda r: r["metrics"]["auc"][-1], reverse=True)
    return [r["name"] for r in hits[:100]]


def seed_mlsteward(home: Path, runs: list[dict[str, Any]]) -> float:
    """Fill the database of ``home`` before its server starts; returns the seconds taken."""
    from sqlalchemy import insert

    from mlsteward import tracking
    from mlsteward.platform import Platform
    from mlsteward.security import SYSTEM
    from mlsteward.settings import load_settings
    from mlsteward.tracking import _tables as t
    from mlsteward.tracking import capture_environment

    home.mkdir(parents=True, exist_ok=True)
    platform = Platform.open(load_settings(home=home, database_url=""))
    started = time.perf_counter()
    experiment = tracking.create_experiment(platform, SYSTEM, "default", "bench")
    # What ``start_run`` records (interpreter, host, command, git, every installed package):
    # the row a real run has, not an empty one.
    environment = capture_environment()
    run_rows, params, tags, latest, points = [], [], [], [], []
    for run in runs:
        run_id = uuid.uuid4().hex
        start = dt.datetime.fromtimestamp(run["start_ms"] / 1000, dt.UTC)
        run_rows.append(
            {
                "id": run_id,
                "experiment_id": experiment.id,
                "project_id": experiment.project_id,
                "name": run["name"],
                "status": "FINISHED",
                "start_time": start,
                "end_time": start + dt.timedelta(seconds=1),
                "heartbeat_at": start + dt.timedelta(seconds=1),
                "parent_run_id": None,
                "notes": "",
                "created_by": SYSTEM.name,
                "environment": environment,
                "deleted_at": None,
            }
        )
        params += [{"run_id": run_id, "key": k, "value": v} for k, v in run["params"].items()]
        tags += [{"run_id": run_id, "key": k, "value": v} for k, v in run["tags"].items()]
        for key, values in run["metrics"].items():
            for step, value in enumerate(values):
                points.append((run_id, key, value, False, step, run["start_ms"] + step))
            last = len(values) - 1
            latest.append(
                {
                    "run_id": run_id,
                    "key": key,
                    "value": values[last],
                    "is_nan": False,
                    "step": last,
                    "ts": run["start_ms"] + last,
                }
            )
    with platform.db.write() as conn:
        conn.execute(insert(t.runs), run_rows)
        conn.execute(insert(t.run_params), params)
        conn.execute(insert(t.run_tags), tags)
        conn.exec_driver_sql(
            "INSERT INTO metric_points (run_id, key, value, is_nan, step, ts) "
            "VALUES (?, ?, ?, ?, ?, ?)",
            points,
        )
        conn.execute(insert(t.latest_metrics), latest)
    with platform.db.write() as conn:
        conn.exec_driver_sql("ANALYZE")
    seconds = time.perf_counter() - started
    platform.db.dispose()
    return seconds


def _child(job: dict[str, Any]) -> None:
    import mlsteward

    client = mlsteward.Client(server_url=job["url"])

    def once() -> Any:
        return client.search_runs(
            "default", filter=job["filter"], order_by=[job["order"]], max_results=100
        )

    for _ in range(int(job["warmup"])):
        page = once()
    times: list[float] = []
    for _ in range(int(job["repeat"])):
        started = time.perf_counter()
        page = once()
        times.append(time.perf_counter() - started)
    client.close()
    names = [run.name for run in page.runs]
    print(json.dumps({"times": times, "peak_rss": peak_rss(), "names": names}))


def _search(job: dict[str, Any], expected: list[str], **child: Any) -> Side:
    """Run one side's search child and check it returned the expected runs in order."""
    import subprocess

    target = ["-m", "benchmarks.tracking_search"] if "script" not in child else [child["script"]]
    result = subprocess.run(
        [child.get("python", sys.executable), *target, "--child", json.dumps(job)],
        capture_output=True,
        text=True,
        check=False,
    )
    if result.returncode != 0:
        raise RuntimeError(f"benchmark child failed:\n{result.stderr}")
    data = json.loads(result.stdout.strip().splitlines()[-1])
    if data["names"] != expected:
        raise RuntimeError(
            f"search returned {len(data['names'])} runs, not the expected {len(expected)} "
            f"in order (first: {data['names'][:3]} vs {expected[:3]})"
        )
    return Side(times=data["times"], peak_rss=data["peak_rss"])


def _ms(side: Side) -> str:
    low, mid, high = (1000 * f(side.times) for f in (min, statistics.median, max))
    return f"{mid:,.1f} ms (min {low:,.1f}, max {high:,.1f})"


def run(*, quick: bool, peer: bool, repeat: int, workdir: str | None) -> list[Row]:
    """Median search latency over 10,000 runs (and 100,000 for mlsteward), vs MLflow."""
    from ._servers import mlflow_server, mlsteward_server

    sizes = [1_000] if quick else [10_000, 100_000]
    peer_sizes = {1_000} if quick else {10_000}
    repeat = max(repeat, MIN_SEARCHES)
    if peer and not PEER_PYTHON.exists():
        raise SystemExit(
            "MLflow is not installed for benchmarks: python -m benchmarks.peers mlflow"
        )
    rows: list[Row] = []
    notes: list[str] = []
    with tempfile.TemporaryDirectory(dir=workdir) as tmp:
        base = Path(tmp)
        for n in sizes:
            runs = generate(n)
            expected = expected_top(runs)
            job = {"filter": FILTER, "order": ORDER, "warmup": WARMUP, "repeat": repeat}
            home = base / f"mls-{n}"
            seconds = seed_mlsteward(home, runs)
            notes.append(f"mlsteward: seeded {n:,} runs in {seconds:.1f} s")
            with mlsteward_server(home) as server:
                ours = _search({**job, "url": server.url}, expected)
            theirs = None
            if peer and n in peer_sizes:
                data = base / f"runs-{n}.json"
                data.write_text(json.dumps({"runs": runs}))
                uri = f"sqlite:///{base / f'mlflow-{n}.db'}"
                seeded = run_child_json(
                    {"case": "seed", "data": str(data), "uri": uri},
                )
                notes.append(f"MLflow: seeded {n:,} runs in {seeded['seconds']:.1f} s")
                with mlflow_server(str(PEER_PYTHON), base, uri) as server:
                    theirs = _search(
                        {**job, "case": "search", "url": server.url},
                        expected,
                        python=str(PEER_PYTHON),
                        script=str(PEER_SCRIPT),
                    )
            label = f"search runs, filter + order, top 100 ({n:,} runs)"
            rows.append(Row(label, 1, ours, theirs, unit="searches"))
            median = f"mlsteward median {_ms(ours)}"
            if theirs is not None:
                median += f", MLflow median {_ms(theirs)}"
            notes.append(f"{n:,} runs: {median} ({len(expected)} results, checked)")
            del runs
    print("\n".join(notes) + "\n")
    return rows


def run_child_json(job: dict[str, Any]) -> dict[str, Any]:
    """Run the peer script with ``job`` and return the JSON it prints last."""
    import subprocess

    result = subprocess.run(
        [str(PEER_PYTHON), str(PEER_SCRIPT), "--child", json.dumps(job)],
        capture_output=True,
        text=True,
        check=False,
    )
    if result.returncode != 0:
        raise RuntimeError(f"benchmark child failed:\n{result.stderr}")
    return json.loads(result.stdout.strip().splitlines()[-1])


if __name__ == "__main__" and len(sys.argv) == 3 and sys.argv[1] == "--child":
    _child(json.loads(sys.argv[2]))
