"""Building a package: walk the model folder safely, copy each file once while hashing it,
sign the manifest, publish the archive atomically.

Large files are copied in the kernel (``copy_file_range``) by a helper thread while this
thread reads back what landed in the archive and hashes it: measured on 200 MB in this
project's VM, that ran at 1.1x the time of BLAKE3 alone, against 1.2x (with 2x outliers) for
read + hash + write-behind and 1.9x for a plain read/hash/write loop. The digest is of the
bytes actually stored.
"""

from __future__ import annotations

import contextlib
import errno
import os
import secrets
import stat
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import blake3

from ..blobs._kernel_copy import copy_hashed
from ..errors import AlreadyExists, Conflict, InvalidArgument, NotFound
from ._manifest import (
    LOCK_NAME,
    MANIFEST_NAME,
    METADATA_NAME,
    MODEL_DIR,
    SIGNATURE_NAME,
    FileEntry,
    PackageInfo,
    collision_key,
    encode_manifest,
    parse_lock,
    parse_metadata,
    path_problem,
    render_lock,
    render_metadata,
)
from ._signing import public_key_id, sign_manifest
from ._tar import end_of_archive, member_header, padding

if TYPE_CHECKING:
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

CHUNK_SIZE = 2 * 1024 * 1024
"""1-2 MiB buffers stay in the CPU caches between copy, read-back and hash (see blobs)."""
KERNEL_COPY_MIN = 8 * 1024 * 1024
"""Below this a helper thread costs more than it saves: read, hash and write inline."""
DATA_ALIGNMENT = 64 * 1024
"""Large members' data starts at a multiple of this: copies into unaligned offsets of the
archive took 1.35x as long (200 MB: 82 ms against 60 ms aligned; BLAKE3 alone 54 ms)."""
_DIR_FLAGS = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC
_FILE_FLAGS = os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC


