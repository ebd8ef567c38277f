"""Who is using the web UI, and how its forms are protected against cross-site requests.

Every POST form carries a ``csrf_token`` field, compared in constant time with:

- the browser session's own token (``LoginSession.csrf_token``, kept server-side with the
  session) when the visitor is logged in;
- otherwise a double-submit cookie (``mls_csrf``, ``__Host-mls_csrf`` over https) holding a random
  value that another site can neither read nor set. This covers the login form and local
  loopback use without login, where a forged POST would otherwise act as the local admin.

POSTs are also refused when the browser says they come from another origin
(``Sec-Fetch-Site``), before anything else happens.
"""

from __future__ import annotations

import hmac
import re
import secrets
from collections.abc import Callable
from dataclasses import dataclass
from typing import Annotated, Literal
from urllib.parse import quote, unquote, urlencode, urlsplit

from fastapi import Form, Request
from starlette.responses import Response

from ..errors import Unauthenticated
from ..platform import Platform
from ..security import Actor
from ._auth import SESSION_COOKIE, resolve_actor

PRESESSION_COOKIE = "mls_csrf"
FLASH_COOKIE = "mls_flash"
_TOKEN_RE = re.compile(r"^[A-Za-z0-9_-]{32,64}$")
_MAX_NEXT = 2000
_MAX_FLASH = 500


class LoginRequired(Exception):
    """The visitor must log in first; ``next_path`` is where to return afterwards."""

    def __init__(self, next_path: str | None, *, stale_session: bool = False) -> None:
        super().__init__("log in to continue")
        self.next_path = next_path
        self.stale_session = stale_session


class CsrfRejected(Exception):
    """A POST without the right CSRF token, or sent from another site."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


@dataclass(frozen=True)
class Page:
    """What every UI handler needs: the request, the platform, the actor, the form token."""

    request: Request
    platform: Platform
    actor: Actor
    csrf_token: str


def is_https(request: Request) -> bool:
    return request.url.scheme == "https"


# Cookies are scheduled on request.state and applied by the UI route class to whatever
# response the handler (or an error page) ends up being.
CookieOp = Callable[[Response], None]


def _ops(request: Request) -> list[CookieOp]:
    ops: list[CookieOp] | None = getattr(request.state, "ui_cookie_ops", None)
    if ops is None:
        ops = []
        request.state.ui_cookie_ops = ops
    return ops


def set_cookie_later(
    request: Request,
    name: str,
    value: str,
    *,
    path: str = "/",
    max_age: int | None = None,
    samesite: Literal["lax", "strict"] = "strict",
) -> None:
    """Set an HttpOnly cookie (``Secure`` over https) on the response to this request."""
    secure = is_https(request)

    def apply(response: Response) -> None:
        response.set_cookie(
            name,
            value,
            max_age=max_age,
            path=path,
            secure=secure,
            httponly=True,
            samesite=samesite,
        )

    _ops(request).append(apply)


def delete_cookie_later(request: Request, name: str, *, path: str = "/") -> None:
    secure = is_https(request)

    def apply(response: Response) -> None:
        response.delete_cookie(name, path=path, secure=secure, httponly=True, samesite="strict")

    _ops(request).append(apply)


def apply_cookies(request: Request, response: Response) -> None:
    for op in getattr(request.state, "ui_cookie_ops", None) or ():
        op(response)


def presession_cookie_name(request: Request) -> str:
    # __Host- cookies must be Secure, host-only and Path=/: a sibling subdomain cannot plant one.
    return f"__Host-{PRESESSION_COOKIE}" if is_https(request) else PRESESSION_COOKIE


def presession_token(request: Request) -> str:
    """This browser's double-submit token; a new one is created (and set) when it has none."""
    value = request.cookies.get(presession_cookie_name(request), "")
    if _TOKEN_RE.fullmatch(value):
        return value
    fresh: str | None = getattr(request.state, "ui_new_presession", None)
    if fresh is None:
        fresh = secrets.token_urlsafe(32)
        request.state.ui_new_presession = fresh
        set_cookie_later(request, presession_cookie_name(request), fresh)
    return fresh


