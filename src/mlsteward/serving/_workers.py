"""Several inference-server processes sharing one port (``serve --workers N``).

Pre-fork: the parent has already verified and loaded the model; it binds the sockets (one
per worker slot, ``SO_REUSEPORT``), then forks the workers, before any thread or event loop
exists in it (forking a process that runs threads can leave a lock held forever in the child).
Each worker builds its own app and ``ServingMetrics`` and runs ``uvicorn.Server`` on its slot's
inherited socket, so the workers share the loaded model's memory copy-on-write and the kernel
spreads new connections evenly over them.

The parent supervises: a worker that dies is replaced (after a back-off that doubles while
replacements keep dying young), and SIGTERM or SIGINT is forwarded to every worker, which stops
accepting and finishes its requests in flight (uvicorn's graceful shutdown); the parent returns
once all are gone. The workers run in process groups of their own, so a Ctrl-C in a terminal
reaches them once, through the parent; a worker whose parent is gone shuts down by itself.

Metrics use prometheus_client's multiprocess mode: each worker writes its samples to files in a
private folder, and ``/metrics`` (whichever worker answers) sums the counters and histograms of
every worker, the dead ones included. Gauges get a ``pid`` label, one series per live worker.
Every log line a worker writes carries its process id as ``worker``.
"""

from __future__ import annotations

import contextlib
import dataclasses
import logging
import os
import select
import shutil
import signal
import socket
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from types import FrameType
from typing import Any

import uvicorn

from ..errors import ConfigurationError
from ._metrics import ServingMetrics

_log = logging.getLogger("mlsteward.serving")

MAX_WORKERS = 64
HEALTHY_SECONDS = 10.0
"""A worker that ran this long before dying is replaced at once; one that died younger, after
a back-off."""
FIRST_BACKOFF_SECONDS = 0.5
MAX_BACKOFF_SECONDS = 30.0
STARTUP_FAILURE = 3  # the exit code uvicorn uses when the app cannot start
LISTEN_BACKLOG = 2048  # uvicorn's default
_MULTIPROC_ENV = "PROMETHEUS_MULTIPROC_DIR"
_STOP_SIGNALS = (signal.SIGTERM, signal.SIGINT)


class WorkerMetrics(ServingMetrics):
    """A worker's ``ServingMetrics`` whose exposition holds the samples of every worker (the
    files prometheus_client's multiprocess mode keeps in ``folder``)."""

    def __init__(self, folder: Path) -> None:
        super().__init__()
        self.folder = folder

    def exposition(self) -> bytes:
        from prometheus_client import CollectorRegistry, generate_latest
        from prometheus_client.multiprocess import MultiProcessCollector

        registry = CollectorRegistry()
        MultiProcessCollector(registry, path=str(self.folder))  # type: ignore[no-untyped-call]
        return generate_latest(registry)


AppFactory = Callable[[ServingMetrics], Any]
"""Builds a worker's ASGI app around the metrics it is given (called in the worker)."""


def serve_workers(
    make_app: AppFactory,
    *,
    host: str,
    port: int,
    workers: int,
    uvicorn_options: Mapping[str, Any],
) -> None:
    """Serve ``make_app``'s app from ``workers`` processes on ``host:port`` until SIGTERM or
    SIGINT, then return once every worker has finished its requests in flight.

    ``uvicorn_options`` go to each worker's ``uvicorn.Config``. Raises ``ConfigurationError``
    when the port cannot be bound, when the platform cannot fork, or when threads already run
    in this process (forking them is unsafe: start the workers before anything starts one).
    """
    if not 1 <= workers <= MAX_WORKERS:
        raise ConfigurationError(f"--workers must be between 1 and {MAX_WORKERS}, not {workers}")
    check_fork_safe()
    sockets = _slot_sockets(host, port, workers)
    folder = Path(tempfile.mkdtemp(prefix="mlsteward-metrics-"))
    try:
        with _multiprocess_metrics(folder):
            scheme = "https" if uvicorn_options.get("ssl_certfile") else "http"
            shown = f"[{host}]" if ":" in host else host
            _log.info("listening on %s://%s:%d with %d workers", scheme, shown, port, workers)
            pool = WorkerPool(
                lambda parent, slot: _run_worker(
                    make_app, sockets[slot], uvicorn_options, folder, parent
                ),
                workers,
                on_exit=lambda pid: _forget_worker_gauges(folder, pid),
            )
            pool.run()
    finally:
        for sock in sockets:
            sock.close()
        shutil.rmtree(folder, ignore_errors=True)


