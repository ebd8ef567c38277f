"""Persisted profile format: type tags, schema versions and checked field readers."""

from __future__ import annotations

import base64
import binascii
import math
from collections.abc import Mapping
from typing import Any, Final

from ..errors import InvalidArgument

COLUMN_PROFILE_TYPE: Final = "mlsteward.column_profile"
DATASET_PROFILE_TYPE: Final = "mlsteward.dataset_profile"
# 2: PII columns store no min, max, mean, m2 or KLL sketch (all null). Version 1 files still
# load; a version 1 PII column drops those fields on load.
SCHEMA_VERSION: Final = 2
READABLE_VERSIONS: Final = frozenset({1, 2})


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def unb64(text: object, field: str) -> bytes:
    if not isinstance(text, str):
        raise InvalidArgument(f"profile field {field!r} must be a base64 string")
    try:
        return base64.b64decode(text.encode("ascii"), validate=True)
    except (binascii.Error, UnicodeEncodeError) as exc:
        raise InvalidArgument(f"profile field {field!r} is not valid base64") from exc


def deserialize_sketch(cls: Any, data: bytes, field: str) -> Any:
    try:
        return cls.deserialize(data)
    except (ValueError, IndexError, RuntimeError) as exc:
        raise InvalidArgument(
            f"profile field {field!r} is not a serialized sketch ({exc}); "
            "the profile file is corrupt or was not written by mlsteward"
        ) from exc


def check_version(data: Mapping[str, Any], type_tag: str) -> int:
    """Check the type tag and return the schema version, which this release must read."""
    if not isinstance(data, Mapping):
        raise InvalidArgument(f"a {type_tag} must be a mapping, got {type(data).__name__}")
    if data.get("type") != type_tag:
        raise InvalidArgument(f"expected type {type_tag!r}, got {data.get('type')!r}")
    version = data.get("schema_version")
    if isinstance(version, bool) or version not in READABLE_VERSIONS:
        raise InvalidArgument(
            f"{type_tag} schema_version {version!r} is not supported "
            f"(this release reads {sorted(READABLE_VERSIONS)}); upgrade mlsteward to read it"
        )
    return int(version)


def number(value: object, field: str, *, allow_none: bool = False) -> Any:
    if value is None and allow_none:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise InvalidArgument(f"profile field {field!r} must be a number, got {value!r}")
    return value


def count(value: object, field: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise InvalidArgument(f"profile field {field!r} must be a non-negative integer")
    return value


def finite_or_none(value: float | int | None) -> float | int | None:
    """JSON has no infinities or NaN: summaries show them as None."""
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value
