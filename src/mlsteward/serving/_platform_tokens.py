"""Platform tokens as inference keys: ``Authorization: Bearer mls_...`` with the ``predict`` scope.

A server that serves from the platform (a ``models:/`` source, a deployment) accepts the
platform's own API tokens beside the keys of ``--api-key-file``. A token passes when it is
valid (known, not expired, not revoked, its user not disabled), holds the ``predict`` scope and
its user has a role in the served models' project (viewer is enough). Otherwise: 401 (with
``WWW-Authenticate``) for a missing, unknown, expired or revoked token, 403 for a valid token
without the ``predict`` scope or without access to the project.

Checking a token costs database queries (or a request to the platform server), so verdicts
are cached per server process, keyed by the token's SHA-256 digest (the token itself is not
kept): a pass for ``cache_seconds`` (at most 30 s), a refusal for at most 5 s, at most
``max_entries`` tokens. Revoking a token, disabling its user or removing them from the project
therefore takes effect within ``cache_seconds``.
Lookups run in worker threads (at most 4 at once), never on the event loop, and concurrent
requests with the same unknown token share one lookup. When the database (or the platform
server) cannot answer, the request gets 503 with ``Retry-After`` and nothing is cached.

Where the platform database is configured, tokens are looked up in it
(``check_predict_token``); a server that reaches the platform only over HTTP
(``MLSTEWARD_SERVER_URL``) asks the platform server instead (``RemoteTokenLookup``: ``GET
/api/v1/projects/{project}/predict-access`` with the token). Both apply the same rule,
``security.require_predict_access``, and give the same verdicts.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
import logging
import re
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
    import httpx

    from ..platform import Platform
    from ..settings import Settings

__all__ = [
    "MAX_CACHE_SECONDS",
    "PlatformTokenMiddleware",
    "PlatformTokens",
    "RemoteTokenLookup",
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
REMOTE_TIMEOUT_SECONDS: Final = 5.0
# What a header can carry as a token; anything else cannot be a token (the platform's own
# check refuses it with the same words), so it is refused without asking the platform.
_SENDABLE_TOKEN = re.compile(r"[\x21-\x7e]{1,256}")
_INVALID_TOKEN = "invalid, expired or revoked API token"  # noqa: S105 - a message

_log = logging.getLogger("mlsteward.serving.platform_tokens")


@dataclass(frozen=True)
class TokenVerdict:
    """Whether a token may predict: ``status`` 200 (yes), 401, 403 or 503, with the reason."""

    status: int
    message: str
    username: str | None = None


def check_predict_token(platform: Platform, project: str, token: str) -> TokenVerdict:
    """Check ``token`` for predictions with the models of ``project`` (blocking: database
    queries; the rule is ``security.require_predict_access``). Never raises for a bad token:
    the verdict says why it is refused."""
    from ..errors import PermissionDenied, Unauthenticated
    from ..security import authenticate_token, require_predict_access

    try:
        actor = authenticate_token(platform, token)
    except Unauthenticated as exc:
        return TokenVerdict(401, _unauthenticated(exc.message))
    try:
        require_predict_access(platform, actor, project)
    except PermissionDenied as exc:
        return TokenVerdict(403, exc.message, actor.name)
    return TokenVerdict(200, "", actor.name)


def _unauthenticated(reason: str) -> str:
    return f"{reason}: pass a platform token with the predict scope ({_HOW})"


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
        self.lookups = 0  # tokens looked up (database or platform server; tests and metrics)

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
            except Exception as exc:  # the platform did not answer: say so, remember nothing
                _log.warning("cannot check a platform token (answering 503): %s", exc)
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


class RemoteTokenLookup:
    """A lookup that asks the platform server at ``server_url``: ``GET
    /api/v1/projects/{project}/predict-access`` with the token. Its 200, 401 and 403 become
    verdicts with the server's message; any other answer, or no answer within ``timeout``
    seconds, raises (``TokenVerdicts`` answers 503 and caches nothing). Redirects are not
    followed (the token goes to ``server_url`` only).

    Thread-safe. One connection pool per process, opened on the first lookup (so forked
    workers share no connection); ``close`` releases it. TLS is verified as ``Client`` does.
    ``ConfigurationError`` for a URL that is not ``http(s)://host[:port]``.
    """

    def __init__(
        self, server_url: str, project: str, *, timeout: float = REMOTE_TIMEOUT_SECONDS
    ) -> None:
        from urllib.parse import quote

        self.base_url = _platform_url(server_url)
        self.project = project
        segment = quote(project, safe="").replace(".", "%2E")  # one path segment, no ``..``
        self.url = f"{self.base_url}/api/v1/projects/{segment}/predict-access"
        self.timeout = timeout
        self._http: httpx.Client | None = None
        self._lock = threading.Lock()

    def __call__(self, token: str) -> TokenVerdict:
        """The platform's verdict on ``token`` (blocking: one HTTP request)."""
        from ..errors import Unavailable

        if not _SENDABLE_TOKEN.fullmatch(token):
            return TokenVerdict(401, _unauthenticated(_INVALID_TOKEN))
        response = self._client().get(self.url, headers={"Authorization": f"Bearer {token}"})
        status = response.status_code
        if status == 200:
            body = _json_object(response)
            username = body.get("username")
            if not isinstance(username, str) or body.get("project") != self.project:
                raise Unavailable(f"the platform at {self.base_url} sent an unexpected answer")
            return TokenVerdict(200, "", username)
        if status in {401, 403}:
            error = _json_object(response).get("error")
            if not isinstance(error, dict) or not isinstance(error.get("message"), str):
                raise Unavailable(
                    f"the platform at {self.base_url} answered {status} without a reason"
                )
            if status == 401:
                return TokenVerdict(401, _unauthenticated(error["message"]))
            details = error.get("details")
            username = details.get("username") if isinstance(details, dict) else None
            return TokenVerdict(
                403, error["message"], username if isinstance(username, str) else None
            )
        raise Unavailable(f"the platform at {self.base_url} answered {status} to a token check")

    def probe(self) -> None:
        """``ConfigurationError`` unless the platform server answers the token check route
        (for a request without a token: 401, or 200/403 from a platform without login)."""
        import httpx

        try:
            status = self._client().get(self.url).status_code
        except httpx.HTTPError as exc:
            raise ConfigurationError(
                f"cannot reach the platform at {self.base_url} to check tokens: "
                f"{str(exc) or type(exc).__name__}; check MLSTEWARD_SERVER_URL and that the "
                "platform server runs"
            ) from None
        if status == 404:
            raise ConfigurationError(
                f"{self.base_url} does not check platform tokens (404 for {self.url}): is "
                "MLSTEWARD_SERVER_URL an mlsteward platform server of this release or newer?"
            )
        if status not in {200, 401, 403}:
            raise ConfigurationError(
                f"the platform at {self.base_url} answered {status} to a token check: "
                "check MLSTEWARD_SERVER_URL and the platform server's log"
            )

    def close(self) -> None:
        """Close the connection pool (a later lookup opens a new one)."""
        with self._lock:
            if self._http is not None:
                self._http.close()
                self._http = None

    def _client(self) -> httpx.Client:
        import httpx

        from .. import __version__

        with self._lock:
            if self._http is None:
                self._http = httpx.Client(
                    timeout=httpx.Timeout(self.timeout),
                    headers={"User-Agent": f"mlsteward-serving/{__version__}"},
                    follow_redirects=False,
                )
            return self._http


