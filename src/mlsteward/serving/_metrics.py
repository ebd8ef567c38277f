"""Observability of the inference server: Prometheus metrics, request ids and access logs.

``ServingMetrics`` holds the server's metrics in a registry of its own (two apps in one process
never share counts). ``ObservabilityMiddleware`` gives each request an id, counts and times the
inference requests by model and protocol, and writes one JSON access-log line per request on
the ``mlsteward.serving.access`` logger. ``metrics_route`` serves ``GET /metrics``.

Inference requests are the three prediction endpoints: ``/v2/models/{name}[/versions/{v}]/infer``
(protocol ``oip``), ``/invocations`` (``mlflow``) and ``/v1/models/{name}/predict`` (``v1``).
Health, metadata and metrics requests are logged but not counted. A model name that is not
served is counted as ``<unknown>``, so callers cannot grow the metrics without bound.

With an ``answer_observer`` on the metrics (the prediction log's ``observe_answer``), each
answered inference request whose model version the protocol resolved (``note_answering``) is
also passed to it with its status and latency, for the per-window serving statistics.
"""

from __future__ import annotations

import contextlib
import logging
import re
import time
from collections.abc import Callable
from contextvars import ContextVar
from dataclasses import dataclass
from typing import TYPE_CHECKING, Literal

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
)
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from .._http_log import REQUEST_ID_HEADER, accept_request_id, log_access
from ._core import ModelRepository
from ._http import ANY_METHOD

if TYPE_CHECKING:
    from ._core import ServedModel

access_log = logging.getLogger("mlsteward.serving.access")

ErrorKind = Literal["client", "model", "server"]
UNKNOWN_MODEL = "<unknown>"
ERROR_KIND_STATE = "error_kind"
"""A handler may set ``request.state.error_kind`` to ``"model"`` or ``"server"`` to say what a
5xx answer was; without it a 500 counts as ``model`` (the protocols answer 500 only when the
model raised) and any other 5xx, or an exception escaping the app, as ``server``."""

# Latency from 1 ms (a small tabular model) to 10 s (a large batch or a slow model).
LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)
BATCH_ROWS_BUCKETS = (1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024, 2048, 4096, 8192, 16384)

REQUEST_ID: ContextVar[str | None] = ContextVar("mlsteward_request_id", default=None)
"""The id of the request being answered (set by ``ObservabilityMiddleware``; None outside)."""

AnswerObserver = Callable[[str, str, int, float], None]
"""``observer(model, version, status, seconds)``: one answered inference request."""


@dataclass
class Answering:
    """The model version answering the current inference request, once a protocol resolved it
    (a mutable cell: the middleware reads what the app wrote, whatever context it ran in)."""

    model: str | None = None
    version: str | None = None


ANSWERING: ContextVar[Answering | None] = ContextVar("mlsteward_answering", default=None)


def note_answering(model: ServedModel) -> None:
    """Record that ``model`` answers the current inference request (for the serving statistics
    of its prediction-log window; nothing outside a counted request)."""
    cell = ANSWERING.get()
    if cell is not None:
        cell.model, cell.version = model.name, model.version


_OIP_INFER = re.compile(r"/v2/models/([^/]+)(?:/versions/[^/]+)?/infer")
_V1_PREDICT = re.compile(r"/v1/models/([^/]+)/predict")


