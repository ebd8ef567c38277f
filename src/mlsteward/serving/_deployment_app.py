"""A deployment behind HTTP: every protocol of the inference server over a
``DeploymentRuntime``, plus ``GET /deployment``.

``RoutingMiddleware`` gives each request a ``RequestRoute`` (in a contextvar): the sticky key
the router reads, and the version ``DeploymentRepository.get`` routed the request to, which the
middleware writes as ``X-Model-Version`` and counts the answer (status, latency) for.
"""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
import logging
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import anyio
import orjson
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from ..errors import InvalidArgument
from ._app import DEFAULT_MAX_BODY_BYTES, DEFAULT_MAX_ROWS, settle_heap
from ._core import ModelRepository, ServedModel
from ._http import ANY_METHOD
from ._metrics import _OIP_INFER, _V1_PREDICT

if TYPE_CHECKING:
    from ._deployment import DeploymentRuntime, LoadedVersion
    from ._metrics import ServingMetrics
    from ._prediction_log import PredictionLogger
    from ._routing import RoutingPlan

_log = logging.getLogger("mlsteward.serving")

VERSION_HEADER = "X-Model-Version"
_VERSION_KEY = VERSION_HEADER.lower().encode("latin-1")
RETRY_FAILED_PLAN_SECONDS = 30.0


@dataclass(eq=False)
class RequestRoute:
    """One request's routing, shared by the middleware and the repository (a contextvar)."""

    key: str | None
    entry: LoadedVersion | None = None
    routed: bool = False


current_request: contextvars.ContextVar[RequestRoute | None] = contextvars.ContextVar(
    "mlsteward_deployment_request", default=None
)


class DeploymentRepository(ModelRepository):
    """The protocols' view of a deployment: one name, whose version each request is routed to
    (``get(name)``), or the version a URL names (``get(name, version)``)."""

    def __init__(self, runtime: DeploymentRuntime) -> None:
        super().__init__()
        self._runtime = runtime

    def add(self, model: ServedModel) -> None:
        raise InvalidArgument("a deployment's versions come from its plan: apply a new plan")

    def names(self) -> list[str]:
        return [self._runtime.plan.model]

    def get(self, name: str, version: str | None = None) -> ServedModel:
        return self._runtime.resolve(name, version)

    def only(self) -> ServedModel:
        return self._runtime.resolve(self._runtime.plan.model, None)


class RoutingMiddleware:
    """Per request: the sticky key for the router, ``X-Model-Version`` on the answer, and the
    outcome (status, latency) counted for the version that answered (pure ASGI)."""

    def __init__(self, app: ASGIApp, runtime: DeploymentRuntime) -> None:
        self.app = app
        self.runtime = runtime

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        header = self.runtime.plan.sticky_header
        key = None
        if header is not None:
            wanted = header.lower().encode("latin-1")
            for name, value in scope["headers"]:
                if name == wanted:
                    key = value.decode("latin-1")
        request = RequestRoute(key)
        token = current_request.set(request)
        path: str = scope["path"]
        root_path: str = scope.get("root_path", "")
        if root_path and path.startswith(root_path):
            path = path[len(root_path) :]
        counted = path == "/invocations" or any(
            pattern.fullmatch(path) is not None for pattern in (_OIP_INFER, _V1_PREDICT)
        )
        status = 500
        recorded = False
        started = time.perf_counter()

        async def send_with_version(message: Message) -> None:
            nonlocal status, recorded
            if message["type"] == "http.response.start":
                status = message["status"]
                if request.entry is not None:
                    version = request.entry.model.version.encode("latin-1")
                    message["headers"] = [*message.get("headers", []), (_VERSION_KEY, version)]
            elif not message.get("more_body", False) and counted and not recorded:
                recorded = True
                self.runtime.record(request, status, time.perf_counter() - started)
            await send(message)

        try:
            await self.app(scope, receive, send_with_version)
        finally:
            current_request.reset(token)
            if counted and not recorded:
                self.runtime.record(request, status, time.perf_counter() - started)
            self.runtime.finished(request)


