"""prediction windows

Revision ID: 0012
Revises: 0011
Create Date: 2026-11-29 13:50:00.000000
"""

import sqlalchemy as sa
from alembic import op

from mlsteward.store._types import JSONText, UTCDateTime

revision = "0012"
down_revision = "0011"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "prediction_windows",
        sa.Column("id", sa.String(length=32), nullable=False),
        sa.Column("project_id", sa.String(length=32), nullable=False),
        sa.Column("model_name", sa.String(length=200), nullable=False),
        sa.Column("model_version", sa.String(length=64), nullable=False),
        sa.Column("deployment", sa.String(length=64), nullable=True),
        sa.Column("window_start", UTCDateTime(), nullable=False),
        sa.Column("window_end", UTCDateTime(), nullable=False),
        sa.Column("rows", sa.Integer(), nullable=False),
        sa.Column("sampled_rows", sa.Integer(), nullable=False),
        sa.Column("feedback_labels", sa.Integer(), nullable=False),
        sa.Column("output_columns", JSONText(), nullable=False),
        sa.Column("source", sa.String(length=200), nullable=False),
        sa.Column("profile_address", sa.String(length=64), nullable=False),
        sa.Column("rows_address", sa.String(length=64), nullable=False),
        sa.Column("feedback_address", sa.String(length=64), nullable=False),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.Column("created_by", sa.String(length=200), nullable=False),
        sa.ForeignKeyConstraint(
            ["project_id"],
            ["projects.id"],
            name=op.f("fk_prediction_windows_project_id_projects"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_prediction_windows")),
    )
    with op.batch_alter_table("prediction_windows", schema=None) as batch_op:
        batch_op.create_index(
            "ix_prediction_windows_project_id_model_name_window_start",
            ["project_id", "model_name", "window_start"],
            unique=False,
        )


def downgrade() -> None:
    with op.batch_alter_table("prediction_windows", schema=None) as batch_op:
        batch_op.drop_index("ix_prediction_windows_project_id_model_name_window_start")
    op.drop_table("prediction_windows")
