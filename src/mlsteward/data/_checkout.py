"""Check a dataset version out into a folder: every byte and the executable bit.

Files are written into a hidden staging folder next to ``dest``, which is renamed to ``dest``
once everything is written and verified: a failed checkout leaves no partial folder.

One-blob files go through ``BlobStore.get_file``: from a local unencrypted store that is a
kernel ``copy_file_range``, which file systems with copy-on-write (XFS, Btrfs) serve as a
reflink, sharing the blocks; the bytes are hashed as they land, so a damaged blob is caught.
Hard links are never used: a tool that edits a checked-out file in place (an editor, ``>>``,
a script opening it for update) would silently change the stored blob under every version
that shares it, and a read-only mode does not stop the administrator account these commands
often run as. Chunked files are assembled by streaming their chunks.
"""

from __future__ import annotations

import os
import secrets
import shutil
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..errors import IntegrityError, InvalidArgument
from ..security import Actor
from ._model import DatasetVersion, Manifest, ManifestEntry
from ._snapshot import default_workers
from ._versions import get_dataset_version, read_manifest

if TYPE_CHECKING:
    from ..blobs import BlobStore
    from ..platform import Platform

LINK_MODES = ("auto", "copy")
_COPY_BUFFER = 1024 * 1024


@dataclass(frozen=True)
class Checkout:
    """Where a version was written and how much."""

    dataset_name: str
    version: int
    dest: Path
    file_count: int
    total_bytes: int

    def to_json(self) -> dict[str, Any]:
        return {
            "dataset": self.dataset_name,
            "version": self.version,
            "dest": str(self.dest),
            "file_count": self.file_count,
            "total_bytes": self.total_bytes,
        }


def _has_entries(folder: Path) -> bool:
    with os.scandir(folder) as scan:
        return any(True for _ in scan)


def _check_dest(dest: Path) -> None:
    if dest.is_symlink() or (dest.exists() and not dest.is_dir()):
        raise InvalidArgument(f"{str(dest)!r} exists and is not a folder: choose a new folder")
    if dest.is_dir() and _has_entries(dest):
        raise InvalidArgument(
            f"the folder {str(dest)!r} is not empty: check out into a new or empty folder "
            "(nothing was written)"
        )


def _target(staging: Path, entry: ManifestEntry) -> Path:
    target = staging.joinpath(*entry.path.split("/"))
    target.parent.mkdir(parents=True, exist_ok=True)
    inside = os.path.realpath(target.parent) + os.sep
    if not inside.startswith(os.path.realpath(staging) + os.sep):
        raise InvalidArgument(f"the manifest path {entry.path!r} leaves the checkout folder")
    return target


def _write_entry(blobs: BlobStore, staging: Path, entry: ManifestEntry, link: str) -> None:
    target = _target(staging, entry)
    if entry.address is not None and link == "auto":
        written = blobs.get_file(entry.address, target)
    else:
        written = 0
        with open(target, "xb") as out:
            for address in entry.addresses:
                with blobs.open(address) as reader:
                    while block := reader.read(_COPY_BUFFER):
                        out.write(block)
                        written += len(block)
    if written != entry.size:
        raise IntegrityError(
            f"{entry.path!r} came out as {written} bytes instead of {entry.size}: "
            "the blob store is damaged (run `mlsteward blobs verify`)"
        )
    os.chmod(target, entry.mode)


def checkout_dataset_version(
    platform: Platform,
    actor: Actor,
    project: str,
    name: str,
    version: int | None,
    dest: str | Path,
    *,
    link: str = "auto",
) -> Checkout:
    """Write version ``version`` (None: the latest) of a dataset into ``dest`` (viewers).

    ``dest`` must not exist or be an empty folder. ``link="auto"`` lets the kernel share
    blocks where the file system can (reflink), ``"copy"`` always writes fresh bytes. Raises
    ``InvalidArgument`` for a non-empty or non-folder ``dest`` (nothing written) and
    ``IntegrityError`` if a stored blob does not match its address.
    """
    if link not in LINK_MODES:
        raise InvalidArgument(f"link must be one of {list(LINK_MODES)}, not {link!r}")
    found = get_dataset_version(platform, actor, project, name, version)
    _check_dest(Path(dest).absolute())
    return write_checkout(platform.blobs, found, read_manifest(platform, found), dest, link)


def write_checkout(
    blobs: BlobStore, version: DatasetVersion, manifest: Manifest, dest: str | Path, link: str
) -> Checkout:
    """Write the files of ``manifest`` from ``blobs`` (a store, or anything with its
    ``open`` and, for ``link="auto"``, ``get_file``) into ``dest``; the permission checks
    are the caller's. Same contract as ``checkout_dataset_version``."""
    if link not in LINK_MODES:
        raise InvalidArgument(f"link must be one of {list(LINK_MODES)}, not {link!r}")
    dest = Path(dest).absolute()
    _check_dest(dest)
    dest.parent.mkdir(parents=True, exist_ok=True)
    staging = dest.parent / f".{dest.name}.checkout-{secrets.token_hex(6)}"
    staging.mkdir()
    try:
        with ThreadPoolExecutor(max_workers=default_workers()) as pool:
            for future in [
                pool.submit(_write_entry, blobs, staging, entry, link) for entry in manifest.entries
            ]:
                future.result()
        _check_dest(dest)
        if dest.is_dir():
            dest.rmdir()
        os.rename(staging, dest)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    return Checkout(
        version.dataset_name, version.version, dest, len(manifest.entries), manifest.total_bytes
    )
