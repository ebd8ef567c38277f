"""Stored expectation suites per project: create or replace, read, list, delete (editors
write, viewers read, every write audited), and attach a suite to a dataset so that every new
version of the dataset is validated against it."""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sqlalchemy import Connection, Row, delete, insert, select, update

from .._wire import iso
from ..data._tables import datasets
from ..errors import AlreadyExists, NotFound
from ..security import Actor, Role, fetch_project, require_project_role
from ..store import utcnow
from ._suite import ExpectationSuite, check_suite_name
from ._tables import validation_suite_datasets, validation_suites
from ._validate import as_suite

if TYPE_CHECKING:
    from ..platform import Platform


@dataclass(frozen=True)
class StoredSuite:
    """A suite saved in a project, with the datasets it is attached to (by name)."""

    id: str
    project_id: str
    suite: ExpectationSuite
    created_at: dt.datetime
    created_by: str
    updated_at: dt.datetime
    datasets: tuple[str, ...] = ()

    @property
    def name(self) -> str:
        return self.suite.name

    def to_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "project_id": self.project_id,
            "name": self.suite.name,
            "description": self.suite.description,
            "definition": self.suite.to_dict(),
            "created_at": iso(self.created_at),
            "created_by": self.created_by,
            "updated_at": iso(self.updated_at),
            "datasets": list(self.datasets),
        }


def _attached(conn: Connection, suite_id: str) -> tuple[str, ...]:
    return tuple(
        conn.execute(
            select(datasets.c.name)
            .join(
                validation_suite_datasets, validation_suite_datasets.c.dataset_id == datasets.c.id
            )
            .where(validation_suite_datasets.c.suite_id == suite_id)
            .order_by(datasets.c.name)
        ).scalars()
    )


def stored_suite(conn: Connection, row: Row[Any]) -> StoredSuite:
    return StoredSuite(
        id=row.id,
        project_id=row.project_id,
        suite=ExpectationSuite.from_dict(row.definition),
        created_at=row.created_at,
        created_by=row.created_by,
        updated_at=row.updated_at,
        datasets=_attached(conn, row.id),
    )


def fetch_suite_row(conn: Connection, project_id: str, name: str) -> Row[Any]:
    row = conn.execute(
        select(validation_suites).where(
            validation_suites.c.project_id == project_id, validation_suites.c.name == name
        )
    ).first()
    if row is None:
        raise NotFound(
            f"no expectation suite named {name!r} in this project: create it with "
            "`mlsteward suites create <file.yaml>`"
        )
    return row


def _dataset_id(conn: Connection, project_id: str, name: str) -> str:
    found = conn.execute(
        select(datasets.c.id).where(datasets.c.project_id == project_id, datasets.c.name == name)
    ).scalar_one_or_none()
    if found is None:
        raise NotFound(f"no dataset named {name!r} in this project")
    return str(found)


def save_suite(
    platform: Platform,
    actor: Actor,
    project: str,
    suite: ExpectationSuite | str | Path | Mapping[str, Any],
    *,
    replace: bool = False,
) -> StoredSuite:
    """Store a suite under its name (editors). ``AlreadyExists`` if the name is taken, unless
    ``replace`` (the suite keeps its id and attachments). ``suite`` may be a YAML/JSON path or
    text; ``InvalidArgument`` naming the entry and field for a bad suite."""
    checked = as_suite(suite)
    definition = checked.to_dict()
    with platform.db.write() as conn:
        project_row = fetch_project(conn, project)
        require_project_role(conn, actor, project_row.id, Role.EDITOR)
        existing = conn.execute(
            select(validation_suites.c.id).where(
                validation_suites.c.project_id == project_row.id,
                validation_suites.c.name == checked.name,
            )
        ).scalar_one_or_none()
        now = utcnow()
        if existing is not None and not replace:
            raise AlreadyExists(
                f"a suite named {checked.name!r} exists in this project already; replace it "
                "with replace=True (CLI: `mlsteward suites create --replace`)"
            )
        if existing is None:
            conn.execute(
                insert(validation_suites).values(
                    id=uuid.uuid4().hex,
                    project_id=project_row.id,
                    name=checked.name,
                    description=checked.description,
                    definition=definition,
                    created_at=now,
                    created_by=actor.name,
                    updated_at=now,
                )
            )
        else:
            conn.execute(
                update(validation_suites)
                .where(validation_suites.c.id == existing)
                .values(description=checked.description, definition=definition, updated_at=now)
            )
        platform.audit.record(
            conn,
            actor,
            "validation.suite.replace" if existing is not None else "validation.suite.create",
            target_type="validation_suite",
            target_id=checked.name,
            project_id=project_row.id,
            details={"expectations": len(checked.expectations)},
        )
        return stored_suite(conn, fetch_suite_row(conn, project_row.id, checked.name))


