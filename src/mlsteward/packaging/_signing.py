"""Ed25519 keys for packages: generate, identify, save and load; sign and check manifests.

A key id is the first 32 hex characters (128 bits) of the SHA-256 of the 32-byte raw public
key: anyone can recompute it with standard tools, and the audit checkpoint key id (the first
16 characters of the same digest) is a prefix of it. The signature covers the exact bytes of
``MANIFEST.json``, which carries its own type tag, so a signature over some other mlsteward
document can never pass for a package signature.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .._wire import canonical_json
from ..errors import InvalidArgument, NotFound

if TYPE_CHECKING:
    from cryptography.hazmat.primitives.asymmetric.ed25519 import (
        Ed25519PrivateKey,
        Ed25519PublicKey,
    )

SIGNATURE_TYPE = "mlsteward.signature"
SIGNATURE_SCHEMA_VERSION = 1
ALGORITHM = "ed25519"
KEY_ID_LENGTH = 32
_SIGNATURE_BYTES = 64
_RAW_KEY_BYTES = 32


def generate_signing_key() -> Ed25519PrivateKey:
    """A new random Ed25519 private key (keep it secret; share ``public_key_id``)."""
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    return Ed25519PrivateKey.generate()


def public_key_id(public_key: Ed25519PublicKey) -> str:
    """The key id: first 32 hex characters of SHA-256 over the raw 32-byte public key."""
    return hashlib.sha256(public_key_bytes(public_key)).hexdigest()[:KEY_ID_LENGTH]


def public_key_bytes(public_key: Ed25519PublicKey) -> bytes:
    """The raw 32-byte form of ``public_key``."""
    from cryptography.hazmat.primitives import serialization

    return public_key.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)


def private_key_to_pem(key: Ed25519PrivateKey, *, password: bytes | None = None) -> bytes:
    """PKCS#8 PEM of ``key``, encrypted with ``password`` (best available scheme) if given."""
    from cryptography.hazmat.primitives import serialization

    encryption: serialization.KeySerializationEncryption = (
        serialization.NoEncryption()
        if password is None
        else serialization.BestAvailableEncryption(password)
    )
    return key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, encryption
    )


def private_key_from_pem(data: bytes, *, password: bytes | None = None) -> Ed25519PrivateKey:
    """Load a PKCS#8 PEM private key; raises ``InvalidArgument`` if it is not Ed25519, is
    malformed, or the password is wrong or missing."""
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    try:
        key = serialization.load_pem_private_key(data, password=password)
    except (ValueError, TypeError) as exc:
        raise InvalidArgument(
            f"cannot load the private key: {exc} (a PKCS#8 PEM Ed25519 key is expected; "
            "pass its password if it is encrypted)"
        ) from None
    if not isinstance(key, Ed25519PrivateKey):
        raise InvalidArgument(
            f"the private key is {type(key).__name__}, not Ed25519: "
            "create one with generate_signing_key()"
        )
    return key


def save_private_key(key: Ed25519PrivateKey, path: Path, *, password: bytes | None = None) -> None:
    """Write ``key`` as PKCS#8 PEM to a new file created with mode 0600.

    Raises ``FileExistsError`` rather than replace an existing key.
    """
    import os

    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as handle:
        handle.write(private_key_to_pem(key, password=password))


def load_private_key(path: Path, *, password: bytes | None = None) -> Ed25519PrivateKey:
    """Read a PEM private key file; ``NotFound`` if missing, ``InvalidArgument`` if unusable."""
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        raise NotFound(f"private key file {path} does not exist") from None
    return private_key_from_pem(data, password=password)


def public_key_to_pem(public_key: Ed25519PublicKey) -> bytes:
    """SubjectPublicKeyInfo PEM of ``public_key`` (what ``openssl pkey -pubout`` prints)."""
    from cryptography.hazmat.primitives import serialization

    return public_key.public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )


def load_public_key(data: bytes) -> Ed25519PublicKey:
    """A public key from PEM, or from its raw 32 bytes; ``InvalidArgument`` otherwise."""
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

    if len(data) == _RAW_KEY_BYTES:
        return Ed25519PublicKey.from_public_bytes(data)
    try:
        key = serialization.load_pem_public_key(data)
    except (ValueError, TypeError) as exc:
        raise InvalidArgument(
            f"cannot load the public key: {exc} (PEM or 32 raw bytes are expected)"
        ) from None
    if not isinstance(key, Ed25519PublicKey):
        raise InvalidArgument(f"the public key is {type(key).__name__}, not Ed25519")
    return key


def sign_manifest(manifest_bytes: bytes, key: Ed25519PrivateKey) -> bytes:
    """The canonical ``SIGNATURE.json`` bytes for ``manifest_bytes`` signed by ``key``."""
    return canonical_json(
        {
            "type": SIGNATURE_TYPE,
            "schema_version": SIGNATURE_SCHEMA_VERSION,
            "algorithm": ALGORITHM,
            "key_id": public_key_id(key.public_key()),
            "signature": base64.b64encode(key.sign(manifest_bytes)).decode("ascii"),
        }
    )


def check_signature(
    manifest_bytes: bytes,
    document: Any,
    trusted_keys: Mapping[str, Ed25519PublicKey],
) -> tuple[str | None, str | None, bool]:
    """Check a parsed ``SIGNATURE.json`` against the manifest bytes and the trusted keys.

    Returns ``(key_id, problem, trusted)``: ``problem`` is None when the signature is valid
    and made by a trusted key; ``trusted`` is False when the failure is an unknown key id
    (a key may be trusted under any name: the id is recomputed from the key itself).
    """
    from cryptography.exceptions import InvalidSignature

    if not isinstance(document, dict):
        return None, "SIGNATURE.json is not a JSON object", True
    if document.get("type") != SIGNATURE_TYPE:
        return (
            None,
            f"SIGNATURE.json type is {document.get('type')!r}, not {SIGNATURE_TYPE!r}",
            True,
        )
    if document.get("schema_version") != SIGNATURE_SCHEMA_VERSION:
        return (
            None,
            f"SIGNATURE.json schema_version {document.get('schema_version')!r} is not "
            f"supported (this release reads {SIGNATURE_SCHEMA_VERSION}): upgrade mlsteward",
            True,
        )
    if document.get("algorithm") != ALGORITHM:
        return None, f"signature algorithm {document.get('algorithm')!r} is not ed25519", True
    key_id = document.get("key_id")
    if not isinstance(key_id, str) or len(key_id) != KEY_ID_LENGTH:
        return None, "SIGNATURE.json has no valid key_id", True
    by_id = {public_key_id(key): key for key in trusted_keys.values()}
    public_key = by_id.get(key_id)
    if public_key is None:
        return (
            key_id,
            f"the package is signed by key {key_id}, which is not trusted: add its public "
            "key to the trusted keys only if you know who owns it",
            False,
        )
    try:
        signature = base64.b64decode(str(document.get("signature", "")), validate=True)
    except (binascii.Error, ValueError):
        return key_id, "the signature is not valid base64", True
    if len(signature) != _SIGNATURE_BYTES:
        return key_id, "the signature has the wrong length", True
    try:
        public_key.verify(signature, manifest_bytes)
    except InvalidSignature:
        return (
            key_id,
            f"the signature by key {key_id} does not match MANIFEST.json: the manifest "
            "was changed after signing",
            True,
        )
    return key_id, None, True