def _slot_sockets(host: str, port: int, workers: int) -> list[socket.socket]:
    """One listening socket per worker slot, all on ``host:port`` with ``SO_REUSEPORT``: the
    kernel spreads new connections over them evenly (by a hash of the connection). With one
    shared socket, whichever worker woke first took them: under wrk's 16 connections the
    workers served 2:1. A replacement worker takes over its slot's socket, so connections
    waiting there are served, not dropped. Without ``SO_REUSEPORT``: one shared socket."""
    if workers == 1 or not hasattr(socket, "SO_REUSEPORT"):
        return [bind_socket(host, port)] * workers
    sockets: list[socket.socket] = []
    try:
        for _ in range(workers):
            sockets.append(bind_socket(host, port, reuse_port=True))
    except BaseException:
        for sock in sockets:
            sock.close()
        raise
    return sockets


def check_fork_safe() -> None:
    """Raise ``ConfigurationError`` unless this is the main thread of a process that can fork
    and runs no other thread."""
    if not hasattr(os, "fork"):
        raise ConfigurationError("--workers needs a platform with fork() (Linux, macOS)")
    if threading.current_thread() is not threading.main_thread():
        raise ConfigurationError("worker processes can only be started from the main thread")
    others = [t.name for t in threading.enumerate() if t is not threading.current_thread()]
    if others:
        raise ConfigurationError(
            "cannot fork worker processes: threads already run in this process "
            f"({', '.join(sorted(others))}); start the workers before anything starts a thread"
        )


def bind_socket(host: str, port: int, *, reuse_port: bool = False) -> socket.socket:
    """A listening TCP socket on ``host:port`` (IPv4 or IPv6, ``SO_REUSEADDR``, and
    ``SO_REUSEPORT`` with ``reuse_port``) that forked children inherit; ``ConfigurationError``
    saying what to do when it cannot be bound."""
    try:
        family, kind, proto, _, address = socket.getaddrinfo(
            host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE
        )[0]
    except socket.gaierror as exc:
        raise ConfigurationError(f"cannot listen on {host}: {exc.strerror}") from None
    sock = socket.socket(family, kind, proto)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        if reuse_port:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
        sock.bind(address)
        sock.listen(LISTEN_BACKLOG)
    except OSError as exc:
        sock.close()
        raise ConfigurationError(
            f"cannot listen on {host} port {port}: {exc.strerror}; "
            "stop what uses it or pick another --port"
        ) from None
    sock.set_inheritable(True)
    return sock


@contextlib.contextmanager
def _multiprocess_metrics(folder: Path) -> Iterator[None]:
    """prometheus_client's multiprocess mode, with its files in ``folder``, for the metrics
    created inside (in the workers)."""
    from prometheus_client import values

    previous_env = os.environ.get(_MULTIPROC_ENV)
    previous_class = values.ValueClass
    os.environ[_MULTIPROC_ENV] = str(folder)
    # prometheus_client picks the value class when it is imported, maybe before this.
    values.ValueClass = values.get_value_class()  # type: ignore[no-untyped-call]
    try:
        yield
    finally:
        values.ValueClass = previous_class
        if previous_env is None:
            del os.environ[_MULTIPROC_ENV]
        else:
            os.environ[_MULTIPROC_ENV] = previous_env


