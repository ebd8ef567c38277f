"""Reading one blob of a dataset version (remote checkout and loading): only the blobs that
version references, to viewers of its project."""

from __future__ import annotations

from typing import TYPE_CHECKING, BinaryIO

from sqlalchemy import select

from ..blobs import check_address
from ..errors import NotFound
from ..store._tables import blob_refs
from ._uploads import VERSION_OWNER

if TYPE_CHECKING:
    from ..platform import Platform
    from ..security import Actor


def open_version_blob(
    platform: Platform, actor: Actor, project: str, name: str, version: int, address: str
) -> tuple[BinaryIO, int]:
    """A reader of the blob at ``address`` and its size, if version ``version`` of ``name``
    references it (viewers); ``NotFound`` otherwise, whether or not the store holds it, so
    the answer tells nothing about other versions or projects."""
    from ._versions import get_dataset_version

    check_address(address)
    found = get_dataset_version(platform, actor, project, name, version)
    with platform.db.read() as conn:
        row = conn.execute(
            select(blob_refs.c.size).where(
                blob_refs.c.address == address,
                blob_refs.c.owner_type == VERSION_OWNER,
                blob_refs.c.owner_id == found.id,
            )
        ).first()
    if row is None:
        raise NotFound(f"version {version} of dataset {name!r} has no blob {address}")
    return platform.blobs.open(address), int(row.size)