def build_package(
    source_dir: Path,
    *,
    metadata: Mapping[str, Any],
    requirements: Sequence[str],
    signing_key: Ed25519PrivateKey,
    output: Path,
    overwrite: bool = False,
    durable: bool = False,
) -> PackageInfo:
    """Write the signed package of the files under ``source_dir`` to ``output``.

    The archive holds ``mlsteward.yaml`` (``metadata`` under a type tag), ``requirements.lock``,
    ``model/<relative path>`` for every file, ``MANIFEST.json`` and ``SIGNATURE.json``. It is
    written to a temporary file next to ``output`` and renamed into place: on any error or
    interrupt nothing is left behind. ``durable`` fsyncs before the rename (slower: the
    data goes to disk). Raises ``NotFound`` (no source or output folder), ``AlreadyExists``
    (``output`` exists and not ``overwrite``), ``InvalidArgument`` (symlinks, special files,
    non-portable or colliding names, bad metadata or requirements, wrong key type) and
    ``Conflict`` (a file changed size while being read).
    """
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    if not isinstance(signing_key, Ed25519PrivateKey):
        raise InvalidArgument("signing_key must be an Ed25519 private key")
    metadata_bytes = render_metadata(metadata)
    lock_bytes = render_lock(requirements)
    output = Path(output)
    if not output.parent.is_dir():
        raise NotFound(f"the output folder {output.parent} does not exist")
    if output.exists() and not overwrite:
        raise AlreadyExists(f"{output} exists: choose another name or pass overwrite=True")
    try:
        root_fd = os.open(source_dir, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
    except FileNotFoundError:
        raise NotFound(f"the model folder {source_dir} does not exist") from None
    except NotADirectoryError:
        raise InvalidArgument(f"{source_dir} is not a folder") from None
    try:
        if Path(output).resolve().is_relative_to(Path(source_dir).resolve()):
            raise InvalidArgument(f"the output {output} must not be inside {source_dir}")
        files = _scan(root_fd, source_dir)
        documents = (metadata_bytes, lock_bytes)
        return _write(
            root_fd, Path(source_dir), files, documents, signing_key, output, overwrite, durable
        )
    finally:
        os.close(root_fd)


def _scan(root_fd: int, source_dir: Path) -> list[tuple[str, ...]]:
    """Relative paths (as components) of every regular file, sorted by archive path."""
    found: list[tuple[str, ...]] = []
    seen: dict[str, str] = {}
    stack: list[tuple[int, tuple[str, ...]]] = [(os.dup(root_fd), ())]
    try:
        while stack:
            dir_fd, parts = stack.pop()
            try:
                with os.scandir(dir_fd) as entries:
                    children = sorted(entries, key=lambda e: e.name)
                for entry in children:
                    child = (*parts, entry.name)
                    shown = source_dir.joinpath(*child)
                    archive_path = "/".join((MODEL_DIR, *child))
                    if (problem := path_problem(archive_path)) is not None:
                        raise InvalidArgument(f"cannot package {shown!s}: {problem}")
                    if (other := seen.get(collision_key(archive_path))) is not None:
                        raise InvalidArgument(
                            f"cannot package {shown!s}: it and {other} are the same file on "
                            "case-insensitive systems; rename one"
                        )
                    seen[collision_key(archive_path)] = archive_path
                    if entry.is_symlink():
                        raise InvalidArgument(
                            f"cannot package {shown!s}: it is a symbolic link; copy the file "
                            "it points to into the folder instead"
                        )
                    if entry.is_dir(follow_symlinks=False):
                        child_fd = os.open(entry.name, _DIR_FLAGS, dir_fd=dir_fd)
                        stack.append((child_fd, child))
                    elif entry.is_file(follow_symlinks=False):
                        found.append(child)
                    else:
                        raise InvalidArgument(
                            f"cannot package {shown!s}: it is not a regular file (a device, "
                            "FIFO or socket)"
                        )
            finally:
                os.close(dir_fd)
    finally:
        for dir_fd, _ in stack:
            os.close(dir_fd)
    if not found:
        raise InvalidArgument(f"{source_dir} holds no files to package")
    return sorted(found, key=lambda parts: "/".join(parts))


def _open_beneath(root_fd: int, parts: tuple[str, ...]) -> int:
    """Open a file under ``root_fd`` following no symbolic link on the way."""
    dir_fd = os.dup(root_fd)
    try:
        for name in parts[:-1]:
            next_fd = os.open(name, _DIR_FLAGS, dir_fd=dir_fd)
            os.close(dir_fd)
            dir_fd = next_fd
        return os.open(parts[-1], _FILE_FLAGS, dir_fd=dir_fd)
    finally:
        os.close(dir_fd)


class _ArchiveWriter:
    """Appends members to the archive file at explicit offsets."""

    def __init__(self, fd: int) -> None:
        self.fd = fd
        self.offset = 0
        self.entries: list[FileEntry] = []

    def write(self, data: bytes) -> None:
        view = memoryview(data)
        while view:
            written = os.pwrite(self.fd, view, self.offset)
            self.offset += written
            view = view[written:]

    def add_bytes(self, path: str, data: bytes, *, listed: bool = True) -> None:
        self.write(member_header(path, len(data)))
        self.write(data)
        self.write(padding(len(data)))
        if listed:
            digest = blake3.blake3(data, max_threads=1).hexdigest()
            self.entries.append(FileEntry(path, len(data), digest))

    def add_file(self, path: str, source_fd: int, shown: Path) -> None:
        info = os.fstat(source_fd)
        if not stat.S_ISREG(info.st_mode):
            raise InvalidArgument(f"cannot package {shown}: it is not a regular file")
        size = info.st_size
        align = DATA_ALIGNMENT if size >= KERNEL_COPY_MIN else 0
        self.write(member_header(path, size, offset=self.offset, align=align))
        hasher = blake3.blake3(max_threads=1)
        copied = None
        if size >= KERNEL_COPY_MIN and hasattr(os, "copy_file_range"):
            copied = _copy_in_kernel(source_fd, self.fd, self.offset, size, hasher)
        if copied is None:
            copied = _copy_in_user_space(source_fd, self.fd, self.offset, size, hasher)
        if copied != size or os.pread(source_fd, 1, size) or os.fstat(source_fd).st_size != size:
            raise Conflict(f"{shown} changed size while it was being packaged: try again")
        self.offset += size
        self.write(padding(size))
        self.entries.append(FileEntry(path, size, hasher.hexdigest()))


def _copy_in_user_space(source_fd: int, out_fd: int, base: int, size: int, hasher: Any) -> int:
    """Read, hash and write ``size`` bytes; returns the count read (short if it shrank)."""
    view = memoryview(bytearray(min(CHUNK_SIZE, max(size, 1))))
    done = 0
    while done < size:
        got = os.preadv(source_fd, [view[: min(len(view), size - done)]], done)
        if not got:
            break
        hasher.update(view[:got])
        chunk = view[:got]
        while chunk:
            chunk = chunk[os.pwrite(out_fd, chunk, base + done + got - len(chunk)) :]
        done += got
    return done


def _copy_in_kernel(source_fd: int, out_fd: int, base: int, size: int, hasher: Any) -> int | None:
    """Copy in a helper thread, hash what landed; None if the kernel cannot copy here."""
    return copy_hashed(
        source_fd, out_fd, hasher, None, dest_offset=base, size=size, chunk_size=CHUNK_SIZE
    )


def _write(
    root_fd: int,
    source_dir: Path,
    files: list[tuple[str, ...]],
    documents: tuple[bytes, bytes],
    signing_key: Ed25519PrivateKey,
    output: Path,
    overwrite: bool,
    durable: bool,
) -> PackageInfo:
    metadata_bytes, lock_bytes = documents
    temp = output.with_name(f".{output.name}.{secrets.token_hex(8)}.tmp")
    fd = os.open(temp, os.O_RDWR | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, 0o666)
    try:
        writer = _ArchiveWriter(fd)
        writer.add_bytes(METADATA_NAME, metadata_bytes)
        writer.add_bytes(LOCK_NAME, lock_bytes)
        for parts in files:
            shown = source_dir.joinpath(*parts)
            try:
                source_fd = _open_beneath(root_fd, parts)
            except FileNotFoundError:
                raise Conflict(
                    f"{'/'.join(parts)} disappeared while packaging: try again"
                ) from None
            except OSError as exc:
                if exc.errno == errno.ELOOP:
                    raise InvalidArgument(f"{'/'.join(parts)} became a symbolic link") from None
                raise
            try:
                writer.add_file("/".join((MODEL_DIR, *parts)), source_fd, shown)
            finally:
                os.close(source_fd)
        manifest_bytes = encode_manifest(writer.entries)
        writer.add_bytes(MANIFEST_NAME, manifest_bytes, listed=False)
        writer.add_bytes(SIGNATURE_NAME, sign_manifest(manifest_bytes, signing_key), listed=False)
        writer.write(end_of_archive(writer.offset))
        if durable:
            os.fsync(fd)
        os.close(fd)
        fd = -1
        _publish(temp, output, overwrite, durable)
    except BaseException:
        if fd >= 0:
            os.close(fd)
        with contextlib.suppress(FileNotFoundError):
            temp.unlink()
        raise
    return PackageInfo(
        path=output,
        metadata=parse_metadata(metadata_bytes),
        requirements=parse_lock(lock_bytes),
        files=tuple(sorted(writer.entries, key=lambda e: e.path)),
        key_id=public_key_id(signing_key.public_key()),
        archive_size=writer.offset,
        verified=True,
    )


def _publish(temp: Path, output: Path, overwrite: bool, durable: bool) -> None:
    """Rename ``temp`` to ``output``; without ``overwrite`` never replace an existing file."""
    if overwrite:
        os.replace(temp, output)
    else:
        try:
            os.link(temp, output)  # fails instead of replacing a file that appeared meanwhile
        except FileExistsError:
            raise AlreadyExists(f"{output} appeared while building: choose another name") from None
        except OSError as exc:
            if exc.errno not in (errno.EPERM, errno.EOPNOTSUPP, errno.ENOSYS):
                raise
            os.replace(temp, output)  # a filesystem without hard links
        else:
            temp.unlink()
    if durable:
        dir_fd = os.open(output.parent, os.O_RDONLY | os.O_DIRECTORY)
        try:
            os.fsync(dir_fd)
        finally:
            os.close(dir_fd)
