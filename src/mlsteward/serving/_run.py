"""Running the inference server under uvicorn."""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..errors import ConfigurationError
from ._app import DEFAULT_REQUEST_TIMEOUT
from ._batching import DEFAULT_MAX_BATCH_ROWS, DEFAULT_MAX_QUEUE_ROWS
from ._core import ModelRepository

GRACEFUL_SHUTDOWN_SECONDS = 30


@dataclass(frozen=True)
class Protection:
    """What guards the server: API key digests (None: loopback only), a rate limiter (or
    None) and the TLS certificate and key (both or neither)."""

    api_keys: frozenset[bytes] | None
    limiter: Any
    tls_certfile: Path | None
    tls_keyfile: Path | None


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
) -> None:
    """Serve until interrupted; in-flight requests finish on shutdown (up to 30 s).

    ``workers`` > 1 forks that many server processes sharing the port (see ``_workers``).
    ``protection``: from ``check_protection`` (API keys, rate limiter, TLS files), checked
    before the model loaded.
    """
    import uvicorn

    from .._http_log import configure_logging
    from ._api_keys import ApiKeyMiddleware
    from ._app import create_app
    from ._metrics import ObservabilityMiddleware, ServingMetrics
    from ._rate_limit import RateLimitMiddleware

    digests, limiter = protection.api_keys, protection.limiter

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
        )
        asgi: Any = app
        if limiter is not None:  # inside the keys: only valid keys get buckets
            asgi = RateLimitMiddleware(asgi, limiter)
        if digests is not None:
            asgi = ApiKeyMiddleware(asgi, digests)
        # Outermost: refused requests (401, 429) get a request id, a log line and a count too.
        return ObservabilityMiddleware(asgi, metrics=metrics, repository=repository)

    configure_logging(log_level)
    ssl = {}
    if protection.tls_certfile is not None and protection.tls_keyfile is not None:
        ssl = {
            "ssl_certfile": str(protection.tls_certfile),
            "ssl_keyfile": str(protection.tls_keyfile),
        }
    options: dict[str, Any] = {
        "log_level": log_level.lower(),
        "log_config": None,  # our JSON log lines, access lines included
        "timeout_graceful_shutdown": GRACEFUL_SHUTDOWN_SECONDS,
        **ssl,
    }
    if workers > 1:
        from ._workers import serve_workers

        serve_workers(assemble, host=host, port=port, workers=workers, uvicorn_options=options)
        return
    uvicorn.run(assemble(ServingMetrics()), host=host, port=port, **options)


def check_protection(
    *,
    host: str,
    api_key_file: Path | None,
    tls_certfile: Path | None,
    tls_keyfile: Path | None,
    rate_limit: str | None,
    burst: int | None,
    redis_url: str | None,
) -> Protection:
    """The API key digests, rate limiter and TLS files the options ask for, checked (cheap:
    the command line calls it before the model loads, so a bad option fails at once).

    ``ConfigurationError`` for a certificate without its key, a missing TLS file, a bad key
    file, a non-loopback ``host`` without keys, or rate-limit options without ``rate_limit``;
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
    if digests is None and not is_loopback(host):
        raise ConfigurationError(
            f"refusing to serve {host} without authentication: pass --api-key-file FILE "
            "(one random key per line), or serve on 127.0.0.1 behind your own gateway"
        )
    return Protection(
        digests, _rate_limiter(rate_limit, burst, redis_url), tls_certfile, tls_keyfile
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
