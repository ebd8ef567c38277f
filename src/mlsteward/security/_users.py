"""Users: creation, listing, passwords, disabling. Every write is audited."""

from __future__ import annotations

import datetime as dt
import secrets
import uuid
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from sqlalchemy import Connection, Row, func, insert, select, update

from ..errors import AlreadyExists, Conflict, InvalidArgument, NotFound, PermissionDenied
from ..store import utcnow
from ..store._tables import users
from ._actors import LOCAL_ADMIN, Actor, Scope
from ._passwords import hash_password, verify_password
from ._permissions import require_admin, require_scope
from ._validation import check_name, check_text

if TYPE_CHECKING:
    from ..platform import Platform


@dataclass(frozen=True)
class User:
    id: str
    username: str
    display_name: str
    is_admin: bool
    disabled: bool
    created_at: dt.datetime

    def to_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "username": self.username,
            "display_name": self.display_name,
            "is_admin": self.is_admin,
            "disabled": self.disabled,
            "created_at": self.created_at.isoformat(),
        }


def _user_from_row(row: Row[Any]) -> User:
    m = row._mapping
    return User(
        m["id"], m["username"], m["display_name"], m["is_admin"], m["disabled"], m["created_at"]
    )


def fetch_user(conn: Connection, username: str) -> Row[Any]:
    row = conn.execute(select(users).where(users.c.username == username)).first()
    if row is None:
        raise NotFound(f"no user named {username!r}", details={"username": username})
    return row


def _insert_user(
    platform: Platform,
    actor: Actor,
    username: str,
    password: str,
    display_name: str,
    is_admin: bool,
) -> User:
    check_name("user", username)
    check_text("display name", display_name, 200)
    password_hash = hash_password(password)
    user = User(uuid.uuid4().hex, username, display_name, is_admin, False, utcnow())
    with platform.db.write() as conn:
        if conn.execute(select(users.c.id).where(users.c.username == username)).first():
            raise AlreadyExists(f"a user named {username!r} already exists")
        conn.execute(
            insert(users).values(
                id=user.id,
                username=username,
                display_name=display_name,
                password_hash=password_hash,
                is_admin=is_admin,
                disabled=False,
                created_at=user.created_at,
            )
        )
        platform.audit.record(
            conn,
            actor,
            "user.create",
            target_type="user",
            target_id=username,
            details={"is_admin": is_admin},
        )
    return user


def create_user(
    platform: Platform,
    actor: Actor,
    username: str,
    password: str,
    *,
    display_name: str = "",
    is_admin: bool = False,
) -> User:
    """Create a user (administrators only). Raises ``AlreadyExists``, ``InvalidArgument``."""
    require_admin(actor)
    return _insert_user(platform, actor, username, password, display_name, is_admin)


def generate_password() -> str:
    """A random password of 24 URL-safe characters (about 143 bits)."""
    return secrets.token_urlsafe(18)


def create_admin(
    platform: Platform, username: str, password: str | None = None
) -> tuple[User, str]:
    """Operator bootstrap (``mlsteward users create-admin``): needs local database access.

    Returns the user and its password (generated when not given; shown once by the caller).
    """
    password = password or generate_password()
    user = _insert_user(platform, LOCAL_ADMIN, username, password, "", True)
    return user, password


def count_admins(platform: Platform) -> int:
    with platform.db.read() as conn:
        return int(
            conn.execute(
                select(func.count()).select_from(users).where(users.c.is_admin.is_(True))
            ).scalar_one()
        )


def list_users(platform: Platform, actor: Actor) -> list[User]:
    require_admin(actor, Scope.READ)
    with platform.db.read() as conn:
        return [_user_from_row(r) for r in conn.execute(select(users).order_by(users.c.username))]


def get_user(platform: Platform, actor: Actor, username: str) -> User:
    """A user's public record: their own, or anyone's for an administrator."""
    require_scope(actor, Scope.READ)
    if not actor.is_admin and actor.name != username:
        raise PermissionDenied("you may only look up your own user")
    with platform.db.read() as conn:
        return _user_from_row(fetch_user(conn, username))


def set_password(
    platform: Platform,
    actor: Actor,
    username: str,
    new_password: str,
    *,
    current_password: str | None = None,
) -> None:
    """Change a password: your own (with the current one) or anyone's as an administrator."""
    require_scope(actor, Scope.WRITE)
    own = actor.name == username and actor.kind in {"user", "token", "session"}
    if not own:
        require_admin(actor)
    new_hash = hash_password(new_password)
    with platform.db.write() as conn:
        row = fetch_user(conn, username)
        needs_current = own and not actor.is_admin
        if needs_current and not verify_password(row.password_hash, current_password or ""):
            raise InvalidArgument("the current password is wrong")
        conn.execute(update(users).where(users.c.id == row.id).values(password_hash=new_hash))
        platform.audit.record(
            conn, actor, "user.set_password", target_type="user", target_id=username
        )


def set_user_disabled(platform: Platform, actor: Actor, username: str, disabled: bool) -> User:
    """Disable or re-enable a user (administrators only; not yourself)."""
    require_admin(actor)
    if actor.name == username and actor.kind != "local":
        raise Conflict("you cannot disable your own account")
    with platform.db.write() as conn:
        row = fetch_user(conn, username)
        conn.execute(update(users).where(users.c.id == row.id).values(disabled=disabled))
        platform.audit.record(
            conn,
            actor,
            "user.disable" if disabled else "user.enable",
            target_type="user",
            target_id=username,
        )
        return _user_from_row(fetch_user(conn, username))
