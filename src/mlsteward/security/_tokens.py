"""API tokens: random, prefixed ``mls_``, shown once, stored only as a SHA-256 hash.

A token is ``mls_<id>_<secret>``: the id finds the row, the hash of the whole string is compared
in constant time. The secret has 256 bits of entropy, so a fast hash is sufficient.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import re
import secrets
from collections.abc import Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from sqlalchemy import insert, select, update

from ..errors import InvalidArgument, NotFound, PermissionDenied, Unauthenticated
from ..store import utcnow
from ..store._tables import api_tokens, users
from ._actors import Actor, Scope
from ._permissions import require_scope
from ._users import fetch_user
from ._validation import check_text

if TYPE_CHECKING:
    from ..platform import Platform

TOKEN_PREFIX = "mls_"  # noqa: S105 - a public prefix, not a secret  # noqa: S105 - a public prefix, not a secret
_TOKEN_RE = re.compile(r"^mls_([a-z0-9]{12})_([A-Za-z0-9_-]{43})$")
MAX_TOKEN_DAYS = 3650
_LAST_USED_RESOLUTION = dt.timedelta(seconds=60)
_INVALID = "invalid, expired or revoked API token"


@dataclass(frozen=True)
class TokenInfo:
    id: str
    name: str
    username: str
    scopes: tuple[str, ...]
    created_at: dt.datetime
    expires_at: dt.datetime | None
    last_used_at: dt.datetime | None
    revoked_at: dt.datetime | None

    @property
    def active(self) -> bool:
        return self.revoked_at is None and (self.expires_at is None or self.expires_at > utcnow())

    def to_json(self) -> dict[str, Any]:
        def iso(value: dt.datetime | None) -> str | None:
            return None if value is None else value.isoformat()

        return {
            "id": self.id,
            "name": self.name,
            "username": self.username,
            "scopes": list(self.scopes),
            "created_at": iso(self.created_at),
            "expires_at": iso(self.expires_at),
            "last_used_at": iso(self.last_used_at),
            "revoked_at": iso(self.revoked_at),
            "active": self.active,
        }


@dataclass(frozen=True)
class CreatedToken:
    """A new token: ``secret`` is the only copy of the token and is never stored."""

    info: TokenInfo
    secret: str


def _hash_token(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def parse_scopes(scopes: Iterable[str]) -> tuple[Scope, ...]:
    parsed: set[Scope] = set()
    for raw in scopes:
        try:
            parsed.add(Scope(str(raw).strip().lower()))
        except ValueError:
            names = ", ".join(s.value for s in Scope)
            raise InvalidArgument(f"unknown token scope {raw!r}: use {names}") from None
    if not parsed:
        raise InvalidArgument("a token needs at least one scope")
    return tuple(sorted(parsed))


def create_token(
    platform: Platform,
    actor: Actor,
    name: str,
    scopes: Iterable[str] = ("read", "write"),
    *,
    expires_in_days: int | None = 90,
    username: str | None = None,
) -> CreatedToken:
    """Create a token for yourself (or, as an administrator, for ``username``).

    A token never gets more than its creator has: scopes must be held by the creating actor
    and ``admin`` needs an administrator account.
    """
    require_scope(actor, Scope.WRITE)
    check_text("token name", name, 100)
    if not name.strip():
        raise InvalidArgument("a token needs a name")
    wanted = parse_scopes(scopes)
    if expires_in_days is not None and not 1 <= expires_in_days <= MAX_TOKEN_DAYS:
        raise InvalidArgument(f"expires_in_days must be between 1 and {MAX_TOKEN_DAYS}")
    owner_name = username or actor.name
    if owner_name != actor.name or actor.kind not in {"user", "token", "session"}:
        if not actor.is_admin:
            raise PermissionDenied("only an administrator may create tokens for another user")
        require_scope(actor, Scope.ADMIN)
        if username is None:
            raise InvalidArgument("say which user the token is for (username=...)")
    missing = [s.value for s in wanted if s not in actor.scopes]
    if missing:
        raise PermissionDenied(f"you cannot grant scopes you do not hold: {', '.join(missing)}")
    token_id = secrets.token_hex(6)
    secret = f"{TOKEN_PREFIX}{token_id}_{secrets.token_urlsafe(32)}"
    now = utcnow()
    expires_at = None if expires_in_days is None else now + dt.timedelta(days=expires_in_days)
    with platform.db.write() as conn:
        owner = fetch_user(conn, owner_name)
        if Scope.ADMIN in wanted and not owner.is_admin:
            raise PermissionDenied("the admin scope is only for administrator accounts")
        conn.execute(
            insert(api_tokens).values(
                id=token_id,
                user_id=owner.id,
                name=name,
                token_hash=_hash_token(secret),
                scopes=[s.value for s in wanted],
                created_at=now,
                expires_at=expires_at,
            )
        )
        platform.audit.record(
            conn,
            actor,
            "token.create",
            target_type="token",
            target_id=token_id,
            details={"name": name, "user": owner_name, "scopes": [s.value for s in wanted]},
        )
    info = TokenInfo(
        token_id, name, owner_name, tuple(s.value for s in wanted), now, expires_at, None, None
    )
    return CreatedToken(info, secret)


def list_tokens(platform: Platform, actor: Actor, username: str | None = None) -> list[TokenInfo]:
    """Your tokens, or another user's (administrators), newest first. Never the secrets."""
    require_scope(actor, Scope.READ)
    query = (
        select(api_tokens, users.c.username)
        .join(users, users.c.id == api_tokens.c.user_id)
        .order_by(api_tokens.c.created_at.desc())
    )
    if username is not None:
        if username != actor.name and not actor.is_admin:
            raise PermissionDenied("only an administrator may list another user's tokens")
        query = query.where(users.c.username == username)
    elif not actor.is_admin or actor.kind in {"user", "token", "session"}:
        query = query.where(users.c.username == actor.name)
    with platform.db.read() as conn:
        return [
            TokenInfo(
                r.id,
                r.name,
                r.username,
                tuple(r.scopes),
                r.created_at,
                r.expires_at,
                r.last_used_at,
                r.revoked_at,
            )
            for r in conn.execute(query)
        ]


