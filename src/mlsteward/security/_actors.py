"""Who is acting: users, tokens, the local embedded admin and the system itself."""

from __future__ import annotations

import enum
from dataclasses import dataclass
from typing import Literal, NewType

UserId = NewType("UserId", str)
ProjectId = NewType("ProjectId", str)
TokenId = NewType("TokenId", str)

ActorKind = Literal["user", "token", "session", "local", "system", "anonymous"]


class Role(enum.IntEnum):
    """Per-project roles; each includes the rights of the ones below it."""

    VIEWER = 1
    EDITOR = 2
    MAINTAINER = 3
    OWNER = 4

    @classmethod
    def parse(cls, value: str) -> Role:
        from ..errors import InvalidArgument

        try:
            return cls[value.strip().upper()]
        except KeyError:
            names = ", ".join(r.name.lower() for r in cls)
            raise InvalidArgument(f"unknown role {value!r}: use one of {names}") from None

    @property
    def label(self) -> str:
        return self.name.lower()


class Scope(enum.StrEnum):
    """What a token may be used for, on top of its user's roles."""

    READ = "read"
    WRITE = "write"
    ADMIN = "admin"
    PREDICT = "predict"


ALL_SCOPES: frozenset[Scope] = frozenset(Scope)


@dataclass(frozen=True)
class Actor:
    """The identity a service function acts for. ``scopes`` limit what a token may do."""

    id: str
    name: str
    kind: ActorKind
    is_admin: bool = False
    scopes: frozenset[Scope] = ALL_SCOPES
    token_id: str | None = None

    @property
    def is_authenticated(self) -> bool:
        return self.kind != "anonymous"


LOCAL_ADMIN = Actor(id="local", name="local-admin", kind="local", is_admin=True)
"""Embedded use on loopback without login; recorded as such in the audit trail."""

SYSTEM = Actor(id="system", name="system", kind="system", is_admin=True)
"""The platform itself (bootstrap, schedulers)."""

ANONYMOUS = Actor(id="anonymous", name="anonymous", kind="anonymous", scopes=frozenset())
