"""Users (administrators): list, create, look up, disable, enable, set a password."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Response
from fastapi.responses import JSONResponse

from ...security import create_user, get_user, list_users, set_password, set_user_disabled
from ._dependencies import GUARDS, Admin, PlatformDep, RequestBody, listing

router = APIRouter(tags=["users"], dependencies=GUARDS)


class UserCreate(RequestBody):
    username: str
    password: str
    display_name: str = ""
    is_admin: bool = False


class PasswordSet(RequestBody):
    new_password: str


@router.get("/users", summary="List users")
def users_list(platform: PlatformDep, actor: Admin) -> JSONResponse:
    return listing("users", list_users(platform, actor))


@router.post("/users", status_code=201, summary="Create a user")
def users_create(body: UserCreate, platform: PlatformDep, actor: Admin) -> dict[str, Any]:
    user = create_user(
        platform,
        actor,
        body.username,
        body.password,
        display_name=body.display_name,
        is_admin=body.is_admin,
    )
    return user.to_json()


@router.get("/users/{username}", summary="Look up a user")
def users_get(username: str, platform: PlatformDep, actor: Admin) -> dict[str, Any]:
    return get_user(platform, actor, username).to_json()


@router.post("/users/{username}/disable", summary="Disable a user (their tokens stop working)")
def users_disable(username: str, platform: PlatformDep, actor: Admin) -> dict[str, Any]:
    return set_user_disabled(platform, actor, username, True).to_json()


@router.post("/users/{username}/enable", summary="Re-enable a disabled user")
def users_enable(username: str, platform: PlatformDep, actor: Admin) -> dict[str, Any]:
    return set_user_disabled(platform, actor, username, False).to_json()


@router.post("/users/{username}/password", status_code=204, summary="Set a user's password")
def users_set_password(
    username: str, body: PasswordSet, platform: PlatformDep, actor: Admin
) -> Response:
    set_password(platform, actor, username, body.new_password)
    return Response(status_code=204)
