"""The documents inside a package: layout, portable paths, manifest, metadata, requirements.

Every document carries a type tag and a ``schema_version``. Readers take untrusted bytes:
each document has a size limit checked before it is read, JSON with duplicate keys or in a
non-canonical form is refused, and YAML is only ever loaded with the safe loader.
"""

from __future__ import annotations

import json
import re
import unicodedata
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from .._wire import canonical_json
from ..errors import InvalidArgument

METADATA_NAME = "mlsteward.yaml"
LOCK_NAME = "requirements.lock"
MANIFEST_NAME = "MANIFEST.json"
SIGNATURE_NAME = "SIGNATURE.json"
MODEL_DIR = "model"
DOCUMENT_NAMES = (METADATA_NAME, LOCK_NAME, MANIFEST_NAME, SIGNATURE_NAME)

PACKAGE_TYPE = "mlsteward.package"
MANIFEST_TYPE = "mlsteward.manifest"
SCHEMA_VERSION = 1

MAX_DOCUMENT_BYTES = {
    METADATA_NAME: 16 * 1024 * 1024,
    LOCK_NAME: 4 * 1024 * 1024,
    MANIFEST_NAME: 64 * 1024 * 1024,
    SIGNATURE_NAME: 64 * 1024,
}
"""Documents are read into memory, so a hostile archive must not make them large."""

MAX_PATH_BYTES = 1024
MAX_COMPONENT_BYTES = 255
_NOT_PORTABLE = set('\\<>:"|?*')
_HEX64 = re.compile(r"[0-9a-f]{64}")
_LOCK_HEADER = (
    f"# {LOCK_NAME} (schema_version {SCHEMA_VERSION}): the pinned packages the model needs\n"
)
_REQUIREMENT = re.compile(
    r"[A-Za-z0-9](?:[A-Za-z0-9._-]*[A-Za-z0-9])?"  # project name (PEP 508)
    r"(?:\[[A-Za-z0-9._,\s-]*\])?"  # extras
    r"\s*===?\s*[A-Za-z0-9_.!+-]+"  # an exact pin, no wildcards
    r"(?:\s*;\s*[^\x00-\x1f\x7f]+?)?"  # environment marker
    r"(?:\s+--hash=[a-z0-9]+:[0-9a-f]+)*"
)


@dataclass(frozen=True, slots=True)
class FileEntry:
    """One file of a package: path inside the archive, size in bytes, BLAKE3 hex digest."""

    path: str
    size: int
    blake3: str


@dataclass(frozen=True, slots=True)
class PackageInfo:
    """What a package holds: its metadata, pinned requirements, files and signing key id.

    ``verified`` is False when it comes from ``inspect_package``: nothing was checked then,
    not even the signature; ``files`` is what the manifest claims.
    """

    path: Path
    metadata: dict[str, Any]
    requirements: list[str]
    files: tuple[FileEntry, ...]
    key_id: str
    archive_size: int
    verified: bool


def path_problem(path: str) -> str | None:
    """Why ``path`` is not a safe, portable archive path (None if it is).

    Refused: empty, absolute, over 1024 bytes, invalid UTF-8, control characters, ``\\`` and
    the characters Windows forbids, empty, ``.`` or ``..`` components, components over 255
    bytes.
    """
    if not path:
        return "the path is empty"
    try:
        encoded = path.encode("utf-8")
    except UnicodeEncodeError:
        return "the path is not valid UTF-8"
    if len(encoded) > MAX_PATH_BYTES:
        return f"the path is longer than {MAX_PATH_BYTES} bytes"
    if path.startswith("/"):
        return "the path is absolute"
    if any(ord(c) < 0x20 or 0x7F <= ord(c) <= 0x9F for c in path):
        return "the path contains control characters"
    if bad := sorted(_NOT_PORTABLE.intersection(path)):
        return f"the path contains {''.join(bad)!r}, which is not portable"
    for part in path.split("/"):
        if part in ("", ".", ".."):
            return f"the path has a {part or 'empty'!r} component"
        if len(part.encode("utf-8")) > MAX_COMPONENT_BYTES:
            return f"a path component is longer than {MAX_COMPONENT_BYTES} bytes"
    return None


