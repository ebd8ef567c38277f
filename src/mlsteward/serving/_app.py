"""The inference server's ASGI app: every protocol over one model repository.

Predictions run in worker threads (``anyio.to_thread``), never on the event loop, at most
``predict_threads`` at a time. On start every model is warmed up on its stored input example
(the first prediction of a fresh model pays for lazy initialisation); only then does
``/v2/health/ready`` answer 200. On shutdown the server stops accepting, the in-flight
requests finish (uvicorn's graceful shutdown), and readiness turns off first.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import AsyncIterator
from typing import Any

import anyio
from starlette.applications import Starlette

from ._core import ModelRepository, ServedModel

_log = logging.getLogger("mlsteward.serving")
DEFAULT_MAX_BODY_BYTES = 64 * 1024 * 1024
DEFAULT_MAX_ROWS = 10_000


def make_predict(threads: int) -> Any:
    """A ``Predict`` running at most ``threads`` predictions at a time, off the event loop."""
    limiter = anyio.CapacityLimiter(threads)

    async def predict(model: ServedModel, data: Any) -> Any:
        return await anyio.to_thread.run_sync(model.loaded.predict, data, limiter=limiter)

    return predict


async def warm_up(repository: ModelRepository, predict: Any) -> None:
    """Predict once on each model's input example (when it has one)."""
    for name in repository.names():
        model = repository.get(name)
        example = await anyio.to_thread.run_sync(model.loaded.input_example)
        if example is None:
            continue
        try:
            await predict(model, example)
        except Exception:  # a model that cannot predict its own example is still served
            _log.exception("warm-up of %s %s failed", model.name, model.version)


def create_app(
    repository: ModelRepository,
    *,
    predict_threads: int = 2,
    max_body_bytes: int = DEFAULT_MAX_BODY_BYTES,
    max_rows: int = DEFAULT_MAX_ROWS,
) -> Starlette:
    """The server app: OIP v2 (``/v2``), MLflow scoring (``/invocations``, ``/ping``,
    ``/health``, ``/version``) and the plain API (``/v1/models/{name}/predict``)."""
    from ._mlflow_protocol import mlflow_routes
    from ._oip import oip_routes
    from ._v1 import v1_routes

    predict = make_predict(predict_threads)

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        await warm_up(repository, predict)
        repository.ready = True
        _log.info("serving %s", ", ".join(repository.names()))
        try:
            yield
        finally:
            repository.ready = False

    routes = [
        *oip_routes(repository, predict, max_body_bytes=max_body_bytes),
        *mlflow_routes(repository, predict, max_body_bytes=max_body_bytes),
        *v1_routes(repository, predict, max_body_bytes=max_body_bytes, max_rows=max_rows),
    ]
    return Starlette(routes=routes, lifespan=lifespan)
