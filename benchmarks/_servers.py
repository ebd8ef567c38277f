"""Start and stop the HTTP servers a benchmark talks to (each in its own process)."""

from __future__ import annotations

import contextlib
import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
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


PG_ADMIN_URL = os.environ.get(
    "MLSTEWARD_BENCH_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"
)


@dataclass(frozen=True)
class Server:
    url: str
    pid: int

    def peak_rss(self) -> int:
        """The server process's peak RSS so far, in bytes (``VmHWM``)."""
        with open(f"/proc/{self.pid}/status") as status:
            for line in status:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) * 1024
        return 0


@contextlib.contextmanager
def fresh_postgres_database() -> Iterator[str]:
    """A new, empty PostgreSQL database (dropped afterwards); yields its URL without a driver
    suffix (``postgresql://...``) so both mlsteward and a peer can use it."""
    import uuid

    import sqlalchemy

    name = f"mls_bench_{uuid.uuid4().hex[:10]}"
    admin = sqlalchemy.create_engine(PG_ADMIN_URL, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(sqlalchemy.text(f'CREATE DATABASE "{name}"'))
    try:
        yield "postgresql://" + PG_ADMIN_URL.split("://", 1)[1].rsplit("/", 1)[0] + f"/{name}"
    finally:
        with admin.connect() as conn:
            conn.execute(sqlalchemy.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


@contextlib.contextmanager
def _running(
    command: list[str], env: dict[str, str], health: str, log: Path, url: str
) -> Iterator[Server]:
    with log.open("wb") as out:
        process = subprocess.Popen(command, env=env, stdout=out, stderr=subprocess.STDOUT)
        try:
            _wait(health, process)
            yield Server(url, process.pid)
        finally:
            process.terminate()
            try:
                process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()


@contextlib.contextmanager
def mlsteward_server(home: Path, database_url: str | None = None) -> Iterator[Server]:
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
    with _running(command, env, f"{url}/healthz", home / "server.log", url) as server:
        yield server


@contextlib.contextmanager
def mlflow_server(python: str, workdir: Path, backend_uri: str) -> Iterator[Server]:
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
    with _running(command, env, f"{url}/health", workdir / "mlflow-server.log", url) as server:
        yield server
