"""API keys of a standalone inference server: a file of keys, checked in constant time.

The file holds one key per line (blank lines and ``#`` comments ignored); keys of fewer than
``MIN_KEY_LENGTH`` characters are refused. Only their SHA-256 digests are kept in memory. A
request presents a key as ``Authorization: Bearer <key>`` or ``X-API-Key: <key>``; the health
endpoints need none (load balancers probe them).
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Awaitable, Callable, MutableMapping
from pathlib import Path
from typing import Any

from ..errors import ConfigurationError

MIN_KEY_LENGTH = 24
OPEN_PATHS = frozenset({"/v2/health/live", "/v2/health/ready", "/ping", "/health"})
_MAX_FILE_BYTES = 1024 * 1024


def read_api_keys(path: Path) -> frozenset[bytes]:
    """The SHA-256 digests of the keys in ``path``; ``ConfigurationError`` naming the line of
    a short key, or for a missing, unreadable, huge or empty file."""
    try:
        with open(path, "rb") as handle:
            raw = handle.read(_MAX_FILE_BYTES + 1)
    except OSError as exc:
        raise ConfigurationError(f"cannot read the API key file {path}: {exc.strerror}") from None
    if len(raw) > _MAX_FILE_BYTES:
        raise ConfigurationError(f"the API key file {path} is over 1 MB")
    digests = set()
    for number, line in enumerate(raw.decode("utf-8", "replace").splitlines(), start=1):
        key = line.strip()
        if not key or key.startswith("#"):
            continue
        if len(key) < MIN_KEY_LENGTH:
            raise ConfigurationError(
                f"the API key on line {number} of {path} is shorter than {MIN_KEY_LENGTH} "
                "characters: use a random key (python -c 'import secrets; "
                "print(secrets.token_urlsafe(32))')"
            )
        digests.add(hashlib.sha256(key.encode()).digest())
    if not digests:
        raise ConfigurationError(f"the API key file {path} holds no key")
    return frozenset(digests)


def presented_key(headers: list[tuple[bytes, bytes]]) -> bytes | None:
    for name, value in headers:
        if name == b"authorization" and value[:7].lower() == b"bearer ":
            return value[7:].strip()
        if name == b"x-api-key":
            return value.strip()
    return None


ASGIApp = Callable[
    [MutableMapping[str, Any], Callable[[], Awaitable[Any]], Callable[[Any], Awaitable[None]]],
    Awaitable[None],
]


class ApiKeyMiddleware:
    """Answers 401 (JSON, with ``WWW-Authenticate``) to a request without a valid key."""

    def __init__(self, app: ASGIApp, digests: frozenset[bytes]) -> None:
        self.app = app
        self.digests = digests

    async def __call__(
        self,
        scope: MutableMapping[str, Any],
        receive: Callable[[], Awaitable[Any]],
        send: Callable[[Any], Awaitable[None]],
    ) -> None:
        if scope["type"] != "http" or scope["path"] in OPEN_PATHS:
            await self.app(scope, receive, send)
            return
        key = presented_key(scope["headers"])
        digest = hashlib.sha256(key).digest() if key else b""
        if key and any(hmac.compare_digest(digest, known) for known in self.digests):
            await self.app(scope, receive, send)
            return
        body = b'{"error": "a valid API key is required (Authorization: Bearer <key>)"}'
        await send(
            {
                "type": "http.response.start",
                "status": 401,
                "headers": [
                    (b"content-type", b"application/json"),
                    (b"content-length", str(len(body)).encode()),
                    (b"www-authenticate", b'Bearer realm="mlsteward"'),
                ],
            }
        )
        await send({"type": "http.response.body", "body": body})
