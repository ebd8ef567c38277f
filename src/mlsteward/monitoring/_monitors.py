"""Monitors as a service: create, read, change and delete them; read their results.

Maintainers write, viewers read; every change is one transaction with its audit event. A
monitor watches the prediction windows of a deployment, or of a registered model (optionally
one version), or the versions of a table dataset, and compares each evaluation window with a
reference profile (``_monitor_model``); evaluation and its scheduling live in
``_monitor_runs``.
"""

from __future__ import annotations

import datetime as dt
import uuid
from typing import TYPE_CHECKING, Any, Final

from sqlalchemy import Connection, Row, delete, insert, select, update

from ..errors import AlreadyExists, InvalidArgument, NotFound
from ..security import Actor, Role, fetch_project, require_project_role
from ..store import utcnow
from ._monitor_model import (
    DEFAULT_WINDOW_SECONDS,
    Monitor,
    MonitorId,
    MonitorResult,
    check_drift_options,
    check_fairness,
    check_monitor_name,
    check_quality,
    check_reference,
    check_window_seconds,
)
from ._monitor_sources import check_sources
from ._tables import monitor_results, monitors

if TYPE_CHECKING:
    from ..platform import Platform
    from ..security import Project
    from ._drift_options import DriftOptions

__all__ = [
    "create_monitor",
    "delete_monitor",
    "fetch_monitor",
    "get_monitor",
    "list_monitor_results",
    "list_monitors",
    "monitor_from_row",
    "result_from_row",
    "update_monitor",
]

MAX_RESULTS: Final = 10_000
_UNSET: Any = object()


def monitor_from_row(row: Row[Any], project: str) -> Monitor:
    return Monitor(
        id=MonitorId(row.id),
        project=project,
        name=row.name,
        deployment=row.deployment,
        model_name=row.model_name,
        model_version=row.model_version,
        dataset=row.dataset,
        reference=row.reference,
        window_seconds=row.window_seconds,
        drift_options=row.drift_options,
        quality=row.quality,
        fairness=row.fairness,
        enabled=bool(row.enabled),
        created_at=row.created_at,
        created_by=row.created_by,
        updated_at=row.updated_at,
        updated_by=row.updated_by,
    )


def result_from_row(row: Row[Any], monitor: str) -> MonitorResult:
    return MonitorResult(
        id=row.id,
        monitor=monitor,
        window_start=row.window_start,
        window_end=row.window_end,
        status=row.status,
        evaluated_at=row.evaluated_at,
        metrics=dict(row.metrics),
        report=dict(row.report),
    )


def fetch_monitor(conn: Connection, project: Project, name: str) -> Row[Any]:
    """The monitor's row; ``NotFound`` naming the way to list them."""
    row = conn.execute(
        select(monitors).where(monitors.c.project_id == project.id, monitors.c.name == name)
    ).first()
    if row is None:
        raise NotFound(
            f"no monitor named {name!r} in project {project.name!r}: `mlsteward monitor list` "
            "shows them",
            details={"monitor": name},
        )
    return row


def _stream(
    deployment: object, model_name: object, model_version: object, dataset: object
) -> tuple[str | None, str | None, str | None, str | None]:
    if [deployment, model_name, dataset].count(None) != 2:
        raise InvalidArgument(
            "a monitor watches a deployment, a registered model or a table dataset: give "
            "exactly one of deployment, model_name and dataset",
            details={"field": "deployment"},
        )
    if dataset is not None:
        from ..data._model import check_dataset_name

        try:
            check_dataset_name(dataset)
        except InvalidArgument as exc:
            raise InvalidArgument(exc.message, details={"field": "dataset"}) from None
        if model_version is not None:
            raise InvalidArgument(
                "model_version goes with model_name; a dataset monitor watches every new "
                "version of the dataset",
                details={"field": "model_version"},
            )
        return None, None, None, str(dataset)
    if deployment is not None:
        from ..deployments._model import check_deployment_name

        check_deployment_name(deployment)
        if model_version is not None:
            raise InvalidArgument(
                "model_version goes with model_name; a deployment monitor follows the "
                "versions the deployment serves",
                details={"field": "model_version"},
            )
        return str(deployment), None, None, None
    if not isinstance(model_name, str) or not 0 < len(model_name) <= 200:
        raise InvalidArgument(
            "model_name must be a registered model's name", details={"field": "model_name"}
        )
    if model_version is not None:
        if isinstance(model_version, bool) or not isinstance(model_version, int | str):
            raise InvalidArgument(
                "model_version must be a version number", details={"field": "model_version"}
            )
        model_version = str(model_version)
    return None, model_name, model_version, None


