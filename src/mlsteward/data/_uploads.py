"""Dataset content sent to a server: which blobs a project still lacks, and storing them.

A remote ``data add`` hashes and chunks locally, asks which addresses the project lacks, sends
only those, then commits the version's manifest. Two rules keep content-addressing from leaking
data between projects:

- an address counts as present only when this project already holds it (a version of one of
  its datasets, or an upload of its own waiting for a commit), never because some other
  project stored the same bytes: asking "do you have X?" tells nothing about other projects;
- a commit may only name addresses the project holds, so knowing a hash is not enough to claim
  the content behind it.

Uploads wait for their commit as ``blob_refs`` rows (owner ``dataset_upload``, owner id the
project id), which also keeps gc away from them; the commit replaces them with the version's
own references. With an encrypted store an address is a keyed hash the client cannot compute:
the server names the address it stored, and the client sends that in the manifest.
"""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import orjson
from sqlalchemy import Connection, delete, select

from ..blobs import BlobInfo, check_address
from ..errors import IntegrityError, InvalidArgument
from ..security import Actor, Role, fetch_project, require_project_role
from ..store._blob_refs import keep_blob
from ..store._tables import blob_refs
from ._tables import dataset_versions, datasets

if TYPE_CHECKING:
    from ..platform import Platform
    from ._model import DatasetVersion, ManifestEntry

UPLOAD_OWNER = "dataset_upload"
VERSION_OWNER = "dataset_version"
MAX_ADDRESSES = 100_000
"""Addresses one ``missing`` question may ask about."""
MAX_UPLOAD_BYTES = 16 * 1024 * 1024
"""A chunk is at most 4 MiB and a file stored whole less than 8 MiB (see ``_chunking``)."""


def _check_addresses(addresses: object) -> list[str]:
    if not isinstance(addresses, list | tuple):
        raise InvalidArgument("addresses must be a list of blob addresses")
    if len(addresses) > MAX_ADDRESSES:
        raise InvalidArgument(f"ask about at most {MAX_ADDRESSES} addresses at a time")
    return [check_address(a) if isinstance(a, str) else check_address(str(a)) for a in addresses]


def _held_by_versions(conn: Connection, project_id: str, batch: list[str]) -> set[str]:
    return set(
        conn.execute(
            select(blob_refs.c.address)
            .join(dataset_versions, dataset_versions.c.id == blob_refs.c.owner_id)
            .join(datasets, datasets.c.id == dataset_versions.c.dataset_id)
            .where(
                blob_refs.c.address.in_(batch),
                blob_refs.c.owner_type == VERSION_OWNER,
                datasets.c.project_id == project_id,
            )
        ).scalars()
    )


def _held_as_uploads(conn: Connection, project_id: str, batch: list[str]) -> set[str]:
    return set(
        conn.execute(
            select(blob_refs.c.address).where(
                blob_refs.c.address.in_(batch),
                blob_refs.c.owner_type == UPLOAD_OWNER,
                blob_refs.c.owner_id == project_id,
            )
        ).scalars()
    )


def held_addresses(
    conn: Connection, project_id: str, addresses: Iterable[str]
) -> tuple[set[str], set[str]]:
    """Of ``addresses``, those a version of one of the project's datasets references, and
    those the project uploaded for a commit."""
    wanted = sorted(set(addresses))
    by_versions: set[str] = set()
    by_uploads: set[str] = set()
    for start in range(0, len(wanted), 500):
        batch = wanted[start : start + 500]
        by_versions |= _held_by_versions(conn, project_id, batch)
        by_uploads |= _held_as_uploads(conn, project_id, batch)
    return by_versions, by_uploads


def missing_dataset_blobs(
    platform: Platform, actor: Actor, project: str, addresses: Sequence[str]
) -> dict[str, Any]:
    """Which of ``addresses`` the project lacks (editors), in the order asked.

    ``content_addressed`` is False for an encrypted store: its addresses are keyed, so plain
    content hashes never match and every blob must be sent (and named by the address the
    upload returns)."""
    checked = _check_addresses(list(addresses))
    with platform.db.read() as conn:
        project_row = fetch_project(conn, project)
        require_project_role(conn, actor, project_row.id, Role.EDITOR)
        by_versions, by_uploads = held_addresses(conn, project_row.id, checked)
    held = by_versions | by_uploads
    present = {a for a in held if platform.blobs.exists(a)}
    missing = list(dict.fromkeys(a for a in checked if a not in present))
    return {"missing": missing, "content_addressed": not platform.blobs.encrypted}


def upload_dataset_blob(
    platform: Platform, actor: Actor, project: str, source: Any, expected: str | None = None
) -> BlobInfo:
    """Store one chunk or small file for a coming commit (editors; checked before a byte is
    read). ``expected``: the plain BLAKE3 address the client computed; on a content-addressed
    store a different result is an ``IntegrityError`` (the bytes changed on the way or the
    file changed while it was sent) and nothing is kept for the project."""
    if expected is not None:
        check_address(expected)
    with platform.db.read() as conn:
        project_row = fetch_project(conn, project)
        require_project_role(conn, actor, project_row.id, Role.EDITOR)
    info = platform.blobs.put_stream(source, max_bytes=MAX_UPLOAD_BYTES)
    if expected is not None and not platform.blobs.encrypted and info.address != expected:
        raise IntegrityError(
            "the uploaded bytes do not hash to the address given: the file changed while it "
            "was sent, or the upload was damaged; run the add again",
            details={"expected": expected, "received": info.address},
        )
    with platform.db.write() as conn:
        keep_blob(conn, info.address, UPLOAD_OWNER, project_row.id, info.size)
    return info


