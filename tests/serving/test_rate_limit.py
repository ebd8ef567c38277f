"""Per-caller rate limits: token buckets in process and in Redis, and the 429 middleware.

Redis tests use the server at 127.0.0.1:6379 (``MLSTEWARD_TEST_REDIS_URL`` overrides), each
under its own key prefix, deleted afterwards. Without Redis they skip with the reason, unless
MLSTEWARD_TEST_REQUIRE_SERVICES=1, which turns the skip into a failure.
"""

from __future__ import annotations

import contextlib
import hashlib
import logging
import os
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import AsyncIterator, Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import anyio
import httpx
import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route
from starlette.testclient import TestClient

from mlsteward.errors import ConfigurationError, InvalidArgument
from mlsteward.serving._rate_limit import (
    EXEMPT_PATHS,
    InProcessRateLimiter,
    RateLimitMiddleware,
    RedisRateLimiter,
    parse_rate,
)

REDIS_URL = os.environ.get("MLSTEWARD_TEST_REDIS_URL", "redis://127.0.0.1:6379/0")
REQUIRE_SERVICES = os.environ.get("MLSTEWARD_TEST_REQUIRE_SERVICES") == "1"
KEY = "k" * 32
OTHER_KEY = "o" * 32


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def _take(limiter: Any, caller: str) -> Any:
    return anyio.run(limiter.take, caller)


# --- budgets ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "rate"),
    [("100/s", 100.0), ("100", 100.0), ("600/min", 10.0), ("36/h", 0.01), (" 2.5 / S ", 2.5)],
)
def test_rates_read_per_second_minute_or_hour(text: str, rate: float) -> None:
    assert parse_rate(text) == pytest.approx(rate)


@pytest.mark.parametrize("text", ["", "fast", "100/day", "0/s", "-5/s", "inf/s", "nan", "1/s/s"])
def test_unreadable_rates_say_how_to_write_one(text: str) -> None:
    with pytest.raises(InvalidArgument, match=r"e\.g\. 100/s"):
        parse_rate(text)


@pytest.mark.parametrize(
    ("rate", "burst", "message"),
    [
        (0, 10, "positive"),
        (-1, 10, "positive"),
        (float("nan"), 10, "positive"),
        (10, 0.5, "at least 1"),
        (10, float("inf"), "at least 1"),
        (1e-9, 100, "over a year"),
    ],
)
def test_impossible_budgets_are_configuration_errors(
    rate: float, burst: float, message: str
) -> None:
    with pytest.raises(ConfigurationError, match=message):
        InProcessRateLimiter(rate, burst)
    with pytest.raises(ConfigurationError, match=message):
        RedisRateLimiter(REDIS_URL, rate, burst)  # checked before any connection


# --- the in-process bucket -------------------------------------------------------------------


def test_a_burst_passes_then_tokens_come_back_at_the_rate() -> None:
    clock = FakeClock()
    limiter = InProcessRateLimiter(rate=2, burst=5, clock=clock)
    assert [_take(limiter, "a").allowed for _ in range(6)] == [True] * 5 + [False]
    refused = _take(limiter, "a")
    assert refused.retry_after == pytest.approx(0.5)  # one token at 2 per second
    clock.now += 0.25
    assert _take(limiter, "a").retry_after == pytest.approx(0.25)
    clock.now += 0.25
    assert _take(limiter, "a").allowed
    assert not _take(limiter, "a").allowed
    clock.now += 1.0  # two tokens
    assert [_take(limiter, "a").allowed for _ in range(3)] == [True, True, False]
    clock.now += 3600  # never more than the burst
    assert [_take(limiter, "a").allowed for _ in range(6)] == [True] * 5 + [False]


def test_callers_have_their_own_buckets() -> None:
    limiter = InProcessRateLimiter(rate=1, burst=2, clock=FakeClock())
    assert [_take(limiter, "a").allowed for _ in range(3)] == [True, True, False]
    assert [_take(limiter, "b").allowed for _ in range(3)] == [True, True, False]


