"""index runs on (project_id, start_time): searches in the default order walk it

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-29 04:40:00
"""

from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index("ix_runs_project_id_start_time", "runs", ["project_id", "start_time"])


def downgrade() -> None:
    op.drop_index("ix_runs_project_id_start_time", table_name="runs")