def collision_key(path: str) -> str:
    """The form two paths share when they would be one file on macOS or Windows."""
    return unicodedata.normalize("NFC", path).casefold()


def layout_problem(path: str) -> str | None:
    """Why ``path`` has no place in a package (None for the documents and ``model/...``)."""
    if path in DOCUMENT_NAMES or path.startswith(MODEL_DIR + "/"):
        return None
    return f"{path} is outside the package layout (documents at the top, files under model/)"


def file_dir_conflicts(paths: Iterable[str]) -> list[str]:
    """Paths that are a file and also the folder of another file (cannot both be extracted)."""
    files = {collision_key(p): p for p in paths}
    folders = {key.rsplit("/", i)[0] for key in files for i in range(1, key.count("/") + 1)}
    return sorted(path for key, path in files.items() if key in folders)


def encode_manifest(entries: Sequence[FileEntry]) -> bytes:
    """The canonical ``MANIFEST.json`` bytes listing ``entries`` sorted by path."""
    return canonical_json(
        {
            "type": MANIFEST_TYPE,
            "schema_version": SCHEMA_VERSION,
            "hash": "blake3",
            "files": [
                {"path": e.path, "size": e.size, "blake3": e.blake3}
                for e in sorted(entries, key=lambda e: e.path)
            ],
        }
    )


