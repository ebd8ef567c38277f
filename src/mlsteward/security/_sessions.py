"""Password login with rate limiting, and browser sessions with CSRF tokens."""

from __future__ import annotations

import datetime as dt
import hashlib
import secrets
from dataclasses import dataclass
from typing import TYPE_CHECKING

from sqlalchemy import delete, func, insert, or_, select

from ..errors import RateLimited, Unauthenticated
from ..store import utcnow
from ..store._tables import browser_sessions, login_failures, users
from ._actors import ANONYMOUS, Actor
from ._passwords import verify_password

if TYPE_CHECKING:
    from ..platform import Platform

_BAD_LOGIN = "wrong username or password"
_IP_FACTOR = 4  # one address may fail for several usernames before it is held back


@dataclass(frozen=True)
class LoginSession:
    """A browser session: ``token`` goes in a cookie, ``csrf_token`` into every form."""

    token: str
    csrf_token: str
    actor: Actor
    expires_at: dt.datetime


def _session_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def _check_rate_limit(platform: Platform, username: str, remote_addr: str) -> None:
    settings = platform.settings
    since = utcnow() - dt.timedelta(seconds=settings.login_window_seconds)
    with platform.db.read() as conn:
        by_user, by_addr = conn.execute(
            select(
                func.count().filter(login_failures.c.username == username),
                func.count().filter(login_failures.c.remote_addr == remote_addr),
            ).where(
                login_failures.c.at > since,
                or_(
                    login_failures.c.username == username,
                    login_failures.c.remote_addr == remote_addr,
                ),
            )
        ).one()
    if (
        by_user >= settings.login_max_failures
        or by_addr >= settings.login_max_failures * _IP_FACTOR
    ):
        raise RateLimited(
            "too many failed logins; wait before trying again",
            details={"retry_after": settings.login_window_seconds},
        )


def authenticate_password(
    platform: Platform, username: str, password: str, remote_addr: str = "unknown"
) -> Actor:
    """Check a username and password; failures are counted, rate-limited and audited."""
    username = username[:64]
    remote_addr = remote_addr[:64]
    _check_rate_limit(platform, username, remote_addr)
    with platform.db.read() as conn:
        row = conn.execute(select(users).where(users.c.username == username)).first()
    ok = verify_password(row.password_hash if row else None, password)
    if row is None or not ok or row.disabled:
        with platform.db.write() as conn:
            conn.execute(
                insert(login_failures).values(
                    username=username, remote_addr=remote_addr, at=utcnow()
                )
            )
            platform.audit.record(
                conn,
                ANONYMOUS,
                "auth.login_failed",
                target_type="user",
                target_id=username,
                details={"remote_addr": remote_addr},
            )
        raise Unauthenticated(_BAD_LOGIN)
    return Actor(id=row.id, name=row.username, kind="user", is_admin=bool(row.is_admin))


def login(
    platform: Platform, username: str, password: str, remote_addr: str = "unknown"
) -> LoginSession:
    """Password login for the web UI: returns a new session (audited)."""
    actor = authenticate_password(platform, username, password, remote_addr)
    token = secrets.token_urlsafe(32)
    csrf = secrets.token_urlsafe(32)
    now = utcnow()
    expires_at = now + dt.timedelta(seconds=platform.settings.session_ttl_seconds)
    with platform.db.write() as conn:
        conn.execute(delete(browser_sessions).where(browser_sessions.c.expires_at <= now))
        conn.execute(
            insert(browser_sessions).values(
                id_hash=_session_hash(token),
                user_id=actor.id,
                csrf_token=csrf,
                created_at=now,
                expires_at=expires_at,
            )
        )
        platform.audit.record(
            conn,
            actor,
            "auth.login",
            target_type="user",
            target_id=actor.name,
            details={"remote_addr": remote_addr[:64]},
        )
    session_actor = Actor(id=actor.id, name=actor.name, kind="session", is_admin=actor.is_admin)
    return LoginSession(token, csrf, session_actor, expires_at)


def authenticate_session(platform: Platform, token: str) -> tuple[Actor, str]:
    """The actor and CSRF token of a live session; ``Unauthenticated`` otherwise."""
    if not token or len(token) > 128:
        raise Unauthenticated("not logged in")
    with platform.db.read() as conn:
        row = conn.execute(
            select(
                browser_sessions.c.csrf_token,
                browser_sessions.c.expires_at,
                users.c.id,
                users.c.username,
                users.c.is_admin,
                users.c.disabled,
            )
            .join(users, users.c.id == browser_sessions.c.user_id)
            .where(browser_sessions.c.id_hash == _session_hash(token))
        ).first()
    if row is None or row.expires_at <= utcnow() or row.disabled:
        raise Unauthenticated("your session has expired; log in again")
    actor = Actor(id=row.id, name=row.username, kind="session", is_admin=bool(row.is_admin))
    return actor, str(row.csrf_token)


def logout(platform: Platform, actor: Actor, token: str) -> None:
    """End a browser session (audited)."""
    with platform.db.write() as conn:
        deleted = conn.execute(
            delete(browser_sessions).where(browser_sessions.c.id_hash == _session_hash(token))
        ).rowcount
        if deleted:
            platform.audit.record(
                conn, actor, "auth.logout", target_type="user", target_id=actor.name
            )
