"""Checks on what callers log: keys, values, steps, timestamps, names."""

from __future__ import annotations

import math
import re
from typing import Any

from ..errors import InvalidArgument
from ._model import MAX_KEY_LENGTH

_CONTROL = re.compile(r"[\x00-\x1f\x7f]")
INT64_MAX = 2**63 - 1
INT64_MIN = -(2**63)


def check_key(kind: str, key: object) -> str:
    """A metric, parameter or tag key: 1-250 printable characters, not blank."""
    if not isinstance(key, str):
        raise InvalidArgument(f"{kind} key must be a string, not {type(key).__name__}")
    if not key.strip():
        raise InvalidArgument(f"{kind} key must not be empty or blank")
    if len(key) > MAX_KEY_LENGTH:
        raise InvalidArgument(
            f"{kind} key {key[:40]!r}... is {len(key)} characters; the limit is {MAX_KEY_LENGTH}",
            details={"key": key[:100], "limit": MAX_KEY_LENGTH},
        )
    if _CONTROL.search(key):
        raise InvalidArgument(
            f"{kind} key {key[:60]!r} contains a control character",
            details={"key": key[:100]},
        )
    return key


def check_text_value(kind: str, key: str, value: object, limit: int) -> str:
    if not isinstance(value, str):
        raise InvalidArgument(f"{kind} {key!r} must be a string, not {type(value).__name__}")
    if len(value) > limit:
        raise InvalidArgument(
            f"{kind} {key!r} is {len(value)} characters long; the limit is {limit}",
            details={"key": key, "limit": limit},
        )
    if "\x00" in value:
        raise InvalidArgument(f"{kind} {key!r} contains a NUL character")
    return value


def check_metric_value(key: str, value: Any) -> float:
    """Any real number, including NaN and +-inf (stored faithfully); not a bool."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise InvalidArgument(
            f"metric {key!r} must be a number, not {type(value).__name__}", details={"key": key}
        )
    try:
        return float(value)
    except OverflowError:
        raise InvalidArgument(f"metric {key!r} is too large for a float") from None


def check_step(key: str, step: Any) -> int:
    if isinstance(step, float) and step.is_integer():
        step = int(step)
    if isinstance(step, bool) or not isinstance(step, int):
        shown = step if not isinstance(step, float) or math.isfinite(step) else repr(step)
        raise InvalidArgument(
            f"the step of metric {key!r} must be a whole number, not {shown!r}",
            details={"key": key},
        )
    if not INT64_MIN <= step <= INT64_MAX:
        raise InvalidArgument(f"the step of metric {key!r} is out of the 64-bit range")
    return step


def check_timestamp(key: str, timestamp: Any) -> int:
    """Milliseconds since the epoch, as a whole non-negative number."""
    if isinstance(timestamp, float) and timestamp.is_integer():
        timestamp = int(timestamp)
    if isinstance(timestamp, bool) or not isinstance(timestamp, int):
        raise InvalidArgument(
            f"the timestamp of metric {key!r} must be whole milliseconds since the epoch"
        )
    if not 0 <= timestamp <= INT64_MAX:
        raise InvalidArgument(f"the timestamp of metric {key!r} is out of range")
    return timestamp


def check_run_name(name: object) -> str:
    if not isinstance(name, str) or not name.strip():
        raise InvalidArgument("a run name must be a non-empty string")
    if len(name) > 250 or _CONTROL.search(name):
        raise InvalidArgument("a run name must be at most 250 printable characters")
    return name


def check_experiment_name(name: object) -> str:
    if not isinstance(name, str) or not name.strip():
        raise InvalidArgument("an experiment name must be a non-empty string")
    if len(name) > 200 or _CONTROL.search(name) or "/" in name:
        raise InvalidArgument(
            "an experiment name must be at most 200 printable characters, without '/'"
        )
    return name
