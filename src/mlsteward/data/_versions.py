"""Dataset versions: add a snapshot of a file, folder or table; read, list and resolve them.

Every blob is stored first; then one transaction writes the version row, its ``blob_refs``,
the dataset's latest version and search text, the column catalog (tables) and the audit
event. A crash or kill before that commit leaves only unreferenced blobs, which gc removes.
"""

from __future__ import annotations

import logging
import re
import tempfile
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sqlalchemy import Connection, Row, delete, insert, select, update

from ..errors import Conflict, InvalidArgument, NotFound, StewardError
from ..security import Actor, Role, fetch_project, require_project_role
from ..store import utcnow
from ..store._numbering import next_number
from ..store._tables import blob_refs
from ._chunking import address_key_of, put_bytes_once
from ._datasets import fetch_dataset_row, insert_dataset, search_text_of
from ._model import DatasetVersion, Manifest, check_dataset_name, version_from_row
from ._snapshot import snapshot, walk
from ._stat_cache import StatCache
from ._table_files import TableFacts, inspect_table, is_table_file, table_to_arrow
from ._tables import dataset_columns, dataset_versions, datasets

if TYPE_CHECKING:
    from ..platform import Platform

VERSION_OWNER = "dataset_version"
_log = logging.getLogger("mlsteward.data")
"""``blob_refs.owner_type`` of a version's blobs; ``owner_id`` is the version id."""
MAX_MESSAGE_LENGTH = 10_000
_REF = re.compile(r"(?P<name>[^@]+)(?:@(?P<version>[0-9]+|latest))?")


def _check_message(message: object) -> str:
    if not isinstance(message, str) or len(message) > MAX_MESSAGE_LENGTH:
        raise InvalidArgument(f"message must be text of at most {MAX_MESSAGE_LENGTH} characters")
    return message


def check_version_number(version: object) -> int:
    if isinstance(version, bool) or not isinstance(version, int) or not 0 < version < 2**31:
        raise InvalidArgument(f"version must be a positive integer, not {version!r}")
    return version


def fetch_version_row(conn: Connection, dataset_row: Row[Any], version: int | None) -> Row[Any]:
    """Version ``version`` of the dataset (None: the latest); ``NotFound`` if absent."""
    number = dataset_row.latest_version if version is None else version
    if number is None:
        raise NotFound(f"the dataset {dataset_row.name!r} has no versions yet")
    row = conn.execute(
        select(dataset_versions).where(
            dataset_versions.c.dataset_id == dataset_row.id, dataset_versions.c.version == number
        )
    ).first()
    if row is None:
        raise NotFound(
            f"the dataset {dataset_row.name!r} has no version {number} "
            f"(latest: {dataset_row.latest_version})"
        )
    return row


def _stat_cache(platform: Platform) -> StatCache:
    return StatCache.for_store(platform.settings.home / "cache", platform.blobs)


def add_dataset_version(
    platform: Platform,
    actor: Actor,
    project: str,
    name: str,
    path: str | Path,
    *,
    message: str = "",
    progress: Callable[[int], None] | None = None,
    source: str | None = None,
) -> DatasetVersion:
    """Snapshot the file or folder at ``path`` as the next version of ``name`` (editors; the
    dataset is created on its first version).

    A single ``.parquet`` or ``.csv`` file is a table: its schema, row count, profile and the
    PII class of each column are recorded too. When the content equals the latest version's,
    nothing is recorded and the latest version is returned with ``unchanged=True``.
    ``progress`` is called with byte increments as files are stored. Raises ``NotFound`` for a
    missing path, ``InvalidArgument`` for unreadable or unsafe input (the message names the
    file) and ``Conflict`` if a file changes while it is read; nothing is recorded then.
    """
    check_dataset_name(name)
    _check_message(message)
    with platform.db.read() as conn:  # refuse early: blobs are stored before the version
        project_row = fetch_project(conn, project)
        require_project_role(conn, actor, project_row.id, Role.EDITOR)
    files = walk(path)
    root_is_file = Path(path).is_file()
    cache = _stat_cache(platform)
    try:
        with platform.blobs.batch() as batch:  # durable together, before the version
            snap = snapshot(batch, files, cache=cache, progress=progress)
    finally:
        cache.close()
    manifest = snap.manifest
    manifest_info = put_bytes_once(
        platform.blobs, manifest.to_bytes(), address_key_of(platform.blobs)
    )
    new_bytes = snap.new_bytes + (manifest_info.size if manifest_info.created else 0)
    unchanged = _unchanged(platform, project_row.id, name, manifest_info.address)
    if unchanged is not None:
        return unchanged
    facts: TableFacts | None = None
    profile_size = 0
    profile_address: str | None = None
    if root_is_file and is_table_file(files[0].path):
        facts = inspect_table(Path(files[0].real_path), files[0].path)
        profile_info = put_bytes_once(platform.blobs, facts.profile, address_key_of(platform.blobs))
        profile_address, profile_size = profile_info.address, profile_info.size
        new_bytes += profile_size if profile_info.created else 0
    sizes = {address: size for entry in manifest.entries for address, size in _blobs_of(entry)}
    sizes[manifest_info.address] = manifest_info.size
    if profile_address is not None:
        sizes[profile_address] = profile_size
    record = {
        "kind": "table" if facts is not None else "files",
        "manifest_address": manifest_info.address,
        "file_count": len(manifest.entries),
        "total_bytes": manifest.total_bytes,
        "new_bytes": new_bytes,
        "table_schema": facts.schema if facts is not None else None,
        "row_count": facts.row_count if facts is not None else None,
        "profile_address": profile_address,
        "source": source if source is not None else str(Path(path).absolute()),
        "message": message,
    }
    try:
        version = _record_version(platform, actor, project, name, record, sizes, facts)
    except Conflict:
        # Two first adds of one name raced on the unique name: the dataset exists now.
        version = _record_version(platform, actor, project, name, record, sizes, facts)
    validate_new_version(platform, actor, version)
    return version


