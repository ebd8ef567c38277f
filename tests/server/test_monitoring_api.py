"""Prediction-window routes: an editor stores a window's files and records it, a viewer lists
it back with the same fields; bad input is a 400 with the error JSON and writes nothing;
viewers cannot write and anonymous callers get a 401."""

from __future__ import annotations

import itertools
from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from mlsteward.monitoring._serving_stats import ServingStats
from mlsteward.security import SYSTEM, add_member, create_project, list_audit_events
from mlsteward.server import API_PREFIX

from ._state import platform_state
from ._support import SharedApi, assert_error_shape, bearer

MAX_REQUEST = 2048
MAX_UPLOAD = 8192
API_SETTINGS = {"max_request_bytes": MAX_REQUEST, "max_upload_bytes": MAX_UPLOAD}
START = "2026-11-29T12:00:00Z"
END = "2026-11-29T12:01:00Z"
_PROJECTS = itertools.count()


@pytest.fixture(scope="module")
def http(shared_api: SharedApi) -> TestClient:
    app: FastAPI = shared_api.app()
    return TestClient(app)


class Team:
    def __init__(self, shared_api: SharedApi) -> None:
        n = next(_PROJECTS)
        platform, people = shared_api.platform, shared_api.people
        self.project = f"mon{n}"
        self.base = f"{API_PREFIX}/projects/{self.project}/prediction-windows"
        create_project(platform, SYSTEM, self.project)
        self.editor = bearer(people.token_for(f"med{n}"))
        self.viewer = bearer(people.token_for(f"mvi{n}"))
        add_member(platform, SYSTEM, self.project, f"med{n}", "editor")
        add_member(platform, SYSTEM, self.project, f"mvi{n}", "viewer")


@pytest.fixture
def team(shared_api: SharedApi) -> Team:
    return Team(shared_api)


def _store(http: TestClient, team: Team, content: bytes) -> str:
    answer = http.put(f"{team.base}/files", content=content, headers=team.editor)
    assert answer.status_code in {200, 201}, answer.text
    address: str = answer.json()["address"]
    return address


def _body(http: TestClient, team: Team, **changes: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "model_name": "fraud",
        "model_version": "1",
        "start": START,
        "end": END,
        "rows": 10,
        "sampled_rows": 3,
        "feedback_labels": 2,
        "profile_address": _store(http, team, b'{"profile": true}'),
        "rows_address": _store(http, team, b"rows"),
        "feedback_address": _store(http, team, b"feedback"),
        "output_columns": ["prediction"],
        "source": "host-7",
        "deployment": "prod",
    }
    return {**body, **changes}


def test_a_recorded_window_lists_back_with_the_same_fields(
    http: TestClient, team: Team, shared_api: SharedApi
) -> None:
    body = _body(http, team)
    answer = http.post(team.base, json=body, headers=team.editor)
    assert answer.status_code == 201, answer.text
    recorded = answer.json()
    for field in ("model_name", "model_version", "rows", "sampled_rows", "feedback_labels",
                  "profile_address", "rows_address", "feedback_address", "output_columns",
                  "source", "deployment"):  # fmt: skip
        assert recorded[field] == body[field], field
    assert (recorded["start"], recorded["end"]) == (
        "2026-11-29T12:00:00+00:00", "2026-11-29T12:01:00+00:00",
    )  # fmt: skip
    listed = http.get(team.base, headers=team.viewer)
    assert listed.status_code == 200
    assert listed.json() == {"prediction_windows": [recorded]}
    filtered = http.get(
        team.base,
        params={"model_name": "fraud", "model_version": "1", "deployment": "prod",
                "since": START, "until": END, "limit": 5},
        headers=team.viewer,
    )  # fmt: skip
    assert filtered.json() == {"prediction_windows": [recorded]}
    later = http.get(team.base, params={"since": END}, headers=team.viewer)
    assert later.json() == {"prediction_windows": []}
    events = list_audit_events(
        shared_api.platform, SYSTEM, action="monitoring.prediction_window.record"
    )
    assert [e.actor_name for e in events if e.target_id == recorded["id"]] == [
        recorded["created_by"]
    ]


def _serving() -> dict[str, Any]:
    stats = ServingStats()
    for seconds, status in ((0.003, 200), (0.04, 404), (1.2, 500)):
        stats.observe(seconds, status)
    return stats.to_json()


