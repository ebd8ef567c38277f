"""The fluent layer: ``mlsteward.start_run()``, ``mlsteward.log_metric(...)`` and friends.

A thin wrapper over ``Client`` and ``ActiveRun``. The current run lives in a
``contextvars.ContextVar``, so each thread and each asyncio task sees its own run (a new
thread starts with none). The default client is built from settings on first use.
"""

from __future__ import annotations

import contextvars
import threading
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any

from ..errors import Conflict
from ._active_run import ActiveRun
from ._model import Run, RunStatus

if TYPE_CHECKING:
    from ..client import Client

_current: contextvars.ContextVar[ActiveRun | None] = contextvars.ContextVar(
    "mlsteward_active_run", default=None
)
_client_lock = threading.Lock()
_default_client: Client | None = None


def default_client() -> Client:
    """The client the fluent functions use: ``Client()`` from settings, built once."""
    global _default_client
    with _client_lock:
        if _default_client is None:
            from ..client import Client

            _default_client = Client()
        return _default_client


def set_default_client(client: Client | None) -> None:
    """Use ``client`` for fluent calls from now on (None: build from settings again)."""
    global _default_client
    with _client_lock:
        _default_client = client


def active_run() -> ActiveRun | None:
    """The run this thread or task is logging to, if any."""
    run = _current.get()
    return None if run is None or run.ended else run


def start_run(
    project: str = "default",
    experiment: str = "Default",
    *,
    name: str | None = None,
    nested: bool = False,
    tags: Mapping[str, str] | None = None,
    client: Client | None = None,
    **options: Any,
) -> ActiveRun:
    """Start a run and make it the current one (usable as a context manager).

    With a run already active, pass ``nested=True`` to start a child run (its
    ``parent_run_id`` is the active run); otherwise that is a ``Conflict``. When the child
    ends, its parent is current again. ``options`` go to ``Client.start_run``.
    """
    parent = active_run()
    if parent is not None and not nested:
        raise Conflict(
            f"run {parent.id} is already active: end it first, or pass nested=True "
            "to start a child run"
        )
    run = (client or default_client()).start_run(
        project,
        experiment,
        name=name,
        parent_run_id=parent.id if parent is not None else None,
        tags=tags,
        **options,
    )
    run._end_callbacks.append(_restorer(parent))
    _current.set(run)
    return run


def _restorer(parent: ActiveRun | None) -> Callable[[ActiveRun], None]:
    def restore(run: ActiveRun) -> None:
        if _current.get() is run:
            _current.set(parent if parent is not None and not parent.ended else None)

    return restore


def _run() -> ActiveRun:
    run = _current.get()
    if run is None or run.ended:
        run = start_run()
    return run


def end_run(status: RunStatus | str = RunStatus.FINISHED) -> Run | None:
    """Flush and end the current run (its parent, if nested, becomes current again)."""
    run = active_run()
    if run is None:
        return None
    return run.end(status)


def log_metric(
    key: str, value: float, step: int | None = None, timestamp: int | None = None
) -> None:
    """Log a point to the current run (a run is started if none is active)."""
    _run().log_metric(key, value, step, timestamp)


def log_metrics(
    metrics: Mapping[str, float], step: int | None = None, timestamp: int | None = None
) -> None:
    _run().log_metrics(metrics, step, timestamp)


def log_param(key: str, value: Any) -> None:
    _run().log_param(key, value)


def log_params(params: Mapping[str, Any]) -> None:
    _run().log_params(params)


def set_tag(key: str, value: Any) -> None:
    _run().set_tag(key, value)


def set_tags(tags: Mapping[str, Any]) -> None:
    _run().set_tags(tags)


def flush() -> None:
    """Wait until everything logged to the current run is stored (raises shipping errors)."""
    run = active_run()
    if run is not None:
        run.flush()


def load_model(uri: str, *, project: str = "default", trust: Any = None) -> Any:
    """``Client.load_model`` on the default client: ``models:/fraud/3``,
    ``models:/fraud@production`` or ``runs:/<run id>/model``, scanned before it loads."""
    return default_client().load_model(uri, project=project, trust=trust)
