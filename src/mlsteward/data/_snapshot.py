"""Snapshot a file or folder into the blob store: walk, hash and store in parallel.

The walk is sorted and checks every relative path like an artifact path. Symlinks are followed
when they resolve inside the root; one escaping the root, dangling or looping is refused.
Special files (fifos, sockets, devices) are refused: reading a fifo can block forever and a
device has no fixed content. Files at least ``CHUNKING_THRESHOLD`` bytes are chunked; smaller
ones are one blob each (a kernel copy). Each file is stat'ed before and after it is read: a
file that changed meanwhile raises ``Conflict`` and the caller records nothing.
"""

from __future__ import annotations

import errno
import os
import stat
import threading
import time
from collections.abc import Callable
from concurrent.futures import FIRST_EXCEPTION, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from ..errors import Conflict, InvalidArgument, NotFound
from ._chunking import CHUNKING_THRESHOLD, store_chunks
from ._model import MODE_EXECUTABLE, MODE_REGULAR, Manifest, ManifestEntry
from ._paths import check_dataset_path
from ._stat_cache import Content, FileKey, StatCache, is_cacheable

if TYPE_CHECKING:
    from ..blobs import BlobBatch, BlobStore

    Blobs = BlobStore | BlobBatch

MAX_FILES = 1_000_000
ProgressCallback = Callable[[int], None]
"""Called with the number of bytes just processed (an increment)."""


@dataclass(frozen=True)
class FoundFile:
    """A regular file found by the walk."""

    path: str  # relative POSIX path inside the snapshot
    real_path: str  # symlinks resolved
    info: os.stat_result


@dataclass(frozen=True)
class Snapshot:
    """The manifest of what was stored and how many bytes were new to the store."""

    manifest: Manifest
    new_bytes: int


def _inside(path: str, root: str) -> bool:
    return path == root or path.startswith(root.rstrip(os.sep) + os.sep)


def _resolve_link(full: str, shown: str, root_real: str) -> str:
    try:
        target = os.path.realpath(full, strict=True)
    except OSError as exc:
        if exc.errno == errno.ELOOP:
            raise InvalidArgument(
                f"the symlink {shown!r} loops: remove it or point it at a file"
            ) from None
        raise InvalidArgument(
            f"the symlink {shown!r} points at nothing ({exc.strerror}): fix or remove it"
        ) from None
    if not _inside(target, root_real):
        raise InvalidArgument(
            f"the symlink {shown!r} points outside the folder being versioned ({target}): "
            "copy the file in instead, or version the folder that holds it"
        )
    return target


def _refuse_special(shown: str, mode: int) -> None:
    kind = (
        "fifo"
        if stat.S_ISFIFO(mode)
        else "socket"
        if stat.S_ISSOCK(mode)
        else "device or special file"
    )
    raise InvalidArgument(
        f"{shown!r} is a {kind}, not a regular file: only files and folders can be versioned; "
        "move it out of the folder"
    )


def walk(root: str | os.PathLike[str]) -> list[FoundFile]:
    """Every regular file under ``root`` (or ``root`` itself if it is a file), by path.

    Raises ``NotFound`` when ``root`` does not exist and ``InvalidArgument`` naming the path
    for unsafe names, escaping, dangling or looping symlinks, special files, unreadable
    folders, or when there is no file at all.
    """
    given = os.fspath(root)
    if not os.path.lexists(given):
        raise NotFound(f"no such file or folder: {given}")
    root_real = os.path.realpath(given)
    try:
        root_info = os.stat(given)
    except OSError as exc:
        if exc.errno == errno.ELOOP:
            raise InvalidArgument(f"the symlink {given!r} loops: give a file or folder") from None
        raise InvalidArgument(f"cannot read {given!r}: {exc.strerror}") from None
    if stat.S_ISREG(root_info.st_mode):
        name = check_dataset_path(Path(given).name)
        return [FoundFile(name, root_real, root_info)]
    if not stat.S_ISDIR(root_info.st_mode):
        _refuse_special(given, root_info.st_mode)
    found: list[FoundFile] = []
    _walk_folder(root_real, "", root_real, {root_real}, found)
    if not found:
        raise InvalidArgument(
            f"the folder {given!r} has no files: nothing to version (empty folders are not kept)"
        )
    found.sort(key=lambda f: f.path)
    return found


def _walk_folder(
    folder: str, prefix: str, root_real: str, ancestors: set[str], found: list[FoundFile]
) -> None:
    try:
        with os.scandir(folder) as scan:
            entries = sorted(scan, key=lambda e: e.name)
    except PermissionError:
        raise InvalidArgument(
            f"cannot read the folder {prefix.rstrip('/') or folder!r}: permission denied"
        ) from None
    for entry in entries:
        rel = prefix + entry.name
        check_dataset_path(rel)
        full = os.path.join(folder, entry.name)
        if entry.is_symlink():
            target = _resolve_link(full, rel, root_real)
            info = os.stat(target)
        else:
            target = full
            info = entry.stat(follow_symlinks=False)
        if stat.S_ISDIR(info.st_mode):
            if target in ancestors:
                raise InvalidArgument(
                    f"the symlink {rel!r} loops back to a folder that contains it: remove it"
                )
            _walk_folder(target, rel + "/", root_real, ancestors | {target}, found)
        elif stat.S_ISREG(info.st_mode):
            found.append(FoundFile(rel, target, info))
            if len(found) > MAX_FILES:
                raise InvalidArgument(f"more than {MAX_FILES} files: version a smaller folder")
        else:
            _refuse_special(rel, info.st_mode)


def _mode(info: os.stat_result) -> int:
    return MODE_EXECUTABLE if info.st_mode & 0o111 else MODE_REGULAR


