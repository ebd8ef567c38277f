"""Run artifacts: files stored in the blob store under a relative path inside their run.

The bytes go to the content-addressed blob store first; one transaction then records the
path in ``run_artifacts``, references the blob in ``blob_refs`` (so blob gc keeps it) and
appends the audit event. If that transaction fails, the blob is left unreferenced and blob
gc removes it after its grace period.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import os
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, BinaryIO

from sqlalchemy import Connection, delete, func, insert, select

from .._relative_path import MAX_PATH_LENGTH, MAX_PATH_SEGMENTS, check_relative_path
from .._wire import iso
from ..errors import Conflict, NotFound
from ..security import Actor, Role
from ..store import utcnow
from ..store._tables import blob_refs
from ._runs import require_run, require_writable_run
from ._tables import run_artifacts

if TYPE_CHECKING:
    from ..platform import Platform

ARTIFACT_OWNER = "run"
"""``blob_refs.owner_type`` of run artifacts; ``owner_id`` is ``<run_id>/<path>``."""

GIT_DIFF_ARTIFACT = "environment/git.diff"
"""Where ``Client.start_run`` stores the uncommitted changes of a dirty git work tree."""

MAX_ARTIFACT_PATH_LENGTH = MAX_PATH_LENGTH
MAX_ARTIFACT_PATH_SEGMENTS = MAX_PATH_SEGMENTS
_OWNER_ID_LENGTH = 200  # blob_refs.owner_id


@dataclass(frozen=True)
class ArtifactInfo:
    """One entry of a run's artifact listing: a file, or a folder (``is_dir``, no address)."""

    path: str
    is_dir: bool = False
    size: int | None = None
    address: str | None = None
    created_at: dt.datetime | None = None

    def to_dict(self) -> dict[str, Any]:
        return {
            "path": self.path,
            "is_dir": self.is_dir,
            "size": self.size,
            "address": self.address,
            "created_at": iso(self.created_at) if self.created_at is not None else None,
        }


def check_artifact_path(path: object, what: str = "artifact path") -> str:
    """``path`` if it is a safe relative POSIX path inside a run, else ``InvalidArgument``
    (the rules of ``mlsteward._relative_path.check_relative_path``)."""
    return check_relative_path(
        path,
        what,
        example="model/weights.bin",
        absolute_advice="give a path relative to the run",
        escape_advice="write paths unencoded",
    )


def artifact_owner_id(run_id: str, path: str) -> str:
    """The ``blob_refs.owner_id`` of a file of an owner (a run's artifact, a model version's
    file): ``<owner id>/<path>``, the path hashed when it would not fit the column."""
    owner_id = f"{run_id}/{path}"
    if len(owner_id) <= _OWNER_ID_LENGTH:
        return owner_id
    return f"{run_id}/sha256:{hashlib.sha256(path.encode()).hexdigest()}"


def _children(prefix: str) -> Any:
    """Rows strictly below folder ``prefix``: an exact comparison (LIKE ignores case on
    SQLite and ranges follow the collation on PostgreSQL)."""
    folder = f"{prefix}/"
    return func.substr(run_artifacts.c.path, 1, len(folder)) == folder


def _check_no_clash(conn: Connection, run_id: str, path: str) -> None:
    """A path cannot be both a file and a folder."""
    segments = path.split("/")
    ancestors = ["/".join(segments[:i]) for i in range(1, len(segments))]
    if ancestors:
        clash = conn.execute(
            select(run_artifacts.c.path).where(
                run_artifacts.c.run_id == run_id, run_artifacts.c.path.in_(ancestors)
            )
        ).first()
        if clash is not None:
            raise Conflict(
                f"artifact {clash.path!r} is a file, so {path!r} cannot be inside it",
                details={"path": path},
            )
    below = conn.execute(
        select(run_artifacts.c.path)
        .where(run_artifacts.c.run_id == run_id, _children(path))
        .limit(1)
    ).first()
    if below is not None:
        raise Conflict(
            f"artifact path {path!r} is a folder (it holds {below.path!r})",
            details={"path": path},
        )


