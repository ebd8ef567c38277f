"""Per-caller rate limits of the inference server: a token bucket per caller.

Each caller has a bucket of ``burst`` tokens, refilled continuously at ``rate`` tokens per
second; a request takes one token, and a request finding less than one is answered 429 with
``Retry-After`` (whole seconds until a token is back). The caller is the API key the request
presents (``Authorization: Bearer`` or ``X-API-Key``; only its SHA-256 digest is kept), else
the client address. The health routes and ``/metrics`` are never limited (probes and scrapers
must get through).

Two limiters share one interface, ``RateLimiter``: ``InProcessRateLimiter`` keeps buckets in
this process (each server process has its own budgets), ``RedisRateLimiter`` keeps them in
Redis, so every process and replica using the same Redis shares one budget per caller.
"""

from __future__ import annotations

import hashlib
import json
import logging
import math
import time
from collections import OrderedDict
from collections.abc import Awaitable, Callable, MutableMapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol
from urllib.parse import urlsplit, urlunsplit

from ..errors import ConfigurationError, InvalidArgument, MissingExtra
from ._api_keys import presented_key

if TYPE_CHECKING:
    import redis.asyncio

_log = logging.getLogger("mlsteward.serving")

EXEMPT_PATHS = frozenset({"/v2/health/live", "/v2/health/ready", "/ping", "/health", "/metrics"})
DEFAULT_REDIS_PREFIX = "mlsteward:ratelimit:"
DEFAULT_MAX_CALLERS = 100_000
_MAX_REFILL_SECONDS = 365 * 24 * 3600
_UNITS = {"s": 1, "sec": 1, "second": 1, "m": 60, "min": 60, "minute": 60, "h": 3600, "hour": 3600}

Clock = Callable[[], float]


def parse_rate(text: str) -> float:
    """Requests per second from ``"100/s"``, ``"600/min"``, ``"1000/h"`` or ``"100"`` (per
    second); ``InvalidArgument`` for anything else or a rate that is not positive."""
    count, _, unit = text.strip().partition("/")
    seconds = _UNITS.get(unit.strip().lower() or "s")
    try:
        rate = float(count) / seconds if seconds else math.nan
    except ValueError:
        rate = math.nan
    if not (math.isfinite(rate) and rate > 0):
        raise InvalidArgument(
            f"cannot read the rate {text!r}: write requests per second, minute or hour, "
            "e.g. 100/s, 600/min or 1000/h"
        )
    return rate


def _check_budget(rate: float, burst: float) -> None:
    if not (math.isfinite(rate) and rate > 0):
        raise ConfigurationError(f"the rate limit must be a positive number per second: {rate}")
    if not (math.isfinite(burst) and burst >= 1):
        raise ConfigurationError(f"the burst must be at least 1 request: {burst}")
    if burst / rate > _MAX_REFILL_SECONDS:
        raise ConfigurationError(
            f"a burst of {burst:g} at {rate:g} requests per second takes over a year to refill: "
            "raise the rate or lower the burst"
        )


@dataclass(frozen=True)
class Decision:
    """Whether a request may pass; if not, ``retry_after`` seconds until one token is back."""

    allowed: bool
    retry_after: float = 0.0


class RateLimiter(Protocol):
    """A token bucket per caller: ``rate`` tokens per second, ``burst`` at most."""

    rate: float
    burst: float

    async def take(self, caller: str) -> Decision:
        """Take one token from ``caller``'s bucket (a full bucket for a new caller)."""
        ...

    async def aclose(self) -> None:
        """Release connections (the server is shutting down)."""
        ...


class _Bucket:
    __slots__ = ("at", "tokens")

    def __init__(self, tokens: float, at: float) -> None:
        self.tokens = tokens
        self.at = at


