"""Monitor routes: the remote client creates, reads, changes, evaluates and deletes a monitor
through a live server with the same results as in-process; bad input is a 4xx with the error
JSON and writes nothing; viewers read and cannot write; the server's lifespan runs the
scheduler that evaluates due windows."""

from __future__ import annotations

import datetime as dt
import itertools
import time
from collections.abc import Callable, Iterator
from typing import Any

import numpy as np
import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import update

from mlsteward.client import Client
from mlsteward.errors import AlreadyExists, InvalidArgument, NotFound, PermissionDenied
from mlsteward.monitoring import DriftOptions, create_monitor, get_monitor, list_monitor_results
from mlsteward.monitoring._tables import monitors
from mlsteward.platform import Platform
from mlsteward.security import SYSTEM, add_member
from mlsteward.server import API_PREFIX, create_app
from mlsteward.settings import Settings

from ..monitoring._monitor_support import inputs, record_window, register_model
from ._live_server import serve
from ._state import platform_state
from ._support import SharedApi, assert_error_shape, bearer

API_SETTINGS = {"monitor_interval_seconds": 0}  # evaluations here are the tests' own
BASE = f"{API_PREFIX}/projects/default/monitors"
PAST = dt.datetime(2026, 1, 1, 10, 0, tzinfo=dt.UTC)
_NAMES = itertools.count()


@pytest.fixture(scope="module")
def app(shared_api: SharedApi) -> FastAPI:
    register_model(shared_api.platform, training=inputs(3000, 0))
    record_window(shared_api.platform, PAST, inputs(2000, 1, amount_shift=30), np.zeros(2000, int))
    return shared_api.app()


@pytest.fixture(scope="module")
def http(app: FastAPI) -> TestClient:
    return TestClient(app)


@pytest.fixture(scope="module")
def remote(app: FastAPI, shared_api: SharedApi) -> Iterator[Client]:
    with serve(app) as url:
        client = Client(server_url=url, token=shared_api.people.admin_token)
        yield client
        client.close()


@pytest.fixture
def name() -> str:
    return f"watch{next(_NAMES)}"


def test_the_remote_client_drives_a_monitor(
    remote: Client, shared_api: SharedApi, name: str
) -> None:
    platform = shared_api.platform
    created = remote.create_monitor(
        name, model_name="fraud", model_version=1, window_seconds=600,
        drift_options=DriftOptions(drift_share=0.3), quality={"task": "classification"},
    )  # fmt: skip
    assert created == get_monitor(platform, SYSTEM, "default", name)
    assert created.drift_options["drift_share"] == 0.3
    assert name in [m.name for m in remote.list_monitors()]
    assert remote.get_monitor(name) == created

    result = remote.evaluate_monitor(name, at=PAST + dt.timedelta(minutes=3))
    assert result.window_start == PAST
    assert result.metrics["drift.column.amount.drifted"] == 1.0
    assert result.metrics["drift.dataset_drifted"] == 1.0  # 1 of 3 columns >= 0.3
    assert result.metrics["quality.label_coverage"] == 0.0
    (listed,) = remote.monitor_results(name, since=PAST, until=PAST + dt.timedelta(hours=1))
    assert listed == result
    assert listed == list_monitor_results(platform, SYSTEM, "default", name)[0]
    assert remote.monitor_results(name, since=PAST + dt.timedelta(hours=1)) == []

    changed = remote.update_monitor(name, enabled=False, quality=None, drift_options=None)
    assert (changed.enabled, changed.quality) == (False, None)
    assert changed.drift_options == DriftOptions().to_json()
    remote.delete_monitor(name)
    with pytest.raises(NotFound):
        remote.get_monitor(name)