def tokens_match(submitted: str, expected: str | None) -> bool:
    if not expected or not submitted:
        return False
    return hmac.compare_digest(submitted.encode(), expected.encode())


def check_presession_token(request: Request, submitted: str) -> None:
    """Raise ``CsrfRejected`` unless the form echoes this browser's double-submit cookie."""
    expected = request.cookies.get(presession_cookie_name(request), "")
    if not _TOKEN_RE.fullmatch(expected) or not tokens_match(submitted, expected):
        raise CsrfRejected(
            "this form has expired or was sent from another site; reload the page and try again"
        )


def check_same_origin(request: Request) -> None:
    """Refuse a POST that the browser reports as coming from another origin."""
    site = request.headers.get("sec-fetch-site")
    if site is not None and site not in {"same-origin", "none"}:
        raise CsrfRejected("forms may only be sent from this server's own pages")


def safe_next(target: str | None) -> str:
    """A same-site relative path to go to after login; ``/`` for anything else."""
    if not target or len(target) > _MAX_NEXT:
        return "/"
    if any(ord(c) < 0x21 or ord(c) == 0x7F for c in target) or "\\" in target:
        return "/"  # browsers drop tabs and newlines: "/\t/evil.example" would become "//evil..."
    if not target.startswith("/") or target.startswith("//"):
        return "/"
    parts = urlsplit(target)
    if parts.scheme or parts.netloc:
        return "/"
    if parts.path in {"/login", "/logout"}:
        return "/"
    return target


def login_url(next_path: str | None) -> str:
    target = safe_next(next_path)
    return "/login" if target == "/" else f"/login?{urlencode({'next': target})}"


def _wanted_path(request: Request) -> str | None:
    """Where a visitor sent to the login page should come back to (GET pages only)."""
    if request.method not in {"GET", "HEAD"}:
        return None
    query = request.url.query
    return request.url.path + (f"?{query}" if query else "")


def resolve_page(request: Request) -> Page:
    """The page context of a request; ``LoginRequired`` when nobody is logged in."""
    try:
        actor = resolve_actor(request)
    except Unauthenticated:
        raise LoginRequired(
            _wanted_path(request), stale_session=SESSION_COOKIE in request.cookies
        ) from None
    if not actor.is_authenticated:
        raise LoginRequired(_wanted_path(request))
    session_csrf = getattr(request.state, "csrf_token", None)
    if isinstance(session_csrf, str):
        token = session_csrf
    elif actor.kind == "token":
        token = ""  # bearer tokens are never sent by a browser on its own: no CSRF to defend
    else:
        token = presession_token(request)
    return Page(
        request=request,
        platform=request.app.state.platform,
        actor=actor,
        csrf_token=token,
    )


def viewer(request: Request) -> Page:
    """Dependency of GET pages."""
    return resolve_page(request)


def writer(request: Request, csrf_token: Annotated[str, Form()] = "") -> Page:
    """Dependency of POST actions: same-origin, logged in, and the right CSRF token."""
    check_same_origin(request)
    page = resolve_page(request)
    if page.actor.kind != "token" and not tokens_match(csrf_token, page.csrf_token):
        raise CsrfRejected(
            "this form has expired or was not sent from this site; reload the page and try again"
        )
    return page


def flash(request: Request, message: str) -> None:
    """Show ``message`` once on the next page this browser loads (after a redirect)."""
    set_cookie_later(request, FLASH_COOKIE, quote(message[:_MAX_FLASH]), max_age=60)


def take_flash(request: Request) -> str | None:
    raw = request.cookies.get(FLASH_COOKIE)
    if raw is None:
        return None
    if not getattr(request.state, "ui_flash_taken", False):
        request.state.ui_flash_taken = True
        delete_cookie_later(request, FLASH_COOKIE)
    return unquote(raw)[:_MAX_FLASH] or None
