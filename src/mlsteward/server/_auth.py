"""Who is calling: bearer tokens, browser sessions, or the local admin on loopback.

Every API route declares what it needs with ``Depends(Requires(...))``; a test walks the route
table and fails for any route without it, so routes added later are covered automatically.
"""

from __future__ import annotations

from typing import Literal

from fastapi import Request

from .._loopback import is_loopback as is_loopback
from ..errors import ConfigurationError, InvalidArgument, PermissionDenied, Unauthenticated
from ..platform import Platform
from ..security import (
    ANONYMOUS,
    LOCAL_ADMIN,
    Actor,
    Role,
    Scope,
    authenticate_session,
    authenticate_token,
    count_admins,
    fetch_project,
    require_admin,
    require_predict_access,
    require_project_role,
    require_scope,
)
from ..settings import Settings

SESSION_COOKIE = "mls_session"
CSRF_HEADER = "x-csrf-token"
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})

Level = Literal[
    "authenticated",
    "admin",
    "project:viewer",
    "project:editor",
    "project:maintainer",
    "project:owner",
    "project:predict",  # the predict scope and any role: inference servers checking tokens
]


def auth_required(settings: Settings) -> bool:
    """Whether callers must authenticate (``auth_mode=auto`` means: unless on loopback)."""
    if settings.auth_mode == "required":
        return True
    if settings.auth_mode == "none":
        return False
    return not is_loopback(settings.host)


def check_can_serve(platform: Platform) -> None:
    """Refuse to serve a non-loopback address without authentication, saying what to do."""
    settings = platform.settings
    if is_loopback(settings.host):
        return
    if settings.auth_mode == "none":
        raise ConfigurationError(
            f"refusing to serve on {settings.host} with authentication turned off: "
            "unset MLSTEWARD_AUTH_MODE (or set it to 'required'), or bind to 127.0.0.1"
        )
    if count_admins(platform) == 0:
        raise ConfigurationError(
            f"refusing to serve on {settings.host} without authentication: no administrator "
            "exists yet; create one with `mlsteward users create-admin <name>`, "
            "or bind to 127.0.0.1 for local use"
        )


def resolve_actor(request: Request) -> Actor:
    """The caller of this request (cached on ``request.state``)."""
    cached = getattr(request.state, "actor", None)
    if isinstance(cached, Actor):
        return cached
    platform: Platform = request.app.state.platform
    actor = ANONYMOUS
    header = request.headers.get("authorization")
    cookie = request.cookies.get(SESSION_COOKIE)
    if header is not None:
        scheme, _, value = header.partition(" ")
        if scheme.lower() != "bearer" or not value.strip():
            raise Unauthenticated("use 'Authorization: Bearer mls_...'")
        actor = authenticate_token(platform, value.strip())
    elif cookie:
        actor, csrf = authenticate_session(platform, cookie)
        request.state.csrf_token = csrf
    elif not request.app.state.auth_required:
        check_loopback_host(request)
        actor = LOCAL_ADMIN
    request.state.actor = actor
    return actor


def _host_name(host_header: str) -> str:
    """``[::1]:8470`` -> ``::1``; ``localhost:8470`` -> ``localhost``."""
    if host_header.startswith("["):
        return host_header[1:].split("]", 1)[0]
    return host_header.rsplit(":", 1)[0] if host_header.count(":") == 1 else host_header


def check_loopback_host(request: Request) -> None:
    """Without login, accept only loopback ``Host`` headers.

    A web page can point its own domain at 127.0.0.1 (DNS rebinding) and so become
    same-origin with a local server; checking the Host header stops it from acting as the
    local admin.
    """
    host = _host_name(request.headers.get("host", "").strip().lower())
    if not is_loopback(host):
        raise PermissionDenied(
            "this server runs without login and only answers requests addressed to "
            "localhost, 127.0.0.1 or [::1]; use one of those or turn authentication on",
            details={"host": host[:100]},
        )


def check_csrf_header(request: Request) -> None:
    """Session-authenticated API writes must echo the session's CSRF token in a header."""
    expected = getattr(request.state, "csrf_token", None)
    if expected is None or request.method in SAFE_METHODS:
        return
    import hmac

    if not hmac.compare_digest(request.headers.get(CSRF_HEADER, ""), expected):
        raise PermissionDenied("missing or wrong CSRF token (send the X-CSRF-Token header)")


class Requires:
    """A route's permission: ``Depends(Requires("project:editor"))`` returns the actor.

    Checked before the body is parsed, so a caller without the permission learns nothing
    about what a valid body would be. The service layer checks again (it is the authority).
    """

    def __init__(self, level: Level) -> None:
        if level not in Level.__args__:  # type: ignore[attr-defined]
            raise ValueError(f"unknown permission level {level!r}")
        self.level = level

    def __repr__(self) -> str:
        return f"Requires({self.level!r})"

    def __call__(self, request: Request) -> Actor:
        actor = resolve_actor(request)
        if not actor.is_authenticated:
            raise Unauthenticated("log in or pass an API token (Authorization: Bearer mls_...)")
        check_csrf_header(request)
        safe = request.method in SAFE_METHODS
        scope = Scope.READ if safe else Scope.WRITE
        if self.level == "admin":
            require_admin(actor, Scope.READ if safe else Scope.ADMIN)
        elif self.level.startswith("project:"):
            name = request.path_params.get("project")
            if not isinstance(name, str):
                raise InvalidArgument("this route needs a project in its path")
            platform: Platform = request.app.state.platform
            if self.level == "project:predict":  # neither read nor write: the predict scope
                require_predict_access(platform, actor, name)
                return actor
            role = Role.parse(self.level.split(":", 1)[1])
            with platform.db.read() as conn:
                project = fetch_project(conn, name)
                require_project_role(conn, actor, project.id, role, scope)
        else:
            require_scope(actor, scope)
        return actor
