"""dataset monitors: a monitor may watch the versions of a table dataset

Revision ID: 0016
Revises: 0015
Create Date: 2026-11-29 19:40:00.000000
"""

import sqlalchemy as sa
from alembic import op

revision = "0016"
down_revision = "0015"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("monitors") as batch:
        batch.add_column(sa.Column("dataset", sa.String(length=128), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("monitors") as batch:
        batch.drop_column("dataset")
