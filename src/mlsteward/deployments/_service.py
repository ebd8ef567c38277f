"""Deployment service functions: create and read; the helpers every change shares.

Each change (here, in ``_rollouts`` and in ``_lifecycle``) takes an ``Actor``, checks the
project role, and in one transaction writes the new plan (its revision one higher), a history
event, the lineage edges ``model version -deployed_as-> deployment`` for every version the plan
routes to, and an audit event. Starting and stopping the server processes is the supervisor's
business (``_supervisor``): these functions only record what the platform wants.
"""

from __future__ import annotations

import socket
import uuid
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sqlalchemy import Connection, Row, insert, select, update

from .._loopback import is_loopback
from ..errors import AlreadyExists, Conflict, InvalidArgument, NotFound
from ..security import Actor, Role, fetch_project, require_project_role
from ..store import utcnow
from ._lineage import record_deployment_lineage
from ._model import (
    DEFAULT_LOG_SAMPLE_RATE,
    DEFAULT_LOG_WINDOW_SECONDS,
    DEFAULT_RANGE_TOLERANCE,
    Deployment,
    DeploymentEvent,
    DeploymentId,
    DeploymentStatus,
    EventKind,
    InputRangesMode,
    check_deployment_name,
    check_flag,
    check_host,
    check_input_ranges,
    check_log_sample_rate,
    check_log_window,
    check_port,
    check_range_tolerance,
)
from ._tables import deployment_events, deployments

if TYPE_CHECKING:
    from ..platform import Platform
    from ..security import Project
    from ..serving._routing import AutoRollbackRule, RoutingPlan

MAX_EVENTS = 10_000


def _deployment_from_row(row: Row[Any], project: str) -> Deployment:
    from ..serving._routing import RoutingPlan

    options = row.options  # a row written before an option existed reads as its default
    return Deployment(
        id=DeploymentId(row.id),
        project=project,
        name=row.name,
        model=row.model_name,
        status=DeploymentStatus(row.status),
        plan=RoutingPlan.from_json(row.plan),
        host=row.host,
        port=row.port,
        api_key_file=options.get("api_key_file"),
        platform_tokens=bool(options.get("platform_tokens", False)),
        created_at=row.created_at,
        created_by=row.created_by,
        updated_at=row.updated_at,
        updated_by=row.updated_by,
        prediction_log=bool(options.get("prediction_log", True)),
        log_sample_rate=float(options.get("log_sample_rate", DEFAULT_LOG_SAMPLE_RATE)),
        log_window=float(options.get("log_window", DEFAULT_LOG_WINDOW_SECONDS)),
        input_ranges=InputRangesMode(options.get("input_ranges", InputRangesMode.REJECT)),
        range_tolerance=float(options.get("range_tolerance", DEFAULT_RANGE_TOLERANCE)),
    )


def fetch_deployment_row(
    conn: Connection, project: Project, name: str, *, lock: bool = False
) -> Row[Any]:
    query = select(deployments).where(
        deployments.c.project_id == project.id, deployments.c.name == name
    )
    row = conn.execute(query.with_for_update() if lock else query).first()
    if row is None:
        raise NotFound(
            f"no deployment named {name!r} in project {project.name!r}: "
            "`mlsteward deploy list` shows them",
            details={"deployment": name},
        )
    return row


def _resolve_version(conn: Connection, project_id: str, model_uri: str) -> tuple[str, int]:
    """(model name, version number) a ``models:/`` URI names now; ``NotFound`` otherwise."""
    from ..registry._models import fetch_model_row, fetch_version_row, parse_model_uri
    from ..registry._tables import model_aliases, model_versions

    name, version, alias = parse_model_uri(model_uri)
    model_row = fetch_model_row(conn, project_id, name)
    if version is not None:
        fetch_version_row(conn, model_row.id, version)
        return name, version
    number = conn.execute(
        select(model_versions.c.version)
        .join(model_aliases, model_aliases.c.version_id == model_versions.c.id)
        .where(model_aliases.c.model_id == model_row.id, model_aliases.c.alias == alias)
    ).scalar_one_or_none()
    if number is None:
        raise NotFound(f"model {name!r} has no alias @{alias}")
    return name, int(number)


def check_version_exists(conn: Connection, project_id: str, model: str, version: int) -> None:
    from ..registry._models import check_version_number, fetch_model_row, fetch_version_row

    check_version_number(version)
    fetch_version_row(conn, fetch_model_row(conn, project_id, model).id, version)


