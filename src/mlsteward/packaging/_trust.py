"""Trusted signing keys: the public keys whose package signatures the platform accepts.

Administrators add and remove them; each change is checked, written and audited in one
transaction. Verification reads them without an actor: which keys are trusted is not a
secret, and a package is checked the same way whoever asks.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sqlalchemy import Connection, Row, delete, insert, select

from ..errors import AlreadyExists, InvalidArgument, NotFound
from ..security import Actor, Scope, require_admin, require_scope
from ..store import utcnow
from ._archive import VerifyReport, verify_package
from ._keystore import check_key_name
from ._signing import KEY_ID_LENGTH, load_public_key, public_key_id, public_key_to_pem
from ._tables import trusted_signing_keys

if TYPE_CHECKING:
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

    from ..platform import Platform

MAX_PUBLIC_KEY_BYTES = 4096


@dataclass(frozen=True, slots=True)
class TrustedKey:
    """A public key the platform trusts to sign packages."""

    key_id: str
    name: str
    public_key_pem: str
    added_by: str
    added_at: dt.datetime


def _check_key_id(key_id: object) -> str:
    if (
        not isinstance(key_id, str)
        or len(key_id) != KEY_ID_LENGTH
        or any(c not in "0123456789abcdef" for c in key_id)
    ):
        raise InvalidArgument(
            f"{str(key_id)[:80]!r} is not a key id: {KEY_ID_LENGTH} lowercase hex characters "
            "(see `mlsteward keys signing list`)"
        )
    return key_id


def _row_to_key(row: Row[Any]) -> TrustedKey:
    return TrustedKey(row.key_id, row.name, row.public_key, row.added_by, row.added_at)


def trust_signing_key(
    platform: Platform, actor: Actor, public_key: bytes, *, name: str
) -> TrustedKey:
    """Trust a public key (PEM or 32 raw bytes) under ``name`` (administrators).

    The key id is computed from the key. Raises ``InvalidArgument`` for a malformed or
    non-Ed25519 key or a bad name, ``AlreadyExists`` when the key or the name is trusted
    already, ``PermissionDenied`` for non-administrators.
    """
    check_key_name(name)
    if not isinstance(public_key, bytes) or len(public_key) > MAX_PUBLIC_KEY_BYTES:
        raise InvalidArgument(f"a public key is at most {MAX_PUBLIC_KEY_BYTES} bytes of PEM")
    key = load_public_key(public_key)
    key_id = public_key_id(key)
    pem = public_key_to_pem(key).decode("ascii")
    require_admin(actor)
    with platform.db.write() as conn:
        taken = conn.execute(
            select(trusted_signing_keys.c.key_id, trusted_signing_keys.c.name).where(
                (trusted_signing_keys.c.key_id == key_id) | (trusted_signing_keys.c.name == name)
            )
        ).first()
        if taken is not None:
            what = f"key {key_id}" if taken.key_id == key_id else f"the name {name!r}"
            raise AlreadyExists(
                f"{what} is trusted already (as {taken.name!r}, id {taken.key_id}): "
                "untrust it first to replace it"
            )
        now = utcnow()
        conn.execute(
            insert(trusted_signing_keys).values(
                key_id=key_id, name=name, public_key=pem, added_by=actor.name, added_at=now
            )
        )
        platform.audit.record(
            conn,
            actor,
            "packaging.key.trust",
            target_type="signing_key",
            target_id=key_id,
            details={"name": name},
        )
        return TrustedKey(key_id, name, pem, actor.name, now)


def untrust_signing_key(platform: Platform, actor: Actor, key_id: str) -> TrustedKey:
    """Stop trusting a key (administrators); packages it signed no longer verify.

    Raises ``NotFound`` for a key that is not trusted, ``InvalidArgument`` for a malformed id.
    """
    _check_key_id(key_id)
    require_admin(actor)
    with platform.db.write() as conn:
        row = _fetch(conn, key_id)
        conn.execute(delete(trusted_signing_keys).where(trusted_signing_keys.c.key_id == key_id))
        platform.audit.record(
            conn,
            actor,
            "packaging.key.untrust",
            target_type="signing_key",
            target_id=key_id,
            details={"name": row.name},
        )
        return row


def _fetch(conn: Connection, key_id: str) -> TrustedKey:
    row = conn.execute(
        select(trusted_signing_keys).where(trusted_signing_keys.c.key_id == key_id)
    ).first()
    if row is None:
        raise NotFound(f"key {key_id} is not trusted (see `mlsteward keys signing list`)")
    return _row_to_key(row)


def list_trusted_keys(platform: Platform, actor: Actor) -> list[TrustedKey]:
    """Every trusted signing key, by name (any authenticated actor with ``read``)."""
    require_scope(actor, Scope.READ)
    with platform.db.read() as conn:
        rows = conn.execute(
            select(trusted_signing_keys).order_by(trusted_signing_keys.c.name)
        ).all()
    return [_row_to_key(row) for row in rows]


def get_trusted_key(platform: Platform, actor: Actor, key_id: str) -> TrustedKey:
    """One trusted key by id; ``NotFound`` if it is not trusted."""
    _check_key_id(key_id)
    require_scope(actor, Scope.READ)
    with platform.db.read() as conn:
        return _fetch(conn, key_id)


def trusted_public_keys(platform: Platform) -> dict[str, Ed25519PublicKey]:
    """The trusted public keys by key id, as ``verify_package`` takes them."""
    with platform.db.read() as conn:
        rows = conn.execute(
            select(trusted_signing_keys.c.key_id, trusted_signing_keys.c.public_key)
        ).all()
    return {row.key_id: load_public_key(row.public_key.encode("ascii")) for row in rows}


def verify_package_file(platform: Platform, path: Path) -> VerifyReport:
    """Verify a package against the platform's trusted keys; every problem is reported."""
    return verify_package(Path(path), trusted_keys=trusted_public_keys(platform))
