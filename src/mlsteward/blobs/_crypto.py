"""Encryption at rest: the chunked AES-256-GCM object format and wrapped data keys.

Object format: a 12-byte header (magic ``MLSBLOB1``, chunk size as a big-endian uint32) then
chunks. Every chunk but the last holds exactly ``chunk_size`` plaintext bytes; the last holds
fewer (possibly zero), so an object always ends with one short "final" chunk. Each chunk is
AES-256-GCM with the object's own data key, nonce = 8-byte chunk index + 4-byte final flag, and
the header as associated data: truncation, reordering, swapping chunks, extending the object or
editing the header all fail authentication.
"""

from __future__ import annotations

import base64
import binascii
import json
import os
import struct
from typing import Any

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from ..errors import DecryptionFailed, IntegrityError
from ._keyring import KEY_BYTES, Keyring

MAGIC = b"MLSBLOB1"
HEADER = struct.Struct(">8sI")
HEADER_SIZE = HEADER.size
TAG_SIZE = 16
NONCE_SIZE = 12
DEFAULT_CHUNK_SIZE = 2 * 1024 * 1024
"""Plaintext bytes per chunk. AES-GCM measured fastest at 1-2 MiB (larger chunks fall out of
the CPU caches); any size up to ``MAX_CHUNK_SIZE`` can be read, the header records it."""
MAX_CHUNK_SIZE = 64 * 1024 * 1024

SIDECAR_TYPE = "mlsteward.wrapped_key"
SIDECAR_SCHEMA_VERSION = 1
_WRAP_AAD_PREFIX = b"mlsteward.wrapped_key/v1\x00"


def chunk_nonce(index: int, *, final: bool) -> bytes:
    """The deterministic nonce of chunk ``index``: unique per data key, marks the last chunk."""
    return index.to_bytes(8, "big") + (b"\x00\x00\x00\x01" if final else b"\x00\x00\x00\x00")


def new_data_key() -> bytes:
    """A fresh random 256-bit data key (one per object)."""
    return os.urandom(KEY_BYTES)


def encode_header(chunk_size: int) -> bytes:
    """The object header for ``chunk_size``."""
    return HEADER.pack(MAGIC, chunk_size)


def decode_header(header: bytes, address: str) -> int:
    """Check an object header and return its chunk size; ``IntegrityError`` if malformed."""
    if len(header) != HEADER_SIZE:
        raise IntegrityError(f"blob {address} is truncated: no complete encryption header")
    magic, chunk_size = HEADER.unpack(header)
    if magic != MAGIC:
        raise DecryptionFailed(
            f"blob {address} is not an encrypted mlsteward object (bad magic): it was stored "
            "without encryption or has been tampered with",
            details={"address": address},
        )
    if not 0 < chunk_size <= MAX_CHUNK_SIZE:
        raise IntegrityError(f"blob {address} has an invalid chunk size {chunk_size}")
    return int(chunk_size)


def plaintext_size(stored_size: int, chunk_size: int, address: str) -> int:
    """Plaintext length of an encrypted object of ``stored_size`` bytes."""
    body = stored_size - HEADER_SIZE
    full, rest = divmod(body, chunk_size + TAG_SIZE)
    if body < TAG_SIZE or rest < TAG_SIZE:
        raise IntegrityError(f"blob {address} is truncated (stored size {stored_size})")
    return full * chunk_size + rest - TAG_SIZE


