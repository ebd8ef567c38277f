"""Helpers shared by the server and client tests: users with tokens, the error shape."""

from __future__ import annotations

import contextlib
import functools
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import Any

import httpx
import pytest
from fastapi import FastAPI

from mlsteward.errors import AlreadyExists
from mlsteward.platform import Platform
from mlsteward.security import SYSTEM, create_token, create_user
from mlsteward.server import create_app

USER_PASSWORD = "user-password-for-tests"


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def assert_error_shape(
    response: httpx.Response, status: int, code: str | None = None
) -> dict[str, Any]:
    """The response is ``status`` with the one JSON error shape; returns its ``error``."""
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/json")
    body = response.json()
    assert set(body) == {"error"}
    error = body["error"]
    assert set(error) == {"code", "message", "details"}
    assert isinstance(error["message"], str)
    assert error["message"]
    assert isinstance(error["details"], dict)
    if code is not None:
        assert error["code"] == code, error
    return dict(error)


@contextlib.contextmanager
def cheap_password_hashing() -> Iterator[None]:
    """Argon2id at minimal cost inside the block: API tests exercise the API, not the hash
    (whose parameters are tested with the security package)."""
    from argon2 import PasswordHasher

    from mlsteward.security import _passwords

    cheap = functools.cache(lambda: PasswordHasher(time_cost=1, memory_cost=1024, parallelism=1))
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(_passwords, "_hasher", cheap)
        yield


@dataclass
class People:
    """Users with tokens on one platform: an administrator and an outsider (no projects)."""

    platform: Platform
    admin_token: str
    outsider_token: str

    @classmethod
    def create(cls, platform: Platform) -> People:
        people = cls(platform, "", "")
        people.admin_token = people.token_for("admin", ["read", "write", "admin"], is_admin=True)
        people.outsider_token = people.token_for("outsider")
        return people

    def token_for(
        self, username: str, scopes: Iterable[str] = ("read", "write"), *, is_admin: bool = False
    ) -> str:
        """Create ``username`` (unless it exists) and a new token for them."""
        with contextlib.suppress(AlreadyExists):
            create_user(self.platform, SYSTEM, username, USER_PASSWORD, is_admin=is_admin)
        return create_token(self.platform, SYSTEM, "test", scopes, username=username).secret


@dataclass
class SharedApi:
    """One platform with its people, shared by a test module."""

    platform: Platform
    people: People

    def app(self) -> FastAPI:
        return create_app(self.platform)
