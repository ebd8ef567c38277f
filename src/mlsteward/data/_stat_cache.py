"""A cache of file contents already stored, keyed by what ``stat`` says about the file.

An unchanged file is not read again: the cache maps (real path, device, inode, size, mtime,
ctime) to the blob address or chunk list stored for it, per blob store. It is only an
optimisation: a damaged or locked cache file is ignored, and every hit is checked against the
store (``exists``) before it is trusted.

Racy entries (the git "racily clean" problem): a file written twice within one tick of the
file system clock keeps its mtime. An entry is therefore saved only when the file's mtime is
at least ``RACY_MARGIN_NS`` older than the moment the file was stat'ed before reading; a later
write then gets a newer mtime than the one saved, so it cannot hit the entry.
"""

from __future__ import annotations

import contextlib
import json
import os
import sqlite3
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

RACY_MARGIN_NS = 50_000_000
"""Coarse file system clocks tick every few milliseconds; 50 ms leaves room to spare."""
CACHE_FILE = "dataset_stat_cache.sqlite3"
_SCHEMA = """
CREATE TABLE IF NOT EXISTS stat_cache (
    store TEXT NOT NULL,
    path TEXT NOT NULL,
    dev INTEGER NOT NULL,
    ino INTEGER NOT NULL,
    size INTEGER NOT NULL,
    mtime_ns INTEGER NOT NULL,
    ctime_ns INTEGER NOT NULL,
    content TEXT NOT NULL,
    PRIMARY KEY (store, path)
)
"""


@dataclass(frozen=True)
class FileKey:
    """What identifies one state of one file."""

    real_path: str
    dev: int
    ino: int
    size: int
    mtime_ns: int
    ctime_ns: int

    @classmethod
    def of(cls, real_path: str, info: os.stat_result) -> FileKey:
        return cls(
            real_path, info.st_dev, info.st_ino, info.st_size, info.st_mtime_ns, info.st_ctime_ns
        )


Content = str | tuple[tuple[str, int], ...]
"""One blob address, or ``(address, size)`` chunks."""


class StatCache:
    """Look up and record stored contents of files for one blob store (not thread-safe: use
    it from the thread that plans the work)."""

    def __init__(self, folder: Path, store: str) -> None:
        self._store = store
        self._conn: sqlite3.Connection | None = None
        self._loaded: dict[str, tuple[Any, ...]] | None = None
        try:
            folder.mkdir(parents=True, exist_ok=True)
            conn = sqlite3.connect(folder / CACHE_FILE, timeout=5, isolation_level=None)
            conn.execute("PRAGMA journal_mode = WAL")
            conn.execute("PRAGMA synchronous = NORMAL")
            conn.execute(_SCHEMA)
            self._conn = conn
        except (OSError, sqlite3.Error):
            self._conn = None  # no cache: every file is read

    @classmethod
    def for_store(cls, folder: Path, blobs: Any) -> StatCache:
        """The cache kept in ``folder`` for ``blobs`` (a ``BlobStore``): one per store URL
        and encryption (addresses differ with a keyring)."""
        return cls(folder, f"{blobs.url}|encrypted={blobs.encrypted}")

    def close(self) -> None:
        if self._conn is not None:
            self._conn.close()
            self._conn = None

    def preload(self, real_paths: Iterable[str]) -> None:
        """Read the entries of these files at once (one range scan per folder root instead of
        one query per file); ``get`` answers from memory afterwards."""
        if self._conn is None:
            return
        wanted = set(real_paths)
        if not wanted:
            return
        low, high = min(wanted), max(wanted)
        try:
            rows = self._conn.execute(
                "SELECT path, dev, ino, size, mtime_ns, ctime_ns, content FROM stat_cache "
                "WHERE store = ? AND path >= ? AND path <= ?",
                (self._store, low, high),
            ).fetchall()
        except sqlite3.Error:
            return
        self._loaded = {row[0]: row[1:] for row in rows if row[0] in wanted}

    def get(self, key: FileKey) -> Content | None:
        """The content recorded for exactly this state of the file, or None."""
        if self._conn is None:
            return None
        if self._loaded is not None:
            row = self._loaded.get(key.real_path)
        else:
            try:
                row = self._conn.execute(
                    "SELECT dev, ino, size, mtime_ns, ctime_ns, content FROM stat_cache "
                    "WHERE store = ? AND path = ?",
                    (self._store, key.real_path),
                ).fetchone()
            except sqlite3.Error:
                return None
        if row is None or tuple(row[:5]) != (
            key.dev,
            key.ino,
            key.size,
            key.mtime_ns,
            key.ctime_ns,
        ):
            return None
        return _decode(row[5])

    def put_many(self, items: Iterable[tuple[FileKey, Content]]) -> None:
        """Record contents (one transaction); errors are ignored."""
        if self._conn is None:
            return
        rows = [
            (
                self._store,
                key.real_path,
                key.dev,
                key.ino,
                key.size,
                key.mtime_ns,
                key.ctime_ns,
                _encode(content),
            )
            for key, content in items
        ]
        if not rows:
            return
        with contextlib.suppress(sqlite3.Error):
            self._conn.execute("BEGIN IMMEDIATE")
            try:
                self._conn.executemany(
                    "INSERT OR REPLACE INTO stat_cache VALUES (?, ?, ?, ?, ?, ?, ?, ?)", rows
                )
                self._conn.execute("COMMIT")
            except sqlite3.Error:
                self._conn.execute("ROLLBACK")
                raise


def _encode(content: Content) -> str:
    """An address as itself, chunks as a JSON list (decoding an address costs nothing)."""
    if isinstance(content, str):
        return content
    return json.dumps([list(chunk) for chunk in content])


def _decode(text: object) -> Content | None:
    if not isinstance(text, str):
        return None
    if not text.startswith("["):
        return text if len(text) == 64 else None
    try:
        data = json.loads(text)
        return tuple((str(a), int(s)) for a, s in data)
    except (ValueError, TypeError):
        return None


def is_cacheable(key: FileKey, stat_time_ns: int) -> bool:
    """True when the entry is safe to save (see the module docstring)."""
    return (
        key.mtime_ns < stat_time_ns - RACY_MARGIN_NS
        and key.ctime_ns < stat_time_ns - RACY_MARGIN_NS
    )
