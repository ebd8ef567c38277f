"""``mlsteward server``: run the platform server (needs the ``[server]`` extra)."""

from __future__ import annotations

import enum
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from ._extras import missing_extra
from ._output import print_message, print_success, print_warning

if TYPE_CHECKING:
    from ..platform import Platform
    from ..settings import Settings


class AuthModeChoice(enum.StrEnum):
    auto = "auto"
    required = "required"
    none = "none"


class _ServerParts:
    """The pieces of ``mlsteward.server`` the command needs, imported together."""

    def __init__(self) -> None:
        from ..server import auth_required, check_can_serve, run_server

        self.run_server: Callable[[Settings], None] = run_server
        self.check_can_serve: Callable[[Platform], None] = check_can_serve
        self.auth_required: Callable[[Settings], bool] = auth_required


def load_server_parts() -> _ServerParts:
    """Import the server; ``MissingExtra`` naming the extra when its packages are absent."""
    try:
        return _ServerParts()
    except ImportError as exc:
        missing = missing_extra(exc, "`mlsteward server`")
        if missing is None:
            raise
        raise missing from None


def server_url(settings: Settings) -> str:
    scheme = "https" if settings.tls_certfile else "http"
    host = f"[{settings.host}]" if ":" in settings.host else settings.host
    return f"{scheme}://{host}:{settings.port}"


def _check_tls_files(settings: Settings) -> None:
    from ..errors import ConfigurationError

    for name, path in (("certificate", settings.tls_certfile), ("key", settings.tls_keyfile)):
        if path is not None and not path.is_file():
            raise ConfigurationError(f"the TLS {name} file {path} does not exist")


def _print_banner(settings: Settings, login_required: bool, admins: int) -> None:
    from .. import __version__

    url = server_url(settings)
    print_success(f"mlsteward {__version__} serving {url}")
    print_message(f"  web UI:   {url}/")
    print_message(f"  REST API: {url}/api/v1 (interactive docs: {url}/api/v1/docs)")
    print_message(f"  health:   {url}/healthz   metrics: {url}/metrics")
    if login_required:
        where = f" at {url}/login"
        print_message(
            f"  log in{where} with a user name and password; API clients send "
            "'Authorization: Bearer <token>' (make one with `mlsteward tokens create`)"
        )
        if admins == 0:
            print_warning(
                "no administrator exists yet, so nobody can log in: "
                "run `mlsteward users create-admin NAME`"
            )
    else:
        print_message(
            "  no login needed on this loopback address: requests without credentials act as "
            "the local administrator (audited as local-admin); users may still log in and "
            "API clients may send 'Authorization: Bearer <token>'"
        )
    print_message("  stop with Ctrl-C")


def server(
    host: Annotated[
        str | None,
        typer.Option(help="Address to bind (default: MLSTEWARD_HOST, else 127.0.0.1)."),
    ] = None,
    port: Annotated[
        int | None,
        typer.Option(min=1, max=65535, help="Port (default: MLSTEWARD_PORT, else 8470)."),
    ] = None,
    workers: Annotated[
        int | None,
        typer.Option(min=1, max=64, help="Worker processes (default: MLSTEWARD_WORKERS, else 1)."),
    ] = None,
    tls_cert: Annotated[
        Path | None,
        typer.Option(exists=True, dir_okay=False, help="TLS certificate (PEM); needs --tls-key."),
    ] = None,
    tls_key: Annotated[
        Path | None,
        typer.Option(exists=True, dir_okay=False, help="TLS private key (PEM)."),
    ] = None,
    auth_mode: Annotated[
        AuthModeChoice | None,
        typer.Option(
            help="auto: login required unless bound to loopback; required; none (loopback only)."
        ),
    ] = None,
) -> None:
    """Run the platform server: REST API, web UI, health and metrics.

    Options override the MLSTEWARD_* settings.

    A non-loopback address needs authentication and an administrator (`users create-admin`).
    """
    from ..security import count_admins
    from ..settings import load_settings
    from ._local import local_platform

    overrides: dict[str, Any] = {
        "host": host,
        "port": port,
        "workers": workers,
        "tls_certfile": tls_cert,
        "tls_keyfile": tls_key,
        "auth_mode": auth_mode.value if auth_mode is not None else None,
    }
    settings = load_settings(**{k: v for k, v in overrides.items() if v is not None})
    parts = load_server_parts()
    _check_tls_files(settings)
    # Check before announcing anything: a refused start must not print a URL first.
    with local_platform(settings) as platform:
        parts.check_can_serve(platform)
        admins = count_admins(platform)
    _print_banner(settings, parts.auth_required(settings), admins)
    parts.run_server(settings)