def _dataset_stream_parts(
    dataset: str | None,
    reference: dict[str, Any],
    quality: dict[str, Any] | None,
    fairness: dict[str, Any] | None,
) -> None:
    """Refuse what a dataset stream cannot have: a training reference (no model), quality
    and fairness (no predictions and labels)."""
    if dataset is None:
        return
    if reference["kind"] == "training":
        raise InvalidArgument(
            f"a monitor of dataset {dataset!r} has no model, so no training profile: choose "
            f'a dataset reference ({{"kind": "dataset", "name": {dataset!r}, "version": 1}}) '
            "or a windows reference",
            details={"field": "reference"},
        )
    for part, given in (("quality", quality), ("fairness", fairness)):
        if given is not None:
            raise InvalidArgument(
                f"{part} is for monitors of predictions (a deployment or a model); a dataset "
                "monitor compares drift only",
                details={"field": part},
            )


def _flag(value: object, field: str) -> bool:
    if not isinstance(value, bool):
        raise InvalidArgument(f"{field} must be true or false", details={"field": field})
    return value


def create_monitor(
    platform: Platform,
    actor: Actor,
    project: str,
    name: str,
    *,
    deployment: str | None = None,
    model_name: str | None = None,
    model_version: str | int | None = None,
    dataset: str | None = None,
    reference: dict[str, Any] | None = None,
    window_seconds: int = DEFAULT_WINDOW_SECONDS,
    drift_options: DriftOptions | dict[str, Any] | None = None,
    quality: dict[str, Any] | None = None,
    fairness: dict[str, Any] | None = None,
    enabled: bool = True,
) -> Monitor:
    """A new monitor of a ``deployment``'s prediction windows, of a registered model's
    (``model_name``, ``model_version`` optional) or of the versions of a table ``dataset``
    (exactly one of the three), evaluated per window of ``window_seconds`` (60 s to 31 days)
    against ``reference`` (default ``{"kind": "training"}``; for a dataset, its version 1)
    (maintainers). A dataset monitor takes no training reference, quality or fairness.

    ``NotFound`` for an unknown deployment, model, version, dataset or dataset version,
    ``AlreadyExists`` for a taken name, ``InvalidArgument`` naming the field for anything
    malformed, a reference without a profile or a dataset of files; nothing is written
    then."""
    check_monitor_name(name)
    stream = _stream(deployment, model_name, model_version, dataset)
    if reference is None:
        reference = (
            {"kind": "training"}
            if stream[3] is None
            else {"kind": "dataset", "name": stream[3], "version": 1}
        )
    checked_reference = check_reference(reference)
    seconds = check_window_seconds(window_seconds)
    drift = check_drift_options(drift_options)
    quality_options, fairness_options = check_quality(quality), check_fairness(fairness)
    _dataset_stream_parts(stream[3], checked_reference, quality_options, fairness_options)
    _flag(enabled, "enabled")
    with platform.db.write() as conn:
        project_row = fetch_project(conn, project)
        require_project_role(conn, actor, project_row.id, Role.MAINTAINER)
        taken = conn.execute(
            select(monitors.c.id).where(
                monitors.c.project_id == project_row.id, monitors.c.name == name
            )
        ).first()
        if taken is not None:
            raise AlreadyExists(
                f"project {project!r} already has a monitor named {name!r}: pick another name, "
                "or delete that one first (`mlsteward monitor delete`)",
                details={"monitor": name},
            )
        check_sources(
            conn,
            project_row,
            deployment=stream[0],
            model_name=stream[1],
            model_version=stream[2],
            dataset=stream[3],
            reference=checked_reference,
        )
        now = utcnow()
        monitor_id = uuid.uuid4().hex
        values = {
            "deployment": stream[0],
            "model_name": stream[1],
            "model_version": stream[2],
            "dataset": stream[3],
            "reference": checked_reference,
            "window_seconds": seconds,
            "drift_options": drift,
            "quality": quality_options,
            "fairness": fairness_options,
            "enabled": enabled,
        }
        conn.execute(
            insert(monitors).values(
                id=monitor_id,
                project_id=project_row.id,
                name=name,
                created_at=now,
                created_by=actor.name,
                updated_at=now,
                updated_by=actor.name,
                **values,
            )
        )
        platform.audit.record(
            conn,
            actor,
            "monitoring.monitor.create",
            target_type="monitor",
            target_id=name,
            project_id=project_row.id,
            details={k: v for k, v in values.items() if k != "drift_options"},
        )
        row = conn.execute(select(monitors).where(monitors.c.id == monitor_id)).one()
        return monitor_from_row(row, project_row.name)


