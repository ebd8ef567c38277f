"""The supervisor with a server that cannot start: it marks the deployment failed and exits;
its environment, lock probe and state file."""

from __future__ import annotations

import time
from pathlib import Path

from mlsteward.deployments import (
    DeploymentStatus,
    EventKind,
    create_deployment,
    deployment_history,
    get_deployment,
)
from mlsteward.deployments._control import wait_for_revision
from mlsteward.deployments._supervisor import (
    DeploymentFolder,
    child_environment,
    start_supervisor,
    stop_supervisor,
)
from mlsteward.platform import Platform
from mlsteward.registry import ModelFile, register_model_version
from mlsteward.security import SYSTEM
from mlsteward.settings import load_settings


def _until_exited(folder: DeploymentFolder, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while folder.running_supervisor() is not None:
        assert time.monotonic() < deadline, "the supervisor did not exit"
        time.sleep(0.1)


def test_a_server_that_cannot_start_marks_the_deployment_failed(
    platform: Platform, tmp_path: Path
) -> None:
    info = platform.blobs.put_bytes(b"weights")
    register_model_version(
        platform, SYSTEM, "default", "fraud", source_uri="runs:/r/m", flavor="sklearn",
        files=[ModelFile("model.skops", info.address, info.size)],
    )  # fmt: skip
    keys = tmp_path / "keys.txt"
    keys.write_text("k" * 40 + "\n")
    created = create_deployment(
        platform, SYSTEM, "default", "api", "models:/fraud/1", api_key_file=str(keys)
    )
    keys.unlink()  # the server's protection check now fails: it cannot serve
    settings = platform.settings
    folder = DeploymentFolder.of(settings.home, "default", "api")
    try:
        pid = start_supervisor(settings, "default", "api")
        assert pid > 0
        _until_exited(folder)
    finally:
        stop_supervisor(settings, "default", "api")
    failed = get_deployment(platform, SYSTEM, "default", "api")
    assert failed.status is DeploymentStatus.FAILED
    assert failed.revision == created.revision + 1
    last = deployment_history(platform, SYSTEM, "default", "api")[-1]
    assert last.kind is EventKind.FAILED
    assert "cannot start (exit code 78)" in last.details["reason"]
    state = folder.read_state()
    assert (state["state"], state["last_exit"], state["supervisor_alive"]) == ("failed", 78, False)
    assert "cannot read the API key file" in folder.server_log.read_text()
    assert folder.log_tail(1000)[-1]  # the server's own lines are kept


def test_the_supervisor_environment_names_the_local_platform(tmp_path: Path) -> None:
    settings = load_settings(
        home=tmp_path, server_url="https://platform.example", token="mls_x_secret"
    )
    env = child_environment(settings)
    assert env["MLSTEWARD_HOME"] == str(tmp_path)
    assert "MLSTEWARD_SERVER_URL" not in env  # its processes act on the platform itself
    assert "MLSTEWARD_TOKEN" not in env
    assert env["MLSTEWARD_BLOB_STORAGE_OPTIONS"] == "{}"


def test_no_supervisor_runs_without_a_lock(tmp_path: Path) -> None:
    folder = DeploymentFolder.of(tmp_path, "default", "api")
    assert folder.running_supervisor() is None
    assert folder.read_state() == {"supervisor_alive": False}
    assert folder.log_tail(10) == []
    assert stop_supervisor(load_settings(home=tmp_path), "default", "api", timeout=1)


def test_waiting_for_a_revision_gives_up_after_the_timeout() -> None:
    answers = iter([{"running": False}, {"running": True, "revision": 2}])
    assert not wait_for_revision(lambda: {"running": True, "revision": 1}, 2, timeout=0.3)
    assert wait_for_revision(lambda: next(answers), 2, timeout=5)


def test_a_protected_deployment_needs_a_key_but_the_platform_reads_its_stats(
    platform: Platform, tmp_path: Path
) -> None:
    import httpx

    from mlsteward.deployments._control import read_server_stats

    from ..serving._support import iris_frame
    from ._support import register_iris_versions

    register_iris_versions(platform, tmp_path / "models")
    key = "deployment-key-" + "k" * 30
    keys = tmp_path / "keys.txt"
    keys.write_text(key + "\n")
    created = create_deployment(
        platform, SYSTEM, "default", "guarded", "models:/iris/1", api_key_file=str(keys)
    )
    settings = platform.settings
    try:
        start_supervisor(settings, "default", "guarded")
        assert wait_for_revision(lambda: read_server_stats(platform, created), 1, timeout=90)
        x, _ = iris_frame()
        body = {"records": x.head(1).to_dict("records")}
        url = f"{created.url}/v1/models/iris/predict"
        assert httpx.post(url, json=body).status_code == 401
        answer = httpx.post(url, json=body, headers={"Authorization": f"Bearer {key}"})
        assert answer.status_code == 200, answer.text
        assert httpx.get(f"{created.url}/deployment").status_code == 401
    finally:
        assert stop_supervisor(settings, "default", "guarded")
    assert read_server_stats(platform, created)["running"] is False
