"""Token pages: list your tokens, create one (its secret shown exactly once), revoke.

The secret must survive exactly one redirect (POST, then GET of the result page) so that
reloading or going back never shows it again nor creates a second token. It travels in a
short-lived cookie scoped to the result page, sealed with AES-GCM under a key derived from the
session's CSRF token (kept server-side), so a logged request header alone does not reveal it.
The result page reads the cookie, deletes it and is never cached.
"""

from __future__ import annotations

import base64
import hashlib
import os
from typing import Annotated

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from fastapi import APIRouter, Depends, Form
from starlette.responses import RedirectResponse, Response

from ..errors import InvalidArgument, StewardError
from ..security import CreatedToken, Scope, create_token, list_tokens, revoke_token
from ._ui_render import UIRoute, render, status_for
from ._ui_session import Page, delete_cookie_later, flash, set_cookie_later, viewer, writer

router = APIRouter(route_class=UIRoute, include_in_schema=False)
Viewer = Annotated[Page, Depends(viewer)]
Writer = Annotated[Page, Depends(writer)]
FormText = Annotated[str, Form()]

CREATED_PATH = "/admin/tokens/created"
REVEAL_COOKIE = "mls_new_token"
REVEAL_SECONDS = 300
EXPIRY_CHOICES = ("7", "30", "90", "365", "never")
DEFAULT_SCOPES = ("read", "write")
_AAD = b"mlsteward.ui.token-reveal.v1"


def _reveal_key(csrf_token: str) -> bytes:
    return hashlib.sha256(_AAD + b"\x00" + csrf_token.encode()).digest()


def seal_secret(csrf_token: str, secret: str) -> str:
    nonce = os.urandom(12)
    sealed = AESGCM(_reveal_key(csrf_token)).encrypt(nonce, secret.encode(), _AAD)
    return base64.urlsafe_b64encode(nonce + sealed).decode().rstrip("=")


def open_secret(csrf_token: str, value: str) -> str | None:
    """The sealed secret, or None when it is malformed or sealed for another session."""
    try:
        raw = base64.urlsafe_b64decode(value + "=" * (-len(value) % 4))
        if len(raw) < 12 + 16:
            return None
        return AESGCM(_reveal_key(csrf_token)).decrypt(raw[:12], raw[12:], _AAD).decode()
    except (ValueError, InvalidTag):
        return None


def _parse_expiry(value: str) -> int | None:
    value = value.strip().lower()
    if value in {"", "never"}:
        return None
    if not value.isdigit() or len(value) > 6:
        raise InvalidArgument("choose how many days the token lives, or 'never'")
    return int(value)


def _tokens_page(
    page: Page,
    *,
    status: int = 200,
    error: str | None = None,
    form: dict[str, object] | None = None,
) -> Response:
    tokens = list_tokens(page.platform, page.actor)
    defaults: dict[str, object] = {
        "name": "",
        "scopes": DEFAULT_SCOPES,
        "expires": "90",
        "username": "",
    }
    return render(
        page,
        "admin_tokens.html",
        active="admin",
        status=status,
        error=error,
        tokens=tokens,
        all_scopes=tuple(s.value for s in Scope),
        expiry_choices=EXPIRY_CHOICES,
        for_other_users=page.actor.is_admin,
        form={**defaults, **(form or {})},
    )


def _created_page(page: Page, created: CreatedToken | None) -> Response:
    return render(page, "admin_token_created.html", active="admin", created=created)


@router.get("/admin/tokens")
def tokens_page(page: Viewer) -> Response:
    return _tokens_page(page)


@router.post("/admin/tokens")
def tokens_create(
    page: Writer,
    name: FormText = "",
    scopes: Annotated[list[str] | None, Form()] = None,
    expires: FormText = "90",
    username: FormText = "",
) -> Response:
    chosen = [s for s in scopes or [] if s]
    try:
        created = create_token(
            page.platform,
            page.actor,
            name.strip(),
            chosen,
            expires_in_days=_parse_expiry(expires),
            username=username.strip() or None,
        )
    except StewardError as exc:
        form: dict[str, object] = {
            "name": name,
            "scopes": tuple(chosen),
            "expires": expires,
            "username": username,
        }
        return _tokens_page(page, status=status_for(exc), error=exc.message, form=form)
    if not page.csrf_token:
        # A bearer-token caller has no session to seal for: show the secret in this response.
        return _created_page(page, created)
    set_cookie_later(
        page.request,
        REVEAL_COOKIE,
        seal_secret(page.csrf_token, created.secret),
        path=CREATED_PATH,
        max_age=REVEAL_SECONDS,
    )
    return RedirectResponse(CREATED_PATH, status_code=303)


@router.get(CREATED_PATH)
def tokens_created(page: Viewer) -> Response:
    sealed = page.request.cookies.get(REVEAL_COOKIE)
    created = None
    if sealed:
        delete_cookie_later(page.request, REVEAL_COOKIE, path=CREATED_PATH)
        secret = open_secret(page.csrf_token, sealed) if page.csrf_token else None
        token_id = secret.split("_")[1] if secret and secret.count("_") >= 2 else None
        info = next((t for t in list_tokens(page.platform, page.actor) if t.id == token_id), None)
        if secret is not None and info is not None:
            created = CreatedToken(info, secret)
    return _created_page(page, created)


@router.post("/admin/tokens/{token_id}/revoke")
def tokens_revoke(page: Writer, token_id: str) -> Response:
    try:
        revoke_token(page.platform, page.actor, token_id)
    except StewardError as exc:
        return _tokens_page(page, status=status_for(exc), error=exc.message)
    flash(page.request, f"Revoked token {token_id}.")
    return RedirectResponse("/admin/tokens", status_code=303)
