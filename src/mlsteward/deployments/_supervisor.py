"""The supervisor of one deployment: a detached process (its own session) that runs the
deployment's server process and restarts it when it crashes.

Everything it keeps lives in ``MLSTEWARD_HOME/deployments/<project>/<name>/``:
``supervisor.lock`` (held while a supervisor runs: a second one refuses to start),
``supervisor.pid``, ``server.pid``, ``server.log`` (the server's output) and ``state.json``
(state, pids, restarts, last exit). Restarts back off from 0.5 s, doubling up to 30 s, and
start from 0.5 s again after a minute of uptime; each is an event of the deployment. The
supervisor stops the server (SIGTERM: in-flight requests finish) and exits when it gets
SIGTERM or when the platform's status of the deployment is no longer ``running``.

Run as ``python -m mlsteward.deployments._supervisor PROJECT NAME``; the environment carries
the settings (``child_environment``).
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import logging
import os
import signal
import subprocess
import sys
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, TextIO

from ..store import utcnow

if TYPE_CHECKING:
    from ..platform import Platform
    from ..settings import Settings

log = logging.getLogger("mlsteward.deployments")

EXIT_CONFIGURATION = 78
"""The server process's exit code when it cannot start until something changes (the
deployment is gone or refused): the supervisor marks the deployment failed instead of retrying."""

FIRST_BACKOFF_SECONDS = 0.5
MAX_BACKOFF_SECONDS = 30.0
STABLE_UPTIME_SECONDS = 60.0
STOP_GRACE_SECONDS = 30.0
STATUS_CHECK_SECONDS = 1.0


@dataclass(frozen=True)
class DeploymentFolder:
    """Where the supervisor of one deployment keeps its files."""

    root: Path

    @classmethod
    def of(cls, home: Path, project: str, name: str) -> DeploymentFolder:
        return cls(Path(home) / "deployments" / project / name)

    @property
    def lock(self) -> Path:
        return self.root / "supervisor.lock"

    @property
    def supervisor_pid(self) -> Path:
        return self.root / "supervisor.pid"

    @property
    def server_pid(self) -> Path:
        return self.root / "server.pid"

    @property
    def server_log(self) -> Path:
        return self.root / "server.log"

    @property
    def supervisor_log(self) -> Path:
        return self.root / "supervisor.log"

    @property
    def state(self) -> Path:
        return self.root / "state.json"

    def read_state(self) -> dict[str, Any]:
        """``state.json`` (empty when there is none yet) with ``supervisor_alive``: whether a
        supervisor holds the lock now."""
        try:
            state = json.loads(self.state.read_text())
        except (OSError, ValueError):
            state = {}
        if not isinstance(state, dict):
            state = {}
        state["supervisor_alive"] = self.running_supervisor() is not None
        return state

    def write_state(self, **values: Any) -> None:
        try:
            current = json.loads(self.state.read_text())
        except (OSError, ValueError):
            current = {}
        current.update(values, updated_at=utcnow().isoformat())
        temporary = self.state.with_suffix(".tmp")
        temporary.write_text(json.dumps(current, sort_keys=True))
        os.replace(temporary, self.state)

    def running_supervisor(self) -> int | None:
        """The pid of the supervisor holding the lock, or None when none runs."""
        if not self.lock.exists():
            return None
        with open(self.lock, "a+") as handle:
            try:
                fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                return _read_pid(self.supervisor_pid) or -1
            fcntl.flock(handle, fcntl.LOCK_UN)
            return None

    def log_tail(self, lines: int) -> list[str]:
        """The last ``lines`` lines of ``server.log``."""
        try:
            with open(self.server_log, "rb") as handle:
                handle.seek(0, os.SEEK_END)
                size = handle.tell()
                handle.seek(max(0, size - max(lines, 1) * 1000))
                text = handle.read().decode("utf-8", "replace")
        except FileNotFoundError:
            return []
        return text.splitlines()[-lines:] if lines > 0 else []


def _take_lock(handle: TextIO) -> bool:
    """Take the supervisor lock; a few tries, since ``running_supervisor`` probes it for a
    moment (a supervisor holding it keeps it: the tries fail)."""
    for _ in range(20):
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
            return True
        except BlockingIOError:
            time.sleep(0.05)
    return False


def _read_pid(path: Path) -> int | None:
    try:
        return int(path.read_text().strip())
    except (OSError, ValueError):
        return None


def child_environment(settings: Settings) -> dict[str, str]:
    """The environment of a supervisor: this one with every setting of ``settings`` as an
    ``MLSTEWARD_*`` variable, and no remote server (its processes act on the platform itself)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("MLSTEWARD_")}
    for key, value in settings.model_dump(exclude={"token", "server_url"}).items():
        if value is None:
            continue
        text = json.dumps(value) if isinstance(value, dict | list | bool) else str(value)
        env[f"MLSTEWARD_{key.upper()}"] = text
    return env


