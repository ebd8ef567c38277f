"""Small shared conversions for wire formats."""

from __future__ import annotations

import datetime as dt
import json
from typing import Any


def iso(value: dt.datetime | None) -> str | None:
    """ISO 8601 text of an aware datetime, or None."""
    return None if value is None else value.isoformat()


def canonical_json(value: Any) -> bytes:
    """Sorted-key, compact JSON as UTF-8 (the form hashes and size limits use)."""
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()


def canonical_size(value: Any) -> int:
    return len(canonical_json(value))