def _changed(path: str) -> Conflict:
    return Conflict(
        f"{path!r} changed while it was being read: nothing was recorded; "
        "add the dataset again once the file is no longer being written"
    )


@dataclass(frozen=True)
class _Stored:
    entry: ManifestEntry
    new_bytes: int
    key: FileKey | None  # set when the result may be cached


def _store_file(blobs: Blobs, found: FoundFile, progress: ProgressCallback | None) -> _Stored:
    stat_time = time.time_ns()
    try:
        fd = os.open(found.real_path, os.O_RDONLY | getattr(os, "O_CLOEXEC", 0))
    except FileNotFoundError:
        raise _changed(found.path) from None
    except OSError as exc:
        raise InvalidArgument(f"cannot read {found.path!r}: {exc.strerror}") from None
    try:
        before = os.fstat(fd)
        if not stat.S_ISREG(before.st_mode):
            raise _changed(found.path)
        content: Content
        if before.st_size >= CHUNKING_THRESHOLD:
            chunks, new_bytes = store_chunks(blobs, fd, progress)
            stored_size = sum(size for _, size in chunks)
            content = tuple(chunks)
        else:
            # Through /proc so the very file we stat'ed is copied, not whatever the path
            # names by now.
            proc = f"/proc/self/fd/{fd}"
            info = blobs.put_file(
                proc if os.path.exists(proc) else found.real_path, progress=progress
            )
            stored_size, new_bytes, content = (
                info.size,
                info.size if info.created else 0,
                info.address,
            )
        after = os.fstat(fd)
    finally:
        os.close(fd)
    if (after.st_size, after.st_mtime_ns) != (before.st_size, before.st_mtime_ns) or (
        stored_size != before.st_size
    ):
        raise _changed(found.path)
    key = FileKey.of(found.real_path, before)
    if isinstance(content, str):
        entry = ManifestEntry(found.path, stored_size, _mode(before), address=content)
    else:
        entry = ManifestEntry(found.path, stored_size, _mode(before), chunks=content)
    return _Stored(entry, new_bytes, key if is_cacheable(key, stat_time) else None)


def _from_cache(blobs: Blobs, found: FoundFile, cache: StatCache) -> ManifestEntry | None:
    content = cache.get(FileKey.of(found.real_path, found.info))
    if content is None:
        return None
    size = found.info.st_size
    if isinstance(content, str):
        if not blobs.exists(content):
            return None
        return ManifestEntry(found.path, size, _mode(found.info), address=content)
    if sum(s for _, s in content) != size or not all(blobs.exists(a) for a, _ in content):
        return None
    return ManifestEntry(found.path, size, _mode(found.info), chunks=content)


def cached_manifest(blobs: Blobs, files: list[FoundFile], cache: StatCache) -> Manifest | None:
    """The manifest of ``files`` (from ``walk``) if ``cache`` knows every one in its current
    state and its blobs are stored; else None. No file is read."""
    cache.preload(found.real_path for found in files)
    entries = []
    for found in files:
        hit = _from_cache(blobs, found, cache)
        if hit is None:
            return None
        entries.append(hit)
    return Manifest(tuple(sorted(entries, key=lambda entry: entry.path)))


def default_workers() -> int:
    return min(16, 2 * (os.cpu_count() or 2))


def snapshot(
    blobs: Blobs,
    files: list[FoundFile],
    *,
    cache: StatCache | None = None,
    progress: ProgressCallback | None = None,
    workers: int | None = None,
) -> Snapshot:
    """Store every file of ``files`` (from ``walk``) and return the manifest.

    Files the ``cache`` knows in their current state (and whose blobs are still stored) are
    not read. Raises ``Conflict`` if a file changed while it was read, ``InvalidArgument`` if
    one cannot be read; blobs stored until then stay for gc, nothing else is kept.
    """
    entries: dict[str, ManifestEntry] = {}
    pending: list[FoundFile] = []
    if cache is not None:
        cache.preload(found.real_path for found in files)
    for found in files:
        hit = _from_cache(blobs, found, cache) if cache is not None else None
        if hit is None:
            pending.append(found)
        else:
            entries[found.path] = hit
            if progress is not None:
                progress(hit.size)
    new_bytes = 0
    cacheable: list[tuple[FileKey, Content]] = []
    if pending:
        lock = threading.Lock()
        locked_progress = None
        if progress is not None:
            callback = progress

            def locked_progress(n: int) -> None:
                with lock:
                    callback(n)

        with ThreadPoolExecutor(max_workers=workers or default_workers()) as pool:
            # Biggest first: a big file started last would finish alone, after the rest.
            ordered = sorted(pending, key=lambda f: f.info.st_size, reverse=True)
            futures: list[Future[_Stored]] = [
                pool.submit(_store_file, blobs, found, locked_progress) for found in ordered
            ]
            wait(futures, return_when=FIRST_EXCEPTION)
            failed = next((f for f in futures if f.done() and f.exception() is not None), None)
            if failed is not None:
                for other in futures:
                    other.cancel()  # files not started yet; running ones finish first
                failed.result()  # raises the first failure
            for future in futures:
                stored = future.result()
                entries[stored.entry.path] = stored.entry
                new_bytes += stored.new_bytes
                if stored.key is not None:
                    content: Content = (
                        stored.entry.address
                        if stored.entry.address is not None
                        else stored.entry.chunks or ()
                    )
                    cacheable.append((stored.key, content))
    if cache is not None:
        cache.put_many(cacheable)
    manifest = Manifest(tuple(entries[path] for path in sorted(entries)))
    return Snapshot(manifest, new_bytes)
