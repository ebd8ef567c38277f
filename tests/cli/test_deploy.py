"""``mlsteward deploy`` end to end: a real supervisor and server process on 127.0.0.1 serving
registered sklearn versions, called over HTTP: canary, rollback, crash and restart, logs, stop."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import socket
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from typer.testing import CliRunner, Result

from mlsteward.cli import app
from mlsteward.deployments._supervisor import DeploymentFolder, stop_supervisor
from mlsteward.platform import Platform
from mlsteward.settings import load_settings

from ..deployments._support import register_iris_versions
from ..serving._support import iris_frame
from .conftest import Cli, cli_env

NAME = "iris-api"


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class DeployCli:
    def __init__(self, home: Path) -> None:
        self.home = home
        self.port = _free_port()
        self.url = f"http://127.0.0.1:{self.port}"

    def __call__(self, *args: str) -> Result:
        return CliRunner().invoke(
            app, ["deploy", *args], env={"MLSTEWARD_HOME": str(self.home)}, catch_exceptions=False
        )

    def json(self, *args: str) -> Any:
        result = self(*args, "--json")
        assert result.exit_code == 0, (result.stdout, result.stderr)
        return json.loads(result.stdout)

    def folder(self) -> DeploymentFolder:
        return DeploymentFolder.of(self.home, "default", NAME)


@pytest.fixture(scope="module")
def deploy(tmp_path_factory: pytest.TempPathFactory) -> Iterator[DeployCli]:
    root = tmp_path_factory.mktemp("deploy")
    home = root / "home"
    platform = Platform.open(load_settings(home=home))
    try:
        register_iris_versions(platform, root)
    finally:
        platform.close()
    cli = DeployCli(home)
    try:
        yield cli
    finally:
        stop_supervisor(load_settings(home=home), "default", NAME, timeout=40)
        state = cli.folder().read_state()
        for key in ("server_pid", "supervisor_pid"):
            pid = state.get(key)
            if isinstance(pid, int):
                with contextlib.suppress(ProcessLookupError):
                    os.kill(pid, signal.SIGKILL)


def _predict(url: str, headers: dict[str, str] | None = None) -> httpx.Response:
    x, _ = iris_frame()
    return httpx.post(
        f"{url}/v1/models/iris/predict",
        json={"records": x.head(2).to_dict("records")},
        headers=headers,
        timeout=10,
    )


def _until(check: Callable[[], bool], what: str, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.2)


def _port_closed(port: int) -> bool:
    with socket.socket() as sock:
        return sock.connect_ex(("127.0.0.1", port)) != 0


def test_a_deployment_serves_canaries_rolls_back_restarts_and_stops(deploy: DeployCli) -> None:
    created = deploy.json(
        "create", NAME, "--model", "models:/iris@production", "--port", str(deploy.port),
        "--timeout", "90",
    )  # fmt: skip
    assert created["confirmed"] is True
    assert (created["revision"], created["url"]) == (1, deploy.url)
    first = _predict(deploy.url)
    assert first.status_code == 200, first.text
    assert first.headers["X-Model-Version"] == "1"

    # A second supervisor for the same deployment refuses to start.
    second = subprocess.run(
        [sys.executable, "-m", "mlsteward.deployments._supervisor", "default", NAME],
        env=cli_env(deploy.home),
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert second.returncode == 1
    assert "a supervisor already runs" in second.stderr

    canary = deploy.json("rollout", NAME, "--version", "2", "--canary", "50")
    assert canary["confirmed"] is True
    assert canary["plan"]["routes"] == [
        {"version": "1", "weight": 50},
        {"version": "2", "weight": 50},
    ]
    seen = Counter(_predict(deploy.url).headers["X-Model-Version"] for _ in range(60))
    assert set(seen) == {"1", "2"}, seen
    status = deploy("status", NAME)
    assert status.exit_code == 0, status.stderr
    assert "plan: v1 50% (stable), v2 50%" in status.stderr
    assert "serving revision 2" in status.stderr
    version_rows = [line for line in status.stdout.splitlines() if "stable" in line]
    assert version_rows, status.stdout
    assert any("canary" in line for line in status.stdout.splitlines()), status.stdout
    listed = deploy("list")
    assert NAME in listed.stdout
    assert "running" in listed.stdout

    back = deploy.json("rollback", NAME)
    assert back["confirmed"] is True
    assert back["revision"] == 3
    # The command returned after the server confirmed: the very next request is on stable.
    assert [_predict(deploy.url).headers["X-Model-Version"] for _ in range(20)] == ["1"] * 20

    # A crashed server is restarted by its supervisor, and the restart is counted.
    before = deploy.json("status", NAME)["stats"]
    assert before["running"] is True
    assert before["revision"] == 3
    killed = before["process"]["server_pid"]
    os.kill(killed, signal.SIGKILL)

    def restarted() -> bool:
        stats = deploy.json("status", NAME)["stats"]
        process = stats["process"]
        fresh = process["restarts"] == 1 and process["server_pid"] != killed
        return bool(stats["running"] and fresh)

    _until(restarted, "the supervisor to restart the server", timeout=90)
    assert _predict(deploy.url).headers["X-Model-Version"] == "1"

    logs = deploy.json("logs", NAME, "--lines", "500")
    started = f"deployment default/{NAME}: serving iris revision"
    assert any(started in line for line in logs["lines"])
    kinds = [event["kind"] for event in logs["events"]]
    assert kinds == ["created", "rollout", "rollback", "restarted"]
    restart = logs["events"][-1]["details"]
    assert (restart["exit_code"], restart["restarts"]) == (-signal.SIGKILL, 1)
    text = deploy("logs", NAME)
    assert text.exit_code == 0
    assert "restarted" in text.stdout

    stopped = deploy.json("stop", NAME)
    assert stopped["status"] == "stopped"
    assert _port_closed(deploy.port)
    assert deploy.folder().running_supervisor() is None
    status = deploy.json("status", NAME)
    assert status["stats"]["running"] is False
    assert status["stats"]["process"]["state"] == "stopped"

    refused = deploy("rollback", NAME)
    assert refused.exit_code == 1
    assert "is stopped: start it first" in refused.stderr


def _fake_version(cli: Cli, count: int = 1) -> None:
    from mlsteward.registry import ModelFile, register_model_version
    from mlsteward.security import LOCAL_ADMIN

    platform = cli.platform()
    try:
        info = platform.blobs.put_bytes(b"not a model")
        for _ in range(count):
            register_model_version(
                platform, LOCAL_ADMIN, "default", "fraud", source_uri="runs:/r/m",
                flavor="sklearn", files=[ModelFile("model.skops", info.address, info.size)],
            )  # fmt: skip
    finally:
        platform.close()


@pytest.mark.parametrize(
    ("args", "message"),
    [
        pytest.param(
            ["create", "x", "--model", "models:/nope/1"],
            "no registered model named 'nope'",
            id="unknown-model",
        ),
        pytest.param(["create", "x", "--model", "fraud"], "is not a model URI", id="bad-model-uri"),
        pytest.param(
            ["create", "x", "--model", "models:/fraud/1", "--host", "0.0.0.0"],
            "refusing to deploy on 0.0.0.0 without authentication",
            id="public-host",
        ),
        pytest.param(
            ["create", "x", "--model", "models:/fraud/1", "--sticky-header", "a b"],
            "sticky_header must be an HTTP header name",
            id="bad-header",
        ),
        pytest.param(["status", "nope"], "no deployment named 'nope'", id="status-unknown"),
        pytest.param(
            ["rollout", "nope", "--version", "2", "--canary", "10"],
            "no deployment named 'nope'",
            id="rollout-unknown",
        ),
        pytest.param(["logs", "nope"], "no deployment named 'nope'", id="logs-unknown"),
        pytest.param(["stop", "a/b"], "deployment name 'a/b' is not valid", id="bad-name"),
    ],
)
def test_refusals_are_one_line_errors_and_write_nothing(
    cli: Cli, args: list[str], message: str
) -> None:
    _fake_version(cli)
    before = cli.audit_count()
    result = cli.fails("deploy", *args)
    assert message in result.stderr
    assert cli.audit_count() == before
    assert not (cli.home / "deployments").exists()


@pytest.mark.parametrize(
    ("option", "message"),
    [
        pytest.param(["--log-sample-rate", "1.5"], "--log-sample-rate", id="sample-rate-above-1"),
        pytest.param(["--log-window", "0"], "--log-window", id="window-zero"),
        pytest.param(["--input-ranges", "warn"], "'warn' is not one of", id="unknown-ranges"),
        pytest.param(["--range-tolerance", "-1"], "--range-tolerance", id="negative-tolerance"),
    ],
)
def test_bad_serving_options_are_usage_errors_and_write_nothing(
    cli: Cli, option: list[str], message: str
) -> None:
    _fake_version(cli)
    before = cli.audit_count()
    result = cli("deploy", "create", "x", "--model", "models:/fraud/1", *option)
    assert result.exit_code == 2  # Typer's own check, before anything runs
    assert message in result.stderr
    assert cli.audit_count() == before
    assert not (cli.home / "deployments").exists()


def test_rollout_needs_a_canary_weight_or_shadow(cli: Cli) -> None:
    _fake_version(cli)
    platform = cli.platform()
    try:
        from mlsteward.deployments import create_deployment
        from mlsteward.security import LOCAL_ADMIN

        create_deployment(platform, LOCAL_ADMIN, "default", "api", "models:/fraud/1")
    finally:
        platform.close()
    before = cli.audit_count()
    result = cli.fails("deploy", "rollout", "api", "--version", "1")
    assert "give either a canary weight (--canary N) or --shadow" in result.stderr
    out_of_range = cli("deploy", "rollout", "api", "--version", "1", "--canary", "100")
    assert out_of_range.exit_code == 2  # Typer's own range check
    assert cli.audit_count() == before


def test_a_server_that_does_not_come_up_is_reported_not_hidden(cli: Cli) -> None:
    """The version's files are no model: the server never serves, the command says so (exit
    0, a warning; ``--json``: confirmed false), and the deployment still stops cleanly."""
    _fake_version(cli, count=2)
    try:
        text = cli("deploy", "create", "api", "--model", "models:/fraud/1", "--timeout", "1")
        assert text.exit_code == 0, text.stderr
        assert "has not confirmed revision 1 within 1 s" in text.stderr
        answer = cli.json(
            "deploy", "rollout", "api", "--version", "2", "--canary", "10", "--timeout", "0.5"
        )
    finally:
        stopped = cli("deploy", "stop", "api")
    assert (answer["revision"], answer["confirmed"]) == (2, False)
    assert stopped.exit_code == 0, stopped.stderr
    assert DeploymentFolder.of(cli.home, "default", "api").running_supervisor() is None


def test_follow_prints_only_the_lines_after_the_overlap() -> None:
    from mlsteward.cli._deploy import _new_lines

    assert _new_lines(["a", "b", "c"], ["b", "c", "d", "e"]) == ["d", "e"]
    assert _new_lines(["a", "b"], ["a", "b"]) == []
    assert _new_lines([], ["a"]) == ["a"]
    assert _new_lines(["x"], ["y", "z"]) == ["y", "z"]  # rotated or truncated: all of it


LOGGED, UNLOGGED = "iris-logged", "iris-unlogged"


@contextlib.contextmanager
def _stopped_afterwards(deploy: DeployCli, *names: str) -> Iterator[None]:
    try:
        yield
    finally:
        settings = load_settings(home=deploy.home)
        for name in names:
            stop_supervisor(settings, "default", name, timeout=40)
            state = DeploymentFolder.of(deploy.home, "default", name).read_state()
            for key in ("server_pid", "supervisor_pid"):
                pid = state.get(key)
                if isinstance(pid, int):
                    with contextlib.suppress(ProcessLookupError):
                        os.kill(pid, signal.SIGKILL)


def _windows(deploy: DeployCli, name: str) -> list[Any]:
    from mlsteward.monitoring import list_prediction_windows
    from mlsteward.security import SYSTEM

    platform = Platform.open(load_settings(home=deploy.home))
    try:
        return list_prediction_windows(platform, SYSTEM, "default", deployment=name)
    finally:
        platform.close()


def _records(**changes: float) -> dict[str, Any]:
    x, _ = iris_frame()
    return {"records": x.head(2).assign(**changes).to_dict("records")}


def test_deployments_log_predictions_and_feedback_and_check_input_ranges(
    deploy: DeployCli,
) -> None:
    """A deployment logs to the platform by default (here in windows of 1 s, every row kept)
    and refuses inputs outside v1's training ranges; --no-prediction-log and --input-ranges
    off turn both off."""
    with _stopped_afterwards(deploy, LOGGED, UNLOGGED):
        logged = deploy.json(
            "create", LOGGED, "--model", "models:/iris/1", "--log-window", "1",
            "--log-sample-rate", "1", "--range-tolerance", "2", "--timeout", "0",
        )  # fmt: skip
        unlogged = deploy.json(
            "create", UNLOGGED, "--model", "models:/iris/1", "--no-prediction-log",
            "--input-ranges", "off", "--timeout", "0",
        )  # fmt: skip
        assert (logged["prediction_log"], logged["log_window"], logged["range_tolerance"]) == (
            True,
            1.0,
            2.0,
        )
        assert (unlogged["prediction_log"], unlogged["input_ranges"]) == (False, "off")
        for name in (LOGGED, UNLOGGED):
            _until(
                lambda name=name: deploy.json("status", name)["stats"].get("revision") == 1,
                f"{name} to serve",
                timeout=90,
            )
        status = deploy("status", LOGGED)
        assert "prediction log every 1 s, 100 % of the rows sampled" in status.stderr
        assert "input ranges checked (tolerance 2)" in status.stderr
        assert "no prediction log; input ranges not checked" in deploy("status", UNLOGGED).stderr

        # v1 was trained on sepal lengths 4.3..7.9: with a tolerance of 2, 15.0 passes and
        # 100.0 does not (v2, rolled out below, carries no profile).
        predict = f"{logged['url']}/v1/models/iris/predict"
        column = "sepal length (cm)"
        refused = httpx.post(predict, json=_records(**{column: 100.0}), timeout=10)
        assert refused.status_code == 400, refused.text
        assert f"column {column!r}, row 0: 100.0 is outside the range" in refused.text
        rows: Counter[str] = Counter()
        ids: list[str] = []

        def call(body: dict[str, Any]) -> None:
            answer = httpx.post(predict, json=body, timeout=10)
            assert answer.status_code == 200, answer.text
            rows[answer.headers["X-Model-Version"]] += len(answer.json()["predictions"])
            ids.extend(p["id"] for p in answer.json()["predictions"])

        call(_records(**{column: 15.0}))
        canary = deploy.json(
            "rollout", LOGGED, "--version", "2", "--canary", "50", "--timeout", "60"
        )
        assert canary["confirmed"] is True
        for _ in range(20):
            call(_records())
        assert set(rows) == {"1", "2"}, rows
        labels = {"labels": [{"prediction_id": i, "label": 1} for i in ids[:5]]}
        feedback = httpx.post(f"{logged['url']}/v1/models/iris/feedback", json=labels, timeout=10)
        assert (feedback.status_code, feedback.json()) == (202, {"accepted": 5})

        def all_logged() -> bool:
            windows = _windows(deploy, LOGGED)
            shipped: Counter[str] = Counter()
            for window in windows:
                shipped[window.model_version] += window.rows
            return shipped == rows and sum(w.feedback_labels for w in windows) == 5

        _until(all_logged, "the prediction windows to reach the platform", timeout=60)
        windows = _windows(deploy, LOGGED)
        assert {(w.model_name, w.deployment, w.created_by) for w in windows} == {
            ("iris", LOGGED, "system")
        }
        assert all(w.sampled_rows == w.rows for w in windows)

        plain = f"{unlogged['url']}/v1/models/iris"
        passed = httpx.post(f"{plain}/predict", json=_records(**{column: 100.0}), timeout=10)
        assert passed.status_code == 200, passed.text
        no_feedback = httpx.post(f"{plain}/feedback", json=labels, timeout=10)
        assert no_feedback.status_code == 404
        # Stopping ships the open windows of a logging server: this one has none to ship.
        assert deploy("stop", UNLOGGED).exit_code == 0
        assert _windows(deploy, UNLOGGED) == []