def test_a_window_with_serving_statistics_lists_them_back(http: TestClient, team: Team) -> None:
    serving = _serving()
    answer = http.post(team.base, json=_body(http, team, serving=serving), headers=team.editor)
    assert answer.status_code == 201, answer.text
    assert answer.json()["serving"] == serving
    (listed,) = http.get(team.base, headers=team.viewer).json()["prediction_windows"]
    assert listed["serving"] == serving
    assert ServingStats.from_json(listed["serving"]).percentile(99) == pytest.approx(1.2, rel=0.13)


BAD_BODIES: list[tuple[str, dict[str, Any], str]] = [
    ("serving-a-list", {"serving": [1]}, "serving"),
    ("serving-unknown-key", {"serving": {**_serving(), "p99": 1}}, "serving has unknown keys"),
    ("serving-negative", {"serving": {**_serving(), "errors": -1}}, "serving.errors must hold"),
    (
        "serving-short-buckets",
        {"serving": {**_serving(), "latency_counts": [1, 2]}},
        "serving.latency_counts must be a list",
    ),
    ("malformed-start", {"start": "yesterday"}, "start must be an ISO 8601 time"),
    ("start-not-text", {"start": 5}, "start"),
    ("no-offset", {"end": "2026-11-29T12:01:00"}, "end must be a timezone-aware"),
    ("end-before-start", {"end": "2026-11-29T11:00:00Z"}, "must end after it starts"),
    ("unknown-address", {"rows_address": "e" * 64}, "is not in the blob store"),
    ("hostile-address", {"feedback_address": "../../../etc/passwd"}, "invalid blob address"),
    ("missing-field", {"rows": None}, "rows"),
    ("unknown-field", {"colour": "red"}, "colour"),
    ("rows-as-text", {"rows": "10"}, "rows"),
    ("outputs-a-string", {"output_columns": "prediction"}, "output_columns"),
]


@pytest.mark.parametrize(
    ("changes", "message"), [b[1:] for b in BAD_BODIES], ids=[b[0] for b in BAD_BODIES]
)
def test_bad_windows_are_400_and_write_nothing(
    http: TestClient, team: Team, shared_api: SharedApi, changes: dict[str, Any], message: str
) -> None:
    body = _body(http, team, **changes)
    if changes.get("rows", 0) is None:
        del body["rows"]
    before = platform_state(shared_api.platform)
    answer = http.post(team.base, json=body, headers=team.editor)
    error = assert_error_shape(answer, 400, "invalid_argument")
    assert message in error["message"]
    assert platform_state(shared_api.platform) == before


@pytest.mark.parametrize(
    "params",
    [{"since": "soon"}, {"until": "2026-13-01T00:00:00Z"}, {"limit": "0"}, {"limit": "10001"},
     {"model_name": ""}],
    ids=["since-malformed", "until-bad-month", "limit-0", "limit-too-big", "empty-model"],
)  # fmt: skip
def test_bad_list_filters_are_400(http: TestClient, team: Team, params: dict[str, str]) -> None:
    answer = http.get(team.base, params=params, headers=team.viewer)
    assert_error_shape(answer, 400, "invalid_argument")


def test_viewers_cannot_write_and_anonymous_callers_are_401(
    http: TestClient, team: Team, shared_api: SharedApi
) -> None:
    body = _body(http, team)
    before = platform_state(shared_api.platform)
    refused = http.post(team.base, json=body, headers=team.viewer)
    assert_error_shape(refused, 403, "permission_denied")
    upload = http.put(f"{team.base}/files", content=b"new bytes", headers=team.viewer)
    assert_error_shape(upload, 403, "permission_denied")
    for method, url in (("POST", team.base), ("GET", team.base), ("PUT", f"{team.base}/files")):
        assert_error_shape(http.request(method, url, json=body), 401, "unauthenticated")
    assert platform_state(shared_api.platform) == before


def test_a_file_may_be_larger_than_a_json_body_but_not_than_an_upload(
    http: TestClient, team: Team, shared_api: SharedApi
) -> None:
    before = platform_state(shared_api.platform)
    answer = http.put(f"{team.base}/files", content=b"x" * (MAX_UPLOAD + 1), headers=team.editor)
    assert_error_shape(answer, 413, "payload_too_large")
    assert platform_state(shared_api.platform) == before
    stored = http.put(f"{team.base}/files", content=b"x" * MAX_UPLOAD, headers=team.editor)
    assert stored.status_code == 201
    assert stored.json()["size"] == MAX_UPLOAD
    # A record is a JSON body: the smaller limit applies to it.
    body = _body(http, team, output_columns=["c" * 100] * (MAX_REQUEST // 100))
    before = platform_state(shared_api.platform)
    assert_error_shape(http.post(team.base, json=body, headers=team.editor), 413)
    assert platform_state(shared_api.platform) == before
