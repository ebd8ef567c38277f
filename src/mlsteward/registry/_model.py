"""The registry's value types and name rules."""

from __future__ import annotations

import datetime as dt
import enum
import re
from dataclasses import dataclass, field
from typing import Any, NewType

from .._wire import iso
from ..errors import InvalidArgument

RegisteredModelId = NewType("RegisteredModelId", str)
ModelVersionId = NewType("ModelVersionId", str)
PromotionRequestId = NewType("PromotionRequestId", str)

MAX_DESCRIPTION_LENGTH = 20_000
MAX_COMMENT_LENGTH = 5_000
MAX_TAGS = 100
MAX_TAG_VALUE_LENGTH = 5_000

_MODEL_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,199}")
_ALIAS = re.compile(r"[a-z][a-z0-9_-]{0,63}")


def check_model_name(name: object) -> str:
    """1-200 characters: letters, digits, ``.``, ``_``, ``-``, starting with a letter or digit
    (a model name appears in ``models:/<name>/<version>`` URIs)."""
    if not isinstance(name, str) or not _MODEL_NAME.fullmatch(name):
        raise InvalidArgument(
            f"model name {str(name)[:80]!r} is not valid: use 1-200 letters, digits, '.', '_' "
            "or '-', starting with a letter or digit",
            details={"field": "name"},
        )
    return name


def check_alias(alias: object) -> str:
    """1-64 characters: lowercase letters, digits, ``_``, ``-``, starting with a letter (so an
    alias never reads as a version number)."""
    if not isinstance(alias, str) or not _ALIAS.fullmatch(alias):
        raise InvalidArgument(
            f"alias {str(alias)[:80]!r} is not valid: use 1-64 lowercase letters, digits, '_' "
            "or '-', starting with a letter (for example 'production')",
            details={"field": "alias"},
        )
    return alias


def check_text(kind: str, value: object, limit: int) -> str:
    if not isinstance(value, str):
        raise InvalidArgument(f"{kind} must be a string", details={"field": kind})
    if len(value) > limit or "\x00" in value:
        raise InvalidArgument(
            f"{kind} must be at most {limit} characters without NUL", details={"field": kind}
        )
    return value


def check_tags(tags: object) -> dict[str, str]:
    if not isinstance(tags, dict) or len(tags) > MAX_TAGS:
        raise InvalidArgument(f"tags are a mapping of at most {MAX_TAGS} entries")
    checked: dict[str, str] = {}
    for key, value in tags.items():
        if not isinstance(key, str) or not 0 < len(key) <= 250 or "\x00" in key:
            raise InvalidArgument(f"tag key {str(key)[:60]!r} must be 1-250 characters")
        checked[key] = check_text(f"tag {key!r}", value, MAX_TAG_VALUE_LENGTH)
    return checked


class RequestStatus(enum.StrEnum):
    PENDING = "PENDING"  # waiting for a maintainer other than the requester
    APPROVED = "APPROVED"  # approved; the alias moves once every other condition holds
    APPLIED = "APPLIED"  # approved and the alias moved
    REJECTED = "REJECTED"
    CANCELLED = "CANCELLED"


@dataclass(frozen=True)
class RegisteredModel:
    id: RegisteredModelId
    project_id: str
    name: str
    description: str
    created_at: dt.datetime
    created_by: str
    updated_at: dt.datetime
    tags: dict[str, str]
    aliases: dict[str, int] = field(default_factory=dict)  # alias -> version number
    latest_version: int | None = None

    def to_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "project_id": self.project_id,
            "name": self.name,
            "description": self.description,
            "created_at": iso(self.created_at),
            "created_by": self.created_by,
            "updated_at": iso(self.updated_at),
            "tags": dict(self.tags),
            "aliases": dict(self.aliases),
            "latest_version": self.latest_version,
        }


@dataclass(frozen=True)
class ModelFile:
    """One file of a version: its path inside the model folder, blob address and size."""

    path: str
    address: str
    size: int

    def to_json(self) -> dict[str, Any]:
        return {"path": self.path, "address": self.address, "size": self.size}


@dataclass(frozen=True)
class ModelVersion:
    id: ModelVersionId
    model_id: RegisteredModelId
    model_name: str
    version: int
    source_run_id: str | None
    source_uri: str
    flavor: str
    files: tuple[ModelFile, ...]
    signature: dict[str, Any] | None
    metrics: dict[str, float]
    datasets: tuple[dict[str, Any], ...]
    scan: dict[str, Any]
    package: dict[str, Any] | None
    model_card: dict[str, Any]
    description: str
    tags: dict[str, str]
    created_at: dt.datetime
    created_by: str
    aliases: tuple[str, ...] = ()

    @property
    def uri(self) -> str:
        return f"models:/{self.model_name}/{self.version}"

    def to_json(self) -> dict[str, Any]:
        from ..tracking._model import _json_float

        return {
            "id": self.id,
            "model_id": self.model_id,
            "model_name": self.model_name,
            "version": self.version,
            "uri": self.uri,
            "source_run_id": self.source_run_id,
            "source_uri": self.source_uri,
            "flavor": self.flavor,
            "files": [f.to_json() for f in self.files],
            "signature": self.signature,
            "metrics": {k: _json_float(v) for k, v in self.metrics.items()},
            "datasets": [dict(d) for d in self.datasets],
            "scan": dict(self.scan),
            "package": self.package,
            "model_card": dict(self.model_card),
            "description": self.description,
            "tags": dict(self.tags),
            "created_at": iso(self.created_at),
            "created_by": self.created_by,
            "aliases": list(self.aliases),
        }


@dataclass(frozen=True)
class AliasPeriod:
    """One period during which ``alias`` pointed at ``version`` (``valid_to`` None: still)."""

    alias: str
    version: int
    valid_from: dt.datetime
    valid_to: dt.datetime | None
    set_by: str
    ended_by: str | None
    request_id: str | None

    def to_json(self) -> dict[str, Any]:
        return {
            "alias": self.alias,
            "version": self.version,
            "valid_from": iso(self.valid_from),
            "valid_to": iso(self.valid_to),
            "set_by": self.set_by,
            "ended_by": self.ended_by,
            "request_id": self.request_id,
        }


@dataclass(frozen=True)
class PromotionRequest:
    id: PromotionRequestId
    model_name: str
    version: int
    alias: str
    status: RequestStatus
    requested_by: str
    requested_at: dt.datetime
    comment: str
    decided_by: str | None
    decided_at: dt.datetime | None
    decision_comment: str | None

    def to_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "model_name": self.model_name,
            "version": self.version,
            "alias": self.alias,
            "status": self.status.value,
            "requested_by": self.requested_by,
            "requested_at": iso(self.requested_at),
            "comment": self.comment,
            "decided_by": self.decided_by,
            "decided_at": iso(self.decided_at),
            "decision_comment": self.decision_comment,
        }


@dataclass(frozen=True)
class UnmetCondition:
    """A policy condition the version does not meet, and why."""

    condition: str
    message: str

    def to_json(self) -> dict[str, str]:
        return {"condition": self.condition, "message": self.message}
