"""Reading packages: verify every byte and the signature, inspect cheaply, extract safely.

Nothing here extracts members to check them: headers are parsed in place and member data is
read at its offset in 2 MiB pieces, so a hostile archive cannot write anywhere and a 500 MB
model needs 2 MiB of memory. Verification collects every problem instead of stopping at the
first one, so a report says at once what changed, what is missing and what was added.
"""

from __future__ import annotations

import contextlib
import enum
import os
import secrets
import shutil
import stat
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

import blake3

from ..errors import AlreadyExists, IntegrityError, InvalidArgument, NotFound
from ._manifest import (
    LOCK_NAME,
    MANIFEST_NAME,
    MAX_DOCUMENT_BYTES,
    METADATA_NAME,
    SIGNATURE_NAME,
    FileEntry,
    PackageInfo,
    collision_key,
    decode_manifest,
    file_dir_conflicts,
    load_json_document,
    parse_lock,
    parse_metadata,
    path_problem,
)
from ._signing import check_signature
from ._tar import Member, read_members

if TYPE_CHECKING:
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

CHUNK_SIZE = 2 * 1024 * 1024


class ProblemKind(enum.StrEnum):
    """What kind of thing is wrong with a package (stable strings, part of the API)."""

    MALFORMED = "malformed"
    UNSAFE_MEMBER = "unsafe_member"
    DUPLICATE = "duplicate"
    INVALID_DOCUMENT = "invalid_document"
    UNTRUSTED_KEY = "untrusted_key"
    BAD_SIGNATURE = "bad_signature"
    CHANGED = "changed"
    MISSING = "missing"
    ADDED = "added"


@dataclass(frozen=True, slots=True)
class Problem:
    """One finding of ``verify_package``; ``path`` is the member it concerns, if any."""

    kind: ProblemKind
    message: str
    path: str | None = None


@dataclass(frozen=True, slots=True)
class VerifyReport:
    """Everything ``verify_package`` found; ``ok`` only when nothing at all is wrong."""

    path: Path
    key_id: str | None
    problems: tuple[Problem, ...]
    files_checked: int
    bytes_checked: int

    @property
    def ok(self) -> bool:
        """True when the package is intact and signed by a trusted key."""
        return not self.problems

    def paths(self, kind: ProblemKind) -> list[str]:
        """The member paths with a problem of ``kind`` (e.g. ``ProblemKind.CHANGED``)."""
        return [p.path for p in self.problems if p.kind is kind and p.path is not None]

    def raise_for_problems(self) -> None:
        """Raise ``IntegrityError`` listing every problem, unless the report is ok."""
        if self.ok:
            return
        lines = "; ".join(p.message for p in self.problems[:10])
        more = len(self.problems) - 10
        raise IntegrityError(
            f"package {self.path} failed verification: {lines}"
            + (f"; and {more} more problems" if more > 0 else "")
            + ". Do not deploy it: rebuild it or get it again from its publisher",
            details={
                "path": str(self.path),
                "key_id": self.key_id,
                "problems": [
                    {"kind": str(p.kind), "path": p.path, "message": p.message}
                    for p in self.problems
                ],
            },
        )


@dataclass
class _Scan:
    """The members of an open archive, split into usable ones and problems."""

    fd: int
    size: int
    members: dict[str, Member] = field(default_factory=dict)
    problems: list[Problem] = field(default_factory=list)


def _open(path: Path) -> tuple[int, int]:
    try:
        fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
    except FileNotFoundError:
        raise NotFound(f"package {path} does not exist") from None
    except IsADirectoryError:
        raise InvalidArgument(f"{path} is a folder, not a package archive") from None
    info = os.fstat(fd)
    if not stat.S_ISREG(info.st_mode):
        os.close(fd)
        what = "a folder" if stat.S_ISDIR(info.st_mode) else "not a regular file"
        raise InvalidArgument(f"{path} is {what}, not a package archive")
    return fd, info.st_size


def _scan(fd: int, size: int) -> _Scan:
    """Parse the headers; keep the safe, unique regular files; record every other member."""
    scan = _Scan(fd, size)
    try:
        members = read_members(fd, size)
    except InvalidArgument as exc:
        scan.problems.append(Problem(ProblemKind.MALFORMED, exc.message))
        return scan
    keys: dict[str, str] = {}
    for member in members:
        shown = member.raw_path
        problem = "its name is not valid UTF-8" if member.path is None else path_problem(shown)
        if member.kind != "file":
            problem = f"it is a {member.kind}; packages hold regular files only"
        if problem is not None:
            message = f"member {shown!r} is refused: {problem}"
            scan.problems.append(Problem(ProblemKind.UNSAFE_MEMBER, message, shown))
            continue
        key = collision_key(shown)
        if key in keys:
            message = f"member {shown!r} appears more than once (or collides with {keys[key]!r})"
            scan.problems.append(Problem(ProblemKind.DUPLICATE, message, shown))
            continue
        keys[key] = shown
        scan.members[shown] = member
    for path in file_dir_conflicts(scan.members):
        message = f"member {path!r} is both a file and the folder of another member"
        scan.problems.append(Problem(ProblemKind.UNSAFE_MEMBER, message, path))
    return scan