def start_supervisor(settings: Settings, project: str, name: str, *, timeout: float = 10.0) -> int:
    """Start the detached supervisor of a deployment (or find the one running); its pid.

    Waits until the new supervisor holds its lock (``timeout`` seconds at most)."""
    folder = DeploymentFolder.of(settings.home, project, name)
    folder.root.mkdir(parents=True, exist_ok=True)
    running = folder.running_supervisor()
    if running is not None:
        return running
    with open(folder.supervisor_log, "ab") as output:
        process = subprocess.Popen(  # noqa: S603 (our own module, names checked)
            [sys.executable, "-m", "mlsteward.deployments._supervisor", project, name],
            stdin=subprocess.DEVNULL,
            stdout=output,
            stderr=subprocess.STDOUT,
            env=child_environment(settings),
            start_new_session=True,
            close_fds=True,
        )
    # Reap it when it ends, so a long-lived parent (the platform server) keeps no zombie.
    threading.Thread(target=process.wait, daemon=True, name="mlsteward-reaper").start()
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and process.poll() is None:
        if folder.running_supervisor() == process.pid:
            break
        time.sleep(0.05)
    return process.pid


def stop_supervisor(settings: Settings, project: str, name: str, *, timeout: float = 40.0) -> bool:
    """SIGTERM the deployment's supervisor (it stops the server gracefully) and wait until it
    has exited; True when none runs any more."""
    folder = DeploymentFolder.of(settings.home, project, name)
    pid = folder.running_supervisor()
    if pid is None:
        return True
    if pid > 0:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGTERM)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if folder.running_supervisor() is None:
            return True
        time.sleep(0.05)
    return False


