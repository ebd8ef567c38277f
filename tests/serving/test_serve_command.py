"""``mlsteward serve PACKAGE``: a real server process, probed and called over HTTP."""

from __future__ import annotations

import contextlib
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from mlsteward.packaging import generate_signing_key, public_key_to_pem

from ..cli.conftest import cli_env, run_cli_process
from ._support import iris_frame, iris_package

ROOT = Path(__file__).resolve().parents[2]
KEY = "serving-key-" + "x" * 24


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@contextlib.contextmanager
def _serving(*args: str, home: Path, **env: str) -> Iterator[tuple[str, subprocess.Popen[str]]]:
    port = _free_port()
    code = (
        f"import sys\nsys.argv = ['mlsteward', 'serve', *{list(args)!r}, '--port', '{port}']\n"
        "from mlsteward.cli import main\nmain()\n"
    )
    process = subprocess.Popen(
        [sys.executable, "-c", code],
        cwd=ROOT,
        env=cli_env(home, **env),
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 90
        while True:
            assert process.poll() is None, process.communicate()[0]
            with contextlib.suppress(httpx.TransportError):
                if httpx.get(f"{url}/v2/health/ready", timeout=2).status_code == 200:
                    break
            assert time.monotonic() < deadline, "the server never became ready"
            time.sleep(0.2)
        yield url, process
    finally:
        if process.poll() is None:
            process.send_signal(signal.SIGINT)
            try:
                process.wait(timeout=40)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
        if process.stdout is not None:
            process.stdout.close()


@pytest.fixture(scope="module")
def package(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path, object]:
    return iris_package(tmp_path_factory.mktemp("package"))


def test_a_package_is_served_until_interrupted(
    package: tuple[Path, Path, object], tmp_path: Path
) -> None:
    path, pem, model = package
    x, _ = iris_frame()
    rows = x.head(7)
    with _serving(str(path), "--trusted-key", str(pem), home=tmp_path) as (url, process):
        assert httpx.get(f"{url}/v2/health/live").status_code == 200
        assert httpx.get(f"{url}/v2/models/iris").json()["name"] == "iris"
        body = {"dataframe_split": rows.to_dict(orient="split")}
        answer = httpx.post(f"{url}/invocations", json=body)
        assert answer.status_code == 200, answer.text
        assert answer.json()["predictions"] == model.predict(rows).tolist()  # type: ignore[attr-defined]
        assert answer.headers["x-request-id"]
        scraped = httpx.get(f"{url}/metrics").text
        assert (
            'mlsteward_inference_requests_total{model="iris",protocol="mlflow",status="200"} 1.0'
            in scraped
        )
        assert 'mlsteward_model_load_seconds{model="iris",version="1"}' in scraped
        assert 'mlsteward_inference_batch_rows_count{model="iris"}' in scraped
        process.send_signal(signal.SIGINT)
        assert process.wait(timeout=40) == 0  # graceful shutdown


def test_api_keys_guard_the_predictions(package: tuple[Path, Path, object], tmp_path: Path) -> None:
    path, pem, _ = package
    keys = tmp_path / "keys.txt"
    keys.write_text(KEY + "\n")
    args = (str(path), "--trusted-key", str(pem), "--api-key-file", str(keys))
    with _serving(*args, home=tmp_path) as (url, _):
        records = {"records": [{"sepal length (cm)": 5.1}]}
        assert httpx.post(f"{url}/v1/models/iris/predict", json=records).status_code == 401
        headers = {"Authorization": f"Bearer {KEY}"}
        assert httpx.get(f"{url}/v2/models/iris", headers=headers).status_code == 200


def test_refusals_are_one_line_errors(package: tuple[Path, Path, object], tmp_path: Path) -> None:
    path, pem, _ = package
    env = cli_env(tmp_path)
    exposed = run_cli_process(
        "serve", str(path), "--trusted-key", str(pem), "--host", "0.0.0.0", env=env
    )
    assert exposed.returncode == 1
    assert "refusing to serve 0.0.0.0 without authentication" in exposed.stderr
    other = tmp_path / "other.pem"
    other.write_bytes(public_key_to_pem(generate_signing_key().public_key()))
    untrusted = run_cli_process("serve", str(path), "--trusted-key", str(other), env=env)
    assert untrusted.returncode == 1
    assert "error:" in untrusted.stderr
    assert "signature" in untrusted.stderr.lower() or "key" in untrusted.stderr.lower()
    lone_burst = run_cli_process(
        "serve", str(path), "--trusted-key", str(pem), "--burst", "5", env=env
    )
    assert lone_burst.returncode == 1
    assert "need --rate-limit" in lone_burst.stderr
    bad_rate = run_cli_process(
        "serve", str(path), "--trusted-key", str(pem), "--rate-limit", "fast", env=env
    )
    assert bad_rate.returncode == 1
    assert "100/s" in bad_rate.stderr  # the message shows how to write a rate
    missing = run_cli_process(
        "serve", str(tmp_path / "nope.mlsb"), "--trusted-key", str(pem), env=env
    )
    assert missing.returncode == 1
    assert "nope.mlsb" in missing.stderr


def test_a_registered_version_is_served_by_its_alias(tmp_path: Path) -> None:
    from mlsteward.platform import Platform
    from mlsteward.registry import ModelFile, register_model_version, set_alias
    from mlsteward.security import LOCAL_ADMIN
    from mlsteward.settings import load_settings

    from ._support import save_iris_model

    folder = tmp_path / "saved"
    model = save_iris_model(folder)
    home = tmp_path / "home"
    platform = Platform.open(load_settings(home=home))
    try:
        files = []
        for path in sorted(folder.iterdir()):
            blob = platform.blobs.put_bytes(path.read_bytes())
            files.append(ModelFile(path.name, blob.address, blob.size))
        register_model_version(
            platform, LOCAL_ADMIN, "default", "iris", source_uri="runs:/r/m", flavor="sklearn",
            files=files,
        )  # fmt: skip
        set_alias(platform, LOCAL_ADMIN, "default", "iris", "production", 1)
    finally:
        platform.close()
    x, _ = iris_frame()
    # Platform tokens are on by default for models:/ (tested in test_platform_tokens.py).
    with _serving("models:/iris@production", "--no-platform-tokens", home=home) as (url, _):
        answer = httpx.post(
            f"{url}/v1/models/iris/predict", json={"records": x.head(4).to_dict("records")}
        )
        assert answer.status_code == 200, answer.text
        assert answer.json()["version"] == "1"
        got = [p["prediction"] for p in answer.json()["predictions"]]
        assert got == model.predict(x.head(4)).tolist()
