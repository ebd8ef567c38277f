"""What blob store operations return."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

ProgressCallback = Callable[[int], None]
"""Called with the number of bytes just processed (an increment, not a running total)."""


@dataclass(frozen=True, slots=True)
class BlobInfo:
    """A stored blob: its address, plaintext size in bytes, and whether this put stored it."""

    address: str
    size: int
    created: bool

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form."""
        return {"address": self.address, "size": self.size, "created": self.created}


@dataclass(slots=True)
class VerifyReport:
    """Outcome of ``BlobStore.verify``.

    ``corrupt``: objects whose content does not match their address or fails authentication.
    ``missing_keys``: encrypted objects whose wrapped data key (sidecar) is absent or names a
    master key the keyring lacks. ``missing``: expected addresses with no object.
    ``problems`` maps every address above to a readable reason. ``objects`` and ``bytes``
    count what was checked (plaintext bytes).
    """

    objects: int = 0
    bytes: int = 0
    corrupt: list[str] = field(default_factory=list)
    missing_keys: list[str] = field(default_factory=list)
    missing: list[str] = field(default_factory=list)
    problems: dict[str, str] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        """True when nothing is corrupt, undecryptable or missing."""
        return not (self.corrupt or self.missing_keys or self.missing)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form."""
        return {
            "ok": self.ok,
            "objects": self.objects,
            "bytes": self.bytes,
            "corrupt": list(self.corrupt),
            "missing_keys": list(self.missing_keys),
            "missing": list(self.missing),
            "problems": dict(self.problems),
        }


@dataclass(slots=True)
class GcReport:
    """Outcome of ``BlobStore.gc`` (with ``dry_run``, what would have been deleted).

    ``deleted``/``deleted_bytes``: unreferenced objects older than the grace period (stored
    bytes). ``kept``: referenced objects. ``young``: unreferenced objects inside the grace
    period. ``temp_deleted``: stale temporary files. ``orphan_keys_deleted``: wrapped data keys
    whose object no longer exists.
    """

    dry_run: bool
    deleted: int = 0
    deleted_bytes: int = 0
    kept: int = 0
    young: int = 0
    temp_deleted: int = 0
    orphan_keys_deleted: int = 0

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form."""
        return {
            "dry_run": self.dry_run,
            "deleted": self.deleted,
            "deleted_bytes": self.deleted_bytes,
            "kept": self.kept,
            "young": self.young,
            "temp_deleted": self.temp_deleted,
            "orphan_keys_deleted": self.orphan_keys_deleted,
        }
