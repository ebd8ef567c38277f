"""Monitoring tables: the prediction windows serving ships (profiles, sampled rows, labels),
monitors and their per-window results.

They join the kernel's ``metadata`` so one migration history covers everything.
"""

from __future__ import annotations

from sqlalchemy import (
    Boolean,
    Column,
    ForeignKey,
    Index,
    Integer,
    String,
    Table,
    Text,
    UniqueConstraint,
)

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
    # ``ServingStats.to_json()`` of the window (requests, errors, latency histogram); None for
    # windows shipped before servers sent it.
    Column("serving", JSONText, nullable=True),
    Index(
        "ix_prediction_windows_project_id_model_name_window_start",
        "project_id",
        "model_name",
        "window_start",
    ),
)

# A monitor watches one stream: a deployment's prediction windows, a registered model's
# (optionally one version's), or the versions of a table dataset (``dataset``). ``reference``,
# ``drift_options``, ``quality`` and ``fairness`` are the checked JSON forms of ``Monitor``
# (see ``_monitor_model``).
monitors = Table(
    "monitors",
    metadata,
    Column("id", ID, primary_key=True),
    Column("project_id", ID, ForeignKey("projects.id", ondelete="CASCADE"), nullable=False),
    Column("name", String(64), nullable=False),
    Column("deployment", String(64), nullable=True),
    Column("model_name", String(200), nullable=True),
    Column("model_version", String(64), nullable=True),
    Column("dataset", String(128), nullable=True),  # a dataset stream: the dataset's name
    Column("reference", JSONText, nullable=False),
    Column("window_seconds", Integer, nullable=False),
    Column("drift_options", JSONText, nullable=False),
    Column("quality", JSONText, nullable=True),
    Column("fairness", JSONText, nullable=True),
    Column("enabled", Boolean, nullable=False),
    Column("created_at", UTCDateTime, nullable=False),
    Column("created_by", String(200), nullable=False),
    Column("updated_at", UTCDateTime, nullable=False),
    Column("updated_by", String(200), nullable=False),
    UniqueConstraint("project_id", "name", name="uq_monitors_project_id_name"),
)

# One row per evaluated window of a monitor. The row is inserted first as the claim of the
# window (status ``running``, ``lease_until``): the unique (monitor_id, window_start) lets one
# evaluator of all the replicas have it; a claim whose lease expired may be taken over.
monitor_results = Table(
    "monitor_results",
    metadata,
    Column("id", ID, primary_key=True),
    Column("monitor_id", ID, ForeignKey("monitors.id", ondelete="CASCADE"), nullable=False),
    Column("window_start", UTCDateTime, nullable=False),
    Column("window_end", UTCDateTime, nullable=False),
    Column("status", String(16), nullable=False),
    Column("claimed_by", String(200), nullable=False),
    Column("lease_until", UTCDateTime, nullable=True),
    Column("evaluated_at", UTCDateTime, nullable=True),
    Column("metrics", JSONText, nullable=False),
    Column("report", JSONText, nullable=False),
    Column("error", Text, nullable=True),
    UniqueConstraint(
        "monitor_id", "window_start", name="uq_monitor_results_monitor_id_window_start"
    ),
)
