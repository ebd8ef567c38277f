"""Monitoring tables: the prediction windows serving ships (profiles, sampled rows, labels).

They join the kernel's ``metadata`` so one migration history covers everything.
"""

from __future__ import annotations

from sqlalchemy import Column, ForeignKey, Index, Integer, String, Table

from ..store._tables import metadata
from ..store._types import JSONText, UTCDateTime

ID = String(32)

# One row per shipped window of one server process (``source``): several replicas ship
# windows with the same start; monitoring merges their profiles. The three blobs are the
# window's profile JSON, its sampled rows and its feedback labels (Parquet).
prediction_windows = Table(
    "prediction_windows",
    metadata,
    Column("id", ID, primary_key=True),
    Column("project_id", ID, ForeignKey("projects.id", ondelete="CASCADE"), nullable=False),
    Column("model_name", String(200), nullable=False),
    Column("model_version", String(64), nullable=False),
    Column("deployment", String(64), nullable=True),
    Column("window_start", UTCDateTime, nullable=False),
    Column("window_end", UTCDateTime, nullable=False),
    Column("rows", Integer, nullable=False),
    Column("sampled_rows", Integer, nullable=False),
    Column("feedback_labels", Integer, nullable=False),
    Column("output_columns", JSONText, nullable=False),
    Column("source", String(200), nullable=False),
    Column("profile_address", String(64), nullable=False),
    Column("rows_address", String(64), nullable=False),
    Column("feedback_address", String(64), nullable=False),
    Column("created_at", UTCDateTime, nullable=False),
    Column("created_by", String(200), nullable=False),
    Index(
        "ix_prediction_windows_project_id_model_name_window_start",
        "project_id",
        "model_name",
        "window_start",
    ),
)