def test_a_flood_of_distinct_callers_keeps_at_most_max_callers_buckets() -> None:
    clock = FakeClock()
    limiter = InProcessRateLimiter(rate=1, burst=10, max_callers=100, clock=clock)
    for number in range(5000):
        assert _take(limiter, f"addr:10.0.{number // 256}.{number % 256}").allowed
        clock.now += 0.0001
    assert len(limiter) == 100


def test_idle_buckets_are_dropped_once_full_again_without_changing_a_decision() -> None:
    clock = FakeClock()
    limiter = InProcessRateLimiter(rate=1, burst=3, clock=clock)
    for caller in ("a", "b", "c"):
        for _ in range(3):
            _take(limiter, caller)
    assert not _take(limiter, "a").allowed
    clock.now += 2.9  # not yet full: kept, and still short of the burst
    assert _take(limiter, "d").allowed
    assert len(limiter) == 4
    assert [_take(limiter, "b").allowed for _ in range(3)] == [True, True, False]
    clock.now += 3.0  # every bucket full again: all dropped on the next take
    assert _take(limiter, "e").allowed
    assert len(limiter) == 1
    assert [_take(limiter, "a").allowed for _ in range(4)] == [True, True, True, False]


# --- the middleware --------------------------------------------------------------------------


async def _hello(request: Request) -> JSONResponse:
    return JSONResponse({"ok": True})


def _app(limiter: Any) -> RateLimitMiddleware:
    paths = ["/v1/models/m/predict", *sorted(EXEMPT_PATHS)]
    return RateLimitMiddleware(
        Starlette(routes=[Route(path, _hello, methods=["GET", "POST"]) for path in paths]),
        limiter,
    )


def test_over_the_budget_is_429_with_retry_after_in_whole_seconds() -> None:
    clock = FakeClock()
    client = TestClient(_app(InProcessRateLimiter(rate=0.4, burst=2, clock=clock)))
    headers = {"Authorization": f"Bearer {KEY}"}
    for _ in range(2):
        assert client.post("/v1/models/m/predict", headers=headers, json={}).status_code == 200
    refused = client.post("/v1/models/m/predict", headers=headers, json={})
    assert refused.status_code == 429
    assert refused.headers["content-type"] == "application/json"
    assert refused.headers["retry-after"] == "3"  # 2.5 s until a token, rounded up
    assert refused.json()["error"].startswith("rate limit exceeded: 0.4 requests per second")
    clock.now += 2.0
    assert client.post("/v1/models/m/predict", headers=headers).headers["retry-after"] == "1"
    clock.now += 0.5
    assert client.post("/v1/models/m/predict", headers=headers).status_code == 200


def test_the_caller_is_the_key_digest_whichever_header_carries_it() -> None:
    limiter = InProcessRateLimiter(rate=1, burst=2, clock=FakeClock())
    client = TestClient(_app(limiter))
    bearer = {"Authorization": f"Bearer {KEY}"}
    assert client.get("/v1/models/m/predict", headers=bearer).status_code == 200
    assert client.get("/v1/models/m/predict", headers={"X-API-Key": KEY}).status_code == 200
    assert client.get("/v1/models/m/predict", headers=bearer).status_code == 429
    # Another key, and no key (the client address), each have their own budget.
    assert client.get("/v1/models/m/predict", headers={"X-API-Key": OTHER_KEY}).status_code == 200
    assert client.get("/v1/models/m/predict").status_code == 200
    digest = hashlib.sha256(KEY.encode()).hexdigest()
    callers = list(limiter._buckets)
    assert f"key:{digest}" in callers
    assert "addr:testclient" in callers
    assert not any(KEY in caller or OTHER_KEY in caller for caller in callers)


def test_health_and_metrics_are_never_limited() -> None:
    client = TestClient(_app(InProcessRateLimiter(rate=1, burst=1, clock=FakeClock())))
    assert client.get("/v1/models/m/predict").status_code == 200
    assert client.get("/v1/models/m/predict").status_code == 429
    for path in ("/v2/health/live", "/v2/health/ready", "/ping", "/health", "/metrics"):
        assert [client.get(path).status_code for _ in range(3)] == [200] * 3


