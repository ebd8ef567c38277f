"""The tracking API over HTTP: the batch route's wire format, bad input, the run reaper."""

from __future__ import annotations

import datetime as dt
import json
import math
import time
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import update

from mlsteward.platform import Platform
from mlsteward.security import SYSTEM
from mlsteward.server import API_PREFIX, create_app
from mlsteward.settings import load_settings
from mlsteward.tracking import (
    RunStatus,
    end_run,
    get_or_create_experiment,
    get_run,
    metric_history,
    set_run_deleted,
    start_run,
)
from mlsteward.tracking._tables import runs

from ..server._state import platform_state
from ..server._support import People, assert_error_shape, bearer
from ..server.conftest import api, api_platform, api_settings, cheap_hashing, people

__all__ = ["api", "api_platform", "api_settings", "cheap_hashing", "people"]  # fixtures

T0 = 1_700_000_000_000


def _run_id(platform: Platform) -> str:
    get_or_create_experiment(platform, SYSTEM, "default", "exp")
    return start_run(platform, SYSTEM, "default", "exp").id


def _post_batch(api: TestClient, token: str, run_id: str, body: Any) -> Any:
    content = body if isinstance(body, bytes) else json.dumps(body).encode()
    return api.post(
        f"{API_PREFIX}/runs/{run_id}/batch",
        content=content,
        headers={**bearer(token), "Content-Type": "application/json"},
    )


def test_the_batch_route_stores_points_params_and_tags(
    api: TestClient, api_platform: Platform, people: People
) -> None:
    run_id = _run_id(api_platform)
    body = {
        "metrics": [
            {"key": "loss", "value": 0.5, "step": 0, "timestamp": T0},
            {"key": "loss", "value": "NaN", "step": 1, "timestamp": T0},
            {"key": "loss", "value": "Infinity", "step": 2, "timestamp": T0},
            {"key": "loss", "value": "-Infinity", "step": 3, "timestamp": T0},
            {"key": "loss", "value": 7, "step": 4, "timestamp": T0},
        ],
        "params": {"lr": "0.1"},
        "tags": {"team": "risk"},
    }
    response = _post_batch(api, people.admin_token, run_id, body)
    assert response.status_code == 204, response.text
    values = [p.value for p in metric_history(api_platform, SYSTEM, run_id, "loss")]
    assert values[0] == 0.5
    assert math.isnan(values[1])
    assert values[2:] == [math.inf, -math.inf, 7.0]
    run = api.get(f"{API_PREFIX}/runs/{run_id}", headers=bearer(people.admin_token)).json()
    assert run["params"] == {"lr": "0.1"}
    assert run["tags"] == {"team": "risk"}
    assert run["metrics"] == {"loss": 7.0}
    history = api.get(
        f"{API_PREFIX}/runs/{run_id}/metric-history",
        params={"key": "loss"},
        headers=bearer(people.admin_token),
    ).json()["metrics"]
    assert [m["value"] for m in history][1:4] == ["NaN", "Infinity", "-Infinity"]


def _point(**overrides: Any) -> dict[str, Any]:
    return {"key": "loss", "value": 1.0, "step": 0, "timestamp": T0, **overrides}


BAD_BATCHES: list[tuple[str, Any, str]] = [
    ("not json", b"{not json", "not valid JSON"),
    ("a list", [1, 2], "JSON object"),
    ("unknown field", {"metrics": [], "extra": 1}, "JSON object"),
    ("metrics neither list nor columns", {"metrics": "auc"}, "list of points"),
    ("columns missing one", {"metrics": {"keys": [], "values": []}}, "object of lists"),
    (
        "columns not lists",
        {"metrics": {"keys": "a", "key_index": 0, "values": 1, "steps": 0, "timestamps": 1}},
        "object of lists",
    ),
    (
        "columns of unequal length",
        {
            "metrics": {
                "keys": ["a"],
                "key_index": [0, 0],
                "values": [1.0],
                "steps": [0],
                "timestamps": [1],
            }
        },
        "same length",
    ),
    (
        "column key index out of range",
        {
            "metrics": {
                "keys": ["a"],
                "key_index": [3],
                "values": [1.0],
                "steps": [0],
                "timestamps": [1],
            }
        },
        "out of range",
    ),
    ("point missing a field", {"metrics": [{"key": "a", "value": 1.0, "step": 0}]}, "exactly"),
    ("point with an extra field", {"metrics": [_point(run="x")]}, "exactly"),
    ("point not an object", {"metrics": [[1, 2, 3, 4]]}, "exactly"),
    ("value a bool", {"metrics": [_point(value=True)]}, "metrics[0]"),
    ("value a word", {"metrics": [_point(value="nan")]}, "metrics[0]"),
    ("key too long", {"metrics": [_point(key="k" * 251)]}, "limit is 250"),
    ("key with a newline", {"metrics": [_point(key="a\nb")]}, "control character"),
    ("key blank", {"metrics": [_point(key="  ")]}, "blank"),
    ("key not text", {"metrics": [_point(key=5)]}, "must be a string"),
    ("step fractional", {"metrics": [_point(step=1.5)]}, "whole number"),
    ("step non-finite", {"metrics": [_point(step="Infinity")]}, "whole number"),
    ("step too large", {"metrics": [_point(step=2**64)]}, "64-bit"),
    ("timestamp negative", {"metrics": [_point(timestamp=-1)]}, "out of range"),
    ("param over the limit", {"params": {"p": "x" * 6001}}, "limit is 6000"),
    ("param not text", {"params": {"p": 1}}, "must be a string"),
    ("tag key with NUL", {"tags": {"a\u0000": "v"}}, "control character"),
    ("valid points then a bad one", {"metrics": [_point(), _point(key="")]}, "blank"),
]


