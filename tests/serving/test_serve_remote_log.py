"""``mlsteward serve models:/... --prediction-log platform`` against a *remote* platform
(``MLSTEWARD_SERVER_URL``): a real server process ships its windows over HTTP with a project
editor's token; a token that may not write is refused at start, before the model loads."""

from __future__ import annotations

import contextlib
import io
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pyarrow.parquet as pq
import pytest

from mlsteward.client import Client
from mlsteward.platform import Platform
from mlsteward.registry import ModelFile, register_model_version
from mlsteward.security import SYSTEM, add_member
from mlsteward.server import create_app
from mlsteward.settings import load_settings

from ..cli.conftest import cli_env, run_cli_process
from ..server._live_server import serve
from ..server._support import People, cheap_password_hashing
from ._support import free_port, iris_frame, save_iris_model

SEPAL = "sepal length (cm)"


class RemotePlatform:
    """A platform behind a live API server, with the iris model registered and tokens of an
    editor and a viewer of ``default``."""

    def __init__(self, platform: Platform, url: str, people: People) -> None:
        self.platform = platform
        self.url = url
        self.admin_token = people.admin_token
        self.editor_token = people.token_for("shipper")
        self.viewer_token = people.token_for("watcher")
        self.read_only_token = people.token_for("shipper", ["read"])
        add_member(platform, SYSTEM, "default", "shipper", "editor")
        add_member(platform, SYSTEM, "default", "watcher", "viewer")

    def env(self, home: Path, token: str) -> dict[str, str]:
        return cli_env(home, MLSTEWARD_SERVER_URL=self.url, MLSTEWARD_TOKEN=token)


@pytest.fixture(scope="module")
def remote(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RemotePlatform]:
    folder = tmp_path_factory.mktemp("saved")
    save_iris_model(folder)
    home = tmp_path_factory.mktemp("platform")
    platform = Platform.open(load_settings(home=home, auth_mode="required"))
    try:
        files = []
        for file in sorted(folder.iterdir()):
            blob = platform.blobs.put_bytes(file.read_bytes())
            files.append(ModelFile(file.name, blob.address, blob.size))
        register_model_version(
            platform, SYSTEM, "default", "iris", source_uri="runs:/r/m", flavor="sklearn",
            files=files,
        )  # fmt: skip
        with cheap_password_hashing():
            people = People.create(platform)
            with serve(create_app(platform)) as url:
                yield RemotePlatform(platform, url, people)
    finally:
        platform.close()


@contextlib.contextmanager
def _serving(env: dict[str, str], *args: str) -> Iterator[tuple[str, subprocess.Popen[str]]]:
    """``mlsteward serve ARGS`` in a process with ``env``, once ready; its URL and process."""
    port = free_port()
    code = (
        f"import sys\nsys.argv = ['mlsteward', 'serve', *{list(args)!r}, '--port', '{port}']\n"
        "from mlsteward.cli import main\nmain()\n"
    )
    process = subprocess.Popen(
        [sys.executable, "-c", code],
        env=env,
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
            process.kill()
            process.wait()
        if process.stdout is not None:
            process.stdout.close()


def test_windows_reach_the_remote_platform_with_their_rows(
    remote: RemotePlatform, tmp_path: Path
) -> None:
    x, _ = iris_frame()
    env = remote.env(tmp_path / "serving-home", remote.editor_token)
    args = (
        "models:/iris/1", "--prediction-log", "platform", "--no-platform-tokens",
        "--log-sample-rate", "1", "--mask-column", SEPAL,
    )  # fmt: skip
    with _serving(env, *args) as (url, process):
        body = {"dataframe_split": x.head(9).to_dict(orient="split")}
        assert httpx.post(f"{url}/invocations", json=body).status_code == 200
        process.send_signal(signal.SIGINT)
        assert process.wait(timeout=40) == 0
    # The serving process needed no platform database of its own.
    assert not (tmp_path / "serving-home" / "mlsteward.db").exists()

    with Client(server_url=remote.url, token=remote.viewer_token) as viewer:
        (window,) = viewer.list_prediction_windows("default", model_name="iris")
    assert (window.model_version, window.rows, window.sampled_rows) == ("1", 9, 9)
    assert window.created_by == "shipper"
    assert window.end > window.start
    assert window.serving is not None  # the one request answered; the warm-up is not counted
    assert (window.serving.requests, window.serving.errors) == (1, 0)
    rows = pq.read_table(io.BytesIO(remote.platform.blobs.get_bytes(window.rows_address)))
    frame = rows.to_pandas()
    assert len(frame["prediction_id"].unique()) == 9
    assert frame["petal width (cm)"].tolist() == x.head(9)["petal width (cm)"].tolist()
    assert set(frame[SEPAL]) == {"****"}
    assert remote.platform.blobs.exists(window.profile_address)


@pytest.mark.parametrize(
    ("token", "message"),
    [
        ("mls_not-a-real-token", "cannot take the prediction log"),
        ("viewer", "may not record prediction windows in project 'default'"),
        ("read-only", "may not record prediction windows in project 'default'"),
    ],
    ids=["unknown-token", "viewer-token", "read-only-token"],
)
def test_a_token_that_may_not_write_is_refused_before_the_model_loads(
    remote: RemotePlatform, tmp_path: Path, token: str, message: str
) -> None:
    chosen = {"viewer": remote.viewer_token, "read-only": remote.read_only_token}.get(token, token)
    args = ("serve", "models:/iris/1", "--prediction-log", "platform", "--no-platform-tokens")
    result = run_cli_process(*args, env=remote.env(tmp_path, chosen))
    assert result.returncode == 1, result.stdout + result.stderr
    assert message in result.stderr
    assert remote.url in result.stderr
    assert "Traceback" not in result.stderr
    assert "serving iris" not in result.stderr


def test_an_unreachable_platform_is_refused_at_start(tmp_path: Path) -> None:
    env = cli_env(
        tmp_path, MLSTEWARD_SERVER_URL=f"http://127.0.0.1:{free_port()}", MLSTEWARD_TOKEN="x"
    )
    args = ("serve", "models:/iris/1", "--prediction-log", "platform", "--no-platform-tokens")
    result = run_cli_process(*args, env=env)
    assert result.returncode == 1
    assert "--prediction-log platform: the platform at http://127.0.0.1:" in result.stderr
    assert "Traceback" not in result.stderr