def _forget_worker_gauges(folder: Path, pid: int) -> None:
    """Drop the gauges of a dead worker: its requests in flight and queues are gone with it
    (its counters and histograms stay, so the totals survive a replacement)."""
    from prometheus_client.multiprocess import mark_process_dead

    mark_process_dead(pid, str(folder))  # type: ignore[no-untyped-call]
    for path in folder.glob(f"gauge_*_{pid}.db"):
        path.unlink(missing_ok=True)


@dataclasses.dataclass
class _Worker:
    slot: int
    started: float


class WorkerPool:
    """Runs ``target`` in ``size`` forked processes and keeps them running until SIGTERM or
    SIGINT (see the module docstring). ``target(parent_pid, slot)`` runs in the child and
    returns its exit code (``slot``: 0 to ``size - 1``, the worker's place, which its
    replacements take over); ``on_exit(pid)`` runs in the parent after a worker is reaped."""

    def __init__(
        self,
        target: Callable[[int, int], int],
        size: int,
        *,
        on_exit: Callable[[int], None] = lambda pid: None,
        grace_seconds: float = 40.0,
    ) -> None:
        self.target = target
        self.size = size
        self.on_exit = on_exit
        self.grace_seconds = grace_seconds
        self.workers: dict[int, _Worker] = {}
        self._due: dict[int, float] = {}  # slot -> when its replacement starts
        self._young_deaths: dict[int, int] = {}  # slot -> workers that died young in a row
        self._signals: list[int] = []
        self._wakeup = (-1, -1)

    def run(self) -> None:
        """Start the workers and supervise them; return once a stop signal has stopped them
        all."""
        check_fork_safe()
        self._wakeup = os.pipe()
        for fd in self._wakeup:
            os.set_blocking(fd, False)
        previous_wakeup = signal.set_wakeup_fd(self._wakeup[1])
        handled = (*_STOP_SIGNALS, signal.SIGCHLD)
        previous = {sig: signal.signal(sig, self._on_signal) for sig in handled}
        try:
            self._supervise()
        finally:
            for pid in self.workers:  # only after an error in the supervisor itself
                with contextlib.suppress(ProcessLookupError):
                    os.kill(pid, signal.SIGKILL)
            for pid in list(self.workers):
                os.waitpid(pid, 0)
                del self.workers[pid]
                self.on_exit(pid)
            for sig, handler in previous.items():
                signal.signal(sig, handler)
            signal.set_wakeup_fd(previous_wakeup)
            for fd in self._wakeup:
                os.close(fd)

    def _on_signal(self, signum: int, frame: FrameType | None) -> None:
        if signum != signal.SIGCHLD:
            self._signals.append(signum)

    def _supervise(self) -> None:
        for slot in range(self.size):
            self._start(slot)
        stop_by: float | None = None
        forwarded = 0
        while True:
            self._reap()
            if forwarded < len(self._signals):  # a second SIGINT forces the workers out
                if stop_by is None:
                    stop_by = time.monotonic() + self.grace_seconds
                    names = signal.Signals(self._signals[0]).name
                    _log.info("%s: stopping %d workers", names, len(self.workers))
                    self._due.clear()
                for sig in self._signals[forwarded:]:
                    self._signal_all(sig)
                forwarded = len(self._signals)
            if stop_by is not None:
                if not self.workers:
                    _log.info("every worker has stopped")
                    return
                if time.monotonic() > stop_by:
                    _log.error(
                        "workers still running after %.0f s: killing them", self.grace_seconds
                    )
                    self._signal_all(signal.SIGKILL)
                    stop_by = time.monotonic() + self.grace_seconds
            now = time.monotonic()
            for slot, due in list(self._due.items()):
                if due <= now:
                    del self._due[slot]
                    self._start(slot)
            wait = min([1.0, *(due - now for due in self._due.values())])
            select.select([self._wakeup[0]], [], [], max(wait, 0.0))
            with contextlib.suppress(BlockingIOError):
                while os.read(self._wakeup[0], 512):
                    pass

    def _signal_all(self, sig: int) -> None:
        for pid in self.workers:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, sig)

    def _start(self, slot: int) -> None:
        parent = os.getpid()
        blocked = signal.pthread_sigmask(signal.SIG_BLOCK, {*_STOP_SIGNALS, signal.SIGCHLD})
        pid = os.fork()
        if pid == 0:  # the worker: never returns into the parent's code
            code = 1
            try:
                signal.set_wakeup_fd(-1)
                for fd in self._wakeup:
                    os.close(fd)
                for sig in (*_STOP_SIGNALS, signal.SIGCHLD):
                    signal.signal(sig, signal.SIG_DFL)
                os.setpgid(0, 0)  # a terminal's Ctrl-C reaches the workers through the parent
                signal.pthread_sigmask(signal.SIG_SETMASK, blocked)
                code = self.target(parent, slot)
            except BaseException:
                _log.exception("worker %d failed", os.getpid())
            finally:
                with contextlib.suppress(Exception):
                    sys.stdout.flush()
                    sys.stderr.flush()
                os._exit(code)
        signal.pthread_sigmask(signal.SIG_SETMASK, blocked)
        self.workers[pid] = _Worker(slot, time.monotonic())
        _log.info("worker %d started", pid, extra={"worker_pid": pid})

    def _reap(self) -> None:
        while self.workers:
            try:
                pid, status = os.waitpid(-1, os.WNOHANG)
            except ChildProcessError:
                return
            if pid == 0:
                return
            worker = self.workers.pop(pid, None)
            if worker is None:
                continue
            self.on_exit(pid)
            if self._signals:  # stopping: a worker that exits is done
                continue
            self._schedule_replacement(pid, worker, status)

    def _schedule_replacement(self, pid: int, worker: _Worker, status: int) -> None:
        lived = time.monotonic() - worker.started
        if lived >= HEALTHY_SECONDS:
            self._young_deaths[worker.slot] = 0
            delay = 0.0
        else:
            deaths = self._young_deaths.get(worker.slot, 0)
            self._young_deaths[worker.slot] = deaths + 1
            delay = min(FIRST_BACKOFF_SECONDS * 2**deaths, MAX_BACKOFF_SECONDS)
        code = os.waitstatus_to_exitcode(status)
        how = f"was killed by {signal.Signals(-code).name}" if code < 0 else f"exited ({code})"
        _log.warning(
            "worker %d %s after %.1f s; starting another in %.1f s",
            pid,
            how,
            lived,
            delay,
            extra={"worker_pid": pid, "exit_code": code},
        )
        self._due[worker.slot] = time.monotonic() + delay