def log_artifact(
    platform: Platform, actor: Actor, run_id: str, path: str, source: Any
) -> ArtifactInfo:
    """Store everything read from ``source`` (a binary stream) as the run's artifact ``path``.

    Project editors, on a running, non-deleted run (``Conflict`` otherwise), checked before a
    byte is read. Logging a path again replaces it. ``InvalidArgument`` for an unsafe path,
    ``Conflict`` when the path clashes with a folder or file, ``PayloadTooLarge`` past
    ``max_upload_bytes``; in every case nothing is recorded.
    """
    check_artifact_path(path)
    with platform.db.read() as conn:
        require_writable_run(conn, actor, run_id)
        _check_no_clash(conn, run_id, path)
    info = platform.blobs.put_stream(source, max_bytes=platform.settings.max_upload_bytes)
    now = utcnow()
    owner_id = artifact_owner_id(run_id, path)
    with platform.db.write() as conn:
        row = require_writable_run(conn, actor, run_id)
        _check_no_clash(conn, run_id, path)
        old = conn.execute(
            select(run_artifacts.c.address).where(
                run_artifacts.c.run_id == run_id, run_artifacts.c.path == path
            )
        ).first()
        if old is not None:
            conn.execute(
                delete(run_artifacts).where(
                    run_artifacts.c.run_id == run_id, run_artifacts.c.path == path
                )
            )
            conn.execute(
                delete(blob_refs).where(
                    blob_refs.c.owner_type == ARTIFACT_OWNER, blob_refs.c.owner_id == owner_id
                )
            )
        conn.execute(
            insert(run_artifacts).values(
                run_id=run_id, path=path, address=info.address, size=info.size, created_at=now
            )
        )
        conn.execute(
            insert(blob_refs).values(
                address=info.address,
                owner_type=ARTIFACT_OWNER,
                owner_id=owner_id,
                size=info.size,
                created_at=now,
            )
        )
        details: dict[str, Any] = {"path": path, "address": info.address, "size": info.size}
        if old is not None:
            details["replaced"] = old.address
        platform.audit.record(
            conn,
            actor,
            "run.artifact",
            target_type="run",
            target_id=run_id,
            project_id=row.project_id,
            details=details,
        )
    return ArtifactInfo(path, size=info.size, address=info.address, created_at=now)


def list_artifacts(
    platform: Platform, actor: Actor, run_id: str, prefix: str = ""
) -> list[ArtifactInfo]:
    """The files and folders directly inside folder ``prefix`` ("" = the run's top level),
    sorted by path, like ``ls`` (project viewers). A ``prefix`` naming a file lists it."""
    if prefix:
        check_artifact_path(prefix, "artifact prefix")
    with platform.db.read() as conn:
        require_run(conn, actor, run_id, Role.VIEWER)
        query = select(run_artifacts).where(run_artifacts.c.run_id == run_id)
        if prefix:
            query = query.where(_children(prefix) | (run_artifacts.c.path == prefix))
        rows = conn.execute(query.order_by(run_artifacts.c.path)).all()
    start = len(prefix) + 1 if prefix else 0
    entries: dict[str, ArtifactInfo] = {}
    for row in rows:
        if row.path == prefix:
            entries[row.path] = _file_info(row)
            continue
        rest = row.path[start:]
        if "/" in rest:
            folder = row.path[: start + rest.index("/")]
            entries.setdefault(folder, ArtifactInfo(folder, is_dir=True))
        else:
            entries[row.path] = _file_info(row)
    return sorted(entries.values(), key=lambda entry: entry.path)


def _file_info(row: Any) -> ArtifactInfo:
    return ArtifactInfo(row.path, size=row.size, address=row.address, created_at=row.created_at)


def get_artifact(platform: Platform, actor: Actor, run_id: str, path: str) -> ArtifactInfo:
    """One artifact file's size, address and time (project viewers); ``NotFound``."""
    check_artifact_path(path)
    with platform.db.read() as conn:
        require_run(conn, actor, run_id, Role.VIEWER)
        row = conn.execute(
            select(run_artifacts).where(
                run_artifacts.c.run_id == run_id, run_artifacts.c.path == path
            )
        ).first()
    if row is None:
        raise NotFound(
            f"run {run_id} has no artifact {path!r}; `mlsteward artifacts ls {run_id}` lists them",
            details={"run_id": run_id, "path": path},
        )
    return _file_info(row)


def open_artifact(platform: Platform, actor: Actor, run_id: str, path: str) -> BinaryIO:
    """A streaming reader of an artifact file (project viewers); close it when done.

    ``NotFound`` when absent; reading to the end raises ``IntegrityError`` if the stored
    blob is corrupt.
    """
    info = get_artifact(platform, actor, run_id, path)
    assert info.address is not None
    return platform.blobs.open(info.address)


def artifact_destination(local_path: str | os.PathLike[str], folder: str | None) -> str:
    """Where a local file lands in the run: its name, inside ``folder`` when given.

    ``InvalidArgument`` for an unsafe ``folder`` (checked before anything is read).
    """
    name = Path(local_path).name
    if folder is None or folder == "":
        return check_artifact_path(name)
    return check_artifact_path(f"{check_artifact_path(folder)}/{name}")
