"""The web UI: server-rendered pages at ``/`` over the same services as the API.

``install_ui`` adds the login and logout routes, the home page, the Admin and Audit pages, the
places of the subsystems still to come, the static files and the UI's security headers.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Annotated

from fastapi import APIRouter, Depends, FastAPI, Form, Query, Request
from fastapi.staticfiles import StaticFiles
from starlette.responses import RedirectResponse, Response

from ..errors import StewardError, Unauthenticated
from ..platform import Platform
from ..security import (
    Actor,
    Scope,
    authenticate_session,
    list_audit_events,
    list_projects,
    list_tokens,
    login,
    logout,
)
from ._app import API_PREFIX
from ._auth import SESSION_COOKIE
from ._ui_admin import router as admin_router
from ._ui_audit import router as audit_router
from ._ui_data import router as data_router
from ._ui_deployments import router as deployments_router
from ._ui_lineage import router as lineage_router
from ._ui_monitoring import router as monitoring_router
from ._ui_monitoring_alerts import router as alerts_router
from ._ui_monitoring_config import router as monitoring_config_router
from ._ui_registry import router as registry_router
from ._ui_render import (
    STATIC_DIR,
    SecurityHeadersMiddleware,
    UIRoute,
    build_templates,
    error_headers,
    render,
    render_template,
    status_for,
)
from ._ui_session import (
    CsrfRejected,
    Page,
    check_presession_token,
    check_same_origin,
    delete_cookie_later,
    flash,
    presession_cookie_name,
    presession_token,
    safe_next,
    set_cookie_later,
    tokens_match,
    viewer,
)
from ._ui_tokens import router as tokens_router
from ._ui_tracking import router as tracking_router

__all__ = ["install_ui"]

router = APIRouter(route_class=UIRoute, include_in_schema=False)
FormText = Annotated[str, Form()]


@dataclass(frozen=True)
class Upcoming:
    """A part of the product whose pages arrive with its subsystem."""

    key: str
    title: str
    subsystem: str
    summary: str


UPCOMING: tuple[Upcoming, ...] = ()


def install_ui(app: FastAPI) -> None:
    """Mount the web UI at ``/`` (the API stays under ``/api/v1``)."""
    app.state.ui_templates = build_templates()
    for ui_router in (
        tracking_router,
        registry_router,
        deployments_router,
        data_router,
        lineage_router,
        monitoring_router,
        monitoring_config_router,
        alerts_router,
        router,
        admin_router,
        tokens_router,
        audit_router,
    ):
        app.include_router(ui_router)
    app.mount("/static", StaticFiles(directory=STATIC_DIR), name="ui-static")
    app.add_middleware(SecurityHeadersMiddleware, skip_prefixes=(API_PREFIX,))


@router.get("/")
def home(page: Annotated[Page, Depends(viewer)]) -> Response:
    actor = page.actor
    projects = list_projects(page.platform, actor)
    tokens = [t for t in list_tokens(page.platform, actor) if t.active]
    events = []
    if actor.is_admin and Scope.READ in actor.scopes:
        events = list_audit_events(page.platform, actor, limit=8)
    return render(
        page,
        "home.html",
        active="home",
        projects=projects,
        active_tokens=len(tokens),
        events=events,
        project_names={p.id: p.name for p in projects},
        upcoming=UPCOMING,
    )


def _upcoming_page(section: Upcoming) -> Callable[..., Response]:
    def show(page: Annotated[Page, Depends(viewer)]) -> Response:
        return render(page, "upcoming.html", active=section.key, section=section)

    show.__name__ = f"ui_{section.key}"
    return show


for _section in UPCOMING:
    router.add_api_route(
        f"/{_section.key}",
        _upcoming_page(_section),
        methods=["GET"],
        name=f"ui-{_section.key}",
    )


def _login_page(
    request: Request,
    next_path: str,
    *,
    status: int = 200,
    error: str | None = None,
    username: str = "",
    headers: dict[str, str] | None = None,
) -> Response:
    return render_template(
        request,
        "login.html",
        actor=None,
        csrf_token=presession_token(request),
        status=status,
        error=error,
        headers=headers,
        next_path=next_path,
        username=username[:64],
        auth_required=bool(request.app.state.auth_required),
    )


@router.get("/login")
def login_form(request: Request, next_path: Annotated[str, Query(alias="next")] = "/") -> Response:
    target = safe_next(next_path)
    token = request.cookies.get(SESSION_COOKIE)
    if token:
        try:
            authenticate_session(request.app.state.platform, token)
        except Unauthenticated:
            delete_cookie_later(request, SESSION_COOKIE)
        else:
            return RedirectResponse(target, status_code=303)
    return _login_page(request, target)


@router.post("/login")
def login_submit(
    request: Request,
    username: FormText = "",
    password: FormText = "",
    csrf_token: FormText = "",
    next_path: Annotated[str, Form(alias="next")] = "/",
) -> Response:
    target = safe_next(next_path)
    try:
        check_same_origin(request)
        check_presession_token(request, csrf_token)
    except CsrfRejected as exc:
        return _login_page(request, target, status=403, error=exc.message, username=username)
    platform: Platform = request.app.state.platform
    remote_addr = request.client.host if request.client else "unknown"
    try:
        session = login(platform, username.strip(), password, remote_addr)
    except StewardError as exc:
        return _login_page(
            request,
            target,
            status=status_for(exc),
            error=exc.message,
            username=username,
            headers=error_headers(exc),
        )
    # Lax, not Strict: following a link to a page from chat or e-mail should find you logged
    # in. Every state change is a POST that must carry the session's CSRF token anyway.
    set_cookie_later(
        request,
        SESSION_COOKIE,
        session.token,
        max_age=platform.settings.session_ttl_seconds,
        samesite="lax",
    )
    delete_cookie_later(request, presession_cookie_name(request))
    return RedirectResponse(target, status_code=303)


@router.post("/logout")
def logout_submit(request: Request, csrf_token: FormText = "") -> Response:
    check_same_origin(request)
    token = request.cookies.get(SESSION_COOKIE, "")
    if token:
        platform: Platform = request.app.state.platform
        try:
            session: tuple[Actor, str] | None = authenticate_session(platform, token)
        except Unauthenticated:
            session = None  # the session has already ended; only the cookie is left to clear
        if session is not None:
            actor, expected = session
            if not tokens_match(csrf_token, expected):
                raise CsrfRejected("this form has expired; reload the page and log out again")
            logout(platform, actor, token)
        delete_cookie_later(request, SESSION_COOKIE)
        flash(request, "You are logged out.")
    return RedirectResponse("/login" if token else "/", status_code=303)