def test_remote_errors_are_the_services_own(remote: Client, name: str) -> None:
    remote.create_monitor(name, model_name="fraud")
    with pytest.raises(AlreadyExists):
        remote.create_monitor(name, model_name="fraud")
    with pytest.raises(NotFound, match="ghost"):
        remote.create_monitor("other", deployment="ghost")
    with pytest.raises(InvalidArgument, match="window_seconds"):
        remote.update_monitor(name, window_seconds=5)
    with pytest.raises(InvalidArgument, match="enabled"):
        remote.update_monitor(name, enabled=None)  # type: ignore[arg-type]
    with pytest.raises(InvalidArgument, match="timezone-aware"):
        remote.evaluate_monitor(name, at=dt.datetime(2026, 1, 1))
    with pytest.raises(InvalidArgument, match="monitor name"):
        remote.get_monitor("a/b")


def test_the_remote_client_creates_a_dataset_monitor(
    remote: Client, shared_api: SharedApi, name: str
) -> None:
    from mlsteward.data import log_table_version

    platform = shared_api.platform
    log_table_version(platform, SYSTEM, "default", f"{name}-data", inputs(200, 0))
    created = remote.create_monitor(name, dataset=f"{name}-data", window_seconds=3600)
    assert created == get_monitor(platform, SYSTEM, "default", name)
    assert created.dataset == f"{name}-data"
    assert created.reference == {"kind": "dataset", "name": f"{name}-data", "version": 1}
    with pytest.raises(NotFound, match="no dataset named 'ghost'"):
        remote.create_monitor("other", dataset="ghost")
    with pytest.raises(InvalidArgument, match="exactly one of deployment, model_name and"):
        remote.create_monitor("other", dataset=f"{name}-data", model_name="fraud")
    with pytest.raises(InvalidArgument, match="quality is for monitors of predictions"):
        remote.update_monitor(name, quality={"task": "regression"})
    remote.delete_monitor(name)


BAD_BODIES: list[tuple[str, dict[str, Any], int, str]] = [
    ("unknown-field", {"colour": "red"}, 400, "colour"),
    ("window-a-string", {"window_seconds": "300"}, 400, "window_seconds"),
    ("window-too-short", {"window_seconds": 30}, 400, "window_seconds"),
    ("reference-kind", {"reference": {"kind": "nope"}}, 400, "reference kind"),
    ("unknown-model", {"model_name": "ghost"}, 404, "ghost"),
    ("no-stream", {"model_name": None}, 400, "exactly one"),
    ("bad-quality", {"quality": {"task": "x"}}, 400, "quality task"),
    ("bad-drift", {"drift_options": {"bins": 1}}, 400, "bins"),
    ("nul-name", {"name": "a\x00b"}, 400, "NUL"),
]


@pytest.mark.parametrize(
    ("changes", "status", "message"),
    [b[1:] for b in BAD_BODIES],
    ids=[b[0] for b in BAD_BODIES],
)
def test_bad_monitor_bodies_are_refused_and_nothing_is_written(
    http: TestClient,
    shared_api: SharedApi,
    changes: dict[str, Any],
    status: int,
    message: str,
) -> None:
    headers = bearer(shared_api.people.admin_token)
    body = {"name": "bad", "model_name": "fraud", **changes}
    before = platform_state(shared_api.platform)
    error = assert_error_shape(http.post(BASE, json=body, headers=headers), status)
    assert message in error["message"] or message in str(error["details"])
    assert platform_state(shared_api.platform) == before


def test_bad_queries_updates_and_evaluations_are_refused(
    http: TestClient, shared_api: SharedApi, name: str
) -> None:
    create_monitor(shared_api.platform, SYSTEM, "default", name, model_name="fraud")
    headers = bearer(shared_api.people.admin_token)
    before = platform_state(shared_api.platform)
    for method, path, kwargs, status in (
        ("GET", f"{BASE}/{name}/results", {"params": {"since": "yesterday"}}, 400),
        ("GET", f"{BASE}/{name}/results", {"params": {"limit": 0}}, 400),
        ("GET", f"{BASE}/ghost", {}, 404),
        ("PATCH", f"{BASE}/{name}", {"json": {"window_seconds": 1}}, 400),
        ("PATCH", f"{BASE}/{name}", {"json": {"name": "renamed"}}, 400),
        ("POST", f"{BASE}/{name}/evaluate", {"json": {"at": "2026-01-01T10:00:00"}}, 400),
        ("POST", f"{BASE}/{name}/evaluate", {"json": {"at": "2999-01-01T10:00:00Z"}}, 400),
        ("DELETE", f"{BASE}/ghost", {}, 404),
    ):
        response = http.request(method, path, headers=headers, **kwargs)
        assert_error_shape(response, status)
    assert platform_state(shared_api.platform) == before


