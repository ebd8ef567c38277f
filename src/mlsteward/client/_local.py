"""The in-process backend: calls the service layer on a platform opened from settings."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any, BinaryIO

from .. import registry, security, tracking
from ..blob_access import blob_size, open_blob, put_blob
from ..blobs import BlobInfo
from ..errors import NotFound
from ..platform import Platform
from ..registry import AliasPeriod, ModelVersion, PromotionRequest, RegisteredModel, RequestStatus
from ..security import (
    LOCAL_ADMIN,
    Actor,
    AuditEvent,
    AuditVerifyReport,
    CreatedToken,
    Member,
    Project,
    TokenInfo,
    User,
)
from ..settings import Settings
from ..tracking import (
    ArtifactInfo,
    Experiment,
    MetricPoint,
    Run,
    RunComparison,
    RunPage,
    best_run,
    compare_runs,
    search_runs,
)
from ._backend import NewVersion, PointTuple

_COPY_CHUNK = 1024 * 1024


class LocalBackend:
    """Acts as ``LOCAL_ADMIN`` or, given a token, as the token's user.

    A token is checked on every call, exactly as the server checks it on every request, so a
    revoked or expired token fails here too.
    """

    def __init__(self, settings: Settings, token: str | None) -> None:
        self._platform = Platform.open(settings)
        self._token = token

    @property
    def _actor(self) -> Actor:
        if self._token is None:
            return LOCAL_ADMIN
        return security.authenticate_token(self._platform, self._token)

    def describe(self) -> str:
        return f"local {self._platform.settings.home}"

    def health(self) -> dict[str, Any]:
        return {"status": "ok", "schema": self._platform.db.schema_revision()}

    def whoami(self) -> Actor:
        return self._actor

    def change_password(self, current_password: str, new_password: str) -> None:
        actor = self._actor
        security.set_password(
            self._platform, actor, actor.name, new_password, current_password=current_password
        )

    def list_users(self) -> list[User]:
        return security.list_users(self._platform, self._actor)

    def create_user(self, username: str, password: str, display_name: str, is_admin: bool) -> User:
        return security.create_user(
            self._platform,
            self._actor,
            username,
            password,
            display_name=display_name,
            is_admin=is_admin,
        )

    def get_user(self, username: str) -> User:
        return security.get_user(self._platform, self._actor, username)

    def set_user_disabled(self, username: str, disabled: bool) -> User:
        return security.set_user_disabled(self._platform, self._actor, username, disabled)

    def set_password(self, username: str, new_password: str) -> None:
        security.set_password(self._platform, self._actor, username, new_password)

    def list_projects(self) -> list[Project]:
        return security.list_projects(self._platform, self._actor)

    def create_project(self, name: str, description: str) -> Project:
        return security.create_project(self._platform, self._actor, name, description)

    def get_project(self, name: str) -> Project:
        return security.get_project(self._platform, self._actor, name)

    def list_members(self, project: str) -> list[Member]:
        return security.list_members(self._platform, self._actor, project)

    def add_member(self, project: str, username: str, role: str) -> Member:
        return security.add_member(self._platform, self._actor, project, username, role)

    def set_member_role(self, project: str, username: str, role: str) -> Member:
        return security.set_member_role(self._platform, self._actor, project, username, role)

    def remove_member(self, project: str, username: str) -> None:
        security.remove_member(self._platform, self._actor, project, username)

    def create_token(
        self, name: str, scopes: list[str], expires_in_days: int | None, username: str | None
    ) -> CreatedToken:
        return security.create_token(
            self._platform,
            self._actor,
            name,
            scopes,
            expires_in_days=expires_in_days,
            username=username,
        )

    def list_tokens(self, username: str | None) -> list[TokenInfo]:
        return security.list_tokens(self._platform, self._actor, username)

    def revoke_token(self, token_id: str) -> None:
        security.revoke_token(self._platform, self._actor, token_id)

    def audit_events(self, filters: dict[str, Any]) -> list[AuditEvent]:
        return security.list_audit_events(
            self._platform,
            self._actor,
            action=filters["action"],
            actor_name=filters["actor"],
            project=filters["project"],
            target_id=filters["target"],
            before_seq=filters["before_seq"],
            after_seq=filters["after_seq"],
            limit=filters["limit"],
        )

    def verify_audit(self) -> AuditVerifyReport:
        return security.verify_audit(self._platform, self._actor)

    def put_blob(self, source: BinaryIO) -> BlobInfo:
        return put_blob(self._platform, self._actor, source)

    def copy_blob(self, address: str, sink: BinaryIO) -> int:
        copied = 0
        with open_blob(self._platform, self._actor, address) as reader:
            while chunk := reader.read(_COPY_CHUNK):
                sink.write(chunk)
                copied += len(chunk)
        return copied

    def blob_size(self, address: str) -> int:
        return blob_size(self._platform, self._actor, address)

    def create_experiment(self, project: str, name: str, description: str) -> Experiment:
        return tracking.create_experiment(self._platform, self._actor, project, name, description)

    def get_experiment(self, project: str, name: str) -> Experiment:
        return tracking.get_experiment(self._platform, self._actor, project, name)

    def list_experiments(self, project: str, include_deleted: bool) -> list[Experiment]:
        return tracking.list_experiments(
            self._platform, self._actor, project, include_deleted=include_deleted
        )

    def set_experiment_deleted(self, project: str, name: str, deleted: bool) -> Experiment:
        return tracking.set_experiment_deleted(self._platform, self._actor, project, name, deleted)

    def start_run(
        self,
        project: str,
        experiment: str,
        name: str | None,
        parent_run_id: str | None,
        tags: dict[str, str],
        environment: dict[str, Any],
    ) -> Run:
        return tracking.start_run(
            self._platform,
            self._actor,
            project,
            experiment,
            name=name,
            parent_run_id=parent_run_id,
            tags=tags,
            environment=environment,
        )

    def get_run(self, run_id: str) -> Run:
        return tracking.get_run(self._platform, self._actor, run_id)

    def end_run(self, run_id: str, status: str) -> Run:
        return tracking.end_run(self._platform, self._actor, run_id, status)

    def log_batch(
        self,
        run_id: str,
        metrics: Sequence[PointTuple],
        params: dict[str, str],
        tags: dict[str, str],
    ) -> None:
        points = [MetricPoint(k, v, s, t) for k, v, s, t in metrics]
        tracking.log_batch(
            self._platform, self._actor, run_id, metrics=points, params=params, tags=tags
        )

    def heartbeat(self, run_id: str) -> None:
        tracking.heartbeat(self._platform, self._actor, run_id)

    def set_run_deleted(self, run_id: str, deleted: bool) -> Run:
        return tracking.set_run_deleted(self._platform, self._actor, run_id, deleted)

    def set_run_notes(self, run_id: str, notes: str) -> Run:
        return tracking.set_run_notes(self._platform, self._actor, run_id, notes)

    def metric_history(self, run_id: str, key: str) -> list[MetricPoint]:
        return tracking.metric_history(self._platform, self._actor, run_id, key)

    def search_runs(
        self,
        project: str,
        experiment_ids: list[str] | None,
        filter: str,
        order_by: list[str],
        max_results: int,
        page_token: str | None,
        include_deleted: bool,
    ) -> RunPage:
        return search_runs(
            self._platform,
            self._actor,
            project,
            experiment_ids=experiment_ids,
            filter=filter,
            order_by=order_by,
            max_results=max_results,
            page_token=page_token,
            include_deleted=include_deleted,
        )

    def compare_runs(self, run_ids: list[str], metric_keys: list[str] | None) -> RunComparison:
        return compare_runs(self._platform, self._actor, run_ids, metric_keys=metric_keys)

    def best_run(self, project: str, metric: str, mode: str, filter: str) -> Run:
        return best_run(
            self._platform,
            self._actor,
            project,
            metric,
            mode="min" if mode == "min" else "max",  # Client checked it is one of these
            filter=filter,
        )

    def log_artifact(self, run_id: str, path: str, source: BinaryIO) -> ArtifactInfo:
        return tracking.log_artifact(self._platform, self._actor, run_id, path, source)

    def list_artifacts(self, run_id: str, prefix: str) -> list[ArtifactInfo]:
        return tracking.list_artifacts(self._platform, self._actor, run_id, prefix)

    def copy_artifact(self, run_id: str, path: str, sink: BinaryIO) -> int:
        copied = 0
        with tracking.open_artifact(self._platform, self._actor, run_id, path) as reader:
            while chunk := reader.read(_COPY_CHUNK):
                sink.write(chunk)
                copied += len(chunk)
        return copied

    def create_registered_model(
        self, project: str, name: str, description: str, tags: dict[str, str]
    ) -> RegisteredModel:
        return registry.create_registered_model(
            self._platform, self._actor, project, name, description=description, tags=tags
        )

    def get_registered_model(self, project: str, name: str) -> RegisteredModel:
        return registry.get_registered_model(self._platform, self._actor, project, name)

    def list_registered_models(self, project: str) -> list[RegisteredModel]:
        return registry.list_registered_models(self._platform, self._actor, project)

    def update_registered_model(
        self, project: str, name: str, description: str | None, tags: dict[str, str] | None
    ) -> RegisteredModel:
        return registry.update_registered_model(
            self._platform, self._actor, project, name, description=description, tags=tags
        )

    def register_model_version(self, project: str, name: str, spec: NewVersion) -> ModelVersion:
        return registry.register_model_version(
            self._platform,
            self._actor,
            project,
            name,
            source_uri=spec.source_uri,
            flavor=spec.flavor,
            files=spec.files,
            source_run_id=spec.source_run_id,
            signature=spec.signature,
            metrics=spec.metrics,
            datasets=spec.datasets,
            scan=spec.scan,
            model_card=spec.model_card,
            description=spec.description,
            tags=spec.tags,
        )

    def get_model_version(self, project: str, name: str, version: int) -> ModelVersion:
        return registry.get_model_version(self._platform, self._actor, project, name, version)

    def list_model_versions(self, project: str, name: str) -> list[ModelVersion]:
        return registry.list_model_versions(self._platform, self._actor, project, name)

    def resolve_model_uri(self, project: str, uri: str) -> ModelVersion:
        return registry.resolve_model_uri(self._platform, self._actor, project, uri)

    def register_model_from_run(self, uri: str, name: str) -> ModelVersion:
        from ..registry._from_run import register_model_from_run

        return register_model_from_run(self._platform, self._actor, uri, name)

    def record_trust_decision(
        self, target: str, reason: str, scan: dict[str, Any], project: str | None
    ) -> None:
        from ..models._trust import record_trust_decision

        record_trust_decision(
            self._platform, self._actor, target=target, reason=reason, scan=scan, project=project
        )

    def set_alias(self, project: str, name: str, alias: str, version: int) -> ModelVersion:
        return registry.set_alias(self._platform, self._actor, project, name, alias, version)

    def delete_alias(self, project: str, name: str, alias: str) -> None:
        registry.delete_alias(self._platform, self._actor, project, name, alias)

    def alias_history(self, project: str, name: str, alias: str | None) -> list[AliasPeriod]:
        return registry.alias_history_of(self._platform, self._actor, project, name, alias)

    def request_promotion(
        self, project: str, name: str, version: int, alias: str, comment: str
    ) -> PromotionRequest:
        return registry.request_promotion(
            self._platform, self._actor, project, name, version, alias, comment
        )

    def approve_promotion(
        self, project: str, request_id: str, comment: str
    ) -> tuple[PromotionRequest, list[dict[str, str]]]:
        return registry.approve_promotion(self._platform, self._actor, project, request_id, comment)

    def apply_promotion(self, project: str, request_id: str) -> PromotionRequest:
        return registry.apply_promotion(self._platform, self._actor, project, request_id)

    def reject_promotion(self, project: str, request_id: str, comment: str) -> PromotionRequest:
        return registry.reject_promotion(self._platform, self._actor, project, request_id, comment)

    def cancel_promotion(self, project: str, request_id: str) -> PromotionRequest:
        return registry.cancel_promotion(self._platform, self._actor, project, request_id)

    def list_promotion_requests(
        self, project: str, name: str, status: str | None
    ) -> list[PromotionRequest]:
        return registry.list_promotion_requests(
            self._platform,
            self._actor,
            project,
            name,
            status=None if status is None else RequestStatus(status),
        )

    def set_alias_policy(
        self, project: str, alias: str, conditions: list[dict[str, Any]], model: str | None
    ) -> list[dict[str, Any]]:
        return registry.set_alias_policy(
            self._platform, self._actor, project, alias, conditions, model=model
        )

    def get_alias_policy(self, project: str, alias: str, model: str | None) -> list[dict[str, Any]]:
        return registry.get_alias_policy(self._platform, self._actor, project, alias, model=model)

    def download_model_files(
        self, project: str, name: str, version: int, targets: Sequence[tuple[str, Path]]
    ) -> list[int]:
        # Read the version again as this actor: the permission check of the download itself.
        listed = {
            f.path: f
            for f in registry.get_model_version(
                self._platform, self._actor, project, name, version
            ).files
        }
        for path, _ in targets:  # every path is checked before the first file is written
            if path not in listed:
                raise NotFound(
                    f"version {version} of model {name!r} has no file {path!r}",
                    details={"model": name, "version": version, "path": path},
                )
        return [self._platform.blobs.get_file(listed[path].address, dest) for path, dest in targets]

    def close(self) -> None:
        self._platform.close()
