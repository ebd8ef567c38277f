"""The fast answer to a ``data add`` that changes nothing, without SQLAlchemy or pydantic.

Adding a folder again after editing nothing is the most frequent add, and its whole work (a
walk, one stat-cache lookup per file, one manifest hash) takes a tenth of a second; importing
SQLAlchemy (0.3 s on this project's machines) and the settings (pydantic-settings, 0.2 s)
took longer than that. This probe answers "unchanged" only when it is certain, else None and
the ordinary path runs:

- the settings are the embedded default's (``_embedded_home``): a SQLite file and a local,
  unencrypted blob store under the home folder;
- the database exists and its schema is this release's head (else the ordinary path migrates);
- the project, the dataset and its latest version exist, and every file under ``path`` is in
  the stat cache in its current state with its blobs stored;
- the manifest so built is the latest version's, and is stored.

It writes nothing, so it cannot leave anything half-written; the command line acts as the
local administrator, who may add to any project, so there is no permission to check. It is a
second reader of three tables, beside the SQLAlchemy one: ``test_unchanged_probe.py`` holds
the two to the same answers.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import json
import sqlite3
from pathlib import Path
from types import SimpleNamespace

from .._schema_revisions import head_revision
from ..errors import StewardError
from ._model import DatasetVersion, version_from_row
from ._snapshot import cached_manifest, walk
from ._stat_cache import StatCache

DATABASE_FILE = "mlsteward.db"
BLOBS_FOLDER = "blobs"
CACHE_FOLDER = "cache"

_LATEST_VERSION = """
SELECT v.*
FROM projects AS p
JOIN datasets AS d ON d.project_id = p.id
JOIN dataset_versions AS v ON v.dataset_id = d.id AND v.version = d.latest_version
WHERE p.name = ? AND d.name = ?
"""


def unchanged_version(
    home: Path, project: str, name: str, path: str | Path
) -> DatasetVersion | None:
    """The latest version of ``project``/``name`` (``unchanged=True``) if the file or folder
    at ``path`` holds exactly its content and the embedded store under ``home`` proves it
    without reading a file; None whenever that is not certain."""
    row = _latest_version_row(home / DATABASE_FILE, project, name)
    if row is None:
        return None
    from ..blobs import BlobStore

    blobs = BlobStore(str(home / BLOBS_FOLDER))
    try:
        files = walk(path)
    except StewardError:
        return None  # the ordinary path says what is wrong
    cache = StatCache.for_store(home / CACHE_FOLDER, blobs)
    try:
        manifest = cached_manifest(blobs, files, cache)
    finally:
        cache.close()
    if manifest is None:
        return None
    import blake3

    address = blake3.blake3(manifest.to_bytes()).hexdigest()
    if address != row.manifest_address or not blobs.exists(address):
        return None
    return version_from_row(row, name, unchanged=True)


def _latest_version_row(database: Path, project: str, name: str) -> SimpleNamespace | None:
    if not database.is_file():
        return None
    try:
        conn = sqlite3.connect(f"{database.as_uri()}?mode=ro", uri=True, timeout=5)
    except sqlite3.Error:
        return None
    with contextlib.closing(conn):
        conn.row_factory = sqlite3.Row
        try:
            revision = conn.execute("SELECT version_num FROM alembic_version").fetchall()
            if [tuple(r) for r in revision] != [(head_revision(),)]:
                return None
            found = conn.execute(_LATEST_VERSION, (project, name)).fetchone()
        except sqlite3.Error:
            return None
    if found is None:
        return None
    row = SimpleNamespace(**dict(found))
    # As the SQLAlchemy column types decode them (UTCDateTime, JSONText).
    row.created_at = dt.datetime.fromisoformat(row.created_at).replace(tzinfo=dt.UTC)
    if row.table_schema is not None:
        row.table_schema = json.loads(row.table_schema)
    return row
