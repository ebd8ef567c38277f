"""Decoding the server's JSON back into the service layer's own types.

Each function is the inverse of a ``to_json()`` (or of a router's serialiser); a wrong shape
raises ``KeyError``, ``TypeError`` or ``ValueError``, which the remote backend reports.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from ..blobs import BlobInfo
from ..registry import (
    AliasPeriod,
    ModelFile,
    ModelVersion,
    ModelVersionId,
    PromotionRequest,
    PromotionRequestId,
    RegisteredModel,
    RegisteredModelId,
    RequestStatus,
)
from ..security import (
    Actor,
    AuditEvent,
    AuditVerifyReport,
    CreatedToken,
    Member,
    Project,
    Role,
    Scope,
    TokenInfo,
    User,
)
from ..tracking import (
    ArtifactInfo,
    Experiment,
    ExperimentId,
    MetricPoint,
    MetricSeries,
    Run,
    RunComparison,
    RunId,
    RunStatus,
)
from ..tracking._model import float_from_json


def _time(value: Any) -> dt.datetime:
    if not isinstance(value, str):
        raise TypeError(f"expected an ISO 8601 time, got {value!r}")
    return dt.datetime.fromisoformat(value)


def _optional_time(value: Any) -> dt.datetime | None:
    return None if value is None else _time(value)


def actor_from_json(data: dict[str, Any]) -> Actor:
    return Actor(
        id=str(data["id"]),
        name=str(data["name"]),
        kind=data["kind"],
        is_admin=bool(data["is_admin"]),
        scopes=frozenset(Scope(s) for s in data["scopes"]),
        token_id=data.get("token_id"),
    )


def user_from_json(data: dict[str, Any]) -> User:
    return User(
        id=str(data["id"]),
        username=str(data["username"]),
        display_name=str(data["display_name"]),
        is_admin=bool(data["is_admin"]),
        disabled=bool(data["disabled"]),
        created_at=_time(data["created_at"]),
    )


def project_from_json(data: dict[str, Any]) -> Project:
    return Project(
        id=str(data["id"]),
        name=str(data["name"]),
        description=str(data["description"]),
        created_at=_time(data["created_at"]),
    )


def member_from_json(data: dict[str, Any]) -> Member:
    return Member(
        username=str(data["username"]),
        role=Role.parse(str(data["role"])),
        created_at=_time(data["created_at"]),
    )


def token_info_from_json(data: dict[str, Any]) -> TokenInfo:
    return TokenInfo(
        id=str(data["id"]),
        name=str(data["name"]),
        username=str(data["username"]),
        scopes=tuple(str(s) for s in data["scopes"]),
        created_at=_time(data["created_at"]),
        expires_at=_optional_time(data["expires_at"]),
        last_used_at=_optional_time(data["last_used_at"]),
        revoked_at=_optional_time(data["revoked_at"]),
    )


def created_token_from_json(data: dict[str, Any]) -> CreatedToken:
    return CreatedToken(info=token_info_from_json(data["token"]), secret=str(data["secret"]))


def audit_event_from_json(data: dict[str, Any]) -> AuditEvent:
    return AuditEvent(
        seq=int(data["seq"]),
        ts=_time(data["ts"]),
        actor_id=str(data["actor_id"]),
        actor_name=str(data["actor_name"]),
        actor_kind=str(data["actor_kind"]),
        action=str(data["action"]),
        project_id=data["project_id"],
        target_type=str(data["target_type"]),
        target_id=str(data["target_id"]),
        details=dict(data["details"]),
        prev_hash=str(data["prev_hash"]),
        hash=str(data["hash"]),
    )


def verify_report_from_json(data: dict[str, Any]) -> AuditVerifyReport:
    return AuditVerifyReport(
        ok=bool(data["ok"]),
        events=int(data["events"]),
        checkpoints=int(data["checkpoints"]),
        last_checkpoint_seq=data["last_checkpoint_seq"],
        first_bad_seq=data["first_bad_seq"],
        problem=data["problem"],
    )


def blob_info_from_json(data: dict[str, Any]) -> BlobInfo:
    return BlobInfo(
        address=str(data["address"]), size=int(data["size"]), created=bool(data["created"])
    )


def experiment_from_json(data: dict[str, Any]) -> Experiment:
    return Experiment(
        id=ExperimentId(str(data["id"])),
        project_id=str(data["project_id"]),
        name=str(data["name"]),
        description=str(data["description"]),
        created_at=_time(data["created_at"]),
        created_by=str(data["created_by"]),
        deleted_at=_optional_time(data["deleted_at"]),
    )


def run_from_json(data: dict[str, Any]) -> Run:
    parent = data["parent_run_id"]
    return Run(
        id=RunId(str(data["id"])),
        experiment_id=ExperimentId(str(data["experiment_id"])),
        project_id=str(data["project_id"]),
        name=str(data["name"]),
        status=RunStatus(data["status"]),
        start_time=_time(data["start_time"]),
        end_time=_optional_time(data["end_time"]),
        parent_run_id=None if parent is None else RunId(str(parent)),
        notes=str(data["notes"]),
        created_by=str(data["created_by"]),
        deleted_at=_optional_time(data["deleted_at"]),
        environment=None if data["environment"] is None else dict(data["environment"]),
        params={str(k): str(v) for k, v in data["params"].items()},
        tags={str(k): str(v) for k, v in data["tags"].items()},
        metrics={str(k): float_from_json(v) for k, v in data["metrics"].items()},
    )


def metric_point_from_json(data: dict[str, Any]) -> MetricPoint:
    return MetricPoint(
        key=str(data["key"]),
        value=float_from_json(data["value"]),
        step=int(data["step"]),
        timestamp=int(data["timestamp"]),
    )


def artifact_info_from_json(data: dict[str, Any]) -> ArtifactInfo:
    size, address = data["size"], data["address"]
    if size is not None and (not isinstance(size, int) or isinstance(size, bool)):
        raise TypeError(f"expected an artifact size, got {size!r}")
    if address is not None and not isinstance(address, str):
        raise TypeError(f"expected a blob address, got {address!r}")
    return ArtifactInfo(
        path=str(data["path"]),
        is_dir=bool(data["is_dir"]),
        size=size,
        address=address,
        created_at=_optional_time(data["created_at"]),
    )


def comparison_from_json(data: dict[str, Any]) -> RunComparison:
    def value(v: Any) -> float | None:
        return None if v is None else float_from_json(v)

    return RunComparison(
        runs=[run_from_json(r) for r in data["runs"]],
        params={
            str(k): {str(r): (None if v is None else str(v)) for r, v in per_run.items()}
            for k, per_run in data["params"].items()
        },
        differing_params=[str(k) for k in data["differing_params"]],
        metrics=[
            MetricSeries(
                key=str(m["key"]),
                steps=[int(s) for s in m["steps"]],
                values={str(r): [value(v) for v in vs] for r, vs in m["values"].items()},
                truncated=bool(m["truncated"]),
            )
            for m in data["metrics"]
        ],
    )


def _str_map(value: Any) -> dict[str, str]:
    return {str(k): str(v) for k, v in dict(value).items()}


def _optional_dict(value: Any) -> dict[str, Any] | None:
    return None if value is None else dict(value)


def registered_model_from_json(data: dict[str, Any]) -> RegisteredModel:
    latest = data["latest_version"]
    return RegisteredModel(
        id=RegisteredModelId(str(data["id"])),
        project_id=str(data["project_id"]),
        name=str(data["name"]),
        description=str(data["description"]),
        created_at=_time(data["created_at"]),
        created_by=str(data["created_by"]),
        updated_at=_time(data["updated_at"]),
        tags=_str_map(data["tags"]),
        aliases={str(k): int(v) for k, v in data["aliases"].items()},
        latest_version=None if latest is None else int(latest),
    )


def model_file_from_json(data: dict[str, Any]) -> ModelFile:
    size = data["size"]
    if not isinstance(size, int) or isinstance(size, bool):
        raise TypeError(f"expected a file size, got {size!r}")
    return ModelFile(path=str(data["path"]), address=str(data["address"]), size=size)


def model_version_from_json(data: dict[str, Any]) -> ModelVersion:
    run_id = data["source_run_id"]
    return ModelVersion(
        id=ModelVersionId(str(data["id"])),
        model_id=RegisteredModelId(str(data["model_id"])),
        model_name=str(data["model_name"]),
        version=int(data["version"]),
        source_run_id=None if run_id is None else str(run_id),
        source_uri=str(data["source_uri"]),
        flavor=str(data["flavor"]),
        files=tuple(model_file_from_json(f) for f in data["files"]),
        signature=_optional_dict(data["signature"]),
        metrics={str(k): float_from_json(v) for k, v in data["metrics"].items()},
        datasets=tuple(dict(d) for d in data["datasets"]),
        scan=dict(data["scan"]),
        package=_optional_dict(data["package"]),
        model_card=dict(data["model_card"]),
        description=str(data["description"]),
        tags=_str_map(data["tags"]),
        created_at=_time(data["created_at"]),
        created_by=str(data["created_by"]),
        aliases=tuple(str(a) for a in data["aliases"]),
    )


def alias_period_from_json(data: dict[str, Any]) -> AliasPeriod:
    ended_by, request_id = data["ended_by"], data["request_id"]
    return AliasPeriod(
        alias=str(data["alias"]),
        version=int(data["version"]),
        valid_from=_time(data["valid_from"]),
        valid_to=_optional_time(data["valid_to"]),
        set_by=str(data["set_by"]),
        ended_by=None if ended_by is None else str(ended_by),
        request_id=None if request_id is None else str(request_id),
    )


def promotion_request_from_json(data: dict[str, Any]) -> PromotionRequest:
    decided_by, decision = data["decided_by"], data["decision_comment"]
    return PromotionRequest(
        id=PromotionRequestId(str(data["id"])),
        model_name=str(data["model_name"]),
        version=int(data["version"]),
        alias=str(data["alias"]),
        status=RequestStatus(data["status"]),
        requested_by=str(data["requested_by"]),
        requested_at=_time(data["requested_at"]),
        comment=str(data["comment"]),
        decided_by=None if decided_by is None else str(decided_by),
        decided_at=_optional_time(data["decided_at"]),
        decision_comment=None if decision is None else str(decision),
    )


def unmet_from_json(data: Any) -> list[dict[str, str]]:
    """The unmet conditions of an approval: ``[{"condition", "message"}]``."""
    return [{"condition": str(u["condition"]), "message": str(u["message"])} for u in data]


def conditions_from_json(data: dict[str, Any]) -> list[dict[str, Any]]:
    """A policy's conditions from ``{"alias", "model", "conditions": [...]}``."""
    conditions = data["conditions"]
    if not isinstance(conditions, list):
        raise TypeError(f"expected a list of conditions, got {conditions!r}")
    return [dict(c) for c in conditions]