def release_uploads(conn: Connection, project_id: str, addresses: Iterable[str]) -> None:
    """Drop the project's waiting-upload references of ``addresses`` (a commit now holds
    them through the version's own references)."""
    wanted = sorted(set(addresses))
    for start in range(0, len(wanted), 500):
        conn.execute(
            delete(blob_refs).where(
                blob_refs.c.address.in_(wanted[start : start + 500]),
                blob_refs.c.owner_type == UPLOAD_OWNER,
                blob_refs.c.owner_id == project_id,
            )
        )


def _assemble(platform: Platform, entry: ManifestEntry, dest: Path) -> None:
    """Write one manifest file from its blobs to ``dest`` (for reading a table server-side)."""
    if entry.address is not None:
        platform.blobs.get_file(entry.address, dest)
        return
    with open(dest, "wb") as out:
        for address, _size in entry.chunks or ():
            with platform.blobs.open(address) as reader:
                shutil.copyfileobj(reader, out, 1024 * 1024)


def commit_dataset_upload(
    platform: Platform,
    actor: Actor,
    project: str,
    name: str,
    manifest: Mapping[str, Any],
    *,
    message: str = "",
    source: str = "",
) -> DatasetVersion:
    """Record the next version of ``name`` from a manifest whose blobs the project holds
    (editors; see the module docstring). A manifest of one ``.parquet`` or ``.csv`` file is a
    table: the server reads it from the store for its schema, profile and PII classes, so a
    client cannot state them. ``IntegrityError`` names an address the project does not hold
    or whose stored size differs from the manifest's; nothing is recorded then."""
    from ._model import Manifest, check_dataset_name
    from ._table_files import inspect_table, is_table_file
    from ._versions import _check_message, _record_version, _unchanged, validate_new_version

    check_dataset_name(name)
    _check_message(message)
    if not isinstance(source, str) or len(source) > 1000:
        raise InvalidArgument("source must be a text of at most 1000 characters")
    parsed = Manifest.from_bytes(orjson.dumps(dict(manifest)))
    if not parsed.entries:
        raise InvalidArgument("the manifest lists no files: there is nothing to add")
    sizes: dict[str, int] = {}
    for entry in parsed.entries:
        pairs = [(entry.address, entry.size)] if entry.address else list(entry.chunks or ())
        if entry.chunks is not None and sum(size for _, size in entry.chunks) != entry.size:
            raise InvalidArgument(f"the chunks of {entry.path!r} do not add up to its size")
        for address, size in pairs:
            if address is not None:
                sizes[address] = size
    with platform.db.read() as conn:
        project_row = fetch_project(conn, project)
        require_project_role(conn, actor, project_row.id, Role.EDITOR)
        by_versions, by_uploads = held_addresses(conn, project_row.id, sizes)
    held = by_versions | by_uploads
    for address, size in sorted(sizes.items()):
        if address not in held or not platform.blobs.exists(address):
            raise IntegrityError(
                f"blob {address} is not held by project {project!r}: upload it before the commit",
                details={"address": address},
            )
        if platform.blobs.size(address) != size:
            raise IntegrityError(
                f"blob {address} holds {platform.blobs.size(address)} bytes, the manifest "
                f"says {size}",
                details={"address": address},
            )
    manifest_info = platform.blobs.put_bytes(parsed.to_bytes())
    unchanged = _unchanged(platform, project_row.id, name, manifest_info.address)
    if unchanged is not None:
        return unchanged
    facts = None
    profile_address: str | None = None
    only = parsed.entries[0]
    if len(parsed.entries) == 1 and is_table_file(only.path):
        with tempfile.TemporaryDirectory(prefix="mlsteward-upload-") as folder:
            local = Path(folder) / Path(only.path).name
            _assemble(platform, only, local)
            facts = inspect_table(local, only.path)
        profile_info = platform.blobs.put_bytes(facts.profile)
        profile_address = profile_info.address
        sizes[profile_address] = profile_info.size
    sizes[manifest_info.address] = manifest_info.size
    record = {
        "kind": "table" if facts is not None else "files",
        "manifest_address": manifest_info.address,
        "file_count": len(parsed.entries),
        "total_bytes": parsed.total_bytes,
        "new_bytes": sum(size for a, size in sizes.items() if a not in by_versions),
        "table_schema": facts.schema if facts is not None else None,
        "row_count": facts.row_count if facts is not None else None,
        "profile_address": profile_address,
        "source": source,
        "message": message,
    }
    version = _record_version(platform, actor, project, name, record, sizes, facts)
    with platform.db.write() as conn:
        release_uploads(conn, project_row.id, sizes)
    validate_new_version(platform, actor, version)
    return version
