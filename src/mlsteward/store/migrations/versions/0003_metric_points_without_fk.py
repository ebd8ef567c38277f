"""metric_points without a foreign key on run_id (bulk-load speed)

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-29 03:36:00
"""

from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("metric_points", schema=None) as batch_op:
        batch_op.drop_constraint("fk_metric_points_run_id_runs", type_="foreignkey")


def downgrade() -> None:
    with op.batch_alter_table("metric_points", schema=None) as batch_op:
        batch_op.create_foreign_key(
            "fk_metric_points_run_id_runs", "runs", ["run_id"], ["id"], ondelete="CASCADE"
        )
