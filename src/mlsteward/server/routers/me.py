"""The caller: who am I, and changing my own password."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Response

from ...security import Actor, set_password
from ._dependencies import GUARDS, Authenticated, PlatformDep, RequestBody

router = APIRouter(tags=["me"], dependencies=GUARDS)


class PasswordChange(RequestBody):
    current_password: str
    new_password: str


def actor_to_json(actor: Actor) -> dict[str, Any]:
    """The wire form of an actor (``GET /me``)."""
    return {
        "id": actor.id,
        "name": actor.name,
        "kind": actor.kind,
        "is_admin": actor.is_admin,
        "scopes": sorted(s.value for s in actor.scopes),
        "token_id": actor.token_id,
    }


@router.get("/me", summary="Who is calling")
def whoami(actor: Authenticated) -> dict[str, Any]:
    return actor_to_json(actor)


@router.post("/me/password", status_code=204, summary="Change your own password")
def change_password(body: PasswordChange, platform: PlatformDep, actor: Authenticated) -> Response:
    set_password(
        platform, actor, actor.name, body.new_password, current_password=body.current_password
    )
    return Response(status_code=204)
