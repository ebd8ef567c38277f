"""Rendering the web UI: templates, the navigation frame, error pages and security headers."""

from __future__ import annotations

import datetime as dt
import json
import logging
from collections.abc import Callable, Coroutine, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import jinja2
from fastapi.exceptions import RequestValidationError
from fastapi.routing import APIRoute
from starlette.datastructures import MutableHeaders
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.requests import Request
from starlette.responses import HTMLResponse, RedirectResponse, Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from .. import __version__
from ..errors import RateLimited, StewardError, Unauthenticated
from ..security import Actor
from ._auth import SESSION_COOKIE
from ._errors import HTTP_STATUS_BY_CODE
from ._ui_session import (
    CsrfRejected,
    LoginRequired,
    Page,
    apply_cookies,
    delete_cookie_later,
    login_url,
    take_flash,
)

log = logging.getLogger("mlsteward.server.ui")

TEMPLATES_DIR = Path(__file__).parent / "templates"
STATIC_DIR = Path(__file__).parent / "static"

CONTENT_SECURITY_POLICY = "; ".join(
    [
        "default-src 'self'",
        "script-src 'self'",
        "style-src 'self'",
        "img-src 'self' data:",
        "connect-src 'self'",
        "form-action 'self'",
        "frame-ancestors 'none'",
        "base-uri 'none'",
        "object-src 'none'",
    ]
)
SECURITY_HEADERS: Mapping[str, str] = {
    "Content-Security-Policy": CONTENT_SECURITY_POLICY,
    "X-Frame-Options": "DENY",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",
    "Cross-Origin-Opener-Policy": "same-origin",
    "Permissions-Policy": "camera=(), microphone=(), geolocation=()",
}

_TITLES = {
    400: "Bad request",
    401: "Not logged in",
    403: "Not allowed",
    404: "Not found",
    409: "Conflict",
    413: "Too large",
    422: "Integrity problem",
    429: "Too many attempts",
    500: "Server error",
    501: "Not installed",
    503: "Unavailable",
}


@dataclass(frozen=True)
class NavItem:
    key: str
    path: str
    label: str


NAV: tuple[NavItem, ...] = (
    NavItem("home", "/", "Home"),
    NavItem("experiments", "/experiments", "Experiments"),
    NavItem("models", "/models", "Models"),
    NavItem("deployments", "/deployments", "Deployments"),
    NavItem("datasets", "/datasets", "Datasets"),
    NavItem("monitoring", "/monitoring", "Monitoring"),
    NavItem("audit", "/audit", "Audit"),
    NavItem("admin", "/admin", "Admin"),
)


def _format_ts(value: dt.datetime | None) -> str:
    if value is None:
        return "—"
    if value.tzinfo is None:
        value = value.replace(tzinfo=dt.UTC)
    return value.astimezone(dt.UTC).strftime("%Y-%m-%d %H:%M:%S UTC")


def _compact_json(value: Any, limit: int = 300) -> str:
    text = json.dumps(value, sort_keys=True, separators=(", ", ": "), ensure_ascii=False)
    return text if len(text) <= limit else text[: limit - 1] + "…"


def build_templates() -> jinja2.Environment:
    """The template environment of one app (built once, in ``install_ui``)."""
    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(TEMPLATES_DIR),
        autoescape=True,
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters["ts"] = _format_ts
    env.filters["compact_json"] = _compact_json
    env.globals["version"] = __version__
    env.globals["nav"] = NAV
    return env


def render_template(
    request: Request,
    template: str,
    *,
    actor: Actor | None,
    csrf_token: str,
    status: int = 200,
    active: str = "",
    error: str | None = None,
    headers: Mapping[str, str] | None = None,
    **context: Any,
) -> HTMLResponse:
    env: jinja2.Environment = request.app.state.ui_templates
    html = env.get_template(template).render(
        actor=actor,
        csrf_token=csrf_token,
        active=active,
        error=error,
        flash=take_flash(request),
        **context,
    )
    return HTMLResponse(html, status_code=status, headers=dict(headers or {}))