def free_port(host: str = "127.0.0.1") -> int:
    """A port the OS has free on ``host`` now (a new deployment's default)."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as probe:
        probe.bind((host if is_loopback(host) else "", 0))
        port: int = probe.getsockname()[1]
        return port


def _check_api_key_file(host: str, api_key_file: str | None, platform_tokens: bool) -> str | None:
    if api_key_file is None:
        if not is_loopback(host) and not platform_tokens:
            raise InvalidArgument(
                f"refusing to deploy on {host} without authentication: accept platform tokens "
                "with the predict scope (--platform-tokens) or pass an API key file "
                "(--api-key-file FILE, one random key per line), or deploy on 127.0.0.1 "
                "behind your own gateway",
                details={"field": "host"},
            )
        return None
    path = Path(api_key_file)
    if not path.is_absolute() or not path.is_file():
        raise InvalidArgument(
            f"the API key file must be an absolute path to an existing file on the machine "
            f"that runs the deployment, not {api_key_file[:200]!r}",
            details={"field": "api_key_file"},
        )
    return str(path)


def write_change(
    platform: Platform,
    conn: Connection,
    actor: Actor,
    project: Project,
    row: Row[Any],
    plan: RoutingPlan,
    kind: EventKind,
    details: dict[str, Any],
    *,
    status: DeploymentStatus | None = None,
) -> Deployment:
    """Store ``plan`` (its revision must be the stored one plus one), its event, lineage and
    audit event, in the caller's transaction."""
    now = utcnow()
    values: dict[str, Any] = {
        "plan": plan.to_json(),
        "revision": plan.revision,
        "updated_at": now,
        "updated_by": actor.name,
    }
    if status is not None:
        values["status"] = status.value
    conn.execute(update(deployments).where(deployments.c.id == row.id).values(**values))
    append_event(conn, actor, row.id, plan.revision, kind, details)
    record_deployment_lineage(conn, actor, project, row.id, row.name, row.model_name, plan)
    platform.audit.record(
        conn,
        actor,
        f"deployment.{kind.value}",
        target_type="deployment",
        target_id=row.name,
        project_id=project.id,
        details={"revision": plan.revision, **details},
    )
    updated = conn.execute(select(deployments).where(deployments.c.id == row.id)).one()
    return _deployment_from_row(updated, project.name)


def append_event(
    conn: Connection,
    actor: Actor,
    deployment_id: str,
    revision: int,
    kind: EventKind,
    details: dict[str, Any],
) -> None:
    conn.execute(
        insert(deployment_events).values(
            deployment_id=deployment_id,
            revision=revision,
            kind=kind.value,
            details=details,
            actor=actor.name,
            at=utcnow(),
        )
    )


