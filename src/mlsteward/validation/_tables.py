"""Validation tables: expectation suites, which datasets they are attached to, and results.

They join the kernel's ``metadata`` so one migration history covers everything.
"""

from __future__ import annotations

from sqlalchemy import Boolean, Column, ForeignKey, Index, String, Table, Text, UniqueConstraint

from ..store._tables import metadata
from ..store._types import JSONText, UTCDateTime

ID = String(32)

# ``definition`` is the suite's canonical JSON (type tag and schema_version included).
validation_suites = Table(
    "validation_suites",
    metadata,
    Column("id", ID, primary_key=True),
    Column("project_id", ID, ForeignKey("projects.id", ondelete="CASCADE"), nullable=False),
    Column("name", String(128), nullable=False),
    Column("description", Text, nullable=False, default=""),
    Column("definition", JSONText, nullable=False),
    Column("created_at", UTCDateTime, nullable=False),
    Column("created_by", String(200), nullable=False),
    Column("updated_at", UTCDateTime, nullable=False),
    UniqueConstraint("project_id", "name", name="uq_validation_suites_project_id_name"),
)

# A suite attached to a dataset validates every new version of it.
validation_suite_datasets = Table(
    "validation_suite_datasets",
    metadata,
    Column(
        "suite_id", ID, ForeignKey("validation_suites.id", ondelete="CASCADE"), primary_key=True
    ),
    Column("dataset_id", ID, ForeignKey("datasets.id", ondelete="CASCADE"), primary_key=True),
    Column("created_at", UTCDateTime, nullable=False),
)

# One row per evaluation. ``results`` holds each check's outcome with its observed value and
# failing-row samples, PII masked before they are written.
validation_results = Table(
    "validation_results",
    metadata,
    Column("id", ID, primary_key=True),
    Column("project_id", ID, ForeignKey("projects.id", ondelete="CASCADE"), nullable=False),
    Column("suite_id", ID, ForeignKey("validation_suites.id", ondelete="SET NULL"), nullable=True),
    Column("suite_name", String(128), nullable=False),
    Column(
        "dataset_version_id",
        ID,
        ForeignKey("dataset_versions.id", ondelete="CASCADE"),
        nullable=True,
    ),
    Column("success", Boolean, nullable=False),
    Column("engine", String(16), nullable=False),
    Column("statistics", JSONText, nullable=False),
    Column("results", JSONText, nullable=False),
    Column("created_at", UTCDateTime, nullable=False),
    Column("created_by", String(200), nullable=False),
    Index("ix_validation_results_dataset_version_id", "dataset_version_id"),
)