def test_the_limiter_is_closed_when_the_server_shuts_down() -> None:
    closed = []

    class Recording(InProcessRateLimiter):
        async def aclose(self) -> None:
            closed.append(True)
            await super().aclose()

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        yield

    app = Starlette(routes=[Route("/x", _hello)], lifespan=lifespan)
    with TestClient(RateLimitMiddleware(app, Recording(rate=1, burst=1))) as client:
        assert client.get("/x").status_code == 200
        assert closed == []
    assert closed == [True]


# --- Redis -----------------------------------------------------------------------------------


def _redis_problem() -> str | None:
    import redis

    try:
        client = redis.Redis.from_url(REDIS_URL, socket_connect_timeout=2, socket_timeout=2)
        client.ping()
        client.close()
    except redis.RedisError as exc:
        return f"Redis at {REDIS_URL} is not reachable: {exc}"
    return None


_REDIS_PROBLEM: list[str | None] = []


def require_redis() -> None:
    if not _REDIS_PROBLEM:
        _REDIS_PROBLEM.append(_redis_problem())
    problem = _REDIS_PROBLEM[0]
    if problem is not None:
        if REQUIRE_SERVICES:
            pytest.fail(f"{problem} (required: MLSTEWARD_TEST_REQUIRE_SERVICES=1)")
        pytest.skip(problem)


@pytest.fixture
def redis_prefix() -> Iterator[str]:
    """A key prefix of this test's own; its keys are deleted afterwards."""
    import redis

    require_redis()
    prefix = f"mlsteward:ratelimit:test-{uuid.uuid4().hex[:12]}:"
    try:
        yield prefix
    finally:
        client = redis.Redis.from_url(REDIS_URL)
        keys = list(client.scan_iter(match=prefix + "*"))
        if keys:
            client.delete(*keys)
        client.close()


def _redis_keys(prefix: str) -> dict[bytes, int]:
    """Key name → milliseconds to live, of the keys under ``prefix``."""
    import redis

    client = redis.Redis.from_url(REDIS_URL)
    try:
        return {key: int(client.pttl(key)) for key in client.scan_iter(match=prefix + "*")}
    finally:
        client.close()


def test_redis_buckets_burst_refuse_and_expire_once_full_again(redis_prefix: str) -> None:
    async def takes() -> list[Any]:
        limiter = RedisRateLimiter(REDIS_URL, rate=0.5, burst=3, prefix=redis_prefix)
        try:
            return [await limiter.take("key:abc") for _ in range(5)]
        finally:
            await limiter.aclose()

    decisions = anyio.run(takes)
    assert [decision.allowed for decision in decisions] == [True, True, True, False, False]
    assert 1.5 < decisions[3].retry_after <= 2.0  # one token at 0.5 per second
    ttl = _redis_keys(redis_prefix)
    assert list(ttl) == [f"{redis_prefix}key:abc".encode()]
    assert 5000 < ttl[f"{redis_prefix}key:abc".encode()] <= 6000  # 3 tokens at 0.5 per second


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def test_an_unreachable_redis_lets_requests_pass_and_warns_once_a_minute(
    caplog: pytest.LogCaptureFixture,
) -> None:
    clock = FakeClock()
    url = f"redis://:secret-password@127.0.0.1:{_free_port()}/0"  # nothing listens there

    async def takes() -> list[bool]:
        limiter = RedisRateLimiter(url, rate=1, burst=1, clock=clock, retry_interval=1.0)
        allowed = []
        try:
            for step in (0.0, 0.5, 1.0, 30.0, 30.0):  # the second is within retry_interval
                clock.now += step
                allowed.append((await limiter.take("key:abc")).allowed)
        finally:
            await limiter.aclose()
        return allowed

    with caplog.at_level(logging.WARNING, logger="mlsteward.serving"):
        assert anyio.run(takes) == [True] * 5
    warnings = [record.getMessage() for record in caplog.records]
    assert len(warnings) == 2  # at 0 s and at 61.5 s
    assert all("rate limits are off" in warning for warning in warnings)
    assert not any("secret-password" in warning for warning in warnings)