def create_deployment(
    platform: Platform,
    actor: Actor,
    project: str,
    name: str,
    model_uri: str,
    *,
    host: str = "127.0.0.1",
    port: int | None = None,
    sticky_header: str | None = None,
    auto_rollback: AutoRollbackRule | None = None,
    api_key_file: str | None = None,
    platform_tokens: bool = False,
    prediction_log: bool = True,
    log_sample_rate: float = DEFAULT_LOG_SAMPLE_RATE,
    log_window: float = DEFAULT_LOG_WINDOW_SECONDS,
    input_ranges: InputRangesMode | str = InputRangesMode.REJECT,
    range_tolerance: float = DEFAULT_RANGE_TOLERANCE,
) -> Deployment:
    """A new deployment serving the version ``model_uri`` names (``models:/fraud/3`` or
    ``models:/fraud@production``, resolved now) at 100 % (maintainers); status ``running``.

    ``port`` None: a port free now. ``NotFound`` for an unknown model, version or alias,
    ``AlreadyExists`` for a taken name, ``Conflict`` for a port another running deployment
    uses, ``InvalidArgument`` for bad values or a non-loopback ``host`` without
    authentication (``platform_tokens``: requests may present platform tokens with the
    ``predict`` scope; ``api_key_file``: keys in a file on the machine that runs it).

    ``prediction_log``: the server ships per-window profiles of its predictions, a
    ``log_sample_rate`` share (0..1) of the rows and feedback labels to the platform every
    ``log_window`` seconds (0.1..86400), as the ``system`` actor; ``input_ranges``
    (``reject`` or ``off``): refuse inputs outside the training data's ranges, widened by
    ``range_tolerance`` (0..100) times their span. ``InvalidArgument`` names the bad field."""
    from ..registry._models import parse_model_uri
    from ..serving._routing import Route, RoutingPlan

    check_deployment_name(name)
    check_host(host)
    port = free_port(host) if port is None else check_port(port)
    parse_model_uri(model_uri)
    check_flag(platform_tokens, "platform_tokens")
    options: dict[str, Any] = {
        "platform_tokens": platform_tokens,
        "prediction_log": check_flag(prediction_log, "prediction_log"),
        "log_sample_rate": check_log_sample_rate(log_sample_rate),
        "log_window": check_log_window(log_window),
        "input_ranges": check_input_ranges(input_ranges).value,
        "range_tolerance": check_range_tolerance(range_tolerance),
    }
    key_file = _check_api_key_file(host, api_key_file, platform_tokens)
    with platform.db.write() as conn:
        project_row = fetch_project(conn, project)
        require_project_role(conn, actor, project_row.id, Role.MAINTAINER)
        model, version = _resolve_version(conn, project_row.id, model_uri)
        plan = RoutingPlan(
            model=model,
            revision=1,
            stable=str(version),
            routes=(Route(str(version), 100),),
            sticky_header=sticky_header,
            auto_rollback=auto_rollback,
        )
        taken = conn.execute(
            select(deployments.c.id).where(
                deployments.c.project_id == project_row.id, deployments.c.name == name
            )
        ).first()
        if taken is not None:
            raise AlreadyExists(
                f"project {project!r} already has a deployment named {name!r}: pick another "
                "name, or roll the new version out to it (`mlsteward deploy rollout`)",
                details={"deployment": name},
            )
        clash = conn.execute(
            select(deployments.c.name).where(
                deployments.c.host == host,
                deployments.c.port == port,
                deployments.c.status == DeploymentStatus.RUNNING.value,
            )
        ).first()
        if clash is not None:
            raise Conflict(
                f"deployment {clash.name!r} already listens on {host}:{port}: choose another "
                "--port (or leave it out to get a free one)",
                details={"field": "port"},
            )
        now = utcnow()
        deployment_id = uuid.uuid4().hex
        conn.execute(
            insert(deployments).values(
                id=deployment_id,
                project_id=project_row.id,
                name=name,
                model_name=model,
                status=DeploymentStatus.RUNNING.value,
                plan=plan.to_json(),
                revision=plan.revision,
                host=host,
                port=port,
                options={"api_key_file": key_file, **options},
                created_at=now,
                created_by=actor.name,
                updated_at=now,
                updated_by=actor.name,
            )
        )
        details = {"model": model, "version": version, "host": host, "port": port}
        append_event(conn, actor, deployment_id, plan.revision, EventKind.CREATED, details)
        record_deployment_lineage(conn, actor, project_row, deployment_id, name, model, plan)
        platform.audit.record(
            conn,
            actor,
            "deployment.created",
            target_type="deployment",
            target_id=name,
            project_id=project_row.id,
            details={"revision": plan.revision, "model_uri": model_uri, **details, **options},
        )
        row = conn.execute(select(deployments).where(deployments.c.id == deployment_id)).one()
        return _deployment_from_row(row, project_row.name)


def get_deployment(platform: Platform, actor: Actor, project: str, name: str) -> Deployment:
    """The deployment (viewers); ``NotFound``."""
    check_deployment_name(name)
    with platform.db.read() as conn:
        project_row = fetch_project(conn, project)
        require_project_role(conn, actor, project_row.id, Role.VIEWER)
        return _deployment_from_row(fetch_deployment_row(conn, project_row, name), project_row.name)


def list_deployments(platform: Platform, actor: Actor, project: str) -> list[Deployment]:
    """The project's deployments by name (viewers)."""
    with platform.db.read() as conn:
        project_row = fetch_project(conn, project)
        require_project_role(conn, actor, project_row.id, Role.VIEWER)
        rows = conn.execute(
            select(deployments)
            .where(deployments.c.project_id == project_row.id)
            .order_by(deployments.c.name)
        ).all()
        return [_deployment_from_row(row, project_row.name) for row in rows]


def deployment_history(
    platform: Platform, actor: Actor, project: str, name: str, *, limit: int = 100
) -> list[DeploymentEvent]:
    """The newest ``limit`` (1..10,000) events of the deployment, oldest first (viewers)."""
    check_deployment_name(name)
    if isinstance(limit, bool) or not isinstance(limit, int) or not 1 <= limit <= MAX_EVENTS:
        raise InvalidArgument(
            f"limit must be 1..{MAX_EVENTS}, not {limit!r}", details={"field": "limit"}
        )
    with platform.db.read() as conn:
        project_row = fetch_project(conn, project)
        require_project_role(conn, actor, project_row.id, Role.VIEWER)
        row = fetch_deployment_row(conn, project_row, name)
        rows = conn.execute(
            select(deployment_events)
            .where(deployment_events.c.deployment_id == row.id)
            .order_by(deployment_events.c.id.desc())
            .limit(limit)
        ).all()
        return [
            DeploymentEvent(
                id=event.id,
                revision=event.revision,
                kind=EventKind(event.kind),
                details=event.details,
                actor=event.actor,
                at=event.at,
            )
            for event in reversed(rows)
        ]
