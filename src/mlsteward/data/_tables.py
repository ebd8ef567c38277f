"""Data tables: datasets (the catalog), their versions, per-column catalog entries and the
lineage graph. They join the kernel's ``metadata`` so one migration history covers everything.
"""

from __future__ import annotations

from sqlalchemy import (
    BigInteger,
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

# The catalog entry. ``search_text`` is what full-text search indexes: name, description,
# tags, owners and column names, rebuilt by the service on every change.
datasets = Table(
    "datasets",
    metadata,
    Column("id", ID, primary_key=True),
    Column("project_id", ID, ForeignKey("projects.id", ondelete="CASCADE"), nullable=False),
    Column("name", String(128), nullable=False),
    Column("description", Text, nullable=False, default=""),
    Column("owners", JSONText, nullable=False),
    Column("tags", JSONText, nullable=False),
    Column("search_text", Text, nullable=False, default=""),
    Column("latest_version", Integer, nullable=True),
    Column("created_at", UTCDateTime, nullable=False),
    Column("created_by", String(200), nullable=False),
    Column("updated_at", UTCDateTime, nullable=False),
    UniqueConstraint("project_id", "name", name="uq_datasets_project_id_name"),
)

# One row per version, written in the same transaction as its blob references and audit
# event, after every chunk is stored: a crash leaves blobs for gc, never a half version.
# ``manifest_address`` is a blob: the file list (path, size, mode, chunk addresses).
dataset_versions = Table(
    "dataset_versions",
    metadata,
    Column("id", ID, primary_key=True),
    Column("dataset_id", ID, ForeignKey("datasets.id", ondelete="CASCADE"), nullable=False),
    Column("version", Integer, nullable=False),
    Column("kind", String(16), nullable=False),  # "files" or "table"
    Column("manifest_address", String(64), nullable=False),
    Column("file_count", Integer, nullable=False),
    Column("total_bytes", BigInteger, nullable=False),
    Column("new_bytes", BigInteger, nullable=False),
    Column("table_schema", JSONText, nullable=True),
    Column("row_count", BigInteger, nullable=True),
    Column("profile_address", String(64), nullable=True),
    Column("source", Text, nullable=False, default=""),
    Column("message", Text, nullable=False, default=""),
    Column("created_at", UTCDateTime, nullable=False),
    Column("created_by", String(200), nullable=False),
    UniqueConstraint("dataset_id", "version", name="uq_dataset_versions_dataset_id_version"),
)

# Catalog entries per column of a table dataset: type, PII class (detected or set by hand)
# and a description. Detection never overwrites a class set by hand.
dataset_columns = Table(
    "dataset_columns",
    metadata,
    Column("dataset_id", ID, ForeignKey("datasets.id", ondelete="CASCADE"), primary_key=True),
    Column("name", String(256), primary_key=True),
    Column("position", Integer, nullable=False),
    Column("data_type", String(64), nullable=False),
    Column("pii_class", String(32), nullable=True),
    Column("pii_source", String(16), nullable=False),  # "detected", "manual" or "none"
    Column("description", Text, nullable=False, default=""),
)

# Nodes the lineage graph knows besides our own rows: OpenLineage datasets and job runs
# reported by other systems, keyed ``(node_type, node_id)`` like the edges.
lineage_nodes = Table(
    "lineage_nodes",
    metadata,
    Column("node_type", String(32), primary_key=True),
    Column("node_id", String(400), primary_key=True),
    Column("project_id", ID, ForeignKey("projects.id", ondelete="CASCADE"), nullable=True),
    Column("label", Text, nullable=False),
    Column("facets", JSONText, nullable=False),
    Column("updated_at", UTCDateTime, nullable=False),
)

# Directed edges: dataset_version -input_of-> run -produced-> model_version -deployed_as->
# deployment, and whatever OpenLineage events report.
lineage_edges = Table(
    "lineage_edges",
    metadata,
    Column("source_type", String(32), primary_key=True),
    Column("source_id", String(400), primary_key=True),
    Column("target_type", String(32), primary_key=True),
    Column("target_id", String(400), primary_key=True),
    Column("relation", String(32), primary_key=True),
    Column("project_id", ID, ForeignKey("projects.id", ondelete="CASCADE"), nullable=True),
    Column("created_at", UTCDateTime, nullable=False),
    Column("created_by", String(200), nullable=False),
    Index("ix_lineage_edges_target", "target_type", "target_id"),
)
