"""Running the platform server under uvicorn."""

from __future__ import annotations

import os

from ..platform import Platform
from ..settings import Settings
from ._auth import check_can_serve
from ._logging import configure_logging


def run_server(settings: Settings) -> None:
    """Serve until interrupted. Refuses a non-loopback bind without authentication.

    Raises ``ConfigurationError`` (with what to do) or ``SchemaOutOfDate``.
    """
    import uvicorn

    platform = Platform.open(settings)
    check_can_serve(platform)
    configure_logging(settings.log_level)
    ssl: dict[str, str] = {}
    if settings.tls_certfile and settings.tls_keyfile:
        ssl = {"ssl_certfile": str(settings.tls_certfile), "ssl_keyfile": str(settings.tls_keyfile)}
    common = {"host": settings.host, "port": settings.port, "log_config": None, **ssl}
    if settings.workers == 1:
        from ._app import create_app

        try:
            uvicorn.run(create_app(platform), **common)  # type: ignore[arg-type]
        finally:  # lets queued alert notifications go out (bounded) before the process ends
            platform.close()
        return
    # Worker processes build their own app from the environment: pass the effective settings.
    for name, value in settings.model_dump(exclude_unset=True, exclude={"token"}).items():
        if value is not None:
            os.environ[f"MLSTEWARD_{name.upper()}"] = (
                value if isinstance(value, str) else _json(value)
            )
    os.environ["MLSTEWARD_HOST"] = settings.host
    uvicorn.run(
        "mlsteward.server._app:create_app_from_settings",
        factory=True,
        workers=settings.workers,
        **common,  # type: ignore[arg-type]
    )


def _json(value: object) -> str:
    import json

    return value.__str__() if not isinstance(value, dict | list | bool) else json.dumps(value)
