"""Version numbers: 1, 2, 3... per parent (a registered model, a dataset)."""

from __future__ import annotations

from typing import Any

from sqlalchemy import Column, Connection, func, select


def next_number(conn: Connection, number: Column[Any], parent: Column[Any], parent_id: str) -> int:
    """One more than the highest ``number`` under ``parent_id`` (1 for the first). Call it in
    the write transaction that inserts the row, with the parent row locked, so two writers
    cannot take the same number (the unique constraint backs that up)."""
    highest = conn.execute(select(func.max(number)).where(parent == parent_id)).scalar_one_or_none()
    return int(highest or 0) + 1
