"""Deployment routes: the remote client drives a real deployment through a live platform
server (its supervisor runs on the server's machine); bad input is a 4xx with the error JSON
and writes nothing."""

from __future__ import annotations

import contextlib
import os
import signal
import socket
from collections.abc import Iterator

import httpx
import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from mlsteward._schema import load_all_tables
from mlsteward.client import Client
from mlsteward.deployments import create_deployment, stop_deployment
from mlsteward.deployments._supervisor import DeploymentFolder, stop_supervisor
from mlsteward.security import SYSTEM, add_member
from mlsteward.server import API_PREFIX

from ..deployments._support import register_iris_versions
from ..serving._support import iris_frame
from ._live_server import serve
from ._state import platform_state
from ._support import SharedApi, assert_error_shape, bearer

load_all_tables()
BASE = f"{API_PREFIX}/projects/default/deployments"


@pytest.fixture(scope="module")
def app(shared_api: SharedApi, tmp_path_factory: pytest.TempPathFactory) -> FastAPI:
    register_iris_versions(shared_api.platform, tmp_path_factory.mktemp("models"))
    # A stopped deployment (no process) for the read and bad-input tests.
    create_deployment(shared_api.platform, SYSTEM, "default", "idle", "models:/iris/1")
    stop_deployment(shared_api.platform, SYSTEM, "default", "idle")
    return shared_api.app()


@pytest.fixture(scope="module")
def remote(app: FastAPI, shared_api: SharedApi) -> Iterator[Client]:
    with serve(app) as url:
        client = Client(server_url=url, token=shared_api.people.admin_token)
        try:
            yield client
        finally:
            client.close()
            settings = shared_api.platform.settings
            stop_supervisor(settings, "default", "remote-api")
            state = DeploymentFolder.of(settings.home, "default", "remote-api").read_state()
            pid = state.get("server_pid")
            if isinstance(pid, int):
                with contextlib.suppress(ProcessLookupError):
                    os.kill(pid, signal.SIGKILL)


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def test_the_remote_client_drives_a_deployment(remote: Client, shared_api: SharedApi) -> None:
    port = _free_port()
    created = remote.create_deployment(
        "remote-api", "models:/iris@production", port=port, log_window=2.0,
        log_sample_rate=0.5, range_tolerance=0.5,
    )  # fmt: skip
    assert (created.revision, created.plan.stable, created.port) == (1, "1", port)
    assert (created.log_window, created.log_sample_rate, created.range_tolerance) == (2, 0.5, 0.5)
    assert remote.wait_for_deployment("remote-api", 1, timeout=90)

    canary = remote.rollout_deployment("remote-api", 2, canary=30)
    assert [r.weight for r in canary.plan.routes] == [70, 30]
    heavier = remote.set_canary_weight("remote-api", 60)
    assert remote.wait_for_deployment("remote-api", heavier.revision, timeout=30)
    stats = remote.deployment_stats("remote-api")
    assert stats["running"] is True
    assert stats["revision"] == heavier.revision
    assert stats["versions"]["2"]["weight"] == 60
    assert stats["process"]["supervisor_alive"] is True

    x, _ = iris_frame()
    answer = httpx.post(
        f"{created.url}/v1/models/iris/predict", json={"records": x.head(1).to_dict("records")}
    )
    assert answer.status_code == 200, answer.text

    promoted = remote.promote_deployment("remote-api")
    assert promoted.plan.stable == "2"
    assert remote.wait_for_deployment("remote-api", promoted.revision, timeout=30)
    assert [d.name for d in remote.list_deployments()] == ["idle", "remote-api"]
    assert remote.get_deployment("remote-api") == promoted
    kinds = [e.kind.value for e in remote.deployment_history("remote-api")]
    assert kinds == ["created", "rollout", "rollout", "promote"]
    assert any("serving iris revision 1" in line for line in remote.deployment_log("remote-api"))

    stopped = remote.stop_deployment("remote-api")
    assert stopped.status.value == "stopped"
    with socket.socket() as sock:
        assert sock.connect_ex(("127.0.0.1", port)) != 0
    assert remote.deployment_stats("remote-api")["running"] is False


def test_a_stopped_deployment_reports_that_it_does_not_run(
    app: FastAPI, shared_api: SharedApi
) -> None:
    http = TestClient(app)
    headers = bearer(shared_api.people.admin_token)
    answer = http.get(f"{BASE}/idle/stats", headers=headers)
    assert answer.status_code == 200
    assert answer.json()["running"] is False
    events = http.get(f"{BASE}/idle/events", headers=headers).json()["events"]
    assert [e["kind"] for e in events] == ["created", "stopped"]
    assert http.get(f"{BASE}/idle/logs", headers=headers).json() == {"lines": []}