def validate_new_version(platform: Platform, actor: Actor, version: DatasetVersion) -> None:
    """Run the suites attached to the dataset on a new table version (their results are
    stored). The version is recorded already: a suite that cannot run is logged, and the
    dataset page shows the version as not validated, rather than failing the add."""
    if version.unchanged or version.kind != "table":
        return
    from ..validation import validate_dataset_version

    try:
        validate_dataset_version(platform, actor, version.id)
    except StewardError as exc:
        _log.warning("validating %s after its add failed: %s", version.ref, exc.message)


def _blobs_of(entry: Any) -> list[tuple[str, int]]:
    if entry.address is not None:
        return [(entry.address, entry.size)]
    return list(entry.chunks or ())


def _unchanged(
    platform: Platform, project_id: str, name: str, manifest_address: str
) -> DatasetVersion | None:
    """The latest version if its manifest is ``manifest_address`` (a cheap early answer)."""
    with platform.db.read() as conn:
        try:
            dataset_row = fetch_dataset_row(conn, project_id, name)
            latest = fetch_version_row(conn, dataset_row, None)
        except NotFound:
            return None
        if latest.manifest_address != manifest_address:
            return None
        return version_from_row(latest, name, unchanged=True)


def _record_version(
    platform: Platform,
    actor: Actor,
    project: str,
    name: str,
    record: dict[str, Any],
    sizes: dict[str, int],
    facts: TableFacts | None,
) -> DatasetVersion:
    with platform.db.write() as conn:
        project_row = fetch_project(conn, project)
        require_project_role(conn, actor, project_row.id, Role.EDITOR)
        try:
            dataset_row = fetch_dataset_row(conn, project_row.id, name, lock=True)
        except NotFound:
            insert_dataset(conn, project_row.id, name, actor)
            platform.audit.record(
                conn,
                actor,
                "data.dataset.create",
                target_type="dataset",
                target_id=name,
                project_id=project_row.id,
            )
            dataset_row = fetch_dataset_row(conn, project_row.id, name, lock=True)
        if dataset_row.latest_version is not None:
            latest = fetch_version_row(conn, dataset_row, None)
            if latest.manifest_address == record["manifest_address"]:
                return version_from_row(latest, name, unchanged=True)
        number = next_number(
            conn, dataset_versions.c.version, dataset_versions.c.dataset_id, dataset_row.id
        )
        version_id = uuid.uuid4().hex
        now = utcnow()
        conn.execute(
            insert(dataset_versions).values(
                id=version_id,
                dataset_id=dataset_row.id,
                version=number,
                created_at=now,
                created_by=actor.name,
                **record,
            )
        )
        conn.execute(  # blob gc keeps every blob a version needs
            insert(blob_refs),
            [
                {
                    "address": address,
                    "owner_type": VERSION_OWNER,
                    "owner_id": version_id,
                    "size": size,
                    "created_at": now,
                }
                for address, size in sorted(sizes.items())
            ],
        )
        if facts is not None:
            _update_columns(conn, dataset_row.id, facts)
        conn.execute(
            update(datasets)
            .where(datasets.c.id == dataset_row.id)
            .values(latest_version=number, updated_at=now)
        )
        refreshed = fetch_dataset_row(conn, project_row.id, name)
        conn.execute(
            update(datasets)
            .where(datasets.c.id == dataset_row.id)
            .values(search_text=search_text_of(conn, refreshed))
        )
        platform.audit.record(
            conn,
            actor,
            "data.version.add",
            target_type="dataset_version",
            target_id=f"{name}@{number}",
            project_id=project_row.id,
            details={
                "kind": record["kind"],
                "files": record["file_count"],
                "bytes": record["total_bytes"],
                "manifest": record["manifest_address"],
            },
        )
        row = conn.execute(
            select(dataset_versions).where(dataset_versions.c.id == version_id)
        ).one()
        return version_from_row(row, name)


