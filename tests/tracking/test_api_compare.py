"""``/run-comparisons`` and ``/projects/{project}/runs/best`` over HTTP."""

from __future__ import annotations

import time

from fastapi.testclient import TestClient

from mlsteward.platform import Platform
from mlsteward.security import SYSTEM
from mlsteward.server import API_PREFIX, create_app
from mlsteward.tracking import MetricPoint, create_experiment, log_batch, start_run


def _seed(platform: Platform) -> list[str]:
    create_experiment(platform, SYSTEM, "default", "cmp")
    now = int(time.time() * 1000)
    ids = []
    for lr, auc in (("0.1", 0.7), ("0.2", 0.9), ("0.3", 0.8)):
        run_id = start_run(platform, SYSTEM, "default", "cmp").id
        log_batch(
            platform,
            SYSTEM,
            run_id,
            metrics=[MetricPoint("auc", auc, s, now) for s in range(3)],
            params={"lr": lr},
        )
        ids.append(run_id)
    return ids


def test_compare_and_best_over_http(platform: Platform) -> None:
    ids = _seed(platform)
    http = TestClient(create_app(platform), base_url="http://localhost")
    compared = http.get(
        f"{API_PREFIX}/run-comparisons", params=[("run_id", i) for i in ids] + [("metric", "auc")]
    )
    assert compared.status_code == 200
    body = compared.json()
    assert body["differing_params"] == ["lr"]
    assert body["metrics"][0]["steps"] == [0, 1, 2]
    assert body["metrics"][0]["values"][ids[1]] == [0.9, 0.9, 0.9]
    best = http.get(f"{API_PREFIX}/projects/default/runs/best", params={"metric": "auc"})
    assert best.json()["id"] == ids[1]
    worst = http.get(
        f"{API_PREFIX}/projects/default/runs/best", params={"metric": "auc", "mode": "min"}
    )
    assert worst.json()["id"] == ids[0]


def test_bad_comparisons_are_4xx_with_the_error_shape(platform: Platform) -> None:
    ids = _seed(platform)
    http = TestClient(create_app(platform), base_url="http://localhost")
    cases = [
        (f"{API_PREFIX}/run-comparisons", [("run_id", "../etc")], 400),
        (f"{API_PREFIX}/run-comparisons", [("run_id", "0" * 32)], 404),
        (f"{API_PREFIX}/run-comparisons", [], 400),
        (f"{API_PREFIX}/run-comparisons", [("run_id", ids[0]), ("metric", "a\x01b")], 400),
        (f"{API_PREFIX}/projects/default/runs/best", [("metric", "nothing")], 404),
        (f"{API_PREFIX}/projects/default/runs/best", [("metric", "auc"), ("mode", "avg")], 400),
    ]
    for url, params, status in cases:
        response = http.get(url, params=params)
        assert response.status_code == status, (url, params, response.text)
        assert set(response.json()["error"]) == {"code", "message", "details"}
