"""Running the inference server under uvicorn."""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..errors import ConfigurationError
from ._app import DEFAULT_REQUEST_TIMEOUT
from ._batching import DEFAULT_MAX_BATCH_ROWS, DEFAULT_MAX_QUEUE_ROWS
from ._core import ModelRepository

if TYPE_CHECKING:
    from collections.abc import Callable

    from ._deployment import DeploymentRuntime
    from ._metrics import ServingMetrics
    from ._platform_tokens import PlatformTokens
    from ._prediction_log import PredictionLogOptions
    from ._routing import RoutingPlan

GRACEFUL_SHUTDOWN_SECONDS = 30


@dataclass(frozen=True)
class Protection:
    """What guards the server: API key digests, a rate limiter (or None), the TLS
    certificate and key (both or neither) and whether platform tokens with the ``predict``
    scope are accepted (``PlatformTokens``, or None). Without keys and tokens: loopback only."""

    api_keys: frozenset[bytes] | None
    limiter: Any
    tls_certfile: Path | None
    tls_keyfile: Path | None
    platform_tokens: PlatformTokens | None = None


def _guarded(asgi: Any, protection: Protection, metrics: Any, repository: Any) -> Any:
    """``asgi`` behind the rate limiter, the keys or platform tokens, and (outermost) request
    ids, metrics and access logs, so refused requests (401, 429) are logged and counted too."""
    from ._api_keys import ApiKeyMiddleware
    from ._metrics import ObservabilityMiddleware
    from ._rate_limit import RateLimitMiddleware

    digests = protection.api_keys
    if protection.limiter is not None:  # inside the keys: only valid keys get buckets
        asgi = RateLimitMiddleware(asgi, protection.limiter)
    if protection.platform_tokens is not None:  # keys keep working beside tokens
        asgi = protection.platform_tokens.middleware(asgi, digests)
    elif digests is not None:
        asgi = ApiKeyMiddleware(asgi, digests)
    return ObservabilityMiddleware(asgi, metrics=metrics, repository=repository)


def _serve(
    assemble: Callable[[ServingMetrics], Any],
    *,
    host: str,
    port: int,
    protection: Protection,
    log_level: str,
    workers: int,
) -> None:
    """Run the app ``assemble`` builds under uvicorn (forked workers when ``workers`` > 1)."""
    import uvicorn

    from .._http_log import configure_logging
    from ._metrics import ServingMetrics

    configure_logging(log_level)
    options: dict[str, Any] = {
        "log_level": log_level.lower(),
        "log_config": None,  # our JSON log lines, access lines included
        "timeout_graceful_shutdown": GRACEFUL_SHUTDOWN_SECONDS,
    }
    if protection.tls_certfile is not None and protection.tls_keyfile is not None:
        options["ssl_certfile"] = str(protection.tls_certfile)
        options["ssl_keyfile"] = str(protection.tls_keyfile)
    if workers > 1:
        from ._workers import serve_workers

        serve_workers(assemble, host=host, port=port, workers=workers, uvicorn_options=options)
        return
    uvicorn.run(assemble(ServingMetrics()), host=host, port=port, **options)


def run_inference_server(
    repository: ModelRepository,
    *,
    host: str,
    port: int,
    protection: Protection,
    predict_threads: int = 2,
    max_batch_rows: int = DEFAULT_MAX_BATCH_ROWS,
    max_queue_rows: int = DEFAULT_MAX_QUEUE_ROWS,
    log_level: str = "info",
    workers: int = 1,
    request_timeout: float | None = DEFAULT_REQUEST_TIMEOUT,
    prediction_log: PredictionLogOptions | None = None,
) -> None:
    """Serve until interrupted; in-flight requests finish on shutdown (up to 30 s).

    ``workers`` > 1 forks that many server processes sharing the port (see ``_workers``).
    ``protection``: from ``check_protection`` (API keys, rate limiter, TLS files), checked
    before the model loaded. ``prediction_log``: log predictions (each process builds its own
    logger and sink; see ``_prediction_log``).
    """
    from ._app import create_app

    def assemble(metrics: ServingMetrics) -> Any:
        for name in repository.names():
            model = repository.get(name)
            if model.load_seconds is not None:
                metrics.model_loaded(model.name, model.version, model.load_seconds)
        app = create_app(
            repository,
            metrics=metrics,
            predict_threads=predict_threads,
            max_batch_rows=max_batch_rows,
            max_queue_rows=max_queue_rows,
            request_timeout=request_timeout,
            prediction_logger=prediction_log.logger(metrics) if prediction_log else None,
        )
        return _guarded(app, protection, metrics, repository)

    _serve(
        assemble, host=host, port=port, protection=protection, log_level=log_level, workers=workers
    )


