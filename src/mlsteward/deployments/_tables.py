"""Deployment tables: one row per deployment (its current routing plan and revision) and its
history of events. They join the kernel's ``metadata`` so one migration history covers
everything."""

from __future__ import annotations

from sqlalchemy import Column, ForeignKey, Index, Integer, String, Table, UniqueConstraint

from ..store._tables import metadata
from ..store._types import JSONText, UTCDateTime

ID = String(32)

# The plan column holds the serving runtime's ``RoutingPlan.to_json()``; ``revision`` repeats
# its revision so a running server polls with a cheap query on one integer.
deployments = Table(
    "deployments",
    metadata,
    Column("id", ID, primary_key=True),
    Column("project_id", ID, ForeignKey("projects.id", ondelete="CASCADE"), nullable=False),
    Column("name", String(64), nullable=False),
    Column("model_name", String(200), nullable=False),
    Column("status", String(16), nullable=False),
    Column("plan", JSONText, nullable=False),
    Column("revision", Integer, nullable=False),
    Column("host", String(253), nullable=False),
    Column("port", Integer, nullable=False),
    Column("options", JSONText, nullable=False),
    Column("created_at", UTCDateTime, nullable=False),
    Column("created_by", String(200), nullable=False),
    Column("updated_at", UTCDateTime, nullable=False),
    Column("updated_by", String(200), nullable=False),
    UniqueConstraint("project_id", "name", name="uq_deployments_project_id_name"),
)

# What happened to a deployment, oldest first (the autoincrement id orders it).
deployment_events = Table(
    "deployment_events",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("deployment_id", ID, ForeignKey("deployments.id", ondelete="CASCADE"), nullable=False),
    Column("revision", Integer, nullable=False),
    Column("kind", String(32), nullable=False),
    Column("details", JSONText, nullable=False),
    Column("actor", String(200), nullable=False),
    Column("at", UTCDateTime, nullable=False),
    Index("ix_deployment_events_deployment_id_id", "deployment_id", "id"),
)
