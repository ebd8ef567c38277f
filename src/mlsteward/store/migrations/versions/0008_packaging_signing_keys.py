"""packaging signing keys

Revision ID: 0008
Revises: 0007
Create Date: 2026-11-29 05:13:22.640458
"""

import sqlalchemy as sa
from alembic import op

from mlsteward.store._types import UTCDateTime

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "trusted_signing_keys",
        sa.Column("key_id", sa.String(length=32), nullable=False),
        sa.Column("name", sa.String(length=64), nullable=False),
        sa.Column("public_key", sa.Text(), nullable=False),
        sa.Column("added_by", sa.String(length=200), nullable=False),
        sa.Column("added_at", UTCDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("key_id", name=op.f("pk_trusted_signing_keys")),
        sa.UniqueConstraint("name", name="uq_trusted_signing_keys_name"),
    )


def downgrade() -> None:
    op.drop_table("trusted_signing_keys")
