"""Datasets, their versions, the manifest format and version diffs (plain data, no I/O)."""

from __future__ import annotations

import datetime as dt
import json
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, NewType

from ..errors import InvalidArgument
from ._paths import check_dataset_path

DatasetId = NewType("DatasetId", str)
DatasetVersionId = NewType("DatasetVersionId", str)

MANIFEST_TYPE = "mlsteward.dataset_manifest"
MANIFEST_SCHEMA_VERSION = 1
MODE_EXECUTABLE = 0o755
MODE_REGULAR = 0o644
MAX_MANIFEST_FILES = 1_000_000
KINDS = ("files", "table")

_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,127}")
_ADDRESS = re.compile(r"[0-9a-f]{64}")


def check_dataset_name(name: object) -> str:
    """``name`` if it is 1-128 letters, digits, ``.``, ``_`` or ``-`` starting with a letter or
    digit, else ``InvalidArgument``."""
    if not isinstance(name, str) or _NAME.fullmatch(name) is None:
        shown = repr(name)[:80]
        raise InvalidArgument(
            f"invalid dataset name {shown}: use 1-128 letters, digits, '.', '_' or '-', "
            "starting with a letter or digit (e.g. 'transactions')"
        )
    return name


def _iso(value: dt.datetime | None) -> str | None:
    return value.isoformat() if value is not None else None


@dataclass(frozen=True)
class Dataset:
    """A named dataset of a project (the catalog entry); versions hang off it."""

    id: DatasetId
    project_id: str
    name: str
    description: str
    owners: tuple[str, ...]
    tags: dict[str, str]
    latest_version: int | None
    created_at: dt.datetime
    created_by: str
    updated_at: dt.datetime

    def to_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "project_id": self.project_id,
            "name": self.name,
            "description": self.description,
            "owners": list(self.owners),
            "tags": dict(self.tags),
            "latest_version": self.latest_version,
            "created_at": _iso(self.created_at),
            "created_by": self.created_by,
            "updated_at": _iso(self.updated_at),
        }


@dataclass(frozen=True)
class DatasetVersion:
    """One immutable snapshot of a dataset.

    ``new_bytes`` counts the bytes of blobs this version stored for the first time (the rest
    were already in the store). ``unchanged`` is True when an add found the same content as
    the latest version and returned that version instead of recording a new one.
    """

    id: DatasetVersionId
    dataset_name: str
    version: int
    kind: str
    manifest_address: str
    file_count: int
    total_bytes: int
    new_bytes: int
    table_schema: dict[str, Any] | None
    row_count: int | None
    profile_address: str | None
    source: str
    message: str
    created_at: dt.datetime
    created_by: str
    unchanged: bool = False

    @property
    def ref(self) -> str:
        """``name@version``, as ``resolve_dataset_ref`` reads it."""
        return f"{self.dataset_name}@{self.version}"

    def to_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "dataset": self.dataset_name,
            "version": self.version,
            "ref": self.ref,
            "kind": self.kind,
            "manifest_address": self.manifest_address,
            "file_count": self.file_count,
            "total_bytes": self.total_bytes,
            "new_bytes": self.new_bytes,
            "table_schema": self.table_schema,
            "row_count": self.row_count,
            "profile_address": self.profile_address,
            "source": self.source,
            "message": self.message,
            "created_at": _iso(self.created_at),
            "created_by": self.created_by,
            "unchanged": self.unchanged,
        }