def _document(scan: _Scan, name: str) -> bytes:
    """The bytes of a small document member; ``InvalidArgument`` if absent or too large."""
    member = scan.members.get(name)
    if member is None:
        raise InvalidArgument(f"the package has no {name}")
    if member.size > MAX_DOCUMENT_BYTES[name]:
        raise InvalidArgument(f"{name} is larger than {MAX_DOCUMENT_BYTES[name]} bytes")
    return os.pread(scan.fd, member.size, member.offset)


def _hash_member(scan: _Scan, member: Member, view: memoryview, sink: int | None) -> str:
    """BLAKE3 of a member's data, read in place (and written to ``sink`` when given)."""
    hasher = blake3.blake3(max_threads=1)
    done = 0
    while done < member.size:
        piece = view[: min(len(view), member.size - done)]
        got = os.preadv(scan.fd, [piece], member.offset + done)
        if not got:
            raise IntegrityError(f"{member.raw_path} was cut short while it was read")
        hasher.update(piece[:got])
        if sink is not None:
            out = piece[:got]
            while out:
                out = out[os.write(sink, out) :]
        done += got
    return str(hasher.hexdigest())


def _check(
    path: Path, trusted_keys: Mapping[str, Ed25519PublicKey], extract_to: Path | None
) -> tuple[VerifyReport, PackageInfo | None]:
    """Verify ``path``; copy verified members under ``extract_to`` when the signature holds."""
    fd, size = _open(path)
    try:
        scan = _scan(fd, size)
        problems = scan.problems
        key_id: str | None = None
        entries: list[FileEntry] | None = None
        checked = checked_bytes = 0
        if any(p.kind is ProblemKind.MALFORMED for p in problems):
            return VerifyReport(path, None, tuple(problems), 0, 0), None
        try:
            manifest_bytes = _document(scan, MANIFEST_NAME)
            entries = decode_manifest(manifest_bytes)
        except InvalidArgument as exc:
            problems.append(Problem(ProblemKind.INVALID_DOCUMENT, exc.message, MANIFEST_NAME))
        signed = False
        try:
            signature = load_json_document(_document(scan, SIGNATURE_NAME), SIGNATURE_NAME)
        except InvalidArgument as exc:
            problems.append(Problem(ProblemKind.INVALID_DOCUMENT, exc.message, SIGNATURE_NAME))
        else:
            if entries is not None:
                key_id, message, trusted = check_signature(manifest_bytes, signature, trusted_keys)
                if message is not None:
                    kind = ProblemKind.BAD_SIGNATURE if trusted else ProblemKind.UNTRUSTED_KEY
                    problems.append(Problem(kind, message, SIGNATURE_NAME))
                signed = message is None
        info: PackageInfo | None = None
        try:
            metadata = parse_metadata(_document(scan, METADATA_NAME))
            requirements = parse_lock(_document(scan, LOCK_NAME))
        except InvalidArgument as exc:
            problems.append(Problem(ProblemKind.INVALID_DOCUMENT, exc.message))
        else:
            if entries is not None and key_id is not None:
                files = tuple(entries)
                info = PackageInfo(path, metadata, requirements, files, key_id, size, True)
        if entries is None:
            return VerifyReport(path, key_id, tuple(problems), 0, 0), None
        sink_root = extract_to if signed and not problems else None
        view = memoryview(bytearray(CHUNK_SIZE))
        for entry in entries:
            member = scan.members.get(entry.path)
            if member is None:
                message = f"{entry.path} is missing from the archive"
                problems.append(Problem(ProblemKind.MISSING, message, entry.path))
                continue
            if member.size != entry.size:
                message = f"{entry.path} changed: {member.size} bytes, signed as {entry.size}"
                problems.append(Problem(ProblemKind.CHANGED, message, entry.path))
                continue
            sink = _create(sink_root, entry.path) if sink_root is not None else None
            try:
                digest = _hash_member(scan, member, view, sink)
            finally:
                if sink is not None:
                    os.close(sink)
            checked += 1
            checked_bytes += member.size
            if digest != entry.blake3:
                message = f"{entry.path} changed: its BLAKE3 does not match the manifest"
                problems.append(Problem(ProblemKind.CHANGED, message, entry.path))
        listed = {e.path for e in entries} | {MANIFEST_NAME, SIGNATURE_NAME}
        for name in sorted(set(scan.members) - listed):
            message = f"{name} was added: the manifest does not list it"
            problems.append(Problem(ProblemKind.ADDED, message, name))
        if sink_root is not None and not problems:
            for name in (MANIFEST_NAME, SIGNATURE_NAME):
                member = scan.members[name]
                sink = _create(sink_root, name)
                try:
                    _hash_member(scan, member, view, sink)
                finally:
                    os.close(sink)
        report = VerifyReport(path, key_id, tuple(problems), checked, checked_bytes)
        return report, info if report.ok else None
    finally:
        os.close(fd)


