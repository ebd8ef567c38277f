"""Registry tables: registered models, versions, aliases and their history, promotion requests,
alias policies. They join the kernel's ``metadata`` so one migration history covers everything."""

from __future__ import annotations

from sqlalchemy import (
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
NAME = String(200)
ALIAS = String(64)

registered_models = Table(
    "registered_models",
    metadata,
    Column("id", ID, primary_key=True),
    Column("project_id", ID, ForeignKey("projects.id", ondelete="CASCADE"), nullable=False),
    Column("name", NAME, nullable=False),
    Column("description", Text, nullable=False, default=""),
    Column("created_at", UTCDateTime, nullable=False),
    Column("created_by", String(200), nullable=False),
    Column("updated_at", UTCDateTime, nullable=False),
    Column("tags", JSONText, nullable=False),
    UniqueConstraint("project_id", "name", name="uq_registered_models_project_id_name"),
)

# One row per version. The model files are blobs listed in ``files`` (path, address, size),
# so a version never changes when its source run's artifacts do.
model_versions = Table(
    "model_versions",
    metadata,
    Column("id", ID, primary_key=True),
    Column("model_id", ID, ForeignKey("registered_models.id", ondelete="CASCADE"), nullable=False),
    Column("version", Integer, nullable=False),
    Column("source_run_id", ID, ForeignKey("runs.id", ondelete="SET NULL"), nullable=True),
    Column("source_uri", Text, nullable=False),
    Column("flavor", String(64), nullable=False),
    Column("files", JSONText, nullable=False),
    Column("signature", JSONText, nullable=True),
    Column("metrics", JSONText, nullable=False),
    Column("datasets", JSONText, nullable=False),
    Column("scan", JSONText, nullable=False),
    Column("package", JSONText, nullable=True),
    Column("model_card", JSONText, nullable=False),
    Column("description", Text, nullable=False, default=""),
    Column("tags", JSONText, nullable=False),
    Column("created_at", UTCDateTime, nullable=False),
    Column("created_by", String(200), nullable=False),
    UniqueConstraint("model_id", "version", name="uq_model_versions_model_id_version"),
    Index("ix_model_versions_source_run_id", "source_run_id"),
)

# Which version holds each alias now; moved in the same transaction that closes and opens
# the matching ``alias_history`` rows.
model_aliases = Table(
    "model_aliases",
    metadata,
    Column(
        "model_id",
        ID,
        ForeignKey("registered_models.id", ondelete="CASCADE"),
        primary_key=True,
    ),
    Column("alias", ALIAS, primary_key=True),
    Column("version_id", ID, ForeignKey("model_versions.id", ondelete="CASCADE"), nullable=False),
    Column("set_at", UTCDateTime, nullable=False),
    Column("set_by", String(200), nullable=False),
)

# Every period an alias pointed at a version: from when to when (NULL while it still does),
# set by whom, removed or replaced by whom, and the promotion request that moved it, if any.
alias_history = Table(
    "alias_history",
    metadata,
    Column("id", ID, primary_key=True),
    Column("model_id", ID, ForeignKey("registered_models.id", ondelete="CASCADE"), nullable=False),
    Column("alias", ALIAS, nullable=False),
    Column("version", Integer, nullable=False),
    Column("version_id", ID, ForeignKey("model_versions.id", ondelete="CASCADE"), nullable=False),
    Column("valid_from", UTCDateTime, nullable=False),
    Column("valid_to", UTCDateTime, nullable=True),
    Column("set_by", String(200), nullable=False),
    Column("ended_by", String(200), nullable=True),
    Column("request_id", ID, nullable=True),
    Index("ix_alias_history_model_id_alias_valid_from", "model_id", "alias", "valid_from"),
)

promotion_requests = Table(
    "promotion_requests",
    metadata,
    Column("id", ID, primary_key=True),
    Column("model_id", ID, ForeignKey("registered_models.id", ondelete="CASCADE"), nullable=False),
    Column("version_id", ID, ForeignKey("model_versions.id", ondelete="CASCADE"), nullable=False),
    Column("alias", ALIAS, nullable=False),
    Column("status", String(16), nullable=False),
    Column("requested_by", String(200), nullable=False),
    Column("requested_by_id", String(64), nullable=False),
    Column("requested_at", UTCDateTime, nullable=False),
    Column("comment", Text, nullable=False),
    Column("decided_by", String(200), nullable=True),
    Column("decided_at", UTCDateTime, nullable=True),
    Column("decision_comment", Text, nullable=True),
    Index("ix_promotion_requests_model_id_status", "model_id", "status"),
)

# The conditions a version must meet to take an alias. ``model_id`` NULL: the project-wide
# policy for that alias name, applied to every model that has no policy of its own.
alias_policies = Table(
    "alias_policies",
    metadata,
    Column("id", ID, primary_key=True),
    Column("project_id", ID, ForeignKey("projects.id", ondelete="CASCADE"), nullable=False),
    Column("model_id", ID, ForeignKey("registered_models.id", ondelete="CASCADE"), nullable=True),
    Column("alias", ALIAS, nullable=False),
    Column("conditions", JSONText, nullable=False),
    Column("updated_at", UTCDateTime, nullable=False),
    Column("updated_by", String(200), nullable=False),
    UniqueConstraint("project_id", "model_id", "alias", name="uq_alias_policies_scope"),
)

# Registry webhooks: subscriptions (the signing secret sealed with the keyring's master key
# when one is configured), hosts an administrator allowed despite the address guard, and the
# outbox: one delivery row per event and subscription, written in the transaction of the
# change it reports, sent and retried by the dispatcher.
webhooks = Table(
    "webhooks",
    metadata,
    Column("id", ID, primary_key=True),
    Column("project_id", ID, ForeignKey("projects.id", ondelete="CASCADE"), nullable=False),
    Column("url", Text, nullable=False),
    Column("events", JSONText, nullable=False),
    Column("secret", Text, nullable=False),
    Column("active", Integer, nullable=False),
    Column("created_at", UTCDateTime, nullable=False),
    Column("created_by", String(200), nullable=False),
)

webhook_allowed_hosts = Table(
    "webhook_allowed_hosts",
    metadata,
    Column("host", String(253), primary_key=True),
    Column("added_at", UTCDateTime, nullable=False),
    Column("added_by", String(200), nullable=False),
)

webhook_deliveries = Table(
    "webhook_deliveries",
    metadata,
    Column("id", ID, primary_key=True),
    Column("webhook_id", ID, ForeignKey("webhooks.id", ondelete="CASCADE"), nullable=False),
    Column("event", String(64), nullable=False),
    Column("payload", JSONText, nullable=False),
    Column("status", String(16), nullable=False),
    Column("attempts", Integer, nullable=False),
    Column("next_attempt_at", UTCDateTime, nullable=False),
    Column("last_status", Integer, nullable=True),
    Column("last_error", Text, nullable=True),
    Column("created_at", UTCDateTime, nullable=False),
    Column("updated_at", UTCDateTime, nullable=False),
    Index("ix_webhook_deliveries_status_next_attempt_at", "status", "next_attempt_at"),
    Index("ix_webhook_deliveries_webhook_id", "webhook_id"),
)