class InProcessRateLimiter:
    """Buckets in a dict of this process, bounded.

    A bucket left alone for ``burst / rate`` seconds is full again, so it is dropped: that
    changes no decision. Past ``max_callers`` live buckets (a flood of distinct callers), the
    least recently served caller's bucket is dropped too and starts full if it comes back.
    ``clock`` is a monotonic clock in seconds.
    """

    def __init__(
        self,
        rate: float,
        burst: float,
        *,
        max_callers: int = DEFAULT_MAX_CALLERS,
        clock: Clock = time.monotonic,
    ) -> None:
        _check_budget(rate, burst)
        if max_callers < 1:
            raise ConfigurationError(f"max_callers must be at least 1: {max_callers}")
        self.rate = rate
        self.burst = burst
        self.max_callers = max_callers
        self.clock = clock
        self._refill_seconds = burst / rate
        self._buckets: OrderedDict[str, _Bucket] = OrderedDict()  # least recently taken first

    def __len__(self) -> int:
        return len(self._buckets)

    async def take(self, caller: str) -> Decision:
        # No await inside: on one event loop a take is atomic.
        now = self.clock()
        buckets = self._buckets
        while buckets:
            oldest = next(iter(buckets.values()))
            if now - oldest.at < self._refill_seconds:
                break
            buckets.popitem(last=False)  # full again: as good as absent
        bucket = buckets.get(caller)
        if bucket is None:
            if len(buckets) >= self.max_callers:
                buckets.popitem(last=False)
            bucket = buckets[caller] = _Bucket(self.burst, now)
        tokens = min(self.burst, bucket.tokens + max(0.0, now - bucket.at) * self.rate)
        if tokens < 1:
            return Decision(False, (1 - tokens) / self.rate)
        bucket.tokens = tokens - 1
        bucket.at = now
        buckets.move_to_end(caller)
        return Decision(True)

    async def aclose(self) -> None:
        self._buckets.clear()


# KEYS[1]: the bucket (a hash: tokens, at); ARGV: rate per second, burst.
# Redis's clock, not the callers', so servers with skewed clocks agree. The key expires once
# the bucket would be full again (a missing key is a full bucket). Needs Redis >= 5 (TIME
# before a write in a script). Numbers leave Lua as strings: a Lua number reply is truncated
# to an integer.
_TAKE_SCRIPT = """
local rate = tonumber(ARGV[1])
local burst = tonumber(ARGV[2])
local clock = redis.call('TIME')
local now = tonumber(clock[1]) + tonumber(clock[2]) / 1000000
local state = redis.call('HMGET', KEYS[1], 'tokens', 'at')
local tokens = tonumber(state[1])
local at = tonumber(state[2])
if tokens == nil or at == nil then
  tokens = burst
else
  tokens = math.min(burst, tokens + math.max(0, now - at) * rate)
end
if tokens < 1 then
  return {0, string.format('%.17g', (1 - tokens) / rate)}
end
tokens = tokens - 1
redis.call('HSET', KEYS[1], 'tokens', string.format('%.17g', tokens),
           'at', string.format('%.17g', now))
redis.call('PEXPIRE', KEYS[1], string.format('%d', math.ceil((burst - tokens) / rate * 1000)))
return {1, '0'}
"""


def _redacted(url: str) -> str:
    """``url`` without its password (for logs)."""
    parts = urlsplit(url)
    if parts.password is None:
        return url
    host = parts.netloc.rpartition("@")[2]
    user = f"{parts.username}:***@" if parts.username else "***@"
    return urlunsplit(parts._replace(netloc=user + host))


