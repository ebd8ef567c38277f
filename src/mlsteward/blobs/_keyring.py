"""The master keyring: the address key and the AES-256 master keys that wrap data keys."""

from __future__ import annotations

import base64
import binascii
import contextlib
import json
import logging
import os
import secrets
import stat
from pathlib import Path
from typing import Any

import blake3

from ..errors import AlreadyExists, ConfigurationError, DecryptionFailed

__all__ = ["KEY_BYTES", "Keyring", "key_id_of"]

KEY_BYTES = 32
KEYRING_TYPE = "mlsteward.keyring"
KEYRING_SCHEMA_VERSION = 1
_HINT = "set MLSTEWARD_MASTER_KEY_FILE to a keyring made by `mlsteward keys generate PATH`"

logger = logging.getLogger(__name__)


def key_id_of(key: bytes) -> str:
    """The id of a master key: the first 16 hex characters of its BLAKE3 digest."""
    return blake3.blake3(key).hexdigest()[:16]


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def _unb64_key(value: Any, what: str, path: Path) -> bytes:
    if not isinstance(value, str):
        raise ConfigurationError(f"keyring {path}: {what} must be a base64 string")
    try:
        key = base64.b64decode(value, validate=True)
    except (binascii.Error, ValueError):
        raise ConfigurationError(f"keyring {path}: {what} is not valid base64") from None
    if len(key) != KEY_BYTES:
        raise ConfigurationError(
            f"keyring {path}: {what} must be {KEY_BYTES} bytes, not {len(key)}"
        )
    return key