class Supervisor:
    """Runs one deployment's server process until told to stop (see the module docstring)."""

    def __init__(self, platform: Platform, project: str, name: str) -> None:
        self.platform = platform
        self.project = project
        self.name = name
        self.folder = DeploymentFolder.of(platform.settings.home, project, name)
        self.stopping = threading.Event()
        self.restarts = 0

    def _status(self, deployment_id: str) -> str:
        from ..errors import NotFound
        from ._lifecycle import stored_plan

        try:
            status, _ = stored_plan(self.platform, deployment_id, 2**31)
        except NotFound:
            return "deleted"
        except Exception:  # a database hiccup is no reason to stop serving
            log.exception("reading the deployment's status failed")
            return "running"
        return status

    def run(self, deployment_id: str) -> None:
        from ..security import SYSTEM
        from ._lifecycle import record_failure, record_restart

        delay = FIRST_BACKOFF_SECONDS
        self.folder.write_state(state="starting", supervisor_pid=os.getpid(), restarts=0)
        while not self.stopping.is_set() and self._status(deployment_id) == "running":
            started = time.monotonic()
            code = self._serve_once(deployment_id)
            if code is None:
                break
            uptime = time.monotonic() - started
            if code == EXIT_CONFIGURATION:
                reason = f"the server process cannot start (exit code {code}): see server.log"
                self.folder.write_state(state="failed", server_pid=None, last_exit=code)
                with contextlib.suppress(Exception):
                    record_failure(self.platform, SYSTEM, self.project, self.name, reason)
                return
            if uptime >= STABLE_UPTIME_SECONDS:
                delay = FIRST_BACKOFF_SECONDS
            self.restarts += 1
            details = {
                "exit_code": code,
                "restarts": self.restarts,
                "uptime_seconds": round(uptime, 1),
                "next_start_in_seconds": delay,
            }
            log.warning("server process exited with %s; restarting in %.1f s", code, delay)
            self.folder.write_state(
                state="backoff", server_pid=None, restarts=self.restarts, last_exit=code
            )
            try:
                record_restart(self.platform, SYSTEM, self.project, self.name, details)
            except Exception:
                log.exception("recording the restart failed")
            if self.stopping.wait(delay):
                break
            delay = min(delay * 2, MAX_BACKOFF_SECONDS)
        self.folder.write_state(state="stopped", server_pid=None)

    def _serve_once(self, deployment_id: str) -> int | None:
        """Run the server until it exits (its exit code) or until a stop (None)."""
        with open(self.folder.server_log, "ab") as output:
            server = subprocess.Popen(  # noqa: S603 (our own module, names checked)
                [sys.executable, "-m", "mlsteward.deployments._process", self.project, self.name],
                stdin=subprocess.DEVNULL,
                stdout=output,
                stderr=subprocess.STDOUT,
                close_fds=True,
            )
        self.folder.server_pid.write_text(str(server.pid))
        self.folder.write_state(
            state="running",
            server_pid=server.pid,
            restarts=self.restarts,
            server_started_at=utcnow().isoformat(),
        )
        next_check = time.monotonic() + STATUS_CHECK_SECONDS
        while True:
            code = server.poll()
            if code is not None:
                return code
            if self.stopping.wait(0.1):
                break
            if time.monotonic() >= next_check:
                next_check = time.monotonic() + STATUS_CHECK_SECONDS
                if self._status(deployment_id) != "running":
                    break
        self._stop_server(server)
        return None

    def _stop_server(self, server: subprocess.Popen[bytes]) -> None:
        self.folder.write_state(state="stopping")
        server.send_signal(signal.SIGTERM)
        try:
            server.wait(STOP_GRACE_SECONDS)
        except subprocess.TimeoutExpired:
            log.warning("the server did not stop within %.0f s: killing it", STOP_GRACE_SECONDS)
            server.kill()
            server.wait()
        with contextlib.suppress(FileNotFoundError):
            self.folder.server_pid.unlink()


def main(argv: list[str], stderr: TextIO = sys.stderr) -> int:
    """The supervisor process: 0 after a stop, 1 when it cannot supervise."""
    from ..errors import StewardError
    from ..platform import Platform
    from ..security import SYSTEM
    from ..settings import load_settings
    from ._service import get_deployment

    logging.basicConfig(
        level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s", stream=stderr
    )
    if len(argv) != 2:
        print("usage: python -m mlsteward.deployments._supervisor PROJECT NAME", file=stderr)
        return 2
    project, name = argv
    settings = load_settings()
    folder = DeploymentFolder.of(settings.home, project, name)
    folder.root.mkdir(parents=True, exist_ok=True)
    lock = open(folder.lock, "a+")  # noqa: SIM115 (held open until the process ends)
    if not _take_lock(lock):
        print(
            f"a supervisor already runs for deployment {project}/{name} "
            f"(pid {_read_pid(folder.supervisor_pid)}): refusing to start a second one",
            file=stderr,
        )
        return 1
    folder.supervisor_pid.write_text(str(os.getpid()))
    platform = Platform.open(settings)
    supervisor = Supervisor(platform, project, name)
    for signum in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
        signal.signal(signum, lambda *_: supervisor.stopping.set())
    try:
        deployment = get_deployment(platform, SYSTEM, project, name)
        log.info("supervising deployment %s/%s (pid %d)", project, name, os.getpid())
        supervisor.run(deployment.id)
    except StewardError as exc:
        print(f"cannot supervise deployment {project}/{name}: {exc.message}", file=stderr)
        folder.write_state(state="failed", server_pid=None)
        return 1
    finally:
        with contextlib.suppress(FileNotFoundError):
            folder.supervisor_pid.unlink()
        platform.close()
    log.info("supervisor of %s/%s stopped", project, name)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
