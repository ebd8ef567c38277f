"""Experiments: named groups of runs inside a project."""

from __future__ import annotations

import uuid
from typing import TYPE_CHECKING

from sqlalchemy import Connection, insert, select, update

from ..errors import AlreadyExists, Conflict, NotFound
from ..security import Actor, Role, fetch_project, require_project_role
from ..store import utcnow
from ._model import Experiment, ExperimentId, experiment_from_row
from ._tables import experiments
from ._validation import check_experiment_name

if TYPE_CHECKING:
    from ..platform import Platform


def fetch_experiment(conn: Connection, project_id: str, name: str) -> Experiment:
    row = conn.execute(
        select(experiments).where(
            experiments.c.project_id == project_id, experiments.c.name == name
        )
    ).first()
    if row is None:
        raise NotFound(f"no experiment named {name!r} in this project")
    return experiment_from_row(row)


def create_experiment(
    platform: Platform, actor: Actor, project: str, name: str, description: str = ""
) -> Experiment:
    """Create an experiment (project editors). ``AlreadyExists`` when the name is taken."""
    check_experiment_name(name)
    try:
        return _insert_experiment(platform, actor, project, name, description)
    except Conflict:  # another caller created the same name between our check and insert
        raise AlreadyExists(f"an experiment named {name!r} already exists in {project!r}") from None


def _insert_experiment(
    platform: Platform, actor: Actor, project: str, name: str, description: str
) -> Experiment:
    with platform.db.write() as conn:
        project_row = fetch_project(conn, project)
        require_project_role(conn, actor, project_row.id, Role.EDITOR)
        exists = conn.execute(
            select(experiments.c.id).where(
                experiments.c.project_id == project_row.id, experiments.c.name == name
            )
        ).first()
        if exists is not None:
            raise AlreadyExists(f"an experiment named {name!r} already exists in {project!r}")
        experiment = Experiment(
            ExperimentId(uuid.uuid4().hex),
            project_row.id,
            name,
            description,
            utcnow(),
            actor.name,
            None,
        )
        conn.execute(
            insert(experiments).values(
                id=experiment.id,
                project_id=experiment.project_id,
                name=name,
                description=description,
                created_at=experiment.created_at,
                created_by=actor.name,
            )
        )
        platform.audit.record(
            conn,
            actor,
            "experiment.create",
            target_type="experiment",
            target_id=name,
            project_id=project_row.id,
        )
    return experiment


def get_experiment(platform: Platform, actor: Actor, project: str, name: str) -> Experiment:
    with platform.db.read() as conn:
        project_row = fetch_project(conn, project)
        require_project_role(conn, actor, project_row.id, Role.VIEWER)
        return fetch_experiment(conn, project_row.id, name)


def get_or_create_experiment(
    platform: Platform, actor: Actor, project: str, name: str
) -> Experiment:
    """The experiment called ``name``, created if missing (safe under concurrent callers)."""
    try:
        return get_experiment(platform, actor, project, name)
    except NotFound:
        pass
    try:
        return create_experiment(platform, actor, project, name)
    except AlreadyExists:
        return get_experiment(platform, actor, project, name)


def list_experiments(
    platform: Platform, actor: Actor, project: str, *, include_deleted: bool = False
) -> list[Experiment]:
    with platform.db.read() as conn:
        project_row = fetch_project(conn, project)
        require_project_role(conn, actor, project_row.id, Role.VIEWER)
        query = (
            select(experiments)
            .where(experiments.c.project_id == project_row.id)
            .order_by(experiments.c.name)
        )
        if not include_deleted:
            query = query.where(experiments.c.deleted_at.is_(None))
        return [experiment_from_row(r) for r in conn.execute(query)]


def set_experiment_deleted(
    platform: Platform, actor: Actor, project: str, name: str, deleted: bool
) -> Experiment:
    """Soft-delete or restore an experiment (project maintainers). Its runs stay as they are
    but are hidden from default listings while the experiment is deleted."""
    with platform.db.write() as conn:
        project_row = fetch_project(conn, project)
        require_project_role(conn, actor, project_row.id, Role.MAINTAINER)
        experiment = fetch_experiment(conn, project_row.id, name)
        if (experiment.deleted_at is not None) == deleted:
            state = "deleted" if deleted else "not deleted"
            raise Conflict(f"experiment {name!r} is already {state}")
        conn.execute(
            update(experiments)
            .where(experiments.c.id == experiment.id)
            .values(deleted_at=utcnow() if deleted else None)
        )
        platform.audit.record(
            conn,
            actor,
            "experiment.delete" if deleted else "experiment.restore",
            target_type="experiment",
            target_id=name,
            project_id=project_row.id,
        )
        return fetch_experiment(conn, project_row.id, name)