def check_protection(
    *,
    host: str,
    api_key_file: Path | None,
    tls_certfile: Path | None,
    tls_keyfile: Path | None,
    rate_limit: str | None,
    burst: int | None,
    redis_url: str | None,
    platform_tokens: PlatformTokens | None = None,
) -> Protection:
    """The API key digests, rate limiter and TLS files the options ask for, checked (cheap:
    the command line calls it before the model loads, so a bad option fails at once).

    ``platform_tokens``: accept platform tokens with the ``predict`` scope too (a server of
    ``models:/`` sources or a deployment); with them a non-loopback ``host`` needs no key file.

    ``ConfigurationError`` for a certificate without its key, a missing TLS file, a bad key
    file, a non-loopback ``host`` without keys or tokens, rate-limit options without
    ``rate_limit``, or platform tokens whose platform server does not answer;
    ``InvalidArgument`` for a rate that cannot be read.
    """
    from .._loopback import is_loopback
    from ._api_keys import read_api_keys

    if (tls_certfile is None) != (tls_keyfile is None):
        raise ConfigurationError("--tls-certfile and --tls-keyfile go together")
    for what, path in (("certificate", tls_certfile), ("key", tls_keyfile)):
        if path is not None and not path.is_file():
            raise ConfigurationError(f"the TLS {what} file {path} does not exist")
    digests = read_api_keys(api_key_file) if api_key_file is not None else None
    if platform_tokens is not None:
        platform_tokens.check()
    if digests is None and platform_tokens is None and not is_loopback(host):
        raise ConfigurationError(
            f"refusing to serve {host} without authentication: pass --api-key-file FILE "
            "(one random key per line), or serve on 127.0.0.1 behind your own gateway"
        )
    return Protection(
        digests,
        _rate_limiter(rate_limit, burst, redis_url),
        tls_certfile,
        tls_keyfile,
        platform_tokens,
    )


def _rate_limiter(rate_limit: str | None, burst: int | None, redis_url: str | None) -> Any:
    """The limiter the options ask for (None without ``rate_limit``)."""
    from ._rate_limit import InProcessRateLimiter, RedisRateLimiter, parse_rate

    if rate_limit is None:
        if burst is not None or redis_url is not None:
            raise ConfigurationError("--burst and --redis-url need --rate-limit")
        return None
    rate = parse_rate(rate_limit)
    capacity = burst if burst is not None else max(1, math.ceil(rate))
    if redis_url is not None:
        return RedisRateLimiter(redis_url, rate, capacity)
    return InProcessRateLimiter(rate, capacity)


def run_deployment_server(
    runtime: DeploymentRuntime,
    *,
    host: str,
    port: int,
    protection: Protection,
    plan_source: Callable[[], RoutingPlan | None] | None = None,
    poll_seconds: float = 0.5,
    predict_threads: int = 2,
    max_batch_rows: int = DEFAULT_MAX_BATCH_ROWS,
    max_queue_rows: int = DEFAULT_MAX_QUEUE_ROWS,
    log_level: str = "info",
    workers: int = 1,
    request_timeout: float | None = DEFAULT_REQUEST_TIMEOUT,
    prediction_log: PredictionLogOptions | None = None,
) -> None:
    """Serve a deployment (``create_deployment_app``) until interrupted, guarded like
    ``run_inference_server``; in-flight requests finish on shutdown (up to 30 s).

    The versions load when the server starts. ``plan_source`` is polled every
    ``poll_seconds`` for a newer plan. With ``workers`` > 1 each worker process loads the
    versions, polls the plan and keeps its own statistics and automatic rollback decision
    (``on_auto_rollback`` may then be called once per worker for one revision).
    ``prediction_log``: log every routed prediction, as ``run_inference_server`` does.
    """
    from ._deployment import create_deployment_app

    def assemble(metrics: ServingMetrics) -> Any:
        app = create_deployment_app(
            runtime,
            plan_source=plan_source,
            poll_seconds=poll_seconds,
            metrics=metrics,
            predict_threads=predict_threads,
            max_batch_rows=max_batch_rows,
            max_queue_rows=max_queue_rows,
            request_timeout=request_timeout,
            prediction_logger=prediction_log.logger(metrics) if prediction_log else None,
        )
        return _guarded(app, protection, metrics, runtime.repository)

    _serve(
        assemble, host=host, port=port, protection=protection, log_level=log_level, workers=workers
    )