def get_suite(platform: Platform, actor: Actor, project: str, name: str) -> StoredSuite:
    """A stored suite (viewers); ``NotFound`` if there is none of that name."""
    check_suite_name(name)
    with platform.db.read() as conn:
        project_row = fetch_project(conn, project)
        require_project_role(conn, actor, project_row.id, Role.VIEWER)
        return stored_suite(conn, fetch_suite_row(conn, project_row.id, name))


def list_suites(platform: Platform, actor: Actor, project: str) -> list[StoredSuite]:
    """Every suite of the project, by name (viewers)."""
    with platform.db.read() as conn:
        project_row = fetch_project(conn, project)
        require_project_role(conn, actor, project_row.id, Role.VIEWER)
        rows = conn.execute(
            select(validation_suites)
            .where(validation_suites.c.project_id == project_row.id)
            .order_by(validation_suites.c.name)
        ).all()
        return [stored_suite(conn, row) for row in rows]


def delete_suite(platform: Platform, actor: Actor, project: str, name: str) -> None:
    """Delete a suite and its attachments (editors); its past results stay, by suite name."""
    check_suite_name(name)
    with platform.db.write() as conn:
        project_row = fetch_project(conn, project)
        require_project_role(conn, actor, project_row.id, Role.EDITOR)
        row = fetch_suite_row(conn, project_row.id, name)
        conn.execute(
            delete(validation_suite_datasets).where(validation_suite_datasets.c.suite_id == row.id)
        )
        from ._tables import validation_results

        conn.execute(
            update(validation_results)
            .where(validation_results.c.suite_id == row.id)
            .values(suite_id=None)
        )
        conn.execute(delete(validation_suites).where(validation_suites.c.id == row.id))
        platform.audit.record(
            conn,
            actor,
            "validation.suite.delete",
            target_type="validation_suite",
            target_id=name,
            project_id=project_row.id,
        )


def attach_suite(
    platform: Platform, actor: Actor, project: str, suite_name: str, dataset: str
) -> StoredSuite:
    """Validate every new version of ``dataset`` against the suite (editors); attaching twice
    is a no-op."""
    check_suite_name(suite_name)
    with platform.db.write() as conn:
        project_row = fetch_project(conn, project)
        require_project_role(conn, actor, project_row.id, Role.EDITOR)
        row = fetch_suite_row(conn, project_row.id, suite_name)
        dataset_id = _dataset_id(conn, project_row.id, dataset)
        present = conn.execute(
            select(validation_suite_datasets.c.suite_id).where(
                validation_suite_datasets.c.suite_id == row.id,
                validation_suite_datasets.c.dataset_id == dataset_id,
            )
        ).first()
        if present is None:
            conn.execute(
                insert(validation_suite_datasets).values(
                    suite_id=row.id, dataset_id=dataset_id, created_at=utcnow()
                )
            )
            platform.audit.record(
                conn,
                actor,
                "validation.suite.attach",
                target_type="validation_suite",
                target_id=suite_name,
                project_id=project_row.id,
                details={"dataset": dataset},
            )
        return stored_suite(conn, row)


def detach_suite(
    platform: Platform, actor: Actor, project: str, suite_name: str, dataset: str
) -> StoredSuite:
    """Stop validating new versions of ``dataset`` against the suite (editors);
    ``NotFound`` if it was not attached."""
    check_suite_name(suite_name)
    with platform.db.write() as conn:
        project_row = fetch_project(conn, project)
        require_project_role(conn, actor, project_row.id, Role.EDITOR)
        row = fetch_suite_row(conn, project_row.id, suite_name)
        dataset_id = _dataset_id(conn, project_row.id, dataset)
        removed = conn.execute(
            delete(validation_suite_datasets).where(
                validation_suite_datasets.c.suite_id == row.id,
                validation_suite_datasets.c.dataset_id == dataset_id,
            )
        ).rowcount
        if not removed:
            raise NotFound(f"suite {suite_name!r} is not attached to dataset {dataset!r}")
        platform.audit.record(
            conn,
            actor,
            "validation.suite.detach",
            target_type="validation_suite",
            target_id=suite_name,
            project_id=project_row.id,
            details={"dataset": dataset},
        )
        return stored_suite(conn, row)


__all__ = [
    "StoredSuite",
    "attach_suite",
    "delete_suite",
    "detach_suite",
    "get_suite",
    "list_suites",
    "save_suite",
]
