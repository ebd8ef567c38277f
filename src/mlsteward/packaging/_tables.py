"""Packaging tables: the public keys whose package signatures the platform trusts.

They join the kernel's ``metadata`` so one migration history covers everything.
"""

from __future__ import annotations

from sqlalchemy import Column, String, Table, Text, UniqueConstraint

from ..store._tables import metadata
from ..store._types import UTCDateTime

# One row per trusted Ed25519 public key. ``key_id`` is recomputed from the key itself when
# it is added, so a row can never claim an id its key does not have.
trusted_signing_keys = Table(
    "trusted_signing_keys",
    metadata,
    Column("key_id", String(32), primary_key=True),
    Column("name", String(64), nullable=False),
    Column("public_key", Text, nullable=False),
    Column("added_by", String(200), nullable=False),
    Column("added_at", UTCDateTime, nullable=False),
    UniqueConstraint("name", name="uq_trusted_signing_keys_name"),
)