def _platform_url(server_url: str) -> str:
    import httpx

    try:
        url = httpx.URL(server_url)
    except httpx.InvalidURL as exc:
        raise ConfigurationError(f"invalid server URL {server_url!r}: {exc}") from None
    if url.scheme not in {"http", "https"} or not url.host:
        raise ConfigurationError(
            f"invalid server URL {server_url!r}: use http(s)://host[:port], "
            "e.g. MLSTEWARD_SERVER_URL=https://mlsteward.example.com"
        )
    return str(url).rstrip("/")


def _json_object(response: httpx.Response) -> dict[str, Any]:
    from ..errors import Unavailable

    try:
        body = response.json()
    except ValueError:
        body = None
    if not isinstance(body, dict):
        raise Unavailable(f"the platform answered {response.status_code} with no JSON object")
    return body


ASGIApp = Callable[
    [MutableMapping[str, Any], Callable[[], Awaitable[Any]], Callable[[Any], Awaitable[None]]],
    Awaitable[None],
]


class PlatformTokenMiddleware:
    """Lets through requests with a listed API key (``api_keys``: SHA-256 digests, or None)
    or a platform token whose verdict is 200; answers the others with the error JSON."""

    def __init__(
        self,
        app: ASGIApp,
        verdicts: TokenVerdicts,
        api_keys: frozenset[bytes] | None = None,
        *,
        on_shutdown: Callable[[], None] | None = None,
    ) -> None:
        self.app = app
        self.verdicts = verdicts
        self.api_keys = api_keys or frozenset()
        self.on_shutdown = on_shutdown  # called once the app has shut down (its lifespan)

    async def __call__(
        self,
        scope: MutableMapping[str, Any],
        receive: Callable[[], Awaitable[Any]],
        send: Callable[[Any], Awaitable[None]],
    ) -> None:
        if scope["type"] == "lifespan" and self.on_shutdown is not None:
            await self.app(scope, receive, self._closing(send))
            return
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

    def _closing(self, send: Callable[[Any], Awaitable[None]]) -> Callable[[Any], Awaitable[None]]:
        """``send`` that runs ``on_shutdown`` when the app reports its shutdown."""
        on_shutdown = self.on_shutdown

        async def send_closing(message: Any) -> None:
            if on_shutdown is not None and str(message.get("type", "")).startswith(
                "lifespan.shutdown."
            ):
                on_shutdown()
            await send(message)

        return send_closing


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

    ``settings`` say where the platform is (None: the environment's): its database, or with
    ``server_url`` a platform server asked over HTTP. ``cache_seconds``: how long a pass is
    remembered (0 to 30; revocation takes effect within it). Each server process builds its
    own cache and opens the database or its HTTP connections on its first lookup (so forked
    workers share none), and closes them when it shuts down.
    """

    project: str
    settings: Settings | None = None
    cache_seconds: float = MAX_CACHE_SECONDS

    def check(self) -> None:
        """``ConfigurationError`` unless tokens can be checked: a cache time from 0 to 30 s
        and, for a platform server (``server_url``), a URL where it answers the token check
        (blocking: one HTTP request, made before the model loads)."""
        if not 0 <= self.cache_seconds <= MAX_CACHE_SECONDS:
            raise ConfigurationError(
                f"--token-cache-seconds must be from 0 to {MAX_CACHE_SECONDS:g}"
            )
        settings = self._settings()
        if settings.server_url:
            lookup = RemoteTokenLookup(settings.server_url, self.project)
            try:
                lookup.probe()
            finally:
                lookup.close()

    def middleware(self, app: ASGIApp, api_keys: frozenset[bytes] | None) -> ASGIApp:
        """``app`` behind the token check (and the ``api_keys``, when given)."""
        settings = self._settings()
        lookup: Lookup
        close: Callable[[], None]
        if settings.server_url:
            remote = RemoteTokenLookup(settings.server_url, self.project)
            lookup, close = remote, remote.close
        else:
            lookup, close = self._local_lookup(settings)
        verdicts = TokenVerdicts(lookup, cache_seconds=self.cache_seconds)
        return PlatformTokenMiddleware(app, verdicts, api_keys, on_shutdown=close)

    def _settings(self) -> Settings:
        from ..settings import load_settings

        return self.settings or load_settings()

    def _local_lookup(self, settings: Settings) -> tuple[Lookup, Callable[[], None]]:
        """A lookup in the platform database (opened on first use) and what closes it."""
        opened: list[Platform] = []
        lock = threading.Lock()

        def lookup(token: str) -> TokenVerdict:
            with lock:
                if not opened:
                    from ..platform import Platform

                    opened.append(Platform(settings))
            return check_predict_token(opened[0], self.project, token)

        def close() -> None:
            with lock:
                while opened:
                    opened.pop().close()

        return lookup, close
