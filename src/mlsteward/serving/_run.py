"""Running the inference server under uvicorn."""

from __future__ import annotations

from pathlib import Path

from ..errors import ConfigurationError
from ._core import ModelRepository

GRACEFUL_SHUTDOWN_SECONDS = 30


def run_inference_server(
    repository: ModelRepository,
    *,
    host: str,
    port: int,
    api_key_file: Path | None = None,
    tls_certfile: Path | None = None,
    tls_keyfile: Path | None = None,
    predict_threads: int = 2,
    log_level: str = "info",
) -> None:
    """Serve until interrupted; in-flight requests finish on shutdown (up to 30 s).

    Refuses a non-loopback address without API keys (``ConfigurationError`` saying what to
    do), and a certificate without its key.
    """
    import uvicorn

    from ..server._auth import is_loopback
    from ._api_keys import ApiKeyMiddleware, read_api_keys
    from ._app import create_app

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
    app = create_app(repository, predict_threads=predict_threads)
    asgi = ApiKeyMiddleware(app, digests) if digests is not None else app
    ssl = {}
    if tls_certfile is not None and tls_keyfile is not None:
        ssl = {"ssl_certfile": str(tls_certfile), "ssl_keyfile": str(tls_keyfile)}
    uvicorn.run(
        asgi,
        host=host,
        port=port,
        log_level=log_level,
        timeout_graceful_shutdown=GRACEFUL_SHUTDOWN_SECONDS,
        **ssl,  # type: ignore[arg-type]
    )