def revoke_token(platform: Platform, actor: Actor, token_id: str) -> None:
    """Revoke one of your tokens (administrators: anyone's). Revoking twice is harmless."""
    require_scope(actor, Scope.WRITE)
    with platform.db.write() as conn:
        row = conn.execute(
            select(api_tokens.c.id, api_tokens.c.revoked_at, users.c.username)
            .join(users, users.c.id == api_tokens.c.user_id)
            .where(api_tokens.c.id == token_id)
        ).first()
        if row is None or (row.username != actor.name and not actor.is_admin):
            raise NotFound(f"no token with id {token_id!r}")
        if row.revoked_at is not None:
            return
        conn.execute(
            update(api_tokens).where(api_tokens.c.id == token_id).values(revoked_at=utcnow())
        )
        platform.audit.record(
            conn,
            actor,
            "token.revoke",
            target_type="token",
            target_id=token_id,
            details={"user": row.username},
        )


def authenticate_token(platform: Platform, token: str) -> Actor:
    """The actor a presented token stands for; ``Unauthenticated`` for anything else."""
    match = _TOKEN_RE.fullmatch(token)
    if match is None:
        raise Unauthenticated(_INVALID)
    token_id = match.group(1)
    with platform.db.read() as conn:
        row = conn.execute(
            select(api_tokens, users.c.username, users.c.is_admin, users.c.disabled)
            .join(users, users.c.id == api_tokens.c.user_id)
            .where(api_tokens.c.id == token_id)
        ).first()
    now = utcnow()
    if (
        row is None
        or not hmac.compare_digest(row.token_hash, _hash_token(token))
        or row.revoked_at is not None
        or (row.expires_at is not None and row.expires_at <= now)
        or row.disabled
    ):
        raise Unauthenticated(_INVALID)
    if row.last_used_at is None or now - row.last_used_at > _LAST_USED_RESOLUTION:
        # Bookkeeping, not a state change of the user's: not audited, and at most once a minute.
        with platform.db.write() as conn:
            conn.execute(
                update(api_tokens).where(api_tokens.c.id == token_id).values(last_used_at=now)
            )
    return Actor(
        id=row.user_id,
        name=row.username,
        kind="token",
        is_admin=bool(row.is_admin),
        scopes=frozenset(Scope(s) for s in row.scopes),
        token_id=token_id,
    )
