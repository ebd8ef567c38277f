"""Start and stop the HTTP servers a benchmark talks to (each in its own process)."""

from __future__ import annotations

import contextlib
import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _wait(url: str, process: subprocess.Popen[bytes], timeout: float = 90.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"server exited with {process.returncode} before answering")
        try:
            if httpx.get(url, timeout=2).status_code < 500:
                return
        except httpx.TransportError:
            pass
        time.sleep(0.2)
    raise RuntimeError(f"server at {url} did not answer within {timeout} s")


@contextlib.contextmanager
def _running(command: list[str], env: dict[str, str], health: str, log: Path) -> Iterator[None]:
    with log.open("wb") as out:
        process = subprocess.Popen(command, env=env, stdout=out, stderr=subprocess.STDOUT)
        try:
            _wait(health, process)
            yield
        finally:
            process.terminate()
            try:
                process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()


@contextlib.contextmanager
def mlsteward_server(home: Path, database_url: str | None = None) -> Iterator[str]:
    """``mlsteward server`` on a free loopback port (no login: the local admin)."""
    home.mkdir(parents=True, exist_ok=True)
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("MLSTEWARD_")}
    env.update({"MLSTEWARD_HOME": str(home), "MLSTEWARD_LOG_LEVEL": "WARNING"})
    if database_url:
        env["MLSTEWARD_DATABASE_URL"] = database_url
        subprocess.run(
            [sys.executable, "-m", "mlsteward.cli", "db", "upgrade"],
            env=env,
            check=True,
            capture_output=True,
        )
    url = f"http://127.0.0.1:{port}"
    command = [sys.executable, "-m", "mlsteward.cli", "server", "--port", str(port)]
    with _running(command, env, f"{url}/healthz", home / "server.log"):
        yield url


@contextlib.contextmanager
def mlflow_server(python: str, workdir: Path, backend_uri: str) -> Iterator[str]:
    """``mlflow server`` (its default app, one worker) on a free loopback port."""
    port = free_port()
    mlflow = str(Path(python).parent / "mlflow")
    env = dict(os.environ)
    command = [
        mlflow,
        "server",
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
        "--backend-store-uri",
        backend_uri,
        "--default-artifact-root",
        str(workdir / "mlartifacts"),
        "--workers",
        "1",
    ]
    url = f"http://127.0.0.1:{port}"
    with _running(command, env, f"{url}/health", workdir / "mlflow-server.log"):
        yield url