def _create(root: Path, member_path: str) -> int:
    """Create a new file for a checked member path under our own fresh folder."""
    target = root.joinpath(*member_path.split("/"))
    target.parent.mkdir(parents=True, exist_ok=True)
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC
    return os.open(target, flags, 0o644)


def verify_package(path: Path, *, trusted_keys: Mapping[str, Ed25519PublicKey]) -> VerifyReport:
    """Check a package completely and report every problem found.

    In order: the archive is a well-formed tar of regular files with safe, unique names;
    ``MANIFEST.json`` has the right type and version; ``SIGNATURE.json`` is a valid
    signature of it by one of ``trusted_keys`` (matched by key id, whatever the mapping's
    names); every listed file is present with the listed size and BLAKE3; nothing else is
    there. Reads each byte once, in place, with bounded memory. Raises only ``NotFound`` and
    ``InvalidArgument`` (``path`` is not a file); call ``raise_for_problems`` to raise.
    """
    report, _ = _check(Path(path), trusted_keys, None)
    return report


def inspect_package(path: Path) -> PackageInfo:
    """What a package says it holds: metadata, requirements, files, signing key id.

    Reads the headers and the small documents only, never the model bytes, and verifies
    nothing (``verified`` is False): the signature, sizes and hashes are unchecked claims
    until ``verify_package`` confirms them. Raises ``NotFound``, or ``InvalidArgument`` when
    the archive or one of its documents cannot be read.
    """
    path = Path(path)
    fd, size = _open(path)
    try:
        scan = _scan(fd, size)
        if malformed := [p for p in scan.problems if p.kind is ProblemKind.MALFORMED]:
            raise InvalidArgument(malformed[0].message)
        entries = decode_manifest(_document(scan, MANIFEST_NAME))
        signature = load_json_document(_document(scan, SIGNATURE_NAME), SIGNATURE_NAME)
        key_id = signature.get("key_id") if isinstance(signature, dict) else None
        if not isinstance(key_id, str):
            raise InvalidArgument(f"{SIGNATURE_NAME} names no key id")
        metadata = parse_metadata(_document(scan, METADATA_NAME))
        requirements = parse_lock(_document(scan, LOCK_NAME))
    finally:
        os.close(fd)
    return PackageInfo(path, metadata, requirements, tuple(entries), key_id, size, False)


def extract_package(
    path: Path, dest: Path, *, trusted_keys: Mapping[str, Ed25519PublicKey]
) -> PackageInfo:
    """Verify a package and unpack it into the new folder ``dest``.

    Files are written into a private temporary folder next to ``dest`` while they are
    hashed; only when the whole package verifies is that folder renamed to ``dest``, so
    nothing is published from a bad package and nothing outside ``dest`` is ever written.
    Raises ``IntegrityError`` (with every problem in ``details``), ``AlreadyExists`` if
    ``dest`` exists and is not an empty folder, ``NotFound`` for a missing package or
    parent folder of ``dest``.
    """
    path, dest = Path(path), Path(dest)
    if not dest.parent.is_dir():
        raise NotFound(f"the folder {dest.parent} does not exist")
    if dest.is_symlink() or (dest.exists() and (not dest.is_dir() or any(dest.iterdir()))):
        raise AlreadyExists(f"{dest} exists: extract into a new or empty folder")
    staging = dest.with_name(f".{dest.name}.{secrets.token_hex(8)}.tmp")
    staging.mkdir(mode=0o700)
    try:
        report, info = _check(path, trusted_keys, staging)
        report.raise_for_problems()
        assert info is not None  # an ok report comes with the package info
        staging.chmod(0o755)
        try:
            os.rename(staging, dest)  # replaces an empty folder, never a non-empty one
        except OSError:
            raise AlreadyExists(f"{dest} was created meanwhile: extract elsewhere") from None
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            shutil.rmtree(staging)
        raise
    return info
