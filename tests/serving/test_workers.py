"""``mlsteward serve --workers N``: real worker processes sharing one port, supervised."""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import re
import secrets
import signal
import socket
import ssl
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest
from typer.testing import CliRunner

from mlsteward.cli import app
from mlsteward.errors import ConfigurationError
from mlsteward.serving._workers import bind_socket, check_fork_safe

from ..cli.conftest import cli_env
from ._support import iris_frame, iris_package

ROOT = Path(__file__).resolve().parents[2]
_IN_FLIGHT = re.compile(r'mlsteward_inference_requests_in_flight\{pid="(\d+)"\}')
_INVOCATIONS_200 = re.compile(
    r'mlsteward_inference_requests_total\{model="iris",protocol="mlflow",status="200"\} (\S+)'
)


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _alive(pid: int) -> bool:
    """Whether ``pid`` runs (a zombie, dead but not yet reaped, does not)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except (FileNotFoundError, ProcessLookupError):
        return False
    return stat.rsplit(")", 1)[1].split()[0] != "Z"


def _wait_for(what: str, check: Callable[[], bool], seconds: float = 60) -> None:
    deadline = time.monotonic() + seconds
    while not check():
        assert time.monotonic() < deadline, f"waited {seconds} s for {what}"
        time.sleep(0.2)


@dataclass
class Server:
    url: str
    process: subprocess.Popen[bytes]
    log: Path
    tmp: Path
    port: int
    verify: ssl.SSLContext | bool = True
    headers: dict[str, str] = field(default_factory=dict)

    def records(self) -> list[dict[str, Any]]:
        """The JSON log lines written so far (by the parent and every worker)."""
        found = []
        for line in self.log.read_text().splitlines():
            with contextlib.suppress(ValueError):
                record = json.loads(line)
                if isinstance(record, dict):
                    found.append(record)
        return found

    def started_workers(self) -> list[int]:
        return [r["worker_pid"] for r in self.records() if r["message"].endswith(" started")]

    def live_workers(self) -> set[int]:
        """The workers ``/metrics`` shows (each live worker has its in-flight gauge)."""
        answer = httpx.get(f"{self.url}/metrics", verify=self.verify, headers=self.headers)
        return {int(pid) for pid in _IN_FLIGHT.findall(answer.text)}

    def answering_workers(self) -> set[int]:
        """The workers that wrote an access-log line for a prediction."""
        return {r["worker"] for r in self.records() if r.get("path") == "/invocations"}

    def is_our_worker(self, pid: int) -> bool:
        with contextlib.suppress(OSError):
            command = Path(f"/proc/{pid}/cmdline").read_bytes()
            return b"--workers" in command and str(self.port).encode() in command
        return False


@contextlib.contextmanager
def _serving(
    package: tuple[Path, Path, object],
    tmp_path: Path,
    *,
    workers: int = 2,
    options: tuple[str, ...] = (),
    verify: Path | None = None,
    api_key: str | None = None,
) -> Iterator[Server]:
    """``mlsteward serve --workers`` with ``options``; ``verify``: the TLS certificate to trust
    (the server then speaks HTTPS); ``api_key``: the key to send (for ``/metrics``)."""
    path, pem, _ = package
    port = _free_port()
    args = [str(path), "--trusted-key", str(pem), "--workers", str(workers), "--port", str(port)]
    args += options
    code = (
        f"import sys\nsys.argv = ['mlsteward', 'serve', *{args!r}]\n"
        "from mlsteward.cli import main\nmain()\n"
    )
    tmp = tmp_path / "tmp"
    tmp.mkdir()
    log = tmp_path / "server.log"
    with log.open("ab") as output:  # appended to by the parent and every worker
        process = subprocess.Popen(
            [sys.executable, "-c", code],
            cwd=ROOT,
            env={**cli_env(tmp_path), "TMPDIR": str(tmp)},
            stdout=output,
            stderr=subprocess.STDOUT,
        )
    scheme = "https" if verify is not None else "http"
    trust = ssl.create_default_context(cafile=verify) if verify is not None else True
    headers = {"X-API-Key": api_key} if api_key is not None else {}
    server = Server(f"{scheme}://127.0.0.1:{port}", process, log, tmp, port, trust, headers)

    def ready() -> bool:
        assert process.poll() is None, log.read_text()
        with contextlib.suppress(httpx.TransportError):
            answer = httpx.get(f"{server.url}/v2/health/ready", timeout=2, verify=trust)
            return answer.status_code == 200
        return False

    try:
        _wait_for("the server to be ready", ready, seconds=90)
        _wait_for("every worker", lambda: len(server.live_workers()) == workers)
        yield server
    finally:
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)
            try:
                process.wait(timeout=60)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
        for pid in server.started_workers():  # only if the parent failed to stop them
            if _alive(pid) and server.is_our_worker(pid):
                os.kill(pid, signal.SIGKILL)


@pytest.fixture(scope="module")
def package(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path, object]:
    return iris_package(tmp_path_factory.mktemp("package"))


def _predict_burst(url: str, count: int) -> None:
    """``count`` predictions at once, each on a connection of its own; all must succeed."""
    x, _ = iris_frame()
    rows = x.head(3)
    body = {"dataframe_split": rows.to_dict(orient="split")}

    def one(_: int) -> None:
        answer = httpx.post(f"{url}/invocations", json=body, timeout=30)
        assert answer.status_code == 200, answer.text
        assert len(answer.json()["predictions"]) == 3

    with ThreadPoolExecutor(max_workers=8) as pool:
        list(pool.map(one, range(count)))


def _predictions_counted(url: str) -> float:
    match = _INVOCATIONS_200.search(httpx.get(f"{url}/metrics").text)
    return float(match.group(1)) if match else 0.0


@pytest.mark.slow
def test_workers_share_the_port_are_replaced_and_stop_on_sigterm(
    package: tuple[Path, Path, object], tmp_path: Path
) -> None:
    with _serving(package, tmp_path, workers=2) as server:
        first = server.started_workers()
        assert len(first) == 2
        assert server.live_workers() == set(first)
        assert server.process.pid not in first
        assert list(server.tmp.glob("mlsteward-metrics-*"))  # the parent's metrics folder

        sent = 0
        deadline = time.monotonic() + 60
        while server.answering_workers() != set(first):  # the kernel picks a worker per connection
            assert time.monotonic() < deadline, server.answering_workers()
            _predict_burst(server.url, 16)
            sent += 16
        # Every worker counts its own requests; /metrics (answered by one of them) sums them.
        assert _predictions_counted(server.url) == sent

        victim, survivor = first
        os.kill(victim, signal.SIGKILL)
        _predict_burst(server.url, 4)  # the survivor answers at once
        sent += 4
        _wait_for("a replacement", lambda: len(server.live_workers() - {survivor}) == 1)
        (replacement,) = server.live_workers() - {survivor}
        assert replacement != victim
        assert replacement in server.started_workers()
        assert any("killed by SIGKILL" in r["message"] for r in server.records())
        deadline = time.monotonic() + 60
        while replacement not in server.answering_workers():
            assert time.monotonic() < deadline, "the replacement never answered"
            _predict_burst(server.url, 16)
            sent += 16
        assert _predictions_counted(server.url) == sent  # the dead worker's counts are kept

        server.process.send_signal(signal.SIGTERM)
        assert server.process.wait(timeout=60) == 0
        everyone = server.started_workers()
        assert len(everyone) == 3
        assert not [pid for pid in everyone if _alive(pid)]
        assert not list(server.tmp.glob("mlsteward-metrics-*"))  # removed at exit
        stopped = {r.get("worker") for r in server.records() if r["message"].startswith("Finish")}
        assert stopped == {survivor, replacement}  # both shut down gracefully
        with pytest.raises(httpx.ConnectError):
            httpx.get(f"{server.url}/v2/health/live")


@pytest.mark.slow
def test_workers_stop_by_themselves_when_the_parent_is_killed(
    package: tuple[Path, Path, object], tmp_path: Path
) -> None:
    with _serving(package, tmp_path, workers=2) as server:
        workers = server.started_workers()
        server.process.kill()
        server.process.wait()
        _wait_for("the orphaned workers to stop", lambda: not any(map(_alive, workers)))


@pytest.mark.slow
def test_workers_serve_tls_with_api_keys_and_share_one_redis_rate_limit(
    package: tuple[Path, Path, object], tmp_path: Path
) -> None:
    import redis

    from ..client.test_tls import self_signed_certificate
    from .test_rate_limit import REDIS_URL, require_redis

    require_redis()
    cert, key = self_signed_certificate(tmp_path)
    api_key = secrets.token_urlsafe(32)
    keys = tmp_path / "api-keys"
    keys.write_text(api_key + "\n")
    options = ("--tls-certfile", str(cert), "--tls-keyfile", str(key), "--api-key-file", str(keys))
    options += ("--rate-limit", "6/min", "--burst", "6", "--redis-url", REDIS_URL)
    x, _ = iris_frame()
    body = {"dataframe_split": x.head(2).to_dict(orient="split")}
    digest = hashlib.sha256(api_key.encode()).hexdigest()
    trust = ssl.create_default_context(cafile=cert)
    try:
        with _serving(package, tmp_path, options=options, verify=cert, api_key=api_key) as server:
            url = f"{server.url}/invocations"
            anonymous = httpx.post(url, json=body, verify=trust, timeout=30)
            assert anonymous.status_code == 401
            with pytest.raises(httpx.TransportError):  # plain HTTP to the TLS port
                httpx.post(url.replace("https:", "http:"), json=body, timeout=30)

            statuses: list[int] = []
            deadline = time.monotonic() + 60
            # A connection per request: the kernel spreads them over both workers, and the
            # budget (6) is one for the key across them, kept in Redis.
            while len(statuses) < 12 or len(server.answering_workers()) < 2:
                assert time.monotonic() < deadline, server.answering_workers()
                answer = httpx.post(
                    url, json=body, headers={"X-API-Key": api_key}, verify=trust, timeout=30
                )
                statuses.append(answer.status_code)
                if answer.status_code == 200:
                    assert len(answer.json()["predictions"]) == 2
                else:
                    assert answer.status_code == 429, answer.text
                    assert int(answer.headers["retry-after"]) > 0
            assert statuses.count(200) == 6
            assert statuses[:6] == [200] * 6
            assert len(server.answering_workers()) == 2
    finally:
        client = redis.Redis.from_url(REDIS_URL)
        stale = list(client.scan_iter(match=f"*{digest}*"))
        if stale:
            client.delete(*stale)
        client.close()


_FAILING_POOL = """
from mlsteward._http_log import configure_logging
from mlsteward.serving._workers import WorkerPool
configure_logging("INFO")
WorkerPool(lambda parent, slot: 3, 1).run()
"""


def test_a_worker_that_keeps_dying_is_restarted_with_a_growing_back_off(tmp_path: Path) -> None:
    log = tmp_path / "pool.log"
    with log.open("ab") as output:
        process = subprocess.Popen(
            [sys.executable, "-c", _FAILING_POOL], cwd=ROOT, stdout=output, stderr=output
        )
    try:

        def delays() -> list[float]:
            text = log.read_text()
            return [float(d) for d in re.findall(r"exited \(3\) after .*? in ([\d.]+) s", text)]

        _wait_for("three restarts", lambda: len(delays()) >= 3, seconds=30)
        process.send_signal(signal.SIGINT)
        assert process.wait(timeout=30) == 0, log.read_text()
        assert delays()[:3] == [0.5, 1.0, 2.0]
        assert "SIGINT: stopping" in log.read_text()
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()


def test_workers_are_not_forked_while_threads_run() -> None:
    release = threading.Event()
    thread = threading.Thread(target=release.wait, name="busy-thread")
    thread.start()
    try:
        with pytest.raises(ConfigurationError, match="busy-thread"):
            check_fork_safe()
    finally:
        release.set()
        thread.join()


def test_a_busy_port_is_a_configuration_error() -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        with pytest.raises(ConfigurationError, match="pick another --port"):
            bind_socket("127.0.0.1", port)
    with pytest.raises(ConfigurationError, match="cannot listen on"):
        bind_socket("no-such-host.invalid", 8080)


def test_ipv6_and_ipv4_sockets_listen() -> None:
    with bind_socket("127.0.0.1", 0) as sock:
        assert sock.family == socket.AF_INET
        assert sock.get_inheritable()
        with socket.create_connection(sock.getsockname()[:2], timeout=5):
            pass
    if not socket.has_ipv6:
        return
    try:
        sock = bind_socket("::1", 0)
    except ConfigurationError:
        pytest.skip("no IPv6 loopback here")
    with sock:
        assert sock.family == socket.AF_INET6
        with socket.create_connection(("::1", sock.getsockname()[1]), timeout=5):
            pass


@pytest.mark.parametrize("workers", ["0", "65", "two"])
def test_workers_out_of_range_are_refused(workers: str, tmp_path: Path) -> None:
    result = CliRunner().invoke(
        app, ["serve", str(tmp_path / "x.mlsb"), "--workers", workers], catch_exceptions=False
    )
    assert result.exit_code == 2
    assert "--workers" in result.output
