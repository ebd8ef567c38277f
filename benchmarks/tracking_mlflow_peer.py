"""The MLflow side of ``benchmarks/tracking.py``; runs in MLflow's own virtual environment.

Usage (by the runner): ``<peer python> tracking_mlflow_peer.py --child '<job json>'``.
"""

from __future__ import annotations

import json
import sys
import time
from typing import Any


def _peak_rss() -> int:
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) * 1024
    return 0


def main(job: dict[str, Any]) -> None:
    import mlflow
    from mlflow.entities import Metric
    from mlflow.tracking import MlflowClient

    mlflow.set_tracking_uri(job["url"])
    client = MlflowClient(job["url"])
    experiment = mlflow.set_experiment("bench")
    n, times = int(job["n"]), []
    with mlflow.start_run(experiment_id=experiment.experiment_id) as run:
        mlflow.log_metric("warmup", 0.0, step=0)
        for rep in range(int(job["repeat"])):
            key = f"m{rep}"
            started = time.perf_counter()
            if job["case"] == "call":
                for i in range(n):
                    mlflow.log_metric(key, i * 0.5, step=i)
            else:
                now = int(time.time() * 1000)
                for start in range(0, n, 1000):
                    batch = [
                        Metric(key, i * 0.5, now, i) for i in range(start, min(n, start + 1000))
                    ]
                    client.log_batch(run.info.run_id, metrics=batch)
            times.append(time.perf_counter() - started)
    print(json.dumps({"times": times, "peak_rss": _peak_rss(), "version": mlflow.__version__}))


if __name__ == "__main__" and len(sys.argv) == 3 and sys.argv[1] == "--child":
    main(json.loads(sys.argv[2]))
