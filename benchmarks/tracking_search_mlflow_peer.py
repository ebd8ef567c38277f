"""The MLflow side of ``benchmarks/tracking_search.py``; runs in MLflow's own virtual environment.

Usage (by the runner): ``<peer python> tracking_search_mlflow_peer.py --child '<job json>'``.

- ``case="seed"``: the runs of ``job["data"]`` (a JSON file written by the runner) go into
  the SQLite store ``job["uri"]`` through ``MlflowClient`` (``create_run``, one ``log_batch``
  per run, ``set_terminated``), no server involved; prints the seconds it took.
- ``case="search"``: ``MlflowClient(job["url"]).search_runs`` through ``mlflow server``.
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


def seed(job: dict[str, Any]) -> None:
    from mlflow.entities import Metric, Param, RunTag
    from mlflow.tracking import MlflowClient

    with open(job["data"]) as source:
        data = json.load(source)
    client = MlflowClient(tracking_uri=job["uri"])
    experiment_id = client.create_experiment("bench")
    started = time.perf_counter()
    for run in data["runs"]:
        created = client.create_run(experiment_id, start_time=run["start_ms"], run_name=run["name"])
        run_id = created.info.run_id
        metrics = [
            Metric(key, value, run["start_ms"] + step, step)
            for key, values in run["metrics"].items()
            for step, value in enumerate(values)
        ]
        client.log_batch(
            run_id,
            metrics=metrics,
            params=[Param(k, v) for k, v in run["params"].items()],
            tags=[RunTag(k, v) for k, v in run["tags"].items()],
        )
        client.set_terminated(run_id, "FINISHED", end_time=run["start_ms"] + 1000)
    seconds = time.perf_counter() - started
    print(json.dumps({"seconds": seconds, "experiment_id": experiment_id}))


def search(job: dict[str, Any]) -> None:
    import mlflow
    from mlflow.tracking import MlflowClient

    client = MlflowClient(job["url"])
    experiment_id = client.get_experiment_by_name("bench").experiment_id

    def once() -> list[Any]:
        return client.search_runs(
            [experiment_id],
            filter_string=job["filter"],
            order_by=[job["order"]],
            max_results=100,
        )

    for _ in range(int(job["warmup"])):
        found = once()
    times: list[float] = []
    for _ in range(int(job["repeat"])):
        started = time.perf_counter()
        found = once()
        times.append(time.perf_counter() - started)
    print(
        json.dumps(
            {
                "times": times,
                "peak_rss": _peak_rss(),
                "version": mlflow.__version__,
                "names": [run.info.run_name for run in found],
            }
        )
    )


if __name__ == "__main__" and len(sys.argv) == 3 and sys.argv[1] == "--child":
    job = json.loads(sys.argv[2])
    (seed if job["case"] == "seed" else search)(job)
