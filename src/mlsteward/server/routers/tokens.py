"""API tokens: list, create (the secret is returned once), revoke."""

from __future__ import annotations

from fastapi import APIRouter, Response
from fastapi.responses import JSONResponse

from ...security import create_token, list_tokens, revoke_token
from ._dependencies import GUARDS, Authenticated, PlatformDep, RequestBody, listing

router = APIRouter(tags=["tokens"], dependencies=GUARDS)


class TokenCreate(RequestBody):
    name: str
    scopes: list[str] = ["read", "write"]
    expires_in_days: int | None = 90
    username: str | None = None


@router.get("/tokens", summary="Your tokens (administrators: ?username= for another user's)")
def tokens_list(
    platform: PlatformDep, actor: Authenticated, username: str | None = None
) -> JSONResponse:
    return listing("tokens", list_tokens(platform, actor, username))


@router.post("/tokens", status_code=201, summary="Create a token; its secret is shown only now")
def tokens_create(body: TokenCreate, platform: PlatformDep, actor: Authenticated) -> JSONResponse:
    created = create_token(
        platform,
        actor,
        body.name,
        body.scopes,
        expires_in_days=body.expires_in_days,
        username=body.username,
    )
    return JSONResponse(
        {"token": created.info.to_json(), "secret": created.secret},
        status_code=201,
        headers={"Cache-Control": "no-store"},  # the only copy of the secret
    )


@router.delete("/tokens/{token_id}", status_code=204, summary="Revoke a token")
def tokens_revoke(token_id: str, platform: PlatformDep, actor: Authenticated) -> Response:
    revoke_token(platform, actor, token_id)
    return Response(status_code=204)
