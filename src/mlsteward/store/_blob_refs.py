"""Blob references: the rows that keep a blob from garbage collection."""

from __future__ import annotations

from sqlalchemy import Connection, insert, select

from ._tables import blob_refs
from ._types import utcnow


def keep_blob(conn: Connection, address: str, owner_type: str, owner_id: str, size: int) -> None:
    """Reference ``address`` for ``(owner_type, owner_id)``, unless that reference exists."""
    exists = conn.execute(
        select(blob_refs.c.address).where(
            blob_refs.c.address == address,
            blob_refs.c.owner_type == owner_type,
            blob_refs.c.owner_id == owner_id,
        )
    ).first()
    if exists is None:
        conn.execute(
            insert(blob_refs).values(
                address=address,
                owner_type=owner_type,
                owner_id=owner_id,
                size=size,
                created_at=utcnow(),
            )
        )