class ServingMetrics:
    """The inference server's Prometheus metrics, in their own ``registry``.

    Safe to call from worker threads (prometheus_client locks each sample).
    """

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        registry = self.registry
        self.requests = Counter(
            "mlsteward_inference_requests",
            "Inference requests answered, by model, protocol and HTTP status.",
            ["model", "protocol", "status"],
            registry=registry,
        )
        self.latency = Histogram(
            "mlsteward_inference_request_duration_seconds",
            "Time to answer an inference request, by model and protocol.",
            ["model", "protocol"],
            buckets=LATENCY_BUCKETS,
            registry=registry,
        )
        self.in_flight = Gauge(
            "mlsteward_inference_requests_in_flight",
            "Inference requests being answered.",
            registry=registry,  # with --workers: one series per live worker (label pid)
        )
        self.batch_rows = Histogram(
            "mlsteward_inference_batch_rows",
            "Rows in each batch passed to a model.",
            ["model"],
            buckets=BATCH_ROWS_BUCKETS,
            registry=registry,
        )
        self.queue_rows = Gauge(
            "mlsteward_inference_queue_rows",
            "Rows waiting for a model.",
            ["model"],
            registry=registry,
            multiprocess_mode="livesum",  # with --workers: summed over the live workers
        )
        self.shed_requests = Counter(
            "mlsteward_inference_shed",
            "Requests refused because a model's queue was full.",
            ["model"],
            registry=registry,
        )
        self.load_seconds = Gauge(
            "mlsteward_model_load_seconds",
            "Time the served version of a model took to load and warm up.",
            ["model", "version"],
            registry=registry,
            multiprocess_mode="max",
        )
        self.prediction_log_dropped_row_counts = Counter(
            "mlsteward_prediction_log_dropped_rows",
            "Rows left out of the prediction log, by reason (queue_full: the log could not "
            "keep up; unsupported_input: input or output it cannot tabulate; shipping_failed: "
            "their window could not be shipped).",
            ["reason"],
            registry=registry,
        )
        self.prediction_log_dropped_window_counts = Counter(
            "mlsteward_prediction_log_dropped_windows",
            "Prediction-log windows dropped because the sink failed or was too far behind.",
            registry=registry,
        )
        self.errors = Counter(
            "mlsteward_inference_errors",
            "Inference requests answered with an error, by model, protocol and kind "
            "(client: 4xx; model: the model failed; server: any other 5xx).",
            ["model", "protocol", "kind"],
            registry=registry,
        )
        # Deployments (``_deployment``): one series per version of the plan, so cheap.
        self.version_requests = Counter(
            "mlsteward_deployment_requests",
            "Inference requests a deployment answered, by model, version and HTTP status.",
            ["model", "version", "status"],
            registry=registry,
        )
        self.shadow_comparisons = Counter(
            "mlsteward_deployment_shadow_requests",
            "Requests mirrored to a deployment's shadow version and compared, by model, shadow "
            "version and outcome (agree or disagree).",
            ["model", "version", "outcome"],
            registry=registry,
        )
        self.shadow_drops = Counter(
            "mlsteward_deployment_shadow_dropped",
            "Requests not mirrored to the shadow version because too many were in flight.",
            ["model"],
            registry=registry,
        )
        self.auto_rollbacks = Counter(
            "mlsteward_deployment_auto_rollbacks",
            "Automatic rollbacks of a deployment's canary, by model and canary version.",
            ["model", "version"],
            registry=registry,
        )
        self._loaded_versions: dict[str, str] = {}
        self.answer_observer: AnswerObserver | None = None
        """Also told of each answered inference request of a known model version (set by
        ``create_app`` to the prediction log's ``observe_answer``)."""

    def observe_request(
        self, model: str, protocol: str, status: int, seconds: float, error: ErrorKind | None
    ) -> None:
        """Count one answered inference request (``seconds``: time to answer it)."""
        self.requests.labels(model, protocol, str(status)).inc()
        self.latency.labels(model, protocol).observe(seconds)
        if error is not None:
            self.errors.labels(model, protocol, error).inc()

    def observe_batch(self, model: str, rows: int) -> None:
        """Record a batch of ``rows`` rows passed to ``model``."""
        self.batch_rows.labels(model).observe(rows)

    def change_queue_rows(self, model: str, rows: int) -> None:
        """Add ``rows`` (negative: remove) to the rows waiting for ``model`` (all its versions)."""
        self.queue_rows.labels(model).inc(rows)

    def shed(self, model: str) -> None:
        """Count one request refused because ``model``'s queue was full."""
        self.shed_requests.labels(model).inc()

    def model_loaded(self, model: str, version: str, seconds: float) -> None:
        """Record that ``version`` of ``model`` took ``seconds`` to load; the version it
        replaces leaves the metric."""
        previous = self._loaded_versions.get(model)
        if previous is not None and previous != version:
            self.load_seconds.remove(model, previous)
        self._loaded_versions[model] = version
        self.load_seconds.labels(model, version).set(seconds)

    def prediction_log_dropped_rows(self, count: int, reason: str) -> None:
        """Count ``count`` rows the prediction log dropped for ``reason``."""
        self.prediction_log_dropped_row_counts.labels(reason).inc(count)

    def prediction_log_dropped_windows(self, count: int = 1) -> None:
        """Count ``count`` prediction-log windows dropped unshipped."""
        self.prediction_log_dropped_window_counts.inc(count)

    def observe_version_request(self, model: str, version: str, status: int) -> None:
        """Count one inference request a deployment answered with ``version``."""
        self.version_requests.labels(model, version, str(status)).inc()

    def version_loaded(self, model: str, version: str, seconds: float) -> None:
        """Record that ``version`` of a deployment's ``model`` took ``seconds`` to load and warm
        up (a deployment serves several versions at once: none replaces another here)."""
        self.load_seconds.labels(model, version).set(seconds)

    def version_released(self, model: str, version: str) -> None:
        """``version`` of a deployment's ``model`` is no longer loaded: it leaves the load
        time metric."""
        with contextlib.suppress(KeyError):
            self.load_seconds.remove(model, version)

    def shadow_compared(self, model: str, version: str, agreed: bool) -> None:
        """Count one request compared on the shadow ``version``."""
        self.shadow_comparisons.labels(model, version, "agree" if agreed else "disagree").inc()

    def shadow_dropped(self, model: str) -> None:
        """Count one request not mirrored to ``model``'s shadow version."""
        self.shadow_drops.labels(model).inc()

    def auto_rolled_back(self, model: str, version: str) -> None:
        """Count one automatic rollback of canary ``version`` of ``model``."""
        self.auto_rollbacks.labels(model, version).inc()

    def exposition(self) -> bytes:
        """Every metric in the Prometheus text format."""
        return generate_latest(self.registry)