@dataclass(frozen=True)
class ManifestEntry:
    """One file of a snapshot: its relative POSIX path, size, mode (only the executable bit
    is kept: 0o755 or 0o644) and content, either one blob (``address``) or, for big files,
    ``chunks``: ``(address, size)`` pairs in file order."""

    path: str
    size: int
    mode: int
    address: str | None = None
    chunks: tuple[tuple[str, int], ...] | None = None

    @property
    def executable(self) -> bool:
        return self.mode == MODE_EXECUTABLE

    @property
    def addresses(self) -> tuple[str, ...]:
        """Every blob the file needs, in order."""
        if self.address is not None:
            return (self.address,)
        return tuple(address for address, _ in self.chunks or ())

    def to_json(self) -> dict[str, Any]:
        data: dict[str, Any] = {"path": self.path, "size": self.size, "mode": self.mode}
        if self.address is not None:
            data["address"] = self.address
        else:
            data["chunks"] = [[address, size] for address, size in self.chunks or ()]
        return data

    @classmethod
    def from_json(cls, data: object) -> ManifestEntry:
        """Read one entry; ``InvalidArgument`` for anything malformed or an unsafe path."""
        if not isinstance(data, Mapping):
            raise InvalidArgument("a dataset manifest entry must be an object")
        path = check_dataset_path(data.get("path"))
        size = data.get("size")
        mode = data.get("mode")
        if isinstance(size, bool) or not isinstance(size, int) or size < 0:
            raise InvalidArgument(f"manifest entry {path!r} has an invalid size")
        if mode not in (MODE_EXECUTABLE, MODE_REGULAR):
            raise InvalidArgument(f"manifest entry {path!r} has an invalid mode")
        address = data.get("address")
        chunks = data.get("chunks")
        if address is not None and chunks is None:
            if not isinstance(address, str) or _ADDRESS.fullmatch(address) is None:
                raise InvalidArgument(f"manifest entry {path!r} has an invalid address")
            return cls(path, size, mode, address=address)
        if address is None and isinstance(chunks, list):
            parsed = []
            for chunk in chunks:
                if (
                    not isinstance(chunk, list)
                    or len(chunk) != 2
                    or not isinstance(chunk[0], str)
                    or _ADDRESS.fullmatch(chunk[0]) is None
                    or isinstance(chunk[1], bool)
                    or not isinstance(chunk[1], int)
                    or chunk[1] <= 0
                ):
                    raise InvalidArgument(f"manifest entry {path!r} has an invalid chunk")
                parsed.append((chunk[0], chunk[1]))
            if sum(s for _, s in parsed) != size:
                raise InvalidArgument(f"the chunks of manifest entry {path!r} do not add up")
            return cls(path, size, mode, chunks=tuple(parsed))
        raise InvalidArgument(f"manifest entry {path!r} needs either an address or chunks")


@dataclass(frozen=True)
class Manifest:
    """The file list of a snapshot, sorted by path. Its canonical bytes (``to_bytes``) are
    stored as a blob: equal content gives an equal manifest address."""

    entries: tuple[ManifestEntry, ...]

    @property
    def total_bytes(self) -> int:
        return sum(entry.size for entry in self.entries)

    def addresses(self) -> set[str]:
        """Every distinct blob the files need."""
        return {address for entry in self.entries for address in entry.addresses}

    def to_json(self) -> dict[str, Any]:
        return {
            "type": MANIFEST_TYPE,
            "schema_version": MANIFEST_SCHEMA_VERSION,
            "files": [entry.to_json() for entry in self.entries],
        }

    def to_bytes(self) -> bytes:
        return json.dumps(self.to_json(), sort_keys=True, separators=(",", ":")).encode()

    @classmethod
    def from_bytes(cls, raw: bytes) -> Manifest:
        """Parse a stored manifest; ``InvalidArgument`` if malformed, of another type or of a
        newer schema version, or if it has unsafe or duplicate paths."""
        try:
            data = json.loads(raw)
        except (UnicodeDecodeError, json.JSONDecodeError) as exc:
            raise InvalidArgument(f"the dataset manifest is not valid JSON: {exc}") from None
        if not isinstance(data, Mapping) or data.get("type") != MANIFEST_TYPE:
            raise InvalidArgument(f"not a dataset manifest (type must be {MANIFEST_TYPE!r})")
        if data.get("schema_version") != MANIFEST_SCHEMA_VERSION:
            raise InvalidArgument(
                f"dataset manifest schema_version {data.get('schema_version')!r} is not "
                f"supported (this release reads {MANIFEST_SCHEMA_VERSION}): upgrade mlsteward"
            )
        files = data.get("files")
        if not isinstance(files, list) or len(files) > MAX_MANIFEST_FILES:
            raise InvalidArgument("the dataset manifest 'files' must be a list")
        entries = tuple(ManifestEntry.from_json(item) for item in files)
        paths = [entry.path for entry in entries]
        if len(set(paths)) != len(paths):
            raise InvalidArgument("the dataset manifest lists a path twice")
        folders = {"/".join(p.split("/")[:i]) for p in paths for i in range(1, p.count("/") + 1)}
        clash = sorted(folders.intersection(paths))
        if clash:
            raise InvalidArgument(f"the dataset manifest uses {clash[0]!r} as file and folder")
        return cls(entries)


