"""The FastAPI application factory of the platform server."""

from __future__ import annotations

from fastapi import APIRouter, FastAPI

from .. import __version__
from ..platform import Platform
from ._auth import auth_required
from ._errors import install_error_handlers
from ._middleware import Metrics, RequestContextMiddleware

API_PREFIX = "/api/v1"


def create_app(platform: Platform | None = None) -> FastAPI:
    """Build the platform server: REST API under ``/api/v1``, web UI, health and metrics.

    Raises ``SchemaOutOfDate`` when the database needs ``mlsteward db upgrade``.
    """
    platform = platform or Platform.open()
    app = FastAPI(
        title="mlsteward",
        version=__version__,
        openapi_url=f"{API_PREFIX}/openapi.json",
        docs_url=f"{API_PREFIX}/docs",
        redoc_url=None,
    )
    app.state.platform = platform
    app.state.auth_required = auth_required(platform.settings)
    app.state.metrics = Metrics()
    install_error_handlers(app)
    app.add_middleware(
        RequestContextMiddleware,
        metrics=app.state.metrics,
        max_body=platform.settings.max_request_bytes,
        max_upload=platform.settings.max_upload_bytes,
        upload_suffixes=("/artifacts", "/prediction-windows/files"),
    )
    from .routers import health

    app.include_router(health.router)
    for router in _api_routers():
        app.include_router(router, prefix=API_PREFIX)
    _include_ui(app)
    return app


def _api_routers() -> list[APIRouter]:
    """Routers under /api/v1 (each module exposes ``router``)."""
    import importlib
    import pkgutil

    from . import routers as package

    found: list[APIRouter] = []
    for info in sorted(pkgutil.iter_modules(package.__path__), key=lambda i: i.name):
        if info.name == "health" or info.name.startswith("_"):  # _modules: shared helpers
            continue
        module = importlib.import_module(f"{package.__name__}.{info.name}")
        found.append(module.router)
    return found


def _include_ui(app: FastAPI) -> None:
    from ._ui import install_ui  # imported here: Jinja2 loads only when an app is built

    install_ui(app)


def create_app_from_settings() -> FastAPI:
    """Factory for uvicorn workers (``--workers N``): settings come from the environment.

    Each worker is a fresh process, so it sets up the JSON logs itself.
    """
    from ._logging import configure_logging

    platform = Platform.open()
    configure_logging(platform.settings.log_level)
    return create_app(platform)
