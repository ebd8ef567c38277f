"""Tracking tables: experiments, runs, parameters, tags, metric points, latest metrics,
artifacts. They join the kernel's ``metadata`` so one migration history covers everything."""

from __future__ import annotations

from sqlalchemy import (
    BigInteger,
    Boolean,
    Column,
    Float,
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
KEY = String(250)
BIGINT = BigInteger().with_variant(Integer, "sqlite")

experiments = Table(
    "experiments",
    metadata,
    Column("id", ID, primary_key=True),
    Column("project_id", ID, ForeignKey("projects.id", ondelete="CASCADE"), nullable=False),
    Column("name", String(200), nullable=False),
    Column("description", Text, nullable=False, default=""),
    Column("created_at", UTCDateTime, nullable=False),
    Column("created_by", String(200), nullable=False),
    Column("deleted_at", UTCDateTime, nullable=True),
    UniqueConstraint("project_id", "name", name="uq_experiments_project_id_name"),
)

runs = Table(
    "runs",
    metadata,
    Column("id", ID, primary_key=True),
    Column("experiment_id", ID, ForeignKey("experiments.id", ondelete="CASCADE"), nullable=False),
    Column("project_id", ID, ForeignKey("projects.id", ondelete="CASCADE"), nullable=False),
    Column("name", String(250), nullable=False),
    Column("status", String(16), nullable=False),
    Column("start_time", UTCDateTime, nullable=False),
    Column("end_time", UTCDateTime, nullable=True),
    Column("heartbeat_at", UTCDateTime, nullable=False),
    Column("parent_run_id", ID, ForeignKey("runs.id", ondelete="SET NULL"), nullable=True),
    Column("notes", Text, nullable=False, default=""),
    Column("created_by", String(200), nullable=False),
    Column("environment", JSONText, nullable=False),
    Column("deleted_at", UTCDateTime, nullable=True),
    Index("ix_runs_experiment_id_start_time", "experiment_id", "start_time"),
    Index("ix_runs_project_id_start_time", "project_id", "start_time"),
    Index("ix_runs_status_heartbeat_at", "status", "heartbeat_at"),
    Index("ix_runs_parent_run_id", "parent_run_id"),
)

run_params = Table(
    "run_params",
    metadata,
    Column("run_id", ID, ForeignKey("runs.id", ondelete="CASCADE"), primary_key=True),
    Column("key", KEY, primary_key=True),
    Column("value", Text, nullable=False),
    Index("ix_run_params_key_value", "key", "run_id"),
)

run_tags = Table(
    "run_tags",
    metadata,
    Column("run_id", ID, ForeignKey("runs.id", ondelete="CASCADE"), primary_key=True),
    Column("key", KEY, primary_key=True),
    Column("value", Text, nullable=False),
    Index("ix_run_tags_key_run_id", "key", "run_id"),
)

# The full history of every metric. NaN is stored as value 0 with is_nan (SQLite turns a NaN
# REAL into NULL); +-inf are stored as themselves. Built for bulk loading (measured with COPY
# on PostgreSQL): no foreign key on run_id (a per-row check halved the rate; the only writer,
# ``log_batch``, checks the run in its transaction, and purging deletes points before runs)
# and no surrogate key (a bigserial primary key cost another 30%: 518k -> 361k rows/s).
# Points of one metric with the same step and timestamp come back in no particular order.
metric_points = Table(
    "metric_points",
    metadata,
    Column("run_id", ID, nullable=False),
    Column("key", KEY, nullable=False),
    Column("value", Float(precision=53), nullable=False),
    Column("is_nan", Boolean, nullable=False),
    Column("step", BigInteger, nullable=False),
    Column("ts", BigInteger, nullable=False),  # milliseconds since the epoch, as MLflow
    Index("ix_metric_points_run_id_key_step", "run_id", "key", "step"),
)

# One row per (run, metric): the point with the highest step (then the newest timestamp),
# so searching and ordering by a metric never scans the history.
latest_metrics = Table(
    "latest_metrics",
    metadata,
    Column("run_id", ID, ForeignKey("runs.id", ondelete="CASCADE"), primary_key=True),
    Column("key", KEY, primary_key=True),
    Column("value", Float(precision=53), nullable=False),
    Column("is_nan", Boolean, nullable=False),
    Column("step", BigInteger, nullable=False),
    Column("ts", BigInteger, nullable=False),
    Index("ix_latest_metrics_key_value", "key", "value"),
)

run_artifacts = Table(
    "run_artifacts",
    metadata,
    Column("run_id", ID, ForeignKey("runs.id", ondelete="CASCADE"), primary_key=True),
    Column("path", String(1024), primary_key=True),
    Column("address", String(64), nullable=False),
    Column("size", BigInteger, nullable=False),
    Column("created_at", UTCDateTime, nullable=False),
)