def get_monitor(platform: Platform, actor: Actor, project: str, name: str) -> Monitor:
    """The monitor (viewers); ``NotFound``."""
    check_monitor_name(name)
    with platform.db.read() as conn:
        project_row = fetch_project(conn, project)
        require_project_role(conn, actor, project_row.id, Role.VIEWER)
        return monitor_from_row(fetch_monitor(conn, project_row, name), project_row.name)


def list_monitors(platform: Platform, actor: Actor, project: str) -> list[Monitor]:
    """The project's monitors by name (viewers)."""
    with platform.db.read() as conn:
        project_row = fetch_project(conn, project)
        require_project_role(conn, actor, project_row.id, Role.VIEWER)
        rows = conn.execute(
            select(monitors)
            .where(monitors.c.project_id == project_row.id)
            .order_by(monitors.c.name)
        ).all()
        return [monitor_from_row(row, project_row.name) for row in rows]


def update_monitor(
    platform: Platform,
    actor: Actor,
    project: str,
    name: str,
    *,
    reference: dict[str, Any] = _UNSET,
    window_seconds: int = _UNSET,
    drift_options: DriftOptions | dict[str, Any] | None = _UNSET,
    quality: dict[str, Any] | None = _UNSET,
    fairness: dict[str, Any] | None = _UNSET,
    enabled: bool = _UNSET,
) -> Monitor:
    """Change what is given (maintainers): ``quality`` or ``fairness`` None turns that part
    off, ``drift_options`` None restores the defaults. Results already stored stay as they
    were computed. ``NotFound``, ``InvalidArgument`` as ``create_monitor``; nothing is
    written then."""
    check_monitor_name(name)
    changes: dict[str, Any] = {}
    if reference is not _UNSET:
        changes["reference"] = check_reference(reference)
    if window_seconds is not _UNSET:
        changes["window_seconds"] = check_window_seconds(window_seconds)
    if drift_options is not _UNSET:
        changes["drift_options"] = check_drift_options(drift_options)
    if quality is not _UNSET:
        changes["quality"] = check_quality(quality)
    if fairness is not _UNSET:
        changes["fairness"] = check_fairness(fairness)
    if enabled is not _UNSET:
        changes["enabled"] = _flag(enabled, "enabled")
    with platform.db.write() as conn:
        project_row = fetch_project(conn, project)
        require_project_role(conn, actor, project_row.id, Role.MAINTAINER)
        row = fetch_monitor(conn, project_row, name)
        _dataset_stream_parts(
            row.dataset,
            changes.get("reference", row.reference),
            changes.get("quality"),
            changes.get("fairness"),
        )
        if "reference" in changes:
            check_sources(
                conn,
                project_row,
                deployment=row.deployment,
                model_name=row.model_name,
                model_version=row.model_version,
                dataset=row.dataset,
                reference=changes["reference"],
            )
        conn.execute(
            update(monitors)
            .where(monitors.c.id == row.id)
            .values(updated_at=utcnow(), updated_by=actor.name, **changes)
        )
        platform.audit.record(
            conn,
            actor,
            "monitoring.monitor.update",
            target_type="monitor",
            target_id=name,
            project_id=project_row.id,
            details={k: v for k, v in changes.items() if k != "drift_options"}
            | ({"drift_options": "changed"} if "drift_options" in changes else {}),
        )
        updated = conn.execute(select(monitors).where(monitors.c.id == row.id)).one()
        return monitor_from_row(updated, project_row.name)


