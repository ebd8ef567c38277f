"""Argon2id password hashing."""

from __future__ import annotations

import functools

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError

from ..errors import InvalidArgument

MIN_PASSWORD_LENGTH = 12
MAX_PASSWORD_LENGTH = 1024


@functools.cache
def _hasher() -> PasswordHasher:
    return PasswordHasher()  # argon2id with the library's current recommended parameters


def check_password_policy(password: str) -> None:
    """Raise ``InvalidArgument`` unless the password is long enough and not absurdly long."""
    if len(password) < MIN_PASSWORD_LENGTH:
        raise InvalidArgument(f"password must be at least {MIN_PASSWORD_LENGTH} characters")
    if len(password) > MAX_PASSWORD_LENGTH:
        raise InvalidArgument(f"password must be at most {MAX_PASSWORD_LENGTH} characters")


def hash_password(password: str) -> str:
    check_password_policy(password)
    return _hasher().hash(password)


def verify_password(password_hash: str | None, password: str) -> bool:
    """True when ``password`` matches; never raises for a wrong or malformed hash."""
    if not password_hash or len(password) > MAX_PASSWORD_LENGTH:
        # Spend the same effort as a real check so user existence does not leak by timing.
        _hasher().hash("timing-equaliser-password")
        return False
    try:
        return _hasher().verify(password_hash, password)
    except (VerifyMismatchError, VerificationError, InvalidHashError):
        return False
