"""Signing keys on this machine: Ed25519 private keys as PEM files under the home folder.

Each key is ``<home>/signing-keys/<name>.pem``, created with mode 0600 in a folder of mode
0700, optionally encrypted with a password. Key names are plain words, so a name can never
point outside the folder. Private keys never enter the database; their public halves are
trusted there (see ``_trust``).
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from ..errors import AlreadyExists, InvalidArgument, NotFound
from ._signing import (
    generate_signing_key,
    load_private_key,
    public_key_id,
    public_key_to_pem,
    save_private_key,
)

if TYPE_CHECKING:
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

KEYS_DIR = "signing-keys"
KEY_SUFFIX = ".pem"
_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,63}")


@dataclass(frozen=True, slots=True)
class LocalSigningKey:
    """A private signing key file on this machine; ``key_id`` is None when it is encrypted
    and no password was given to read it."""

    name: str
    path: Path
    key_id: str | None
    encrypted: bool


def check_key_name(name: object) -> str:
    """``name`` if it is 1-64 letters, digits, ``.``, ``_`` or ``-`` (not starting with a
    symbol), else ``InvalidArgument``."""
    if not isinstance(name, str) or _NAME.fullmatch(name) is None or ".." in name:
        raise InvalidArgument(
            f"{str(name)[:80]!r} is not a key name: use 1-64 letters, digits, '.', '_' or '-', "
            "starting with a letter or digit"
        )
    return name


def signing_keys_dir(home: Path) -> Path:
    """The folder that holds the private signing keys of this home."""
    return Path(home) / KEYS_DIR


def signing_key_path(home: Path, name: str) -> Path:
    """Where the private key ``name`` lives (the name is checked first)."""
    return signing_keys_dir(home) / f"{check_key_name(name)}{KEY_SUFFIX}"


def create_signing_key(
    home: Path, name: str, *, password: bytes | None = None
) -> tuple[LocalSigningKey, Ed25519PrivateKey]:
    """Generate a key and save it as ``<home>/signing-keys/<name>.pem`` (mode 0600).

    Raises ``AlreadyExists`` rather than replace a key, ``InvalidArgument`` for a bad name
    or an empty password.
    """
    path = signing_key_path(home, name)
    if password is not None and not password:
        raise InvalidArgument("the key password must not be empty")
    folder = path.parent
    folder.mkdir(mode=0o700, parents=True, exist_ok=True)
    key = generate_signing_key()
    try:
        save_private_key(key, path, password=password)
    except FileExistsError:
        raise AlreadyExists(
            f"a signing key named {name!r} exists ({path}): choose another name"
        ) from None
    local = LocalSigningKey(name, path, public_key_id(key.public_key()), password is not None)
    return local, key


def load_signing_key(home: Path, name: str, *, password: bytes | None = None) -> Ed25519PrivateKey:
    """The private key ``name``; ``NotFound`` naming the command that creates it,
    ``InvalidArgument`` for a wrong or missing password."""
    path = signing_key_path(home, name)
    if not path.is_file():
        raise NotFound(
            f"no signing key named {name!r} in {path.parent}: create it with "
            f"`mlsteward keys signing generate {name}`"
        )
    if os.name == "posix" and path.stat().st_mode & 0o077:
        raise InvalidArgument(
            f"{path} can be read by other users: run chmod 600 {path} before signing with it"
        )
    return load_private_key(path, password=password)


def list_signing_keys(home: Path, *, password: bytes | None = None) -> list[LocalSigningKey]:
    """Every private key file of this home, by name; encrypted keys show their id only
    when ``password`` opens them."""
    folder = signing_keys_dir(home)
    if not folder.is_dir():
        return []
    found: list[LocalSigningKey] = []
    for path in sorted(folder.glob(f"*{KEY_SUFFIX}")):
        name = path.name[: -len(KEY_SUFFIX)]
        if _NAME.fullmatch(name) is None or not path.is_file():
            continue
        data = path.read_bytes()
        encrypted = b"ENCRYPTED" in data.split(b"\n", 1)[0]
        key_id: str | None = None
        try:
            key = load_private_key(path, password=password if encrypted else None)
            key_id = public_key_id(key.public_key())
        except InvalidArgument:
            key_id = None
        found.append(LocalSigningKey(name, path, key_id, encrypted))
    return found


def public_key_pem(home: Path, name: str, *, password: bytes | None = None) -> bytes:
    """The SubjectPublicKeyInfo PEM of the private key ``name`` (to share and trust)."""
    return public_key_to_pem(load_signing_key(home, name, password=password).public_key())
