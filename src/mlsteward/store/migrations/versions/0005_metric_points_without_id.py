"""metric_points without its surrogate key (bulk-load speed on PostgreSQL)

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-29 04:50:00
"""

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("metric_points", schema=None) as batch_op:
        batch_op.drop_column("id")


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute(
            "ALTER TABLE metric_points ADD COLUMN id BIGSERIAL, "
            "ADD CONSTRAINT pk_metric_points PRIMARY KEY (id)"
        )
        return
    # SQLite: the copied rows get rowids as their INTEGER PRIMARY KEY.
    with op.batch_alter_table("metric_points", recreate="always") as batch_op:
        batch_op.add_column(sa.Column("id", sa.Integer(), nullable=True))
        batch_op.create_primary_key("pk_metric_points", ["id"])