def error_kind(status: int, scope: Scope, raised: bool) -> ErrorKind | None:
    """What kind of error an answer with ``status`` was (``None``: not an error)."""
    if raised:
        return "server"
    if status < 400:
        return None
    if status < 500:
        return "client"
    said = scope.get("state", {}).get(ERROR_KIND_STATE)
    if said == "model" or (said is None and status == 500):
        return "model"
    return "server"


class ObservabilityMiddleware:
    """Request ids, metrics and access logs for every HTTP request (pure ASGI).

    The request id is the client's ``X-Request-ID`` when it is safe (1 to 64 of ``A-Z a-z 0-9
    . _ -``), else a new uuid4 hex; it is echoed as ``X-Request-ID`` on the answer and kept as
    ``request.state.request_id``. The access log holds no bodies, headers or query strings.
    """

    def __init__(
        self, app: ASGIApp, *, metrics: ServingMetrics, repository: ModelRepository
    ) -> None:
        self.app = app
        self.metrics = metrics
        self.repository = repository

    def inference_target(self, path: str) -> tuple[str, str] | None:
        """``(model label, protocol)`` when ``path`` is an inference endpoint."""
        if path == "/invocations":
            names = self.repository.names()
            return (names[0] if len(names) == 1 else UNKNOWN_MODEL), "mlflow"
        for pattern, protocol in ((_OIP_INFER, "oip"), (_V1_PREDICT, "v1")):
            match = pattern.fullmatch(path)
            if match is not None:
                name = match.group(1)
                return (name if name in self.repository.names() else UNKNOWN_MODEL), protocol
        return None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        supplied = None
        for name, value in scope["headers"]:
            if name == REQUEST_ID_HEADER:
                supplied = value.decode("latin-1")  # the last one wins, as in a dict
        request_id = accept_request_id(supplied)
        scope.setdefault("state", {})["request_id"] = request_id
        REQUEST_ID.set(request_id)  # for the prediction log's ids (``<request id>-<row>``)
        path: str = scope["path"]
        root_path: str = scope.get("root_path", "")
        target = self.inference_target(
            path[len(root_path) :] if root_path and path.startswith(root_path) else path
        )
        status = 500  # what the server answers when the app raises before answering
        raised = False
        observer = self.metrics.answer_observer if target is not None else None
        answering = Answering() if observer is not None else None
        if answering is not None:  # a request's task starts from a context without one
            ANSWERING.set(answering)

        async def send_with_id(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                message["headers"] = [
                    *message.get("headers", []),
                    (REQUEST_ID_HEADER, request_id.encode()),
                ]
            await send(message)

        started = time.perf_counter()
        if target is not None:
            self.metrics.in_flight.inc()
        try:
            await self.app(scope, receive, send_with_id)
        except Exception:
            raised = True
            raise
        finally:
            seconds = time.perf_counter() - started
            model, protocol = target if target is not None else (None, None)
            if target is not None:
                self.metrics.in_flight.dec()
                kind = error_kind(status, scope, raised)
                self.metrics.observe_request(target[0], target[1], status, seconds, kind)
                if observer is not None and answering is not None and answering.version:
                    observer(answering.model or target[0], answering.version, status, seconds)
            method = scope.get("method", "")
            log_access(
                access_log,
                request_id=request_id,
                method=method,
                path=path,
                status=status,
                seconds=seconds,
                client=scope.get("client"),
                level=logging.DEBUG if _is_poll(method, path, status) else logging.INFO,
                model=model,
                protocol=protocol,
            )


POLLED_PATHS = frozenset(
    {"/v2/health/live", "/v2/health/ready", "/ping", "/health", "/metrics", "/deployment"}
)
"""Paths that probes, scrapers and a waiting ``mlsteward deploy`` ask many times a second:
their successful GETs are logged at DEBUG, so the access log keeps the requests that matter."""


def _is_poll(method: str, path: str, status: int) -> bool:
    return method in ("GET", "HEAD") and status < 400 and path in POLLED_PATHS


def metrics_route(metrics: ServingMetrics) -> Route:
    """``GET /metrics``: ``metrics`` in the Prometheus text format (405 JSON for other
    methods)."""

    async def endpoint(request: Request) -> Response:
        if request.method not in ("GET", "HEAD"):
            return JSONResponse(
                {"error": "use GET here"}, status_code=405, headers={"Allow": "GET, HEAD"}
            )
        return Response(metrics.exposition(), media_type=CONTENT_TYPE_LATEST)

    return Route("/metrics", endpoint, methods=ANY_METHOD)