@dataclass(frozen=True)
class FileChange:
    """A path present in both versions whose content differs."""

    path: str
    size_a: int
    size_b: int

    def to_json(self) -> dict[str, Any]:
        return {"path": self.path, "size_a": self.size_a, "size_b": self.size_b}


@dataclass(frozen=True)
class ColumnChange:
    """A column added, removed or retyped between two table versions."""

    name: str
    change: str  # "added", "removed" or "retyped"
    type_a: str | None
    type_b: str | None

    def to_json(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "change": self.change,
            "type_a": self.type_a,
            "type_b": self.type_b,
        }


@dataclass(frozen=True)
class StatChange:
    """One statistic of one column that differs between the two versions' profiles."""

    column: str
    statistic: str  # null_fraction, mean, min, max, distinct_estimate
    value_a: float | None
    value_b: float | None

    def to_json(self) -> dict[str, Any]:
        return {
            "column": self.column,
            "statistic": self.statistic,
            "value_a": self.value_a,
            "value_b": self.value_b,
        }


@dataclass(frozen=True)
class DatasetDiff:
    """What changed from version ``a`` to version ``b`` of a dataset."""

    dataset_name: str
    version_a: int
    version_b: int
    added: tuple[ManifestEntry, ...] = ()
    removed: tuple[ManifestEntry, ...] = ()
    changed: tuple[FileChange, ...] = ()
    columns: tuple[ColumnChange, ...] = ()
    row_count_a: int | None = None
    row_count_b: int | None = None
    statistics: tuple[StatChange, ...] = field(default=())

    @property
    def identical(self) -> bool:
        return not (self.added or self.removed or self.changed)

    def to_json(self) -> dict[str, Any]:
        return {
            "dataset": self.dataset_name,
            "version_a": self.version_a,
            "version_b": self.version_b,
            "identical": self.identical,
            "added": [{"path": e.path, "size": e.size} for e in self.added],
            "removed": [{"path": e.path, "size": e.size} for e in self.removed],
            "changed": [c.to_json() for c in self.changed],
            "columns": [c.to_json() for c in self.columns],
            "row_count_a": self.row_count_a,
            "row_count_b": self.row_count_b,
            "statistics": [s.to_json() for s in self.statistics],
        }


def entries_by_path(entries: Sequence[ManifestEntry]) -> dict[str, ManifestEntry]:
    return {entry.path: entry for entry in entries}


def version_from_row(row: Any, name: str, *, unchanged: bool = False) -> DatasetVersion:
    """A version from a ``dataset_versions`` row (any object with its columns as attributes)."""
    return DatasetVersion(
        id=DatasetVersionId(row.id),
        dataset_name=name,
        version=row.version,
        kind=row.kind,
        manifest_address=row.manifest_address,
        file_count=row.file_count,
        total_bytes=row.total_bytes,
        new_bytes=row.new_bytes,
        table_schema=row.table_schema,
        row_count=row.row_count,
        profile_address=row.profile_address,
        source=row.source,
        message=row.message,
        created_at=row.created_at,
        created_by=row.created_by,
        unchanged=unchanged,
    )
