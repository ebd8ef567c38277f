"""Experiment tracking through the HTTP server (SQLite backend), mlsteward vs MLflow.

Workloads (``python -m benchmarks tracking [--quick] [--peer]``):

- ``log_metric call``: the cost of one ``log_metric`` call in the training thread. mlsteward's
  ``ActiveRun.log_metric`` appends to a buffer (a background thread ships it); MLflow's
  ``mlflow.log_metric`` makes one HTTP request per call. Rates are calls per second.
- ``batched logging, end to end``: points logged and stored on the server, per second.
  mlsteward: ``log_metric`` calls then ``flush()`` (which waits until the server stored them);
  MLflow: ``MlflowClient.log_batch`` with its maximum of 1,000 metrics per request.

Each side runs in its own process against its own server process on 127.0.0.1; MLflow runs
from its own virtual environment under ``benchmarks/.peers/mlflow`` (see ``_peers``).
"""

from __future__ import annotations

import contextlib
import json
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from ._harness import Row, Side, peak_rss, run_child

PEER_PYTHON = Path(__file__).parent / ".peers" / "mlflow" / "bin" / "python"
PEER_SCRIPT = Path(__file__).parent / "tracking_mlflow_peer.py"


def _child(job: dict[str, Any]) -> None:
    import mlsteward

    client = mlsteward.Client(server_url=job["url"])
    times: list[float] = []
    n = int(job["n"])
    with client.start_run("default", "bench", environment=False) as run:
        run.log_metric("warmup", 0.0, step=0)
        run.flush()
        for rep in range(int(job["repeat"])):
            key = f"m{rep}"
            started = time.perf_counter()
            for i in range(n):
                run.log_metric(key, i * 0.5, step=i)
            if job["case"] == "batch":
                run.flush()
            times.append(time.perf_counter() - started)
            run.flush()  # the call case measures the caller only; drain before the next round
    client.close()
    print(json.dumps({"times": times, "peak_rss": peak_rss()}))


def run(*, quick: bool, peer: bool, repeat: int, workdir: str | None) -> list[Row]:
    """Call cost and end-to-end batched throughput on SQLite and PostgreSQL, mlsteward vs
    MLflow (with ``--peer``), and 1,000,000 points into one run (memory of both processes)."""
    from ._servers import fresh_postgres_database, mlflow_server, mlsteward_server

    sizes = (
        {"call": (20_000, 100), "batch": (50_000, 5_000)}
        if quick
        else {
            "call": (200_000, 300),
            "batch": (500_000, 20_000),
        }
    )
    labels = {"call": ("log_metric call", "calls"), "batch": ("batched logging", "points")}
    if peer and not PEER_PYTHON.exists():
        raise SystemExit(
            "MLflow is not installed for benchmarks: python -m benchmarks.peers mlflow"
        )
    rows: list[Row] = []
    with tempfile.TemporaryDirectory(dir=workdir) as tmp:
        base = Path(tmp)
        for backend in ("sqlite", "postgresql"):
            ours: dict[str, Side] = {}
            theirs: dict[str, Side] = {}
            with contextlib.ExitStack() as stack:
                ours_url = None
                if backend == "postgresql":
                    ours_url = stack.enter_context(fresh_postgres_database())
                server = stack.enter_context(mlsteward_server(base / f"mls-{backend}", ours_url))
                for case, (n, _) in sizes.items():
                    job = {"url": server.url, "case": case, "n": n, "repeat": repeat}
                    ours[case] = run_child("benchmarks.tracking", job)
            if peer:
                with contextlib.ExitStack() as stack:
                    uri = (
                        stack.enter_context(fresh_postgres_database())
                        if backend == "postgresql"
                        else f"sqlite:///{base / 'mlflow.db'}"
                    )
                    server = stack.enter_context(mlflow_server(str(PEER_PYTHON), base, uri))
                    for case, (_, n) in sizes.items():
                        job = {"url": server.url, "case": case, "n": n, "repeat": repeat}
                        theirs[case] = run_child(
                            "", job, python=str(PEER_PYTHON), script=str(PEER_SCRIPT)
                        )
            for case, (label, unit) in labels.items():
                rows.append(
                    Row(
                        f"{label} ({backend} server)",
                        sizes[case][0],
                        ours[case],
                        _rescale(theirs.get(case), sizes, case),
                        unit=unit,
                    )
                )
        million = 100_000 if quick else 1_000_000
        with mlsteward_server(base / "mls-million") as server:
            job = {"url": server.url, "case": "batch", "n": million, "repeat": repeat}
            side = run_child("benchmarks.tracking", job)
            server_rss = server.peak_rss()
        rows.append(
            Row(
                f"{million:,} points into one run (sqlite server; server peak RSS "
                f"{server_rss / 1e6:,.0f} MB)",
                million,
                side,
                None,
                unit="points",
            )
        )
    return rows


def _rescale(side: Side | None, sizes: dict[str, tuple[int, int]], case: str) -> Side | None:
    """The peer handles fewer items per repetition; express its times for the same count."""
    if side is None:
        return None
    ours_n, peer_n = sizes[case]
    return Side(times=[t * ours_n / peer_n for t in side.times], peak_rss=side.peak_rss)


if __name__ == "__main__" and len(sys.argv) == 3 and sys.argv[1] == "--child":
    _child(json.loads(sys.argv[2]))