@pytest.mark.parametrize(("case", "body", "message"), BAD_BATCHES, ids=[c[0] for c in BAD_BATCHES])
def test_bad_batches_are_400_and_write_nothing(
    api: TestClient, api_platform: Platform, people: People, case: str, body: Any, message: str
) -> None:
    run_id = _run_id(api_platform)
    before = platform_state(api_platform)
    response = _post_batch(api, people.admin_token, run_id, body)
    error = assert_error_shape(response, 400, "invalid_argument")
    assert message in error["message"], case
    assert platform_state(api_platform) == before


def test_batches_to_runs_that_take_no_data_are_refused(
    api: TestClient, api_platform: Platform, people: People
) -> None:
    finished, deleted = _run_id(api_platform), _run_id(api_platform)
    end_run(api_platform, SYSTEM, finished)
    set_run_deleted(api_platform, SYSTEM, deleted, True)
    body = {"metrics": [_point()]}
    before = platform_state(api_platform)
    error = assert_error_shape(_post_batch(api, people.admin_token, finished, body), 409)
    assert "FINISHED" in error["message"]
    error = assert_error_shape(_post_batch(api, people.admin_token, deleted, body), 409)
    assert "deleted" in error["message"]
    assert_error_shape(_post_batch(api, people.admin_token, "0" * 32, body), 404, "not_found")
    error = assert_error_shape(_post_batch(api, people.admin_token, "RUN", body), 400)
    assert "32 lowercase hex" in error["message"]
    assert_error_shape(_post_batch(api, people.outsider_token, finished, body), 403)
    assert platform_state(api_platform) == before


def test_a_parameter_conflict_refuses_the_whole_batch(
    api: TestClient, api_platform: Platform, people: People
) -> None:
    run_id = _run_id(api_platform)
    assert _post_batch(api, people.admin_token, run_id, {"params": {"p": "1"}}).status_code == 204
    before = platform_state(api_platform)
    body = {"params": {"p": "2"}, "metrics": [_point()]}
    error = assert_error_shape(_post_batch(api, people.admin_token, run_id, body), 409, "conflict")
    assert "write-once" in error["message"]
    assert platform_state(api_platform) == before


def test_run_routes_check_bodies_and_states(
    api: TestClient, api_platform: Platform, people: People
) -> None:
    run_id = _run_id(api_platform)
    headers = bearer(people.admin_token)
    end = f"{API_PREFIX}/runs/{run_id}/end"
    assert_error_shape(api.post(end, json={"status": "DONE"}, headers=headers), 400)
    assert_error_shape(api.post(end, json={"status": "RUNNING"}, headers=headers), 400)
    assert_error_shape(api.post(end, json={"state": "FINISHED"}, headers=headers), 400)
    assert api.post(end, json={"status": "FAILED"}, headers=headers).json()["status"] == "FAILED"
    assert_error_shape(api.post(end, json={}, headers=headers), 409, "conflict")
    beat = f"{API_PREFIX}/runs/{run_id}/heartbeat"
    assert_error_shape(api.post(beat, headers=headers), 409, "conflict")
    history = f"{API_PREFIX}/runs/{run_id}/metric-history"
    assert_error_shape(api.get(history, params={"key": "a\nb"}, headers=headers), 400)
    assert api.get(history, params={"key": "never"}, headers=headers).json() == {"metrics": []}


def test_starting_runs_over_http(api: TestClient, api_platform: Platform, people: People) -> None:
    headers = bearer(people.admin_token)
    base = f"{API_PREFIX}/projects/default/experiments"
    assert api.post(base, json={"name": "web"}, headers=headers).status_code == 201
    response = api.post(
        f"{base}/web/runs", json={"name": "r1", "tags": {"a": "b"}}, headers=headers
    )
    assert response.status_code == 201, response.text
    assert response.json()["tags"] == {"a": "b"}
    assert_error_shape(api.post(f"{base}/nope/runs", json={}, headers=headers), 404)
    bad_parent = {"parent_run_id": "0" * 32}
    assert_error_shape(api.post(f"{base}/web/runs", json=bad_parent, headers=headers), 404)
    assert_error_shape(api.post(f"{base}/web/runs", json={"tags": {"a": 1}}, headers=headers), 400)


def test_the_server_reaps_runs_whose_heartbeat_stopped(tmp_path: Any, cheap_hashing: None) -> None:
    platform = Platform.open(load_settings(home=tmp_path, run_heartbeat_timeout_seconds=60))
    try:
        dead, alive = _run_id(platform), _run_id(platform)
        with platform.db.write() as conn:
            old = dt.datetime.now(dt.UTC) - dt.timedelta(minutes=5)
            conn.execute(update(runs).where(runs.c.id == dead).values(heartbeat_at=old))
        with TestClient(create_app(platform)):  # runs the app's lifespan: the reaper starts
            deadline = time.monotonic() + 20
            while get_run(platform, SYSTEM, dead).status is RunStatus.RUNNING:
                assert time.monotonic() < deadline, "the reaper did not run"
                time.sleep(0.05)
        assert get_run(platform, SYSTEM, dead).status is RunStatus.KILLED
        assert get_run(platform, SYSTEM, alive).status is RunStatus.RUNNING
    finally:
        platform.close()
