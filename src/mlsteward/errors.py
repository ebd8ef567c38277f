"""The one error tree of mlsteward.

Every error carries a stable ``code`` (part of the API contract: the server maps codes to HTTP
statuses in one table, and the remote client turns the server's JSON back into the same class), a
message that says what to do next, and JSON-serialisable ``details``.
"""

from __future__ import annotations

from typing import Any, ClassVar

__all__ = [
    "AlreadyExists",
    "ConfigurationError",
    "Conflict",
    "DecryptionFailed",
    "IntegrityError",
    "InvalidArgument",
    "MissingExtra",
    "NotFound",
    "PayloadTooLarge",
    "PermissionDenied",
    "PolicyNotMet",
    "RateLimited",
    "SchemaOutOfDate",
    "SignatureViolation",
    "StewardError",
    "Unauthenticated",
    "Unavailable",
    "UnsafeModelFile",
    "error_class_for_code",
    "error_from_payload",
]


class StewardError(Exception):
    """Base of every error mlsteward raises on purpose."""

    code: ClassVar[str] = "internal"

    def __init__(self, message: str, *, details: dict[str, Any] | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.details: dict[str, Any] = dict(details or {})

    def to_payload(self) -> dict[str, Any]:
        """The one JSON error shape: ``{"error": {"code", "message", "details"}}``."""
        return {"error": {"code": self.code, "message": self.message, "details": self.details}}

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.message!r})"


class InvalidArgument(StewardError, ValueError):
    """The caller passed something malformed, out of range or hostile."""

    code = "invalid_argument"


class NotFound(StewardError, LookupError):
    """The named thing does not exist (or the caller may not know that it exists)."""

    code = "not_found"


class AlreadyExists(StewardError):
    """A thing with that unique name already exists."""

    code = "already_exists"


class Conflict(StewardError):
    """The request conflicts with the current state (write-once value, concurrent change)."""

    code = "conflict"


class Unauthenticated(StewardError):
    """No valid credentials were presented."""

    code = "unauthenticated"


class PermissionDenied(StewardError):
    """The actor is known but lacks the role or scope the action needs."""

    code = "permission_denied"


class PolicyNotMet(PermissionDenied):
    """A promotion was refused by the alias's policy; ``details["unmet"]`` lists every unmet
    condition (``{"condition", "message"}``), not only the first."""

    code = "policy_not_met"


class RateLimited(StewardError):
    """Too many attempts; ``details["retry_after"]`` says how many seconds to wait."""

    code = "rate_limited"


class PayloadTooLarge(StewardError):
    """A request body or upload is bigger than the configured limit."""

    code = "payload_too_large"


class IntegrityError(StewardError):
    """Stored data failed a check: corrupt object, broken audit chain, bad signature."""

    code = "integrity_error"


class DecryptionFailed(IntegrityError):
    """Encrypted data could not be decrypted: wrong or missing master key, or tampering."""

    code = "decryption_failed"


class UnsafeModelFile(IntegrityError):
    """A model file would run code when loaded (a pickle importing globals outside the
    allow-list); ``details["globals"]`` lists them. Load it only with an explicit, audited
    trust decision."""

    code = "unsafe_model_file"


class SignatureViolation(InvalidArgument):
    """Prediction input does not match the model's signature; the message names the column
    and what was expected."""

    code = "signature_violation"


class SchemaOutOfDate(StewardError):
    """The metadata database is not at the schema this release needs."""

    code = "schema_out_of_date"


class ConfigurationError(StewardError):
    """Settings are missing or contradict each other."""

    code = "configuration_error"


class MissingExtra(StewardError, ImportError):
    """An optional dependency is not installed; the message names the extra to install."""

    code = "missing_extra"


class Unavailable(StewardError):
    """A backing service (database, object store) could not be reached."""

    code = "unavailable"


def _all_subclasses(cls: type[StewardError]) -> list[type[StewardError]]:
    found: list[type[StewardError]] = [cls]
    for sub in cls.__subclasses__():
        found.extend(_all_subclasses(sub))
    return found


def error_class_for_code(code: str) -> type[StewardError]:
    """The error class registered for ``code``; ``StewardError`` for an unknown code."""
    for cls in _all_subclasses(StewardError):
        if cls.code == code:
            return cls
    return StewardError


def error_from_payload(payload: Any) -> StewardError:
    """Rebuild the error a server sent in the one JSON error shape."""
    body = payload.get("error") if isinstance(payload, dict) else None
    if not isinstance(body, dict):
        return StewardError(f"server sent an unexpected error body: {payload!r}"[:500])
    code = str(body.get("code", "internal"))
    message = str(body.get("message", ""))
    details = body.get("details")
    cls = error_class_for_code(code)
    return cls(message, details=details if isinstance(details, dict) else None)
