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
    """Call cost and end-to-end batched throughput, mlsteward vs MLflow (with ``--peer``)."""
    from ._servers import mlflow_server, mlsteward_server

    sizes = (
        {"call": (20_000, 100), "batch": (50_000, 5_000)}
        if quick
        else {
            "call": (200_000, 300),
            "batch": (500_000, 20_000),
        }
    )
    rows: list[Row] = []
    with tempfile.TemporaryDirectory(dir=workdir) as tmp:
        base = Path(tmp)
        ours: dict[str, Side] = {}
        with mlsteward_server(base / "mls") as url:
            for case, (n, _) in sizes.items():
                job = {"url": url, "case": case, "n": n, "repeat": repeat}
                ours[case] = run_child("benchmarks.tracking", job)
        theirs: dict[str, Side] = {}
        if peer:
            if not PEER_PYTHON.exists():
                raise SystemExit(
                    "MLflow is not installed for benchmarks: run python -m benchmarks.peers mlflow"
                )
            with mlflow_server(str(PEER_PYTHON), base, f"sqlite:///{base / 'mlflow.db'}") as url:
                for case, (_, n) in sizes.items():
                    job = {"url": url, "case": case, "n": n, "repeat": repeat}
                    theirs[case] = run_child(
                        "", job, python=str(PEER_PYTHON), script=str(PEER_SCRIPT)
                    )
        labels = {
            "call": ("log_metric call (SQLite server)", "calls"),
            "batch": ("batched logging, end to end (SQLite server)", "points"),
        }
        for case, (label, unit) in labels.items():
            ours_side, peer_side = ours[case], theirs.get(case)
            # Rates are per repetition: scale the peer's (smaller) size to the same unit.
            rows.append(
                Row(label, sizes[case][0], ours_side, _rescale(peer_side, sizes, case), unit=unit)
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
