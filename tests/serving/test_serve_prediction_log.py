"""``mlsteward serve ... --prediction-log``: a real server process logging to a folder or to the
local platform, and its option refusals."""

from __future__ import annotations

import json
import signal
from pathlib import Path

import httpx
import pyarrow.parquet as pq
import pytest

from ..cli.conftest import cli_env, run_cli_process
from ._support import iris_frame, iris_package, save_iris_model
from .test_serve_command import _serving

SEPAL = "sepal length (cm)"


@pytest.fixture(scope="module")
def package(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path, object]:
    return iris_package(tmp_path_factory.mktemp("package"))


def test_a_package_server_logs_to_a_folder_with_masked_columns(
    package: tuple[Path, Path, object], tmp_path: Path
) -> None:
    path, pem, _ = package
    logs = tmp_path / "logs"
    x, _ = iris_frame()
    args = (
        str(path), "--trusted-key", str(pem), "--prediction-log", str(logs),
        "--log-sample-rate", "1", "--mask-column", SEPAL, "--log-window", "86400",
    )  # fmt: skip
    # A day-long window: the predictions and the feedback sent a moment later fall in one window
    # (with the default 60 s, a test that straddles a minute boundary would see two).
    with _serving(*args, home=tmp_path) as (url, process):
        answer = httpx.post(
            f"{url}/v1/models/iris/predict", json={"records": x.head(6).to_dict("records")}
        )
        assert answer.status_code == 200, answer.text
        labels = [{"prediction_id": answer.json()["predictions"][0]["id"], "label": 0}]
        assert (
            httpx.post(f"{url}/v1/models/iris/feedback", json={"labels": labels}).status_code == 202
        )
        process.send_signal(signal.SIGINT)
        assert process.wait(timeout=40) == 0
    (window,) = [p.parent for p in logs.glob("iris/1/*/window.json")]
    manifest = json.loads((window / "window.json").read_text())
    assert (manifest["rows"], manifest["sampled_rows"], manifest["feedback_labels"]) == (6, 6, 1)
    rows = pq.read_table(window / "rows.parquet").to_pandas()
    assert set(rows[SEPAL]) == {"****"}
    assert rows["petal width (cm)"].tolist() == x.head(6)["petal width (cm)"].tolist()


def test_a_registered_version_logs_to_the_platform(tmp_path: Path) -> None:
    from mlsteward.monitoring import list_prediction_windows
    from mlsteward.platform import Platform
    from mlsteward.registry import ModelFile, register_model_version
    from mlsteward.security import LOCAL_ADMIN
    from mlsteward.settings import load_settings

    folder = tmp_path / "saved"
    save_iris_model(folder)
    home = tmp_path / "home"
    platform = Platform.open(load_settings(home=home))
    try:
        files = []
        for file in sorted(folder.iterdir()):
            blob = platform.blobs.put_bytes(file.read_bytes())
            files.append(ModelFile(file.name, blob.address, blob.size))
        register_model_version(
            platform, LOCAL_ADMIN, "default", "iris", source_uri="runs:/r/m", flavor="sklearn",
            files=files,
        )  # fmt: skip
    finally:
        platform.close()
    x, _ = iris_frame()
    args = ("models:/iris/1", "--prediction-log", "platform", "--no-platform-tokens")
    with _serving(*args, home=home) as (url, process):
        body = {"dataframe_split": x.head(9).to_dict(orient="split")}
        assert httpx.post(f"{url}/invocations", json=body).status_code == 200
        process.send_signal(signal.SIGINT)
        assert process.wait(timeout=40) == 0
    platform = Platform.open(load_settings(home=home))
    try:
        (window,) = list_prediction_windows(platform, LOCAL_ADMIN, "default")
        assert (window.model_name, window.model_version, window.rows) == ("iris", "1", 9)
        assert platform.blobs.exists(window.rows_address)
    finally:
        platform.close()


def test_prediction_log_option_refusals_are_one_line_errors(
    package: tuple[Path, Path, object], tmp_path: Path
) -> None:
    path, pem, _ = package
    env = cli_env(tmp_path)
    lone_mask = run_cli_process(
        "serve", str(path), "--trusted-key", str(pem), "--mask-column", "a", env=env
    )
    assert lone_mask.returncode == 1
    assert "--mask-column needs --prediction-log" in lone_mask.stderr
    a_file = tmp_path / "file.txt"
    a_file.write_text("x")
    into_file = run_cli_process(
        "serve", str(path), "--trusted-key", str(pem), "--prediction-log", str(a_file), env=env
    )
    assert into_file.returncode == 1
    assert "is a file, not a folder" in into_file.stderr
    bad_rate = run_cli_process(
        "serve", str(path), "--trusted-key", str(pem), "--log-sample-rate", "2", env=env
    )
    assert bad_rate.returncode == 2
    assert "--log-sample-rate" in bad_rate.stderr
