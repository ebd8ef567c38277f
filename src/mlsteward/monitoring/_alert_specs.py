"""Checking what a user sends for an alert rule: its condition, notifiers and action.

Every problem is an ``InvalidArgument`` whose ``details["field"]`` names the field
(``notifiers[1].url``), raised before anything is written. Webhook and Slack URLs pass the
registry webhooks' address guard (with its administrator allow-list) here and again before
every delivery.
"""

from __future__ import annotations

import math
import re
from collections.abc import Collection, Mapping, Sequence
from typing import TYPE_CHECKING, Any, Final

from .._sealed_secrets import seal_secret
from ..errors import InvalidArgument
from ..registry._webhook_delivery import check_target
from ._alert_rules import KINDS, MAX_WINDOWS, OPS, Condition, Severity

if TYPE_CHECKING:
    from ..platform import Platform

__all__ = [
    "check_action",
    "check_condition",
    "check_notifiers",
    "public_notifiers",
    "redact_url",
    "secret_context",
    "text_field",
]

MAX_NOTIFIERS: Final = 10
MAX_RECIPIENTS: Final = 20
MAX_ARGV: Final = 100
MAX_ARG_CHARS: Final = 4096
MAX_ACTION_SECONDS: Final = 86_400
MAX_RENOTIFY_SECONDS: Final = 30 * 86_400
NOTIFIER_FIELDS: Final = {
    "webhook": {"kind", "url", "secret"},
    "slack": {"kind", "url"},
    "email": {"kind", "to"},
    "log": {"kind"},
}
_EMAIL = re.compile(
    r"[A-Za-z0-9.!#$%&'*+/=?^_`{|}~-]{1,64}@[A-Za-z0-9-]{1,63}(\.[A-Za-z0-9-]{1,63})+"
)
_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9 ._:/-]{0,199}")


def _bad(field: str, message: str) -> InvalidArgument:
    return InvalidArgument(f"{field}: {message}", details={"field": field})


def text_field(value: object, field: str, pattern: re.Pattern[str] = _NAME) -> str:
    """A name-like text: letters, digits, space and ``._:/-``, 1 to 200 characters."""
    if not isinstance(value, str) or not pattern.fullmatch(value):
        raise _bad(
            field,
            "must be 1 to 200 characters: letters, digits, spaces and ._:/- "
            "(starting with a letter or digit)",
        )
    return value