class _WorkerFilter(logging.Filter):
    """Stamps every log record with the worker's process id (field ``worker``)."""

    def filter(self, record: logging.LogRecord) -> bool:
        record.worker = os.getpid()
        return True


def _run_worker(
    make_app: AppFactory,
    sock: socket.socket,
    options: Mapping[str, Any],
    folder: Path,
    parent: int,
) -> int:
    """One worker: build the app, serve on ``sock`` until told to stop; the exit code."""
    stop: list[int] = []
    for sig in _STOP_SIGNALS:  # until uvicorn takes over the signals (and after it)
        signal.signal(sig, lambda signum, frame: stop.append(signum))
    tag = _WorkerFilter()
    for name in ("mlsteward", "uvicorn", "uvicorn.error"):
        for handler in logging.getLogger(name).handlers:
            handler.addFilter(tag)
    app = make_app(WorkerMetrics(folder))
    if stop:
        return 0
    server = _WorkerServer(uvicorn.Config(app, **options), parent=parent)
    server.run(sockets=[sock])
    return 0 if server.started or stop else STARTUP_FAILURE


class _WorkerServer(uvicorn.Server):
    """``uvicorn.Server`` that also stops when the process that forked it is gone."""

    def __init__(self, config: uvicorn.Config, *, parent: int) -> None:
        super().__init__(config)
        self.parent = parent

    async def on_tick(self, counter: int) -> bool:
        if counter % 10 == 0 and os.getppid() != self.parent and not self.should_exit:
            _log.warning("the supervising process is gone: stopping")
            self.should_exit = True
        return await super().on_tick(counter)
