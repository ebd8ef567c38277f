"""Platform tokens as inference keys: ``Authorization: Bearer mls_...`` with the ``predict`` scope.

A server that serves from the platform (a ``models:/`` source, a deployment) accepts the
platform's own API tokens beside the keys of ``--api-key-file``. A token passes when it is
valid (known, not expired, not revoked, its user not disabled), holds the ``predict`` scope and
its user has a role in the served models' project (viewer is enough). Otherwise: 401 (with
``WWW-Authenticate``) for a missing, unknown, expired or revoked token, 403 for a valid token
without the ``predict`` scope or without access to the project.

Checking a token costs database queries, so verdicts are cached per server process, keyed by
the token's SHA-256 digest (the token itself is not kept): a pass for ``cache_seconds`` (at
most 30 s), a refusal for at most 5 s, at most ``max_entries`` tokens. Revoking a token, disabling
its user or removing them from the project therefore takes effect within ``cache_seconds``.
Lookups run in worker threads (at most 4 at once), never on the event loop, and concurrent
requests with the same unknown token share one lookup. When the database cannot answer, the
request gets 503 with ``Retry-After`` and nothing is cached.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
import threading
import time
from collections import OrderedDict
from collections.abc import Awaitable, Callable, MutableMapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Final

import anyio

from ..errors import ConfigurationError
from ._api_keys import OPEN_PATHS, presented_key

if TYPE_CHECKING:
    from ..platform import Platform
    from ..settings import Settings

__all__ = [
    "MAX_CACHE_SECONDS",
    "PlatformTokenMiddleware",
    "PlatformTokens",
    "TokenVerdict",
    "TokenVerdicts",
    "check_predict_token",
]

MAX_CACHE_SECONDS: Final = 30.0
INVALID_CACHE_SECONDS: Final = 5.0
DEFAULT_MAX_ENTRIES: Final = 10_000
LOOKUP_THREADS: Final = 4
_MAX_TOKEN_BYTES: Final = 256
_RETRY_AFTER_SECONDS: Final = 1
_HOW = "Authorization: Bearer <token>"


@dataclass(frozen=True)
class TokenVerdict:
    """Whether a token may predict: ``status`` 200 (yes), 401, 403 or 503, with the reason."""

    status: int
    message: str
    username: str | None = None


def check_predict_token(platform: Platform, project: str, token: str) -> TokenVerdict:
    """Check ``token`` for predictions with the models of ``project`` (blocking: database
    queries). Never raises for a bad token: the verdict says why it is refused."""
    from ..errors import NotFound, Unauthenticated
    from ..security import Scope, authenticate_token, fetch_project, project_role

    try:
        actor = authenticate_token(platform, token)
    except Unauthenticated as exc:
        return TokenVerdict(401, f"{exc}: pass a platform token with the predict scope ({_HOW})")
    if Scope.PREDICT not in actor.scopes:
        return TokenVerdict(
            403,
            "this token lacks the 'predict' scope: create one with "
            "`mlsteward tokens create NAME --scope predict`",
            actor.name,
        )
    with platform.db.read() as conn:
        try:
            project_id = fetch_project(conn, project).id
        except NotFound:
            return TokenVerdict(403, f"the project {project!r} of this model no longer exists")
        role = project_role(conn, actor, project_id)
    if role is None:
        return TokenVerdict(
            403,
            f"user {actor.name!r} has no role in project {project!r}: ask one of its "
            "maintainers to add you (viewer is enough to predict)",
            actor.name,
        )
    return TokenVerdict(200, "", actor.name)


Lookup = Callable[[str], TokenVerdict]


class TokenVerdicts:
    """Cached verdicts of ``lookup`` (see the module docstring); use from one event loop.

    ``clock`` (seconds, monotonic) is for tests.
    """

    def __init__(
        self,
        lookup: Lookup,
        *,
        cache_seconds: float = MAX_CACHE_SECONDS,
        max_entries: int = DEFAULT_MAX_ENTRIES,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if not 0 <= cache_seconds <= MAX_CACHE_SECONDS:
            raise ConfigurationError(
                f"the token cache time must be from 0 to {MAX_CACHE_SECONDS:g} seconds"
            )
        if max_entries < 1:
            raise ConfigurationError("the token cache needs room for at least one token")
        self._lookup = lookup
        self.valid_seconds = cache_seconds
        self.invalid_seconds = min(INVALID_CACHE_SECONDS, cache_seconds)
        self.max_entries = max_entries
        self._clock = clock
        self._entries: OrderedDict[bytes, tuple[float, TokenVerdict]] = OrderedDict()
        self._pending: dict[bytes, asyncio.Task[TokenVerdict]] = {}
        self._limiter = anyio.CapacityLimiter(LOOKUP_THREADS)
        self.lookups = 0  # tokens looked up in the database (for tests and metrics)

    def __len__(self) -> int:
        return len(self._entries)

    async def verdict(self, token: bytes) -> TokenVerdict:
        """The verdict on ``token`` (cached, or looked up in a worker thread)."""
        key = hashlib.sha256(token).digest()
        entry = self._entries.get(key)
        if entry is not None:
            if entry[0] > self._clock():
                return entry[1]
            del self._entries[key]
        task = self._pending.get(key)
        if task is None:
            task = asyncio.ensure_future(self._look_up(key, token))
            self._pending[key] = task
        # Shielded: a client that goes away does not cancel the lookup others wait for.
        return await asyncio.shield(task)

    async def _look_up(self, key: bytes, token: bytes) -> TokenVerdict:
        try:
            self.lookups += 1
            text = token.decode("utf-8", "replace")
            try:
                verdict = await anyio.to_thread.run_sync(self._lookup, text, limiter=self._limiter)
            except Exception:  # the database did not answer: say so, remember nothing
                return TokenVerdict(
                    503,
                    f"the platform cannot check tokens right now: retry in "
                    f"{_RETRY_AFTER_SECONDS} s",
                )
            seconds = self.valid_seconds if verdict.status == 200 else self.invalid_seconds
            if seconds > 0:
                self._entries[key] = (self._clock() + seconds, verdict)
                while len(self._entries) > self.max_entries:
                    self._entries.popitem(last=False)  # the oldest entry
            return verdict
        finally:
            self._pending.pop(key, None)


ASGIApp = Callable[
    [MutableMapping[str, Any], Callable[[], Awaitable[Any]], Callable[[Any], Awaitable[None]]],
    Awaitable[None],
]


class PlatformTokenMiddleware:
    """Lets through requests with a listed API key (``api_keys``: SHA-256 digests, or None)
    or a platform token whose verdict is 200; answers the others with the error JSON."""

    def __init__(
        self, app: ASGIApp, verdicts: TokenVerdicts, api_keys: frozenset[bytes] | None = None
    ) -> None:
        self.app = app
        self.verdicts = verdicts
        self.api_keys = api_keys or frozenset()

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
        if not key:
            await _refuse(
                send, 401, f"a platform token with the predict scope is required ({_HOW})"
            )
            return
        if self.api_keys:
            digest = hashlib.sha256(key).digest()
            if any(hmac.compare_digest(digest, known) for known in self.api_keys):
                await self.app(scope, receive, send)
                return
        if not key.startswith(b"mls_") or len(key) > _MAX_TOKEN_BYTES:
            await _refuse(send, 401, f"invalid API key or platform token ({_HOW})")
            return
        verdict = await self.verdicts.verdict(key)
        if verdict.status == 200:
            await self.app(scope, receive, send)
            return
        await _refuse(send, verdict.status, verdict.message)


async def _refuse(send: Callable[[Any], Awaitable[None]], status: int, message: str) -> None:
    body = json.dumps({"error": message}).encode()
    headers = [
        (b"content-type", b"application/json"),
        (b"content-length", str(len(body)).encode()),
    ]
    if status == 401:
        headers.append((b"www-authenticate", b'Bearer realm="mlsteward"'))
    elif status == 403:
        headers.append(
            (b"www-authenticate", b'Bearer realm="mlsteward", error="insufficient_scope"')
        )
    elif status == 503:
        headers.append((b"retry-after", str(_RETRY_AFTER_SECONDS).encode()))
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})


@dataclass(frozen=True)
class PlatformTokens:
    """Accept platform tokens with the ``predict`` scope for the models of ``project``.

    ``settings`` name the platform database (None: the environment's). ``cache_seconds``:
    how long a pass is remembered (0 to 30; revocation takes effect within it). Each server
    process builds its own cache and opens the database on its first lookup (so forked
    workers share no connection).
    """

    project: str
    settings: Settings | None = None
    cache_seconds: float = MAX_CACHE_SECONDS

    def check(self) -> None:
        """``ConfigurationError`` unless tokens can be checked here: the platform database
        must be reachable from this process (not only a platform server over HTTP)."""
        from ..settings import load_settings

        if not 0 <= self.cache_seconds <= MAX_CACHE_SECONDS:
            raise ConfigurationError(
                f"--token-cache-seconds must be from 0 to {MAX_CACHE_SECONDS:g}"
            )
        settings = self.settings or load_settings()
        if settings.server_url:
            raise ConfigurationError(
                "platform tokens are checked against the platform database, and this server "
                "reaches the platform over HTTP (MLSTEWARD_SERVER_URL): run it where the "
                "database is configured, or use --no-platform-tokens with --api-key-file"
            )

    def middleware(self, app: ASGIApp, api_keys: frozenset[bytes] | None) -> ASGIApp:
        """``app`` behind the token check (and the ``api_keys``, when given)."""
        opened: list[Platform] = []
        lock = threading.Lock()

        def lookup(token: str) -> TokenVerdict:
            with lock:
                if not opened:
                    from ..platform import Platform

                    opened.append(Platform(self.settings))
            return check_predict_token(opened[0], self.project, token)

        verdicts = TokenVerdicts(lookup, cache_seconds=self.cache_seconds)
        return PlatformTokenMiddleware(app, verdicts, api_keys)