def _whole(value: object, field: str, low: int, high: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        raise _bad(field, f"must be a whole number from {low} to {high}")
    return value


def check_condition(
    *, metric: object, kind: object, op: object, value: object, windows: object, relative: object
) -> Condition:
    """The rule's condition, checked."""
    text_field(metric, "metric")
    if kind not in KINDS:
        raise _bad("kind", f"must be one of {', '.join(KINDS)}")
    if op not in OPS:
        raise _bad("op", f"must be one of {', '.join(OPS)}")
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise _bad("value", "must be a finite number")
    if not isinstance(relative, bool):
        raise _bad("relative", "must be true or false")
    low = 2 if kind == "consecutive" else 1
    count = _whole(windows, "windows", low, MAX_WINDOWS) if kind != "threshold" else 1
    if kind == "threshold" and windows != 1:
        raise _bad("windows", "applies to consecutive and baseline rules only; leave it at 1")
    if kind == "baseline" and value < 0:
        raise _bad("value", "a deviation must be >= 0")
    if relative and kind != "baseline":
        raise _bad("relative", "applies to baseline rules only")
    return Condition(str(metric), str(kind), str(op), float(value), count, relative)


def check_severity(value: object) -> Severity:
    try:
        return Severity(str(value)) if isinstance(value, str) else Severity("")
    except ValueError:
        raise _bad("severity", f"must be one of {', '.join(s.value for s in Severity)}") from None


def check_renotify(value: object) -> int:
    return _whole(value, "renotify_seconds", 0, MAX_RENOTIFY_SECONDS)


def secret_context(rule_id: str, index: int) -> str:
    """What a webhook notifier's sealed secret is bound to."""
    return f"alert-webhook:{rule_id}:{index}"


def _url(item: Mapping[str, Any], field: str, hosts: Collection[str]) -> str:
    url = item.get("url")
    if not isinstance(url, str):
        raise _bad(field, "must be an http or https URL")
    try:
        return check_target(url, allowed_hosts=hosts).url
    except InvalidArgument as exc:
        raise InvalidArgument(f"{field}: {exc.message}", details={"field": field}) from None


def check_notifiers(
    platform: Platform, rule_id: str, notifiers: object, hosts: Collection[str]
) -> list[dict[str, Any]]:
    """The notifiers as stored (webhook secrets sealed). ``PermissionDenied`` from the
    address guard for a private target that no administrator allowed."""
    if isinstance(notifiers, str | bytes | Mapping) or not isinstance(notifiers, Sequence):
        raise _bad("notifiers", "must be a list of notifier objects")
    if len(notifiers) > MAX_NOTIFIERS:
        raise _bad("notifiers", f"at most {MAX_NOTIFIERS} notifiers per rule")
    stored: list[dict[str, Any]] = []
    for index, item in enumerate(notifiers):
        field = f"notifiers[{index}]"
        if not isinstance(item, Mapping):
            raise _bad(field, "must be an object with a kind")
        kind = item.get("kind")
        if kind not in NOTIFIER_FIELDS:
            raise _bad(f"{field}.kind", f"must be one of {', '.join(sorted(NOTIFIER_FIELDS))}")
        unknown = sorted(set(item) - NOTIFIER_FIELDS[kind])
        if unknown:
            raise _bad(f"{field}.{unknown[0]}", f"is not a field of a {kind} notifier")
        if kind == "webhook":
            secret = item.get("secret")
            if not isinstance(secret, str) or not 16 <= len(secret) <= 512 or not secret.isascii():
                raise _bad(f"{field}.secret", "must be 16 to 512 ASCII characters")
            url = _url(item, f"{field}.url", hosts)
            sealed = seal_secret(platform.blobs.keyring, secret_context(rule_id, index), secret)
            stored.append({"kind": kind, "url": url, "secret": sealed})
        elif kind == "slack":
            stored.append({"kind": kind, "url": _url(item, f"{field}.url", hosts)})
        elif kind == "email":
            stored.append({"kind": kind, "to": _recipients(platform, item.get("to"), field)})
        else:
            stored.append({"kind": kind})
    return stored


def _recipients(platform: Platform, to: object, field: str) -> list[str]:
    if not platform.settings.smtp_host or not platform.settings.smtp_from:
        raise _bad(
            f"{field}.kind",
            "e-mail needs an SMTP server: set MLSTEWARD_SMTP_HOST and MLSTEWARD_SMTP_FROM",
        )
    if isinstance(to, str) or not isinstance(to, Sequence) or not 1 <= len(to) <= MAX_RECIPIENTS:
        raise _bad(f"{field}.to", f"must be a list of 1 to {MAX_RECIPIENTS} e-mail addresses")
    for address in to:
        if not isinstance(address, str) or len(address) > 254 or not _EMAIL.fullmatch(address):
            raise _bad(f"{field}.to", f"{str(address)[:80]!r} is not an e-mail address")
    return list(dict.fromkeys(to))


def redact_url(url: str) -> str:
    """``https://hooks.slack.com/…``: a Slack webhook's path is its credential."""
    scheme, _, rest = url.partition("://")
    return f"{scheme}://{rest.split('/', 1)[0]}/…"


def public_notifiers(stored: Sequence[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """The notifiers as shown: without webhook secrets or Slack webhook paths."""
    shown = []
    for item in stored:
        public = {k: v for k, v in item.items() if k != "secret"}
        if item.get("kind") == "slack":
            public["url"] = redact_url(str(item.get("url", "")))
        shown.append(public)
    return shown


def check_action(action: object, registered: Collection[str]) -> dict[str, Any] | None:
    """The action as stored: ``{"kind": "callable", "name"}`` naming a registered action, or
    ``{"kind": "command", "argv", "timeout_seconds"}``."""
    if action is None:
        return None
    if not isinstance(action, Mapping):
        raise _bad("action", "must be an object with a kind, or null")
    kind = action.get("kind")
    if kind == "callable":
        if set(action) - {"kind", "name"}:
            raise _bad(f"action.{sorted(set(action) - {'kind', 'name'})[0]}", "is not a field")
        name = action.get("name")
        if not isinstance(name, str) or name not in registered:
            known = ", ".join(sorted(registered)) or "none registered"
            raise _bad(
                "action.name",
                f"{str(name)[:80]!r} is not a registered retraining action ({known}); "
                "register it with register_retraining_action()",
            )
        return {"kind": kind, "name": name}
    if kind == "command":
        extra = set(action) - {"kind", "argv", "timeout_seconds"}
        if extra:
            raise _bad(f"action.{sorted(extra)[0]}", "is not a field")
        argv = action.get("argv")
        if (
            isinstance(argv, str)
            or not isinstance(argv, Sequence)
            or not 1 <= len(argv) <= MAX_ARGV
            or not all(
                isinstance(a, str) and len(a) <= MAX_ARG_CHARS and "\x00" not in a for a in argv
            )
            or not argv[0]
        ):
            raise _bad(
                "action.argv",
                f"must be a list of 1 to {MAX_ARGV} strings (the program first; no shell)",
            )
        timeout = _whole(
            action.get("timeout_seconds", 3600), "action.timeout_seconds", 1, MAX_ACTION_SECONDS
        )
        return {"kind": kind, "argv": list(argv), "timeout_seconds": timeout}
    raise _bad("action.kind", "must be callable or command")