def _update_columns(conn: Connection, dataset_id: str, facts: TableFacts) -> None:
    """Catalog the table's columns: type and detected PII class; a class set by hand
    (``pii_source`` "manual") is never overwritten, and its row is kept if the column went."""
    existing = {
        row.name: row
        for row in conn.execute(
            select(dataset_columns).where(dataset_columns.c.dataset_id == dataset_id)
        )
    }
    names = set()
    for position, (column, data_type) in enumerate(facts.columns):
        names.add(column)
        pii = facts.pii.get(column)
        values: dict[str, Any] = {"position": position, "data_type": data_type[:64]}
        current = existing.get(column)
        if current is None or current.pii_source != "manual":
            values["pii_class"] = pii
            values["pii_source"] = "detected" if pii is not None else "none"
        if current is None:
            conn.execute(
                insert(dataset_columns).values(
                    dataset_id=dataset_id, name=column, description="", **values
                )
            )
        else:
            conn.execute(
                update(dataset_columns)
                .where(dataset_columns.c.dataset_id == dataset_id, dataset_columns.c.name == column)
                .values(**values)
            )
    gone = [n for n, row in existing.items() if n not in names and row.pii_source != "manual"]
    if gone:
        conn.execute(
            delete(dataset_columns).where(
                dataset_columns.c.dataset_id == dataset_id, dataset_columns.c.name.in_(gone)
            )
        )


def log_table_version(
    platform: Platform,
    actor: Actor,
    project: str,
    name: str,
    table: object,
    *,
    message: str = "",
) -> DatasetVersion:
    """Version an in-memory table (pandas, Polars or pyarrow) as Parquet: written to a
    temporary ``<name>.parquet`` and added like a file (editors). Same contract as
    ``add_dataset_version``; ``InvalidArgument`` for anything that is not a table."""
    check_dataset_name(name)
    _check_message(message)
    arrow = table_to_arrow(table)
    import pyarrow.parquet as pq

    with tempfile.TemporaryDirectory(prefix="mlsteward-table-") as folder:
        path = Path(folder) / f"{name}.parquet"
        pq.write_table(arrow, path)
        return add_dataset_version(
            platform,
            actor,
            project,
            name,
            path,
            message=message,
            source=f"{type(table).__module__.split('.')[0]}.{type(table).__name__}",
        )


def list_dataset_versions(
    platform: Platform, actor: Actor, project: str, name: str
) -> list[DatasetVersion]:
    """Every version of the dataset, oldest first (viewers)."""
    check_dataset_name(name)
    with platform.db.read() as conn:
        project_row = fetch_project(conn, project)
        require_project_role(conn, actor, project_row.id, Role.VIEWER)
        dataset_row = fetch_dataset_row(conn, project_row.id, name)
        rows = conn.execute(
            select(dataset_versions)
            .where(dataset_versions.c.dataset_id == dataset_row.id)
            .order_by(dataset_versions.c.version)
        ).all()
        return [version_from_row(row, name) for row in rows]


def get_dataset_version(
    platform: Platform, actor: Actor, project: str, name: str, version: int | None = None
) -> DatasetVersion:
    """Version ``version`` of a dataset, or its latest when None (viewers)."""
    check_dataset_name(name)
    if version is not None:
        check_version_number(version)
    with platform.db.read() as conn:
        project_row = fetch_project(conn, project)
        require_project_role(conn, actor, project_row.id, Role.VIEWER)
        dataset_row = fetch_dataset_row(conn, project_row.id, name)
        return version_from_row(fetch_version_row(conn, dataset_row, version), name)


def parse_dataset_ref(ref: str) -> tuple[str, int | None]:
    """``name``, ``name@latest`` or ``name@3`` as (name, version or None for the latest)."""
    match = _REF.fullmatch(ref) if isinstance(ref, str) else None
    if match is None:
        raise InvalidArgument(
            f"invalid dataset reference {str(ref)[:80]!r}: write NAME or NAME@VERSION, "
            "e.g. transactions@3"
        )
    name = check_dataset_name(match["name"])
    raw = match["version"]
    version = None if raw in (None, "latest") else check_version_number(int(raw))
    return name, version


def resolve_dataset_ref(platform: Platform, actor: Actor, project: str, ref: str) -> DatasetVersion:
    """The version a reference like ``transactions@3`` (or ``transactions``: the latest)
    names (viewers)."""
    name, version = parse_dataset_ref(ref)
    return get_dataset_version(platform, actor, project, name, version)


def read_manifest(platform: Platform, version: DatasetVersion) -> Manifest:
    """The file list of a version, read from its manifest blob."""
    return Manifest.from_bytes(platform.blobs.get_bytes(version.manifest_address))
