"""ASGI middleware: request ids, body-size limits, access logs and Prometheus metrics."""

from __future__ import annotations

import logging
import time
from typing import Any

from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from .._http_log import REQUEST_ID_HEADER, accept_request_id, log_access
from ._errors import error_response

access_log = logging.getLogger("mlsteward.access")


class _BodyTooLarge(StarletteHTTPException):
    """Raised from ``receive`` when a streamed body passes the limit (FastAPI re-raises
    HTTP exceptions from body parsing, so this becomes a 413, not a 400)."""

    def __init__(self, limit: int) -> None:
        super().__init__(413, f"request body is larger than {limit} bytes")


class Metrics:
    """The platform server's own Prometheus metrics, in a registry per app."""

    def __init__(self) -> None:
        from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

        self.registry = CollectorRegistry()
        self.requests = Counter(
            "mlsteward_http_requests",
            "HTTP requests handled, by method, route template and status.",
            ["method", "route", "status"],
            registry=self.registry,
        )
        self.latency = Histogram(
            "mlsteward_http_request_duration_seconds",
            "Time to handle a request, by method and route template.",
            ["method", "route"],
            registry=self.registry,
        )
        self.in_flight = Gauge(
            "mlsteward_http_requests_in_flight", "Requests being handled.", registry=self.registry
        )


def _route_template(scope: Scope) -> str:
    """The matched route's template with its router prefix (``/api/v1/projects/{project}``).

    FastAPI >= 0.16x keeps included routers nested, so ``scope["route"].path`` lacks the
    prefix; its effective route context carries the full template.
    """
    fastapi_state = scope.get("fastapi")
    effective = (
        fastapi_state.get("effective_route_context") if isinstance(fastapi_state, dict) else None
    )
    for candidate in (effective, scope.get("route")):
        path = getattr(candidate, "path", None)
        if path:
            return str(path)
    return "<unmatched>"


class RequestContextMiddleware:
    """Gives each request an id, caps its body size, logs it and counts it."""

    def __init__(
        self,
        app: ASGIApp,
        *,
        metrics: Metrics,
        max_body: int,
        max_upload: int,
        upload_prefixes: tuple[str, ...] = ("/api/v1/blobs",),
        upload_suffixes: tuple[str, ...] = ("/artifacts",),
    ) -> None:
        self.app = app
        self.metrics = metrics
        self.max_body = max_body
        self.max_upload = max_upload
        self.upload_prefixes = upload_prefixes
        self.upload_suffixes = upload_suffixes  # run artifacts: PUT /api/v1/runs/{id}/artifacts

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope["headers"]}
        request_id = accept_request_id(headers.get("x-request-id"))
        scope.setdefault("state", {})["id"] = request_id
        path: str = scope["path"]
        is_upload = path.startswith(self.upload_prefixes) or path.endswith(self.upload_suffixes)
        limit = self.max_upload if is_upload else self.max_body
        started = time.perf_counter()
        status_holder: dict[str, Any] = {"status": 500, "started": False}

        declared = headers.get("content-length")
        if declared is not None and (not declared.isdigit() or int(declared) > limit):
            response = error_response(
                413,
                "payload_too_large",
                f"request body is larger than {limit} bytes",
                {"limit": limit},
            )
            status_holder["status"] = 413
            await response(scope, receive, send)
            self._finish(scope, request_id, status_holder["status"], started)
            return

        received = 0

        async def limited_receive() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > limit:
                    raise _BodyTooLarge(limit)
            return message

        async def tracking_send(message: Message) -> None:
            if message["type"] == "http.response.start":
                status_holder["status"] = message["status"]
                status_holder["started"] = True
                message.setdefault("headers", [])
                message["headers"] = [*message["headers"], (REQUEST_ID_HEADER, request_id.encode())]
            await send(message)

        self.metrics.in_flight.inc()
        try:
            await self.app(scope, limited_receive, tracking_send)
        except _BodyTooLarge:
            status_holder["status"] = 413
            if not status_holder["started"]:
                response = error_response(
                    413,
                    "payload_too_large",
                    f"request body is larger than {limit} bytes",
                    {"limit": limit},
                )
                await response(scope, receive, send)
        finally:
            self.metrics.in_flight.dec()
            self._finish(scope, request_id, status_holder["status"], started)

    def _finish(self, scope: Scope, request_id: str, status: int, started: float) -> None:
        elapsed = time.perf_counter() - started
        route = _route_template(scope)
        method = scope.get("method", "")
        self.metrics.requests.labels(method, route, str(status)).inc()
        self.metrics.latency.labels(method, route).observe(elapsed)
        log_access(
            access_log,
            request_id=request_id,
            method=method,
            path=scope.get("path", ""),
            status=status,
            seconds=elapsed,
            client=scope.get("client"),
            route=route,
        )
