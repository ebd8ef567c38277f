"""``mlsteward server``: refuses unsafe starts with what to do; announces how to connect."""

from __future__ import annotations

import json
import queue
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import httpx
import pytest

from .conftest import Cli, cli_env, run_cli_process


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def test_public_bind_without_auth_is_refused(tmp_path: Path) -> None:
    env = cli_env(tmp_path / "home", MLSTEWARD_AUTH_MODE="none")
    out = run_cli_process("server", "--host", "0.0.0.0", "--port", str(_free_port()), env=env)
    assert out.returncode == 1
    assert out.stderr.startswith("error: refusing to serve on 0.0.0.0")
    assert "MLSTEWARD_AUTH_MODE" in out.stderr
    assert "127.0.0.1" in out.stderr
    assert "Traceback" not in out.stderr
    assert "http://" not in out.stderr + out.stdout, "no URL is announced for a refused start"


def test_public_bind_without_an_administrator_is_refused(tmp_path: Path) -> None:
    env = cli_env(tmp_path / "home")
    out = run_cli_process("server", "--host", "0.0.0.0", "--port", str(_free_port()), env=env)
    assert out.returncode == 1
    assert "no administrator exists yet" in out.stderr
    assert "mlsteward users create-admin" in out.stderr
    assert "Traceback" not in out.stderr


def test_auth_mode_none_option_is_refused_too(cli: Cli) -> None:
    result = cli.fails("server", "--host", "0.0.0.0", "--auth-mode", "none")
    assert "refusing to serve on 0.0.0.0" in result.stderr


def test_unknown_auth_mode_is_a_usage_error(cli: Cli) -> None:
    result = cli("server", "--auth-mode", "sometimes")
    assert result.exit_code == 2
    assert "sometimes" in result.stderr


def test_tls_certificate_needs_its_key(cli: Cli, tmp_path: Path) -> None:
    cert = tmp_path / "cert.pem"
    cert.write_text("not really a certificate")
    result = cli.fails("server", "--tls-cert", str(cert))
    assert "tls_certfile and tls_keyfile must be set together" in result.stderr


def test_missing_server_extra_names_it(tmp_path: Path) -> None:
    out = run_cli_process(
        "server",
        env=cli_env(tmp_path / "home"),
        prelude="import sys; sys.modules['fastapi'] = None  # as if not installed",
    )
    assert out.returncode == 1
    assert "pip install 'mlsteward[server]'" in out.stderr
    assert "Traceback" not in out.stderr


@pytest.mark.parametrize(
    ("auth_mode", "how_to_log_in"),
    [
        ("auto", "no login needed on this loopback address"),
        ("required", "/login with a user name and password"),
    ],
)
def test_server_starts_and_says_where_and_how_to_log_in(
    cli: Cli, auth_mode: str, how_to_log_in: str
) -> None:
    cli.ok("users", "create-admin", "admin")
    port = _free_port()
    args = ["server", "--port", str(port), "--auth-mode", auth_mode]
    proc = subprocess.Popen(
        [sys.executable, "-m", "mlsteward.cli", *args],
        env=cli_env(cli.home),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    lines: queue.Queue[str] = queue.Queue()

    def pump() -> None:
        assert proc.stderr is not None
        for line in proc.stderr:
            lines.put(line)

    reader = threading.Thread(target=pump, daemon=True)
    reader.start()
    url = f"http://127.0.0.1:{port}"
    banner: list[str] = []
    try:
        while not any("stop with Ctrl-C" in line for line in banner):
            banner.append(lines.get(timeout=60))
        text = "".join(banner)
        assert f"serving {url}" in text
        assert f"{url}/api/v1" in text
        assert how_to_log_in in text
        for _ in range(300):
            try:
                response = httpx.get(f"{url}/healthz", timeout=2)
                break
            except httpx.TransportError:
                if proc.poll() is not None:
                    raise AssertionError("the server exited early") from None
                threading.Event().wait(0.1)
        assert response.status_code == 200
        assert response.json()["status"] == "ok"
    finally:
        proc.send_signal(signal.SIGINT)
        proc.wait(timeout=30)
        reader.join(timeout=30)
        for stream in (proc.stdout, proc.stderr):
            if stream is not None:
                stream.close()


def test_server_with_several_workers_serves_and_logs_json(tmp_path: Path) -> None:
    """``--workers 2``: uvicorn spawns worker processes that rebuild the app from the
    environment; they must serve the same platform and write JSON access logs."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    env = cli_env(tmp_path / "home")
    code = (
        "import sys; sys.argv = ['mlsteward', 'server', '--workers', '2', '--port', "
        f"'{port}']\nfrom mlsteward.cli import main\nmain()\n"
    )
    server = subprocess.Popen(
        [sys.executable, "-c", code],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        deadline = time.monotonic() + 30
        answers: list[dict[str, object]] = []
        while time.monotonic() < deadline and len(answers) < 4:
            try:
                answers.append(httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=2).json())
            except httpx.TransportError:
                time.sleep(0.2)
        me = httpx.get(f"http://localhost:{port}/api/v1/me", timeout=5).json()
    finally:
        server.send_signal(signal.SIGINT)
        try:
            _, stderr = server.communicate(timeout=20)
        except subprocess.TimeoutExpired:
            server.kill()
            _, stderr = server.communicate()
    assert [a["status"] for a in answers] == ["ok"] * 4
    assert me["name"] == "local-admin"
    access = [
        json.loads(line)
        for line in stderr.splitlines()
        if line.startswith("{") and '"mlsteward.access"' in line
    ]
    assert any(entry["path"] == "/healthz" and entry["status"] == 200 for entry in access)
