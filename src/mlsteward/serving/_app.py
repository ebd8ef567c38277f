"""The inference server's ASGI app: every protocol over one model repository.

Predictions run in worker threads (``anyio.to_thread``), never on the event loop, at most
``predict_threads`` at a time per model, and concurrent table requests are batched into one
model call (``_batching``). On start every model is warmed up on its stored input example
(the first prediction of a fresh model pays for lazy initialisation); only then does
``/v2/health/ready`` answer 200. On shutdown the server stops accepting, the in-flight
requests finish (uvicorn's graceful shutdown), and readiness turns off first.
"""

from __future__ import annotations

import contextlib
import gc
import logging
from collections.abc import AsyncIterator
from typing import TYPE_CHECKING, Any

import anyio
from starlette.applications import Starlette

from ._batching import (
    DEFAULT_MAX_BATCH_ROWS,
    DEFAULT_MAX_QUEUE_ROWS,
    Batcher,
)
from ._core import ModelRepository, ServedModel

if TYPE_CHECKING:
    from ._metrics import ServingMetrics
    from ._prediction_log import PredictionLogger

_log = logging.getLogger("mlsteward.serving")
DEFAULT_MAX_BODY_BYTES = 64 * 1024 * 1024
DEFAULT_MAX_ROWS = 10_000
DEFAULT_REQUEST_TIMEOUT = 60.0


class BatchingPredict:
    """The app's ``Predict``: one ``Batcher`` per served model version (see ``_batching``).

    With ``timeout`` (seconds), a request waiting longer for its prediction is answered with
    ``Unavailable`` (503 with Retry-After); the model call it was part of still finishes."""

    def __init__(
        self,
        threads: int,
        *,
        max_batch_rows: int,
        max_queue_rows: int,
        metrics: ServingMetrics | None = None,
        timeout: float | None = None,
    ) -> None:
        self._timeout = timeout
        self._threads = threads
        self._max_batch_rows = max_batch_rows
        self._max_queue_rows = max_queue_rows
        self._metrics = metrics
        self._batchers: dict[tuple[str, str], Batcher] = {}

    async def __call__(self, model: ServedModel, data: Any) -> Any:
        key = (model.name, model.version)
        batcher = self._batchers.get(key)
        if batcher is None or batcher.model is not model:
            batcher = self._batchers[key] = Batcher(
                model,
                threads=self._threads,
                max_batch_rows=self._max_batch_rows,
                max_queue_rows=self._max_queue_rows,
                metrics=self._metrics,
            )
        return await batcher.predict(data, self._timeout)

    async def close(self) -> None:
        for batcher in self._batchers.values():
            await batcher.close()


def settle_heap() -> None:
    """Move what is alive once the models are loaded and warm (models, libraries: it lives as
    long as the server) out of the garbage collector's sight, so its full collections no longer
    walk it (``gc.freeze``)."""
    gc.collect()
    gc.freeze()


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
    max_batch_rows: int = DEFAULT_MAX_BATCH_ROWS,
    max_queue_rows: int = DEFAULT_MAX_QUEUE_ROWS,
    metrics: ServingMetrics | None = None,
    request_timeout: float | None = DEFAULT_REQUEST_TIMEOUT,
    prediction_logger: PredictionLogger | None = None,
) -> Starlette:
    """The server app: OIP v2 (``/v2``), MLflow scoring (``/invocations``, ``/ping``,
    ``/health``, ``/version``) and the plain API (``/v1/models/{name}/predict``).

    With ``metrics``, ``GET /metrics`` serves them and the batchers feed them (wrap the app in
    ``ObservabilityMiddleware`` with the same metrics for the request counts).

    Table predictions are batched (at most ``max_batch_rows`` rows per model call) and at most
    ``max_queue_rows`` rows wait per model: beyond that, requests get 503 with Retry-After.

    With ``prediction_logger``, every successful prediction (warm-up excepted) is logged to it
    and ``POST /v1/models/{name}/feedback`` takes labels; it starts with the app and ships its
    open windows on shutdown (see ``_prediction_log``)."""
    from ._feedback import feedback_routes
    from ._mlflow_protocol import mlflow_routes
    from ._oip import oip_routes
    from ._prediction_log import LoggingPredict
    from ._v1 import v1_routes

    predict = BatchingPredict(
        predict_threads,
        max_batch_rows=max_batch_rows,
        max_queue_rows=max_queue_rows,
        metrics=metrics,
        timeout=request_timeout,
    )

    served: Any = predict
    if prediction_logger is not None:
        served = LoggingPredict(predict, prediction_logger)
        if metrics is not None:  # the window's serving statistics
            metrics.answer_observer = prediction_logger.observe_answer

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        await warm_up(repository, predict)
        settle_heap()
        if prediction_logger is not None:
            prediction_logger.start()  # here: in the process that serves (after a fork)
        repository.ready = True
        _log.info("serving %s", ", ".join(repository.names()))
        try:
            yield
        finally:
            repository.ready = False
            await predict.close()
            if prediction_logger is not None:  # ships the open windows
                await anyio.to_thread.run_sync(prediction_logger.close)

    routes = [
        *oip_routes(repository, served, max_body_bytes=max_body_bytes),
        *mlflow_routes(repository, served, max_body_bytes=max_body_bytes),
        *v1_routes(repository, served, max_body_bytes=max_body_bytes, max_rows=max_rows),
        *feedback_routes(repository, prediction_logger),
    ]
    if metrics is not None:
        from ._metrics import metrics_route

        routes.append(metrics_route(metrics))
    return Starlette(routes=routes, lifespan=lifespan)