class ChunkCipher:
    """Encrypts or decrypts the chunks of one object, in order."""

    def __init__(self, data_key: bytes, chunk_size: int) -> None:
        self._aead = AESGCM(data_key)
        self.chunk_size = chunk_size
        self.header = encode_header(chunk_size)
        self._index = 0
        self.finished = False

    def encrypt_into(self, chunk: memoryview, out: memoryview, *, final: bool) -> None:
        """Encrypt the next chunk into ``out`` (exactly ``len(chunk) + TAG_SIZE`` bytes).

        A non-final chunk must hold exactly ``chunk_size`` bytes.
        """
        if self.finished:
            raise RuntimeError("the final chunk was already encrypted")
        if not final and len(chunk) != self.chunk_size:
            raise ValueError("only the final chunk may be shorter than the chunk size")
        nonce = chunk_nonce(self._index, final=final)
        self._index += 1
        self.finished = final
        self._aead.encrypt_into(nonce, chunk, self.header, out)

    def decrypt_into(
        self, sealed: memoryview, out: memoryview, *, final: bool, address: str
    ) -> None:
        """Authenticate and decrypt the next chunk into ``out`` (``len(sealed) - TAG_SIZE``).

        Raises ``DecryptionFailed`` if the chunk was tampered with, moved or truncated.
        """
        nonce = chunk_nonce(self._index, final=final)
        try:
            self._aead.decrypt_into(nonce, sealed, self.header, out)
        except InvalidTag:
            raise DecryptionFailed(
                f"blob {address} failed authentication at chunk {self._index}: the object was "
                "tampered with or truncated",
                details={"address": address, "chunk": self._index},
            ) from None
        self._index += 1
        self.finished = final


def _wrap_aad(address: str, key_id: str) -> bytes:
    return _WRAP_AAD_PREFIX + address.encode("ascii") + b"\x00" + key_id.encode("ascii")


def wrap_data_key(keyring: Keyring, address: str, data_key: bytes) -> bytes:
    """The sidecar JSON holding ``data_key`` wrapped under the keyring's active master key.

    The associated data binds the wrapped key to ``address`` and the key id, so a sidecar
    copied to another object or relabelled with another key id fails to unwrap.
    """
    key_id = keyring.active_key_id
    nonce = os.urandom(NONCE_SIZE)
    wrapped = AESGCM(keyring.master_key(key_id)).encrypt(
        nonce, data_key, _wrap_aad(address, key_id)
    )
    doc = {
        "type": SIDECAR_TYPE,
        "schema_version": SIDECAR_SCHEMA_VERSION,
        "key_id": key_id,
        "nonce": base64.b64encode(nonce).decode("ascii"),
        "wrapped": base64.b64encode(wrapped).decode("ascii"),
    }
    return json.dumps(doc, sort_keys=True).encode("utf-8")


def parse_sidecar(raw: bytes, address: str) -> dict[str, Any]:
    """Parse and check a sidecar; ``IntegrityError`` if it is not a wrapped-key document."""
    try:
        doc = json.loads(raw)
    except (UnicodeDecodeError, json.JSONDecodeError):
        doc = None
    if (
        not isinstance(doc, dict)
        or doc.get("type") != SIDECAR_TYPE
        or not isinstance(doc.get("key_id"), str)
        or not isinstance(doc.get("nonce"), str)
        or not isinstance(doc.get("wrapped"), str)
    ):
        raise IntegrityError(
            f"the wrapped data key of blob {address} is malformed", details={"address": address}
        )
    if doc.get("schema_version") != SIDECAR_SCHEMA_VERSION:
        raise IntegrityError(
            f"the wrapped data key of blob {address} has schema_version "
            f"{doc.get('schema_version')!r}; this release reads {SIDECAR_SCHEMA_VERSION}"
        )
    return doc


def unwrap_data_key(keyring: Keyring, address: str, raw: bytes) -> tuple[str, bytes]:
    """Return ``(key_id, data_key)`` from a sidecar; ``DecryptionFailed`` if it won't unwrap."""
    doc = parse_sidecar(raw, address)
    key_id: str = doc["key_id"]
    master = keyring.master_key(key_id)
    try:
        nonce = base64.b64decode(doc["nonce"], validate=True)
        wrapped = base64.b64decode(doc["wrapped"], validate=True)
        if len(nonce) != NONCE_SIZE:
            raise ValueError("bad nonce length")
        data_key = AESGCM(master).decrypt(nonce, wrapped, _wrap_aad(address, key_id))
    except (InvalidTag, binascii.Error, ValueError):
        raise DecryptionFailed(
            f"cannot unwrap the data key of blob {address} with master key {key_id!r}: the "
            "master key is wrong (a different keyring with a clashing id) or the wrapped key "
            "was tampered with or belongs to another object",
            details={"address": address, "key_id": key_id},
        ) from None
    if len(data_key) != KEY_BYTES:
        raise DecryptionFailed(f"the data key of blob {address} has the wrong length")
    return key_id, data_key
