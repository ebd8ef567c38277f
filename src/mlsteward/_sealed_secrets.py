"""Secrets the platform must send later (webhook signing keys) as stored: AES-GCM under the
keyring's active master key, bound to what they belong to, or base64 without a keyring."""

from __future__ import annotations

import base64
import os
from typing import TYPE_CHECKING

from .errors import InvalidArgument

if TYPE_CHECKING:
    from .blobs import Keyring

__all__ = ["seal_secret", "unseal_secret"]


def seal_secret(keyring: Keyring | None, context: str, secret: str) -> str:
    """``secret`` sealed for storage; ``context`` (e.g. ``webhook:<id>``) is authenticated
    with it, so a sealed value copied to another row does not open."""
    if keyring is None:
        return "plain:" + base64.b64encode(secret.encode()).decode()
    from cryptography.hazmat.primitives.ciphers.aead import AESGCM

    key_id = keyring.active_key_id
    nonce = os.urandom(12)
    sealed = AESGCM(keyring.master_key(key_id)).encrypt(nonce, secret.encode(), context.encode())
    return f"v1:{key_id}:{base64.b64encode(nonce + sealed).decode()}"


def unseal_secret(
    keyring: Keyring | None, context: str, stored: str, *, what: str = "webhook secrets"
) -> bytes:
    """The secret ``seal_secret`` stored; ``InvalidArgument`` when it is sealed and no keyring
    is configured."""
    if stored.startswith("plain:"):
        return base64.b64decode(stored[len("plain:") :])
    _, key_id, data = stored.split(":", 2)
    if keyring is None:
        raise InvalidArgument(f"{what} are sealed: configure the keyring to send them")
    from cryptography.hazmat.primitives.ciphers.aead import AESGCM

    raw = base64.b64decode(data)
    return AESGCM(keyring.master_key(key_id)).decrypt(raw[:12], raw[12:], context.encode())
