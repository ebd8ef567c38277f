"""prediction windows carry their serving statistics (requests, errors, latency histogram)

Revision ID: 0015
Revises: 0014
Create Date: 2026-11-29 19:35:00.000000
"""

import sqlalchemy as sa
from alembic import op

from mlsteward.store._types import JSONText

revision = "0015"
down_revision = "0014"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("prediction_windows") as batch:
        batch.add_column(sa.Column("serving", JSONText(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("prediction_windows") as batch:
        batch.drop_column("serving")
