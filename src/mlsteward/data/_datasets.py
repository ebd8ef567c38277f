"""Datasets (catalog entries): create, read, list."""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Mapping
from typing import TYPE_CHECKING, Any

from sqlalchemy import Connection, Row, insert, select

from ..errors import AlreadyExists, InvalidArgument, NotFound
from ..security import Actor, Role, fetch_project, require_project_role
from ..store import utcnow
from ._model import Dataset, DatasetId, check_dataset_name
from ._search_text import dataset_search_text
from ._tables import dataset_columns, datasets

if TYPE_CHECKING:
    from ..platform import Platform

MAX_DESCRIPTION_LENGTH = 10_000
MAX_OWNERS = 50
MAX_TAGS = 100


def dataset_from_row(row: Row[Any]) -> Dataset:
    return Dataset(
        id=DatasetId(row.id),
        project_id=row.project_id,
        name=row.name,
        description=row.description,
        owners=tuple(row.owners),
        tags=dict(row.tags),
        latest_version=row.latest_version,
        created_at=row.created_at,
        created_by=row.created_by,
        updated_at=row.updated_at,
    )


def fetch_dataset_row(
    conn: Connection, project_id: str, name: str, *, lock: bool = False
) -> Row[Any]:
    """The dataset's row (``lock``: ``FOR UPDATE`` on PostgreSQL, serialising version
    numbering per dataset); ``NotFound`` if there is none."""
    query = select(datasets).where(datasets.c.project_id == project_id, datasets.c.name == name)
    row = conn.execute(query.with_for_update() if lock else query).first()
    if row is None:
        raise NotFound(
            f"no dataset named {name!r} in this project: add a version with "
            "`mlsteward data add <path> --name NAME`"
        )
    return row


def column_names(conn: Connection, dataset_id: str) -> list[str]:
    return list(
        conn.execute(
            select(dataset_columns.c.name)
            .where(dataset_columns.c.dataset_id == dataset_id)
            .order_by(dataset_columns.c.position, dataset_columns.c.name)
        ).scalars()
    )


def search_text_of(conn: Connection, row: Row[Any]) -> str:
    return dataset_search_text(
        row.name, row.description, dict(row.tags), list(row.owners), column_names(conn, row.id)
    )


def _check_owners(owners: Iterable[str]) -> list[str]:
    if isinstance(owners, str):
        raise InvalidArgument("owners must be a list of names, not one string")
    checked = list(owners)
    if len(checked) > MAX_OWNERS or not all(
        isinstance(o, str) and 0 < len(o) <= 200 for o in checked
    ):
        raise InvalidArgument(f"owners must be at most {MAX_OWNERS} names of 1-200 characters")
    return checked


def _check_tags(tags: Mapping[str, str]) -> dict[str, str]:
    checked = dict(tags)
    if len(checked) > MAX_TAGS or not all(
        isinstance(k, str) and isinstance(v, str) and 0 < len(k) <= 250 and len(v) <= 5000
        for k, v in checked.items()
    ):
        raise InvalidArgument(
            f"tags must be at most {MAX_TAGS} string keys (1-250 characters) and string values"
        )
    return checked


def insert_dataset(
    conn: Connection,
    project_id: str,
    name: str,
    actor: Actor,
    *,
    description: str = "",
    owners: list[str] | None = None,
    tags: dict[str, str] | None = None,
) -> None:
    """Insert the catalog row (the caller has checked permissions and the name)."""
    taken = conn.execute(
        select(datasets.c.id).where(datasets.c.project_id == project_id, datasets.c.name == name)
    ).first()
    if taken is not None:
        raise AlreadyExists(f"a dataset named {name!r} exists in this project already")
    now = utcnow()
    owners = owners if owners is not None else [actor.name]
    tags = tags or {}
    conn.execute(
        insert(datasets).values(
            id=uuid.uuid4().hex,
            project_id=project_id,
            name=name,
            description=description,
            owners=owners,
            tags=tags,
            search_text=dataset_search_text(name, description, tags, owners, []),
            latest_version=None,
            created_at=now,
            created_by=actor.name,
            updated_at=now,
        )
    )


def create_dataset(
    platform: Platform,
    actor: Actor,
    project: str,
    name: str,
    *,
    description: str = "",
    owners: Iterable[str] | None = None,
    tags: Mapping[str, str] | None = None,
) -> Dataset:
    """Create an empty dataset (editors); ``AlreadyExists`` if the name is taken.

    ``owners`` defaults to the acting user. ``add_dataset_version`` creates the dataset on its
    first version, so calling this first is only needed to set a description, owners or tags.
    """
    check_dataset_name(name)
    if not isinstance(description, str) or len(description) > MAX_DESCRIPTION_LENGTH:
        raise InvalidArgument(
            f"description must be text of at most {MAX_DESCRIPTION_LENGTH} characters"
        )
    checked_owners = _check_owners(owners) if owners is not None else None
    checked_tags = _check_tags(tags or {})
    with platform.db.write() as conn:
        project_row = fetch_project(conn, project)
        require_project_role(conn, actor, project_row.id, Role.EDITOR)
        insert_dataset(
            conn,
            project_row.id,
            name,
            actor,
            description=description,
            owners=checked_owners,
            tags=checked_tags,
        )
        platform.audit.record(
            conn,
            actor,
            "data.dataset.create",
            target_type="dataset",
            target_id=name,
            project_id=project_row.id,
        )
        return dataset_from_row(fetch_dataset_row(conn, project_row.id, name))


def get_dataset(platform: Platform, actor: Actor, project: str, name: str) -> Dataset:
    """A dataset with its latest version number (viewers); ``NotFound`` if absent."""
    check_dataset_name(name)
    with platform.db.read() as conn:
        project_row = fetch_project(conn, project)
        require_project_role(conn, actor, project_row.id, Role.VIEWER)
        return dataset_from_row(fetch_dataset_row(conn, project_row.id, name))


def list_datasets(platform: Platform, actor: Actor, project: str) -> list[Dataset]:
    """Every dataset of the project, by name (viewers)."""
    with platform.db.read() as conn:
        project_row = fetch_project(conn, project)
        require_project_role(conn, actor, project_row.id, Role.VIEWER)
        rows = conn.execute(
            select(datasets)
            .where(datasets.c.project_id == project_row.id)
            .order_by(datasets.c.name)
        ).all()
        return [dataset_from_row(row) for row in rows]