_SERVER = """
import sys

import uvicorn
from starlette.applications import Starlette
from starlette.responses import JSONResponse
from starlette.routing import Route

from mlsteward.serving._rate_limit import RateLimitMiddleware, RedisRateLimiter

port, url, prefix = int(sys.argv[1]), sys.argv[2], sys.argv[3]


async def answer(request):
    return JSONResponse({"port": port})


app = Starlette(routes=[Route(p, answer) for p in ("/v1/models/m/predict", "/v2/health/live")])
limiter = RedisRateLimiter(url, rate=0.01, burst=10, prefix=prefix)
uvicorn.run(RateLimitMiddleware(app, limiter), host="127.0.0.1", port=port, log_level="warning")
"""


@contextlib.contextmanager
def _servers(prefix: str, count: int) -> Iterator[list[str]]:
    """``count`` real uvicorn processes sharing the Redis budget under ``prefix``."""
    ports = [_free_port() for _ in range(count)]
    processes = [
        subprocess.Popen(
            [sys.executable, "-c", _SERVER, str(port), REDIS_URL, prefix],
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
        )
        for port in ports
    ]
    try:
        urls = [f"http://127.0.0.1:{port}" for port in ports]
        deadline = time.monotonic() + 60
        for url, process in zip(urls, processes, strict=True):
            while True:
                if process.poll() is not None:
                    output = process.stdout.read().decode() if process.stdout else ""
                    pytest.fail(f"the server on {url} stopped: {output}")
                with contextlib.suppress(httpx.TransportError):
                    if httpx.get(f"{url}/v2/health/live", timeout=1).status_code == 200:
                        break
                assert time.monotonic() < deadline, f"the server on {url} did not start"
                time.sleep(0.05)
        yield urls
    finally:
        for process in processes:
            process.terminate()
        for process in processes:
            try:
                process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
            if process.stdout:
                process.stdout.close()


@pytest.mark.slow
def test_two_server_processes_share_one_budget_per_key_through_redis(redis_prefix: str) -> None:
    with _servers(redis_prefix, 2) as (first, second), httpx.Client(timeout=10) as client:
        # Alternately to both servers with one key: one budget of 10, not 10 each.
        answers = [
            client.get(f"{url}/v1/models/m/predict", headers={"X-API-Key": KEY})
            for _ in range(15)
            for url in (first, second)
        ]
        accepted = [answer for answer in answers if answer.status_code == 200]
        refused = [answer for answer in answers if answer.status_code == 429]
        assert len(accepted) == 10
        assert len(refused) == 20
        assert {answer.json()["port"] for answer in accepted} == {
            int(first.rsplit(":", 1)[1]),
            int(second.rsplit(":", 1)[1]),
        }
        assert all(60 < int(answer.headers["retry-after"]) <= 100 for answer in refused)
        assert all("rate limit exceeded" in answer.json()["error"] for answer in refused)

        # Concurrently from many threads with another key: still exactly one budget.
        def call(url: str) -> int:
            headers = {"Authorization": f"Bearer {OTHER_KEY}"}
            return client.get(f"{url}/v1/models/m/predict", headers=headers).status_code

        with ThreadPoolExecutor(max_workers=8) as pool:
            statuses = list(pool.map(call, [first, second] * 20))
        assert statuses.count(200) == 10
        assert statuses.count(429) == 30

    digests = {hashlib.sha256(key.encode()).hexdigest() for key in (KEY, OTHER_KEY)}
    names = set(_redis_keys(redis_prefix))
    assert names == {f"{redis_prefix}key:{digest}".encode() for digest in digests}
    assert not any(KEY.encode() in name or OTHER_KEY.encode() in name for name in names)