def delete_monitor(platform: Platform, actor: Actor, project: str, name: str) -> None:
    """Delete the monitor with its results, its alert rules, their incidents and delivery
    log (maintainers); ``NotFound``."""
    from ._alert_tables import alert_notifications, alert_rules, alerts

    check_monitor_name(name)
    with platform.db.write() as conn:
        project_row = fetch_project(conn, project)
        require_project_role(conn, actor, project_row.id, Role.MAINTAINER)
        row = fetch_monitor(conn, project_row, name)
        # The foreign keys cascade too; deleting explicitly keeps the order plain and the
        # counts in the audit event.
        rule_ids = select(alert_rules.c.id).where(alert_rules.c.monitor_id == row.id)
        incident_ids = select(alerts.c.id).where(alerts.c.rule_id.in_(rule_ids))
        conn.execute(
            delete(alert_notifications).where(alert_notifications.c.alert_id.in_(incident_ids))
        )
        incidents = conn.execute(delete(alerts).where(alerts.c.rule_id.in_(rule_ids))).rowcount
        rules = conn.execute(delete(alert_rules).where(alert_rules.c.monitor_id == row.id))
        conn.execute(delete(monitor_results).where(monitor_results.c.monitor_id == row.id))
        conn.execute(delete(monitors).where(monitors.c.id == row.id))
        platform.audit.record(
            conn,
            actor,
            "monitoring.monitor.delete",
            target_type="monitor",
            target_id=name,
            project_id=project_row.id,
            details={"alert_rules": rules.rowcount, "alerts": incidents},
        )


def _moment(value: object, field: str) -> dt.datetime:
    if not isinstance(value, dt.datetime) or value.tzinfo is None:
        raise InvalidArgument(
            f"{field} must be a timezone-aware datetime (UTC)", details={"field": field}
        )
    return value.astimezone(dt.UTC)


def list_monitor_results(
    platform: Platform,
    actor: Actor,
    project: str,
    name: str,
    *,
    since: dt.datetime | None = None,
    until: dt.datetime | None = None,
    limit: int = 1_000,
) -> list[MonitorResult]:
    """The monitor's results whose window starts in ``[since, until)``, oldest first, at
    most ``limit`` (1 to 10,000; the newest ones when there are more) (viewers)."""
    check_monitor_name(name)
    if isinstance(limit, bool) or not isinstance(limit, int) or not 1 <= limit <= MAX_RESULTS:
        raise InvalidArgument(
            f"limit must be between 1 and {MAX_RESULTS}", details={"field": "limit"}
        )
    query = select(monitor_results)
    if since is not None:
        query = query.where(monitor_results.c.window_start >= _moment(since, "since"))
    if until is not None:
        query = query.where(monitor_results.c.window_start < _moment(until, "until"))
    with platform.db.read() as conn:
        project_row = fetch_project(conn, project)
        require_project_role(conn, actor, project_row.id, Role.VIEWER)
        row = fetch_monitor(conn, project_row, name)
        rows = conn.execute(
            query.where(monitor_results.c.monitor_id == row.id)
            .order_by(monitor_results.c.window_start.desc())
            .limit(limit)
        ).all()
    return [result_from_row(r, name) for r in reversed(rows)]