def create_deployment_app(
    runtime: DeploymentRuntime,
    *,
    plan_source: Callable[[], RoutingPlan | None] | None = None,
    poll_seconds: float = 0.5,
    metrics: ServingMetrics | None = None,
    prediction_logger: PredictionLogger | None = None,
    **create_app_options: Any,
) -> Starlette:
    """The app serving ``runtime``'s deployment through every protocol of ``create_app``
    (same options), plus ``GET /deployment`` (``runtime.stats()``).

    On start the runtime loads and warms up its versions (``/v2/health/ready`` answers 200
    after). With ``plan_source``, it is called in a worker thread every ``poll_seconds``; a plan
    with a higher revision than the served one is applied (errors are logged; a plan that
    failed is tried again after 30 s or when a newer revision comes).

    With ``prediction_logger``, every routed prediction is logged (under the version that
    answered) and ``POST /v1/models/{name}/feedback`` takes labels, as in ``create_app``.
    """
    from ._feedback import feedback_routes
    from ._mlflow_protocol import mlflow_routes
    from ._oip import oip_routes
    from ._prediction_log import LoggingPredict
    from ._v1 import v1_routes

    if poll_seconds <= 0:
        raise InvalidArgument("poll_seconds must be over 0")
    options = dict(create_app_options)
    max_body_bytes = options.pop("max_body_bytes", DEFAULT_MAX_BODY_BYTES)
    max_rows = options.pop("max_rows", DEFAULT_MAX_ROWS)
    runtime.configure(metrics=metrics, **options)
    repository = runtime.repository

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        await runtime.start()
        settle_heap()
        if prediction_logger is not None:
            prediction_logger.start()  # here: in the process that serves (after a fork)
        repository.ready = True
        plan = runtime.plan
        _log.info("deployment %s serving plan revision %d", plan.model, plan.revision)
        poller = None
        if plan_source is not None:
            poller = asyncio.get_running_loop().create_task(
                _poll_plans(runtime, plan_source, poll_seconds), name="mlsteward-plan-poller"
            )
        try:
            yield
        finally:
            repository.ready = False
            if poller is not None:
                poller.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await poller
            await runtime.close()
            if prediction_logger is not None:  # ships the open windows
                await anyio.to_thread.run_sync(prediction_logger.close)

    async def deployment(request: Request) -> Response:
        if request.method not in ("GET", "HEAD"):
            body = orjson.dumps({"error": "use GET here"})
            return Response(body, 405, {"Allow": "GET, HEAD"}, media_type="application/json")
        return Response(orjson.dumps(runtime.stats()), media_type="application/json")

    predict: Any = runtime.predict
    if prediction_logger is not None:
        predict = LoggingPredict(predict, prediction_logger)
        if metrics is not None:  # the window's serving statistics
            metrics.answer_observer = prediction_logger.observe_answer
    routes = [
        *oip_routes(repository, predict, max_body_bytes=max_body_bytes),
        *mlflow_routes(repository, predict, max_body_bytes=max_body_bytes),
        *v1_routes(repository, predict, max_body_bytes=max_body_bytes, max_rows=max_rows),
        *feedback_routes(repository, prediction_logger),
        Route("/deployment", deployment, methods=ANY_METHOD),
    ]
    if metrics is not None:
        from ._metrics import metrics_route

        routes.append(metrics_route(metrics))
    app = Starlette(routes=routes, lifespan=lifespan)
    app.add_middleware(RoutingMiddleware, runtime=runtime)
    return app


async def _poll_plans(
    runtime: DeploymentRuntime, source: Callable[[], RoutingPlan | None], every: float
) -> None:
    failed: tuple[int, float] | None = None  # (revision, when) of the last plan that failed
    while True:
        try:
            plan = await anyio.to_thread.run_sync(source)
            fresh = plan is not None and plan.revision > runtime.plan.revision
            if fresh and plan is not None:
                retry = (
                    failed is None
                    or plan.revision != failed[0]
                    or time.monotonic() - failed[1] >= RETRY_FAILED_PLAN_SECONDS
                )
                if retry:
                    try:
                        await runtime.apply(plan)
                        failed = None
                    except Exception:
                        failed = (plan.revision, time.monotonic())
                        raise
        except asyncio.CancelledError:
            raise
        except Exception:
            _log.exception("applying the deployment's plan failed; the current plan serves on")
        await asyncio.sleep(every)
