"""Raw blob access through the service layer: permission checks, upload limit, audit.

``BlobStore`` (``mlsteward.blobs``) is kernel storage and knows nothing of actors; this module
is the one place where an actor reaches it directly. Raw access is for administrators; later
subsystems give project-scoped access through their own artifacts and call the store
themselves after their own checks.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, BinaryIO

from .security import Actor, Scope, require_admin
from .store._blob_refs import keep_blob

if TYPE_CHECKING:
    from .blobs import BlobInfo
    from .platform import Platform

__all__ = ["UPLOAD_OWNER", "blob_size", "open_blob", "put_blob"]

UPLOAD_OWNER = "upload"
"""``blob_refs.owner_type`` of blobs uploaded directly through ``put_blob``."""


def put_blob(platform: Platform, actor: Actor, source: Any) -> BlobInfo:
    """Store everything read from ``source`` (a blocking binary stream) and audit it.

    Administrators only (``admin`` scope), checked before a byte is read. Raises
    ``PayloadTooLarge`` past ``max_upload_bytes`` (nothing stored or audited). The upload is
    recorded as a blob reference (owner ``upload``), so garbage collection keeps it. The blob
    is published before that row and the ``blob.put`` event are written: if they fail, the
    blob is left unreferenced and garbage collection removes it after its grace period.
    """
    require_admin(actor)
    info = platform.blobs.put_stream(source, max_bytes=platform.settings.max_upload_bytes)
    with platform.db.write() as conn:
        keep_blob(conn, info.address, UPLOAD_OWNER, info.address, info.size)
        platform.audit.record(
            conn,
            actor,
            "blob.put",
            target_type="blob",
            target_id=info.address,
            details={"size": info.size, "created": info.created},
        )
    return info


def open_blob(platform: Platform, actor: Actor, address: str) -> BinaryIO:
    """A streaming reader of a blob (administrators, ``read`` scope); close it when done.

    Raises ``InvalidArgument`` for a malformed address and ``NotFound`` when absent; reading
    to the end raises ``IntegrityError`` if the stored object is corrupt.
    """
    require_admin(actor, Scope.READ)
    return platform.blobs.open(address)


def blob_size(platform: Platform, actor: Actor, address: str) -> int:
    """A blob's size in bytes (administrators, ``read`` scope); ``NotFound`` when absent."""
    require_admin(actor, Scope.READ)
    return platform.blobs.size(address)
