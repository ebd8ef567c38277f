"""Where bytes live: a local folder (plain ``os`` calls) or any fsspec filesystem.

Keys are relative POSIX paths built by the store from checked addresses
(``objects/ab/cd...``, ``keys/ab/<address>.json``, ``tmp/<name>``); nothing here accepts
client input.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import os
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any, BinaryIO, Protocol

from ..errors import ConfigurationError, MissingExtra
from ._address import TMP_DIR
from ._pipeline import write_all

READ_AHEAD_BYTES = 16 * 1024 * 1024
_EXTRAS = {"s3": "s3", "s3a": "s3", "gs": "gcs", "gcs": "gcs", "abfs": "azure", "az": "azure"}


@dataclass(frozen=True, slots=True)
class Entry:
    """One stored file: its name inside the listed folder, size in bytes, mtime (epoch s)."""

    name: str
    size: int
    mtime: float


class TempWriter(Protocol):
    """A temporary object being written; invisible under ``objects/`` until published."""

    key: str

    def write(self, data: bytes | memoryview, /) -> object: ...

    def close(self) -> None:
        """Finish the temporary object durably (local: fsync; S3: complete the upload)."""

    def abort(self) -> None:
        """Drop the temporary object; never raises."""


def new_temp_key() -> str:
    """A fresh, unique key under ``tmp/``."""
    return f"{TMP_DIR}/{os.getpid()}-{uuid.uuid4().hex}.part"


class Backend(Protocol):
    """The few storage operations the blob store needs."""

    url: str
    is_local: bool

    def open_temp(self) -> TempWriter: ...
    def publish(self, temp_key: str, final_key: str) -> None: ...
    def remove(self, key: str) -> bool: ...
    def exists(self, key: str) -> bool: ...
    def stat(self, key: str) -> Entry | None: ...
    def touch(self, key: str) -> None: ...
    def open_read(self, key: str) -> BinaryIO: ...
    def read_range(self, key: str, start: int, end: int) -> bytes: ...
    def read_small(self, key: str) -> bytes: ...
    def write_small(self, key: str, data: bytes, *, exclusive: bool) -> bool: ...
    def list_dir(self, key: str) -> Iterator[Entry]: ...
    def list_subdirs(self, key: str) -> list[str]: ...


class LocalTempWriter:
    """A temporary file under ``tmp/`` (read-write, so a kernel copy can be hashed back)."""

    def __init__(self, root: str, key: str) -> None:
        self.key = key
        self._path = os.path.join(root, key)
        os.makedirs(os.path.dirname(self._path), exist_ok=True)
        self._file: BinaryIO = open(self._path, "xb+", buffering=0)  # noqa: SIM115
        self._write = write_all(self._file)

    def fileno(self) -> int:
        return self._file.fileno()

    def write(self, data: bytes | memoryview, /) -> object:
        self._write(memoryview(data))
        return None

    def close(self) -> None:
        os.fsync(self._file.fileno())
        self._file.close()

    def abort(self) -> None:
        with contextlib.suppress(OSError):
            self._file.close()
        with contextlib.suppress(OSError):
            os.unlink(self._path)


class LocalBackend:
    """A folder on a local filesystem: ``os.replace`` publishes atomically."""

    is_local = True

    def __init__(self, root: str) -> None:
        self.root = os.path.abspath(root)
        self.url = self.root

    def _path(self, key: str) -> str:
        return os.path.join(self.root, key)

    def open_temp(self) -> TempWriter:
        return LocalTempWriter(self.root, new_temp_key())

    def publish(self, temp_key: str, final_key: str) -> None:
        final = self._path(final_key)
        folder = os.path.dirname(final)
        os.makedirs(folder, exist_ok=True)
        os.replace(self._path(temp_key), final)
        _fsync_dir(folder)

    def remove(self, key: str) -> bool:
        try:
            os.unlink(self._path(key))
        except FileNotFoundError:
            return False
        return True

    def exists(self, key: str) -> bool:
        return os.path.isfile(self._path(key))

    def stat(self, key: str) -> Entry | None:
        try:
            st = os.stat(self._path(key))
        except (FileNotFoundError, NotADirectoryError):
            return None
        return Entry(key.rsplit("/", 1)[-1], st.st_size, st.st_mtime)

    def touch(self, key: str) -> None:
        with contextlib.suppress(OSError):
            os.utime(self._path(key))

    def open_read(self, key: str) -> BinaryIO:
        return open(self._path(key), "rb", buffering=0)

    def read_range(self, key: str, start: int, end: int) -> bytes:
        with open(self._path(key), "rb") as handle:
            handle.seek(start)
            return handle.read(end - start)

    def read_small(self, key: str) -> bytes:
        with open(self._path(key), "rb") as handle:
            return handle.read()

    def write_small(self, key: str, data: bytes, *, exclusive: bool) -> bool:
        """Write a small file atomically; with ``exclusive``, only if it does not exist."""
        temp = LocalTempWriter(self.root, new_temp_key())
        try:
            temp.write(data)
            temp.close()
            final = self._path(key)
            os.makedirs(os.path.dirname(final), exist_ok=True)
            if exclusive:
                try:
                    os.link(self._path(temp.key), final)  # atomic create-if-absent
                except FileExistsError:
                    return False
            else:
                os.replace(self._path(temp.key), final)
            _fsync_dir(os.path.dirname(final))
            return True
        finally:
            temp.abort()  # the temp name (the object keeps its own link)

    def list_dir(self, key: str) -> Iterator[Entry]:
        try:
            scanner = os.scandir(self._path(key))
        except (FileNotFoundError, NotADirectoryError):
            return
        with scanner:
            for item in scanner:
                with contextlib.suppress(FileNotFoundError):  # deleted while listing
                    if item.is_file(follow_symlinks=False):
                        st = item.stat(follow_symlinks=False)
                        yield Entry(item.name, st.st_size, st.st_mtime)

    def list_subdirs(self, key: str) -> list[str]:
        try:
            with os.scandir(self._path(key)) as scanner:
                return sorted(i.name for i in scanner if i.is_dir(follow_symlinks=False))
        except (FileNotFoundError, NotADirectoryError):
            return []


class _FsspecTempWriter:
    def __init__(self, fs: Any, path: str, key: str) -> None:
        self.key = key
        self._file = fs.open(path, "wb")

    def write(self, data: bytes | memoryview, /) -> object:
        return self._file.write(data)

    def close(self) -> None:
        self._file.close()

    def abort(self) -> None:
        with contextlib.suppress(Exception):
            if not self._file.closed:
                self._file.discard()  # S3: abort the multipart upload
                self._file.closed = True
        with contextlib.suppress(Exception):
            self._file.fs.rm_file(self._file.path)


class FsspecBackend:
    """Any fsspec filesystem. Objects become visible only once complete (S3 semantics)."""

    is_local = False

    def __init__(self, url: str, storage_options: dict[str, Any]) -> None:
        import fsspec

        protocol = url.split("://", 1)[0].lower()
        options = {"use_listings_cache": False, **storage_options}
        try:
            self.fs: Any = fsspec.filesystem(protocol, **options)
        except ImportError as exc:
            extra = _EXTRAS.get(protocol)
            if protocol in ("s3", "s3a"):
                raise MissingExtra(
                    f"blob URL {url!r} needs s3fs: pip install 'mlsteward[s3]'",
                    details={"extra": "s3"},
                ) from None
            raise MissingExtra(
                f"blob URL {url!r} needs an fsspec driver that is not installed: {exc}",
                details={"extra": extra or ""},
            ) from None
        except ValueError as exc:
            raise ConfigurationError(f"unsupported blob URL {url!r}: {exc}") from None
        except TypeError as exc:
            raise ConfigurationError(f"bad blob storage options for {url!r}: {exc}") from None
        self.root = self.fs._strip_protocol(url).rstrip("/")
        if not self.root:
            raise ConfigurationError(f"blob URL {url!r} names no bucket or folder")
        self.url = url

    def _path(self, key: str) -> str:
        return f"{self.root}/{key}"

    def open_temp(self) -> TempWriter:
        key = new_temp_key()
        return _FsspecTempWriter(self.fs, self._path(key), key)

    def publish(self, temp_key: str, final_key: str) -> None:
        self.fs.mv(self._path(temp_key), self._path(final_key))

    def remove(self, key: str) -> bool:
        path = self._path(key)
        if not self.fs.isfile(path):  # S3 deletes of absent keys succeed silently
            return False
        try:
            self.fs.rm_file(path)
        except FileNotFoundError:
            return False
        return True

    def exists(self, key: str) -> bool:
        return bool(self.fs.isfile(self._path(key)))

    def stat(self, key: str) -> Entry | None:
        try:
            info = self.fs.info(self._path(key))
        except FileNotFoundError:
            return None
        if info.get("type") != "file":
            return None
        return Entry(key.rsplit("/", 1)[-1], int(info["size"]), _mtime(info))

    def touch(self, key: str) -> None:
        """Object stores cannot refresh a modification time cheaply; nothing to do."""

    def open_read(self, key: str) -> BinaryIO:
        # Read ahead in large requests: one GET per READ_AHEAD_BYTES, not one per chunk.
        handle: BinaryIO = self.fs.open(
            self._path(key), "rb", cache_type="readahead", block_size=READ_AHEAD_BYTES
        )
        return handle

    def read_range(self, key: str, start: int, end: int) -> bytes:
        data: bytes = self.fs.cat_file(self._path(key), start=start, end=end)
        return data

    def read_small(self, key: str) -> bytes:
        data: bytes = self.fs.cat_file(self._path(key))
        return data

    def write_small(self, key: str, data: bytes, *, exclusive: bool) -> bool:
        try:
            self.fs.pipe_file(self._path(key), data, mode="create" if exclusive else "overwrite")
        except FileExistsError:
            return False
        return True

    def list_dir(self, key: str) -> Iterator[Entry]:
        try:
            infos = self.fs.ls(self._path(key), detail=True)
        except FileNotFoundError:
            return
        for info in infos:
            if info.get("type") == "file":
                name = info["name"].rstrip("/").rsplit("/", 1)[-1]
                yield Entry(name, int(info.get("size") or 0), _mtime(info))

    def list_subdirs(self, key: str) -> list[str]:
        try:
            infos = self.fs.ls(self._path(key), detail=True)
        except FileNotFoundError:
            return []
        return sorted(
            info["name"].rstrip("/").rsplit("/", 1)[-1]
            for info in infos
            if info.get("type") == "directory"
        )


def _mtime(info: dict[str, Any]) -> float:
    for field in ("mtime", "LastModified", "last_modified", "updated", "created"):
        value = info.get(field)
        if isinstance(value, dt.datetime):
            if value.tzinfo is None:
                value = value.replace(tzinfo=dt.UTC)
            return value.timestamp()
        if isinstance(value, int | float):
            return float(value)
        if isinstance(value, str):
            with contextlib.suppress(ValueError):
                return dt.datetime.fromisoformat(value.replace("Z", "+00:00")).timestamp()
    return 0.0


def _fsync_dir(folder: str) -> None:
    with contextlib.suppress(OSError):
        fd = os.open(folder, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


def open_backend(url: str, storage_options: dict[str, Any] | None) -> Backend:
    """The backend for a folder path, ``file://`` URL or any fsspec URL."""
    if not url:
        raise ConfigurationError("the blob store URL is empty; set MLSTEWARD_BLOB_URL")
    if "\x00" in url:
        raise ConfigurationError("the blob store URL contains a NUL byte")
    if url.startswith("file://"):
        return LocalBackend(url[len("file://") :])
    if "://" not in url:
        if storage_options:
            raise ConfigurationError("storage options are only used with fsspec URLs")
        return LocalBackend(os.path.expanduser(url))
    return FsspecBackend(url, dict(storage_options or {}))