class RedisRateLimiter:
    """Buckets in Redis, shared by every server process using the same Redis and prefix.

    Each request runs one Lua script (read, refill, take, write with an expiry): atomic, so
    concurrent processes never spend the same token. Keys are ``prefix`` + the caller.

    When Redis cannot be reached (or answers an error), requests **pass** (fail open): the
    server stays up and the API keys still guard it. A warning is logged at most once a
    minute while this lasts, and after a failure Redis is not asked again for
    ``retry_interval`` seconds, so an unreachable Redis does not add its timeout to every
    request. ``timeout`` bounds each connection attempt and each command.
    """

    def __init__(
        self,
        url: str,
        rate: float,
        burst: float,
        *,
        prefix: str = DEFAULT_REDIS_PREFIX,
        timeout: float = 0.5,
        retry_interval: float = 1.0,
        clock: Clock = time.monotonic,
    ) -> None:
        _check_budget(rate, burst)
        try:
            import redis.asyncio
            from redis.asyncio.retry import Retry
            from redis.backoff import NoBackoff
        except ImportError:
            raise MissingExtra(
                "shared rate limits need the redis package: pip install 'mlsteward[server]'"
            ) from None
        self.url = url
        self.rate = rate
        self.burst = burst
        self.prefix = prefix
        self.retry_interval = retry_interval
        self.clock = clock
        # One retry on a fresh connection (a pooled one may have died with a Redis restart),
        # no backoff: a request must not wait on Redis.
        self._client: redis.asyncio.Redis = redis.asyncio.Redis.from_url(
            url,
            socket_timeout=timeout,
            socket_connect_timeout=timeout,
            retry=Retry(NoBackoff(), 1),
        )
        self._script = self._client.register_script(_TAKE_SCRIPT)
        self._errors: tuple[type[BaseException], ...] = (redis.RedisError, OSError)
        self._down_until = -math.inf
        self._warned_at = -math.inf
        self._failing = False

    async def take(self, caller: str) -> Decision:
        now = self.clock()
        if now < self._down_until:
            return Decision(True)
        try:
            allowed, wait = await self._script(
                keys=[self.prefix + caller], args=[repr(self.rate), repr(self.burst)]
            )
        except self._errors as exc:
            self._down_until = now + self.retry_interval
            self._failing = True
            if now - self._warned_at >= 60:
                self._warned_at = now
                _log.warning(
                    "rate limits are off: Redis at %s does not answer (%s: %s); requests pass "
                    "until it is back",
                    _redacted(self.url),
                    type(exc).__name__,
                    exc,
                )
            return Decision(True)
        if self._failing:
            self._failing = False
            _log.warning("Redis at %s answers again: rate limits apply", _redacted(self.url))
        return Decision(bool(allowed), float(wait))

    async def aclose(self) -> None:
        await self._client.aclose()


ASGIApp = Callable[
    [MutableMapping[str, Any], Callable[[], Awaitable[Any]], Callable[[Any], Awaitable[None]]],
    Awaitable[None],
]


def caller_of(scope: MutableMapping[str, Any]) -> str:
    """Who a request counts against: ``key:<SHA-256 hex of the API key>`` when it presents
    one, else ``addr:<client address>``."""
    key = presented_key(scope["headers"])
    if key:
        return "key:" + hashlib.sha256(key).hexdigest()
    client = scope.get("client")
    return "addr:" + (str(client[0]) if client else "unknown")


class RateLimitMiddleware:
    """Answers 429 (JSON, with ``Retry-After``) to a caller over its budget.

    Closes the limiter when the server shuts down (on the lifespan's shutdown).
    """

    def __init__(
        self, app: ASGIApp, limiter: RateLimiter, *, exempt_paths: frozenset[str] = EXEMPT_PATHS
    ) -> None:
        self.app = app
        self.limiter = limiter
        self.exempt_paths = exempt_paths

    async def __call__(
        self,
        scope: MutableMapping[str, Any],
        receive: Callable[[], Awaitable[Any]],
        send: Callable[[Any], Awaitable[None]],
    ) -> None:
        if scope["type"] == "lifespan":
            await self.app(scope, receive, self._closing_on_shutdown(send))
            return
        if scope["type"] != "http" or scope["path"] in self.exempt_paths:
            await self.app(scope, receive, send)
            return
        decision = await self.limiter.take(caller_of(scope))
        if decision.allowed:
            await self.app(scope, receive, send)
            return
        seconds = max(1, math.ceil(decision.retry_after))
        message = (
            f"rate limit exceeded: {self.limiter.rate:g} requests per second (bursts of "
            f"{self.limiter.burst:g}) for this caller; retry in {seconds} s"
        )
        body = json.dumps({"error": message}).encode()
        await send(
            {
                "type": "http.response.start",
                "status": 429,
                "headers": [
                    (b"content-type", b"application/json"),
                    (b"content-length", str(len(body)).encode()),
                    (b"retry-after", str(seconds).encode()),
                ],
            }
        )
        await send({"type": "http.response.body", "body": body})

    def _closing_on_shutdown(
        self, send: Callable[[Any], Awaitable[None]]
    ) -> Callable[[Any], Awaitable[None]]:
        async def closing_send(message: Any) -> None:
            if message.get("type") == "lifespan.shutdown.complete":
                await self.limiter.aclose()
            await send(message)

        return closing_send