def test_viewers_read_and_cannot_write(http: TestClient, shared_api: SharedApi, name: str) -> None:
    platform = shared_api.platform
    create_monitor(platform, SYSTEM, "default", name, model_name="fraud")
    token = shared_api.people.token_for(f"viewer-{name}")
    add_member(platform, SYSTEM, "default", f"viewer-{name}", "viewer")
    headers = bearer(token)
    assert http.get(BASE, headers=headers).status_code == 200
    assert http.get(f"{BASE}/{name}", headers=headers).json()["name"] == name
    assert http.get(f"{BASE}/{name}/results", headers=headers).json() == {"results": []}
    before = platform_state(platform)
    for method, path, body in (
        ("POST", BASE, {"name": "mine", "model_name": "fraud"}),
        ("PATCH", f"{BASE}/{name}", {"enabled": False}),
        ("DELETE", f"{BASE}/{name}", None),
        ("POST", f"{BASE}/{name}/evaluate", {}),
    ):
        response = http.request(method, path, headers=headers, json=body)
        assert_error_shape(response, 403, "permission_denied")
    assert http.get(BASE, headers={}).status_code == 401
    assert platform_state(platform) == before
    with pytest.raises(PermissionDenied):
        Client(platform.settings, token=token).evaluate_monitor(name)


def test_the_server_evaluates_due_windows_in_the_background(
    make_settings: Callable[..., Settings],
) -> None:
    platform = Platform.open(make_settings(monitor_interval_seconds=1))
    try:
        register_model(platform, training=inputs(500, 0))
        monitor = create_monitor(
            platform, SYSTEM, "default", "bg", model_name="fraud", window_seconds=60
        )
        with platform.db.write() as conn:  # as if created ten minutes ago
            conn.execute(
                update(monitors).values(created_at=monitor.created_at - dt.timedelta(minutes=10))
            )
        with TestClient(create_app(platform)):  # runs the lifespan: the scheduler
            deadline = time.monotonic() + 60
            # Nine complete 60 s windows are due (the newest must end a log window before now);
            # wait for them all rather than for the first, which a loaded machine's pass may
            # write well before the others.
            while len(list_monitor_results(platform, SYSTEM, "default", "bg")) < 9:
                assert time.monotonic() < deadline, "the scheduler did not evaluate the windows"
                time.sleep(0.2)
        results = list_monitor_results(platform, SYSTEM, "default", "bg")
        assert {r.status for r in results} == {"no_data"}
        assert len({r.window_start for r in results}) == len(results) >= 9  # each window once
    finally:
        platform.close()


def test_evaluate_without_a_body_takes_the_newest_complete_window(
    http: TestClient, shared_api: SharedApi, name: str
) -> None:
    create_monitor(shared_api.platform, SYSTEM, "default", name, model_name="fraud")
    headers = bearer(shared_api.people.admin_token)
    response = http.post(f"{BASE}/{name}/evaluate", headers=headers)
    assert response.status_code == 200, response.text
    result = response.json()
    start = dt.datetime.fromisoformat(result["window_start"])
    end = dt.datetime.fromisoformat(result["window_end"])
    assert end - start == dt.timedelta(seconds=300)
    assert end <= dt.datetime.fromisoformat(result["evaluated_at"])  # complete when evaluated
    assert result["status"] == "no_data"