def render(
    page: Page,
    template: str,
    *,
    status: int = 200,
    active: str = "",
    error: str | None = None,
    headers: Mapping[str, str] | None = None,
    **context: Any,
) -> HTMLResponse:
    """Render a page in the navigation frame for the page's actor."""
    return render_template(
        page.request,
        template,
        actor=page.actor,
        csrf_token=page.csrf_token,
        status=status,
        active=active,
        error=error,
        headers=headers,
        **context,
    )


def status_for(exc: StewardError) -> int:
    return HTTP_STATUS_BY_CODE.get(exc.code, 500)


def error_headers(exc: StewardError) -> dict[str, str]:
    retry = exc.details.get("retry_after") if isinstance(exc, RateLimited) else None
    return {"Retry-After": str(retry)} if retry is not None else {}


def error_page(
    request: Request, status: int, message: str, *, headers: Mapping[str, str] | None = None
) -> HTMLResponse:
    """A page saying what went wrong, in the frame when we know who is asking."""
    actor = getattr(request.state, "actor", None)
    if not isinstance(actor, Actor) or not actor.is_authenticated:
        actor = None
    csrf = getattr(request.state, "csrf_token", None)
    return render_template(
        request,
        "error.html",
        actor=actor,
        csrf_token=csrf if isinstance(csrf, str) else "",
        status=status,
        title=_TITLES.get(status, "Error"),
        message=message,
        headers=headers,
    )


def _login_redirect(request: Request, exc: LoginRequired) -> Response:
    if exc.stale_session:
        delete_cookie_later(request, SESSION_COOKIE)
    return RedirectResponse(login_url(exc.next_path), status_code=303)


def _validation_message(exc: RequestValidationError) -> str:
    problems = []
    for err in exc.errors()[:5]:
        where = ".".join(str(p) for p in err.get("loc", ()) if p not in {"body", "query", "path"})
        problems.append(f"{where}: {err.get('msg', '')}" if where else str(err.get("msg", "")))
    return "the request is malformed: " + "; ".join(problems)


class UIRoute(APIRoute):
    """A UI route: errors become HTML pages (never JSON), a visitor who must log in is
    redirected, scheduled cookies are set, and nothing is cached."""

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handler = super().get_route_handler()

        async def handle(request: Request) -> Response:
            response: Response
            try:
                response = await handler(request)
            except LoginRequired as exc:
                response = _login_redirect(request, exc)
            except CsrfRejected as exc:
                response = error_page(request, 403, exc.message)
            except RequestValidationError as exc:
                response = error_page(request, 400, _validation_message(exc))
            except Unauthenticated:
                response = _login_redirect(
                    request, LoginRequired(None, stale_session=SESSION_COOKIE in request.cookies)
                )
            except StewardError as exc:
                response = error_page(
                    request, status_for(exc), exc.message, headers=error_headers(exc)
                )
            except StarletteHTTPException as exc:  # e.g. 413 from a body over the size limit
                response = error_page(
                    request, exc.status_code, str(exc.detail), headers=exc.headers
                )
            except Exception:
                log.exception("unhandled error in the web UI")
                response = error_page(request, 500, "something went wrong; see the server log")
            apply_cookies(request, response)
            response.headers.setdefault("Cache-Control", "no-store")
            return response

        return handle


class SecurityHeadersMiddleware:
    """Adds the UI's security headers to every response outside ``skip_prefixes``."""

    def __init__(self, app: ASGIApp, *, skip_prefixes: tuple[str, ...] = ()) -> None:
        self.app = app
        self.skip_prefixes = skip_prefixes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or str(scope["path"]).startswith(self.skip_prefixes):
            await self.app(scope, receive, send)
            return

        async def send_secured(message: Message) -> None:
            if message["type"] == "http.response.start":
                message.setdefault("headers", [])
                headers = MutableHeaders(scope=message)
                for name, value in SECURITY_HEADERS.items():
                    if name not in headers:
                        headers[name] = value
            await send(message)

        await self.app(scope, receive, send_secured)