def _no_duplicate_keys(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    result = dict(pairs)
    if len(result) != len(pairs):
        raise InvalidArgument("the JSON has duplicate keys")
    return result


def load_json_document(data: bytes, name: str) -> Any:
    """Parse a canonical JSON document; ``InvalidArgument`` for anything else."""
    try:
        document = json.loads(data.decode("utf-8"), object_pairs_hook=_no_duplicate_keys)
    except (UnicodeDecodeError, ValueError) as exc:
        raise InvalidArgument(f"{name} is not valid JSON: {exc}") from None
    if canonical_json(document) != data:
        raise InvalidArgument(f"{name} is not in canonical form (sorted keys, compact)")
    return document


def _check_header(document: Any, name: str, type_tag: str) -> None:
    if not isinstance(document, dict) or document.get("type") != type_tag:
        raise InvalidArgument(f"{name} is not a {type_tag} document")
    version = document.get("schema_version")
    if version != SCHEMA_VERSION:
        raise InvalidArgument(
            f"{name} has schema_version {version!r}; this release reads {SCHEMA_VERSION}: "
            "upgrade mlsteward to read newer packages"
        )


def decode_manifest(data: bytes) -> list[FileEntry]:
    """The entries of a ``MANIFEST.json``; ``InvalidArgument`` says what is wrong with it."""
    document = load_json_document(data, MANIFEST_NAME)
    _check_header(document, MANIFEST_NAME, MANIFEST_TYPE)
    if set(document) != {"type", "schema_version", "hash", "files"}:
        raise InvalidArgument(f"{MANIFEST_NAME} has unexpected fields")
    if document["hash"] != "blake3" or not isinstance(document["files"], list):
        raise InvalidArgument(f"{MANIFEST_NAME} must list files hashed with blake3")
    entries: list[FileEntry] = []
    for item in document["files"]:
        if not isinstance(item, dict) or set(item) != {"path", "size", "blake3"}:
            raise InvalidArgument(f"{MANIFEST_NAME} has a malformed file entry")
        path, size, digest = item["path"], item["size"], item["blake3"]
        if not isinstance(path, str) or (problem := path_problem(path)) is not None:
            raise InvalidArgument(f"{MANIFEST_NAME} lists an unsafe path {path!r}: {problem}")
        if path in (MANIFEST_NAME, SIGNATURE_NAME) or layout_problem(path) is not None:
            raise InvalidArgument(f"{MANIFEST_NAME} lists {path!r}, which it cannot cover")
        if type(size) is not int or size < 0:
            raise InvalidArgument(f"{MANIFEST_NAME} has an invalid size for {path}")
        if not isinstance(digest, str) or _HEX64.fullmatch(digest) is None:
            raise InvalidArgument(f"{MANIFEST_NAME} has an invalid BLAKE3 digest for {path}")
        if entries and entries[-1].path >= path:
            raise InvalidArgument(f"{MANIFEST_NAME} entries are not sorted and unique")
        entries.append(FileEntry(path, size, digest))
    listed = {e.path for e in entries}
    if not {METADATA_NAME, LOCK_NAME} <= listed:
        raise InvalidArgument(f"{MANIFEST_NAME} does not cover {METADATA_NAME} and {LOCK_NAME}")
    if len({collision_key(p) for p in listed}) != len(listed) or file_dir_conflicts(listed):
        raise InvalidArgument(f"{MANIFEST_NAME} lists paths that collide when extracted")
    return entries


def render_metadata(metadata: Mapping[str, Any]) -> bytes:
    """``mlsteward.yaml``: the type tag, schema_version, then ``metadata`` (string keys).

    Raises ``InvalidArgument`` when ``metadata`` uses a reserved key or holds values that
    ``yaml.safe_dump`` cannot write (objects, functions).
    """
    if not all(isinstance(key, str) for key in metadata):
        raise InvalidArgument("package metadata keys must be strings")
    if reserved := sorted({"type", "schema_version"}.intersection(metadata)):
        raise InvalidArgument(f"package metadata must not set {', '.join(reserved)}")
    document = {"type": PACKAGE_TYPE, "schema_version": SCHEMA_VERSION}
    document.update(sorted(metadata.items()))
    try:
        text: str = yaml.safe_dump(document, sort_keys=False, allow_unicode=True)
    except yaml.YAMLError as exc:
        raise InvalidArgument(
            f"package metadata must be plain data (dicts, lists, strings, numbers): {exc}"
        ) from None
    return text.encode("utf-8")


def parse_metadata(data: bytes) -> dict[str, Any]:
    """The metadata of ``mlsteward.yaml`` (without type and schema_version); safe loader only."""
    try:
        document = yaml.safe_load(data.decode("utf-8"))
    except (UnicodeDecodeError, yaml.YAMLError) as exc:
        raise InvalidArgument(f"{METADATA_NAME} is not valid YAML: {exc}") from None
    _check_header(document, METADATA_NAME, PACKAGE_TYPE)
    return {k: v for k, v in document.items() if k not in ("type", "schema_version")}


def render_lock(requirements: Sequence[str]) -> bytes:
    """``requirements.lock``: a header comment, then one pinned requirement a line.

    Each requirement must be an exact pin (``name[extras]==version``, optionally a marker
    and ``--hash`` options); raises ``InvalidArgument`` for anything else or a duplicate.
    """
    lines: list[str] = []
    for requirement in requirements:
        text = requirement.strip() if isinstance(requirement, str) else None
        if text is None or _REQUIREMENT.fullmatch(text) is None:
            raise InvalidArgument(
                f"requirement {requirement!r} is not pinned: write it as name==version"
            )
        if text in lines:
            raise InvalidArgument(f"requirement {text!r} is listed twice")
        lines.append(text)
    return (_LOCK_HEADER + "".join(line + "\n" for line in lines)).encode("utf-8")


def parse_lock(data: bytes) -> list[str]:
    """The requirements of a ``requirements.lock`` (comments and blank lines skipped)."""
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        raise InvalidArgument(f"{LOCK_NAME} is not UTF-8 text") from None
    lines = [line.strip() for line in text.splitlines()]
    return [line for line in lines if line and not line.startswith("#")]
