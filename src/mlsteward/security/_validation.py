"""Checks on names that users choose."""

from __future__ import annotations

import re

from ..errors import InvalidArgument

_NAME_RE = re.compile(r"^[a-z0-9][a-z0-9_.-]{0,63}$")


def check_name(kind: str, value: object) -> str:
    """Return ``value`` if it is a valid lowercase name (1-64 chars of a-z 0-9 _ . -)."""
    if not isinstance(value, str) or not _NAME_RE.fullmatch(value):
        shown = repr(value)[:80]
        raise InvalidArgument(
            f"invalid {kind} name {shown}: use 1-64 lowercase letters, digits, '_', '.' or '-', "
            "starting with a letter or digit",
            details={"field": kind},
        )
    return value


def check_text(kind: str, value: object, max_length: int) -> str:
    if not isinstance(value, str):
        raise InvalidArgument(f"{kind} must be a string")
    if len(value) > max_length:
        raise InvalidArgument(f"{kind} is longer than {max_length} characters")
    if "\x00" in value:
        raise InvalidArgument(f"{kind} contains a NUL character")
    return value
