"""The data catalog: descriptions, owners, tags and column classifications of datasets, their
usage (from the lineage graph) and full-text search.

Search runs on the database: an FTS5 table on SQLite and a GIN-indexed ``tsvector`` on
PostgreSQL (migration 0010). The user's query never reaches SQL as text: it is cut into words
(letters and digits), each matched as a word prefix, all words required; FTS syntax typed by a
user (quotes, ``*``, ``NEAR(``, ``AND``, ``-``) is ordinary text.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from sqlalchemy import Connection, bindparam, column, func, literal_column, select, table, text
from sqlalchemy import update as sql_update
from sqlalchemy.sql.expression import ColumnElement

from ..errors import InvalidArgument, NotFound
from ..security import Actor, Role, Scope, fetch_project, require_project_role, require_scope
from ..store import utcnow
from ._datasets import (
    MAX_DESCRIPTION_LENGTH,
    MAX_OWNERS,
    MAX_TAGS,
    dataset_from_row,
    fetch_dataset_row,
    search_text_of,
)
from ._lineage_nodes import LineageNodeRef, describe_nodes
from ._model import Dataset
from ._tables import dataset_columns, dataset_versions, datasets, lineage_edges

if TYPE_CHECKING:
    from ..platform import Platform

MAX_TAG_KEY_LENGTH = 250
MAX_TAG_VALUE_LENGTH = 5000
MAX_QUERY_LENGTH = 500
MAX_QUERY_WORDS = 16
MAX_LIMIT = 200
_WORD = re.compile(r"[^\W_]+")
_USAGE_LIMIT = 1000


@dataclass(frozen=True, slots=True)
class CatalogColumn:
    """A column of a table dataset: type, PII class (``pii_source``: "detected", "manual" or
    "none") and description."""

    name: str
    position: int
    data_type: str
    pii_class: str | None
    pii_source: str
    description: str

    def to_json(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "position": self.position,
            "data_type": self.data_type,
            "pii_class": self.pii_class,
            "pii_source": self.pii_source,
            "description": self.description,
        }


@dataclass(frozen=True, slots=True)
class DatasetUsage:
    """A run that read a version of the dataset, and the model versions it produced."""

    version: int
    run_id: str
    run_label: str
    models: tuple[str, ...]

    def to_json(self) -> dict[str, Any]:
        return {
            "version": self.version,
            "run_id": self.run_id,
            "run": self.run_label,
            "models": list(self.models),
        }


@dataclass(frozen=True, slots=True)
class CatalogEntry:
    """A dataset as the catalog shows it; ``restricted_usage`` counts runs in projects the
    reader cannot see."""

    dataset: Dataset
    project: str
    columns: tuple[CatalogColumn, ...]
    usage: tuple[DatasetUsage, ...]
    restricted_usage: int = 0

    def to_json(self) -> dict[str, Any]:
        return {
            "type": "mlsteward.catalog_entry",
            "schema_version": 1,
            "project": self.project,
            "dataset": self.dataset.to_json(),
            "columns": [c.to_json() for c in self.columns],
            "usage": [u.to_json() for u in self.usage],
            "restricted_usage": self.restricted_usage,
        }


@dataclass(frozen=True, slots=True)
class DatasetSearchHit:
    """One search result; ``score`` grows with relevance (comparable within one search)."""

    project: str
    name: str
    description: str
    owners: tuple[str, ...]
    tags: dict[str, str]
    latest_version: int | None
    score: float

    def to_json(self) -> dict[str, Any]:
        return {
            "project": self.project,
            "name": self.name,
            "description": self.description,
            "owners": list(self.owners),
            "tags": dict(self.tags),
            "latest_version": self.latest_version,
            "score": self.score,
        }


def _check_text(field: str, value: object, limit: int) -> str:
    if not isinstance(value, str):
        raise InvalidArgument(f"{field} must be a string", details={"field": field})
    if len(value) > limit:
        raise InvalidArgument(
            f"{field} is longer than {limit} characters", details={"field": field}
        )
    if "\x00" in value:
        raise InvalidArgument(f"{field} contains a NUL character", details={"field": field})
    return value


def _check_owners(owners: Iterable[str]) -> list[str]:
    if isinstance(owners, str | bytes):
        raise InvalidArgument("owners is a list of usernames, not one string")
    checked: list[str] = []
    for owner in owners:
        _check_text("owners", owner, 64)
        if owner not in checked:
            checked.append(owner)
    if len(checked) > MAX_OWNERS:
        raise InvalidArgument(f"a dataset has at most {MAX_OWNERS} owners")
    return checked


def _check_tags(tags: Mapping[str, str]) -> dict[str, str]:
    if not isinstance(tags, Mapping):
        raise InvalidArgument("tags is a mapping of names to values")
    if len(tags) > MAX_TAGS:
        raise InvalidArgument(f"a dataset has at most {MAX_TAGS} tags")
    checked: dict[str, str] = {}
    for key, value in tags.items():
        _check_text("tag name", key, MAX_TAG_KEY_LENGTH)
        if not key.strip():
            raise InvalidArgument("a tag name cannot be empty", details={"field": "tag name"})
        checked[key] = _check_text(f"tag {key[:50]!r}", value, MAX_TAG_VALUE_LENGTH)
    return checked


def _refresh_search_text(conn: Connection, dataset_id: str) -> None:
    row = conn.execute(select(datasets).where(datasets.c.id == dataset_id)).one()
    conn.execute(
        sql_update(datasets)
        .where(datasets.c.id == dataset_id)
        .values(search_text=search_text_of(conn, row), updated_at=utcnow())
    )


def update_dataset(
    platform: Platform,
    actor: Actor,
    project: str,
    name: str,
    *,
    description: str | None = None,
    owners: Iterable[str] | None = None,
    tags: Mapping[str, str] | None = None,
) -> CatalogEntry:
    """Replace the description, owners (usernames that exist) and/or tags of a dataset
    (editors); the search text follows. Audited as ``data.dataset.update``."""
    from ..store._tables import users

    values: dict[str, Any] = {}
    if description is not None:
        values["description"] = _check_text("description", description, MAX_DESCRIPTION_LENGTH)
    if owners is not None:
        values["owners"] = _check_owners(owners)
    if tags is not None:
        values["tags"] = _check_tags(tags)
    with platform.db.write() as conn:
        project_row = fetch_project(conn, project)
        require_project_role(conn, actor, project_row.id, Role.EDITOR)
        row = fetch_dataset_row(conn, project_row.id, name, lock=True)
        if values.get("owners"):
            known = set(
                conn.execute(
                    select(users.c.username).where(users.c.username.in_(values["owners"]))
                ).scalars()
            )
            unknown = [o for o in values["owners"] if o not in known]
            if unknown:
                raise InvalidArgument(
                    f"owners must be users of this platform; unknown: {', '.join(unknown[:5])} "
                    "(create them with `mlsteward users create`)",
                    details={"field": "owners", "unknown": unknown[:20]},
                )
        if values:
            conn.execute(sql_update(datasets).where(datasets.c.id == row.id).values(**values))
            _refresh_search_text(conn, row.id)
            platform.audit.record(
                conn,
                actor,
                "data.dataset.update",
                target_type="dataset",
                target_id=name,
                project_id=project_row.id,
                details={"fields": sorted(values)},
            )
        return _entry(conn, actor, project_row.name, project_row.id, name)


def set_column_classification(
    platform: Platform,
    actor: Actor,
    project: str,
    name: str,
    column_name: str,
    pii_class: str | None,
    *,
    description: str | None = None,
) -> CatalogColumn:
    """Set a column's PII class by hand (``None``: not personal data) and, optionally, its
    description (editors). Detection never overwrites a class set by hand (``pii_source``
    becomes "manual"). Audited as ``data.column.classify``."""
    from ..privacy import PiiClass

    choices = sorted(c.value for c in PiiClass)
    if pii_class is not None and pii_class not in choices:
        raise InvalidArgument(
            f"unknown PII class {str(pii_class)[:50]!r}: use one of {choices} or none",
            details={"field": "pii_class"},
        )
    values: dict[str, Any] = {"pii_class": pii_class, "pii_source": "manual"}
    if description is not None:
        values["description"] = _check_text("description", description, MAX_DESCRIPTION_LENGTH)
    _check_text("column", column_name, 256)
    with platform.db.write() as conn:
        project_row = fetch_project(conn, project)
        require_project_role(conn, actor, project_row.id, Role.EDITOR)
        row = fetch_dataset_row(conn, project_row.id, name, lock=True)
        where = (dataset_columns.c.dataset_id == row.id, dataset_columns.c.name == column_name)
        if conn.execute(select(dataset_columns.c.name).where(*where)).first() is None:
            raise NotFound(
                f"dataset {name!r} has no column {column_name[:100]!r}: see "
                f"`mlsteward catalog show {name}` for its columns",
                details={"field": "column"},
            )
        conn.execute(sql_update(dataset_columns).where(*where).values(**values))
        _refresh_search_text(conn, row.id)
        platform.audit.record(
            conn,
            actor,
            "data.column.classify",
            target_type="dataset",
            target_id=name,
            project_id=project_row.id,
            details={"column": column_name, "pii_class": pii_class},
        )
        updated = conn.execute(select(dataset_columns).where(*where)).one()
        return _column(updated)


def _column(row: Any) -> CatalogColumn:
    return CatalogColumn(
        row.name, row.position, row.data_type, row.pii_class, row.pii_source, row.description
    )


def dataset_catalog_entry(
    platform: Platform, actor: Actor, project: str, name: str
) -> CatalogEntry:
    """The dataset with its columns and usage: which runs read which versions and which
    model versions those runs produced (viewers)."""
    with platform.db.read() as conn:
        project_row = fetch_project(conn, project)
        require_project_role(conn, actor, project_row.id, Role.VIEWER)
        return _entry(conn, actor, project_row.name, project_row.id, name)


def _entry(
    conn: Connection, actor: Actor, project: str, project_id: str, name: str
) -> CatalogEntry:
    from ..security import project_role

    row = fetch_dataset_row(conn, project_id, name)
    columns = tuple(
        _column(c)
        for c in conn.execute(
            select(dataset_columns)
            .where(dataset_columns.c.dataset_id == row.id)
            .order_by(dataset_columns.c.position, dataset_columns.c.name)
        )
    )
    e = lineage_edges.c
    reads = conn.execute(
        select(dataset_versions.c.version, e.target_id)
        .join(lineage_edges, e.source_id == dataset_versions.c.id)
        .where(
            dataset_versions.c.dataset_id == row.id,
            e.source_type == "dataset_version",
            e.target_type == "run",
            e.relation == "input_of",
        )
        .order_by(dataset_versions.c.version, e.target_id)
        .limit(_USAGE_LIMIT)
    ).all()
    run_ids = sorted({r.target_id for r in reads})
    produced: dict[str, list[str]] = {}
    for source_id, target_id in conn.execute(
        select(e.source_id, e.target_id).where(
            e.source_type == "run",
            e.source_id.in_(run_ids),
            e.target_type == "model_version",
            e.relation == "produced",
        )
    ):
        produced.setdefault(source_id, []).append(target_id)
    refs = [LineageNodeRef("run", r) for r in run_ids]
    refs += [LineageNodeRef("model_version", m) for ms in produced.values() for m in ms]
    infos = describe_nodes(conn, refs)
    readable: dict[str, bool] = {}

    def can_read(project_of: str | None) -> bool:
        if project_of is None:
            return False
        if project_of not in readable:
            readable[project_of] = project_role(conn, actor, project_of) is not None
        return readable[project_of]

    usage = []
    restricted = 0
    for version, run_id in reads:
        info = infos.get(LineageNodeRef("run", run_id))
        if info is None or not can_read(info.project_id):
            restricted += 1
            continue
        models = []
        for model_id in produced.get(run_id, []):
            model = infos.get(LineageNodeRef("model_version", model_id))
            if model is not None and can_read(model.project_id):
                models.append(model.label)
        usage.append(DatasetUsage(version, run_id, info.label, tuple(sorted(models))))
    return CatalogEntry(dataset_from_row(row), project, columns, tuple(usage), restricted)


def search_words(query: str) -> list[str]:
    """The words of a search query (letters and digits; everything else separates them)."""
    return _WORD.findall(query)


def search_datasets(
    platform: Platform,
    actor: Actor,
    query: str,
    *,
    project: str | None = None,
    limit: int = 50,
) -> list[DatasetSearchHit]:
    """Datasets whose name, description, tags, owners or column names contain every word of
    ``query`` (as a word prefix), best match first, in the projects the actor can read (or in
    ``project``). A query without words finds nothing."""
    from ..store._tables import memberships, projects

    _check_text("query", query, MAX_QUERY_LENGTH)
    if isinstance(limit, bool) or not isinstance(limit, int) or not 1 <= limit <= MAX_LIMIT:
        raise InvalidArgument(f"limit must be an integer from 1 to {MAX_LIMIT}")
    words = search_words(query)
    if len(words) > MAX_QUERY_WORDS:
        raise InvalidArgument(f"a search has at most {MAX_QUERY_WORDS} words")
    require_scope(actor, Scope.READ)
    with platform.db.read() as conn:
        statement = select(datasets, projects.c.name.label("project_name")).join(
            projects, projects.c.id == datasets.c.project_id
        )
        if project is not None:
            project_row = fetch_project(conn, project)
            require_project_role(conn, actor, project_row.id, Role.VIEWER)
            statement = statement.where(datasets.c.project_id == project_row.id)
        elif not actor.is_admin:
            statement = statement.where(
                datasets.c.project_id.in_(
                    select(memberships.c.project_id).where(memberships.c.user_id == actor.id)
                )
            )
        if not words:
            return []
        if conn.dialect.name == "sqlite":
            fts = table("datasets_fts", column("dataset_id"))
            # bm25: lower is better; the score shown grows with relevance.
            rank: ColumnElement[float] = literal_column("bm25(datasets_fts)")
            match = " ".join(f'"{word}"*' for word in words)
            statement = (
                statement.add_columns((-rank).label("score"))
                .join(fts, fts.c.dataset_id == datasets.c.id)
                .where(text("datasets_fts MATCH :match").bindparams(match=match))
                .order_by(rank, projects.c.name, datasets.c.name)
            )
        else:
            config: ColumnElement[str] = literal_column("'simple'::regconfig")
            vector = func.to_tsvector(config, datasets.c.search_text)
            tsquery = func.to_tsquery(
                config, bindparam("match", " & ".join(f"'{word}':*" for word in words))
            )
            score = func.ts_rank(vector, tsquery)
            statement = (
                statement.add_columns(score.label("score"))
                .where(vector.op("@@")(tsquery))
                .order_by(score.desc(), projects.c.name, datasets.c.name)
            )
        rows = conn.execute(statement.limit(limit)).all()
    return [
        DatasetSearchHit(
            r.project_name,
            r.name,
            r.description,
            tuple(r.owners),
            dict(r.tags),
            r.latest_version,
            float(r.score),
        )
        for r in rows
    ]