BAD_REQUESTS = [
    ("create-no-model", "POST", BASE, {"name": "x"}, 400, "invalid_argument", "model"),
    (
        "create-unknown-model",
        "POST",
        BASE,
        {"name": "x", "model": "models:/nope/1"},
        404,
        "not_found",
        "no registered model named 'nope'",
    ),
    (
        "create-bad-name",
        "POST",
        BASE,
        {"name": "..", "model": "models:/iris/1"},
        400,
        "invalid_argument",
        "deployment name '..' is not valid",
    ),
    (
        "create-duplicate",
        "POST",
        BASE,
        {"name": "idle", "model": "models:/iris/1"},
        409,
        "already_exists",
        "already has a deployment named 'idle'",
    ),
    (
        "create-port-as-text",
        "POST",
        BASE,
        {"name": "x", "model": "models:/iris/1", "port": "80"},
        400,
        "invalid_argument",
        "port",
    ),
    (
        "create-bad-rule",
        "POST",
        BASE,
        {"name": "x", "model": "models:/iris/1", "auto_rollback": {"max_error_rate": 2.0}},
        400,
        "invalid_argument",
        "max_error_rate is a share between 0 and 1",
    ),
    (
        "create-bad-sample-rate",
        "POST",
        BASE,
        {"name": "x", "model": "models:/iris/1", "log_sample_rate": 2.0},
        400,
        "invalid_argument",
        "log_sample_rate must be a share from 0 to 1",
    ),
    (
        "create-window-as-text",
        "POST",
        BASE,
        {"name": "x", "model": "models:/iris/1", "log_window": "60"},
        400,
        "invalid_argument",
        "log_window",
    ),
    (
        "create-unknown-input-ranges",
        "POST",
        BASE,
        {"name": "x", "model": "models:/iris/1", "input_ranges": "warn"},
        400,
        "invalid_argument",
        "input_ranges must be 'reject'",
    ),
    (
        "rollout-unknown",
        "POST",
        f"{BASE}/nope/rollout",
        {"version": 2, "canary": 10},
        404,
        "not_found",
        "no deployment named 'nope'",
    ),
    (
        "rollout-stopped",
        "POST",
        f"{BASE}/idle/rollout",
        {"version": 2, "canary": 10},
        409,
        "conflict",
        "is stopped: start it first",
    ),
    (
        "rollout-weight",
        "POST",
        f"{BASE}/idle/rollout",
        {"version": 2, "canary": 100},
        400,
        "invalid_argument",
        "whole percentage from 1 to 99",
    ),
    (
        "rollout-extra-field",
        "POST",
        f"{BASE}/idle/rollout",
        {"version": 2, "canary": 10, "force": True},
        400,
        "invalid_argument",
        "force",
    ),
    ("promote-stopped", "POST", f"{BASE}/idle/promote", None, 409, "conflict", "is stopped"),
    ("stop-stopped", "POST", f"{BASE}/idle/stop", None, 409, "conflict", "stopped already"),
    ("stats-unknown", "GET", f"{BASE}/nope/stats", None, 404, "not_found", "no deployment"),
    ("logs-lines", "GET", f"{BASE}/idle/logs?lines=0", None, 400, "invalid_argument", "lines"),
    ("events-limit", "GET", f"{BASE}/idle/events?limit=-1", None, 400, "invalid_argument", "limit"),
]


@pytest.mark.parametrize(
    ("method", "url", "body", "status", "code", "message"),
    [pytest.param(*case[1:], id=case[0]) for case in BAD_REQUESTS],
)
def test_bad_requests_are_4xx_with_the_error_json_and_write_nothing(
    app: FastAPI,
    shared_api: SharedApi,
    method: str,
    url: str,
    body: dict[str, object] | None,
    status: int,
    code: str,
    message: str,
) -> None:
    http = TestClient(app)
    headers = bearer(shared_api.people.admin_token)
    http.get(f"{API_PREFIX}/me", headers=headers)  # token bookkeeping, before the snapshot
    before = platform_state(shared_api.platform)
    response = http.request(method, url, json=body, headers=headers)
    error = assert_error_shape(response, status, code)
    assert message in error["message"] + str(error["details"])
    assert platform_state(shared_api.platform) == before
    folder = DeploymentFolder.of(shared_api.platform.settings.home, "default", "x")
    assert not folder.root.exists()


def test_viewers_read_but_cannot_change_or_read_logs(app: FastAPI, shared_api: SharedApi) -> None:
    token = shared_api.people.token_for("deploy-viewer")
    add_member(shared_api.platform, SYSTEM, "default", "deploy-viewer", "viewer")
    http = TestClient(app)
    assert http.get(f"{BASE}/idle", headers=bearer(token)).json()["name"] == "idle"
    for method, url in (("POST", f"{BASE}/idle/start"), ("GET", f"{BASE}/idle/logs")):
        assert_error_shape(http.request(method, url, headers=bearer(token)), 403)