class Keyring:
    """Master keys of an encrypted blob store, kept in one JSON file (mode 0600).

    ``address_key`` keys the BLAKE3 addresses and never changes; ``keys`` maps key ids to
    AES-256 master keys, of which ``active_key_id`` wraps new data keys. Old keys stay so that
    data keys wrapped under them can still be read (and re-wrapped by ``rotate_keys``).
    """

    def __init__(
        self,
        *,
        address_key: bytes,
        keys: dict[str, bytes],
        active_key_id: str,
        path: Path | None = None,
    ) -> None:
        if len(address_key) != KEY_BYTES:
            raise ConfigurationError(f"the address key must be {KEY_BYTES} bytes")
        for key_id, key in keys.items():
            if len(key) != KEY_BYTES or key_id_of(key) != key_id:
                raise ConfigurationError(f"keyring key {key_id!r} does not match its id")
        if active_key_id not in keys:
            raise ConfigurationError(f"active key {active_key_id!r} is not in the keyring")
        self._address_key = address_key
        self._keys = dict(keys)
        self._active = active_key_id
        self.path = path

    def __repr__(self) -> str:  # never show key material
        return f"Keyring(path={self.path!r}, active={self._active!r}, keys={sorted(self._keys)})"

    @property
    def address_key(self) -> bytes:
        """The 32-byte key of the keyed BLAKE3 addresses (stable for the life of a store)."""
        return self._address_key

    @property
    def active_key_id(self) -> str:
        """Id of the master key that wraps new data keys."""
        return self._active

    @property
    def key_ids(self) -> list[str]:
        """Ids of every master key in the keyring, sorted."""
        return sorted(self._keys)

    def master_key(self, key_id: str) -> bytes:
        """The master key with id ``key_id``; ``DecryptionFailed`` naming the id if absent."""
        try:
            return self._keys[key_id]
        except KeyError:
            where = f" ({self.path})" if self.path else ""
            raise DecryptionFailed(
                f"master key {key_id!r} is needed but is not in the keyring{where}; "
                f"the keyring holds {', '.join(self.key_ids)}: use the keyring this data was "
                "written with",
                details={"key_id": key_id, "reason": "unknown_master_key"},
            ) from None

    @classmethod
    def generate(cls, path: str | os.PathLike[str]) -> Keyring:
        """Create a new keyring file at ``path`` (mode 0600) and return it.

        Raises ``AlreadyExists`` if ``path`` exists: a keyring is never overwritten.
        """
        target = Path(path)
        key = secrets.token_bytes(KEY_BYTES)
        keyring = cls(
            address_key=secrets.token_bytes(KEY_BYTES),
            keys={key_id_of(key): key},
            active_key_id=key_id_of(key),
            path=target,
        )
        keyring._write(target, exclusive=True)
        return keyring

    @classmethod
    def load(cls, path: str | os.PathLike[str]) -> Keyring:
        """Read a keyring file; ``ConfigurationError`` if missing, unreadable or malformed.

        A file readable by group or others is loaded with a logged warning.
        """
        source = Path(path)
        try:
            raw = source.read_bytes()
            mode = source.stat().st_mode
        except FileNotFoundError:
            raise ConfigurationError(f"keyring file {source} does not exist; {_HINT}") from None
        except OSError as exc:
            raise ConfigurationError(
                f"cannot read keyring file {source}: {exc.strerror or exc}"
            ) from None
        if mode & (stat.S_IRWXG | stat.S_IRWXO):
            logger.warning(
                "keyring file %s is accessible by other users (mode %o); run chmod 600 %s",
                source,
                stat.S_IMODE(mode),
                source,
            )
        try:
            doc = json.loads(raw)
        except (UnicodeDecodeError, json.JSONDecodeError) as exc:
            raise ConfigurationError(f"keyring file {source} is not valid JSON: {exc}") from None
        if not isinstance(doc, dict) or doc.get("type") != KEYRING_TYPE:
            raise ConfigurationError(f"{source} is not an mlsteward keyring (type tag missing)")
        version = doc.get("schema_version")
        if version != KEYRING_SCHEMA_VERSION:
            raise ConfigurationError(
                f"keyring {source} has schema_version {version!r}; this release reads "
                f"version {KEYRING_SCHEMA_VERSION} (upgrade mlsteward if it is newer)"
            )
        keys_doc = doc.get("keys")
        if not isinstance(keys_doc, dict) or not keys_doc:
            raise ConfigurationError(f"keyring {source}: 'keys' must be a non-empty object")
        keys = {
            str(key_id): _unb64_key(value, f"key {key_id!r}", source)
            for key_id, value in keys_doc.items()
        }
        for key_id, key in keys.items():
            if key_id_of(key) != key_id:
                raise ConfigurationError(
                    f"keyring {source}: key {key_id!r} does not match its id (file edited?)"
                )
        active = doc.get("active")
        if not isinstance(active, str) or active not in keys:
            raise ConfigurationError(f"keyring {source}: active key {active!r} is not in 'keys'")
        return cls(
            address_key=_unb64_key(doc.get("address_key"), "address_key", source),
            keys=keys,
            active_key_id=active,
            path=source,
        )

    def rotate(self) -> str:
        """Add a new master key, make it active, save the file atomically; return its id.

        The address key does not change. Call ``BlobStore.rotate_keys()`` afterwards to re-wrap
        existing data keys under the new key. Raises ``ConfigurationError`` for an in-memory
        keyring (no ``path``).
        """
        if self.path is None:
            raise ConfigurationError("this keyring has no file to save the rotated key to")
        key = secrets.token_bytes(KEY_BYTES)
        key_id = key_id_of(key)
        keys = {**self._keys, key_id: key}
        previous_keys, previous_active = self._keys, self._active
        self._keys, self._active = keys, key_id
        try:
            self._write(self.path, exclusive=False)
        except BaseException:
            self._keys, self._active = previous_keys, previous_active
            raise
        return key_id

    def to_json(self) -> bytes:
        """The keyring file's content (contains secret key material)."""
        doc = {
            "type": KEYRING_TYPE,
            "schema_version": KEYRING_SCHEMA_VERSION,
            "address_key": _b64(self._address_key),
            "active": self._active,
            "keys": {key_id: _b64(key) for key_id, key in sorted(self._keys.items())},
        }
        return json.dumps(doc, indent=2).encode("utf-8") + b"\n"

    def _write(self, target: Path, *, exclusive: bool) -> None:
        """Write via a 0600 temp file in the same folder, then link (exclusive) or replace."""
        target.parent.mkdir(parents=True, exist_ok=True)
        temp = target.with_name(f".{target.name}.{secrets.token_hex(8)}.tmp")
        fd = os.open(temp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        try:
            with os.fdopen(fd, "wb") as out:
                out.write(self.to_json())
                out.flush()
                os.fsync(out.fileno())
            if exclusive:
                try:
                    os.link(temp, target)
                except FileExistsError:
                    raise AlreadyExists(
                        f"keyring file {target} already exists; refusing to overwrite it "
                        "(losing a keyring makes every encrypted blob unreadable)"
                    ) from None
            else:
                os.replace(temp, target)
        finally:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(temp)
        _fsync_dir(target.parent)


def _fsync_dir(folder: Path) -> None:
    with contextlib.suppress(OSError):  # not every platform can open a folder
        fd = os.open(folder, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)
