"""Serving statistics of one prediction window: requests answered, errors and a mergeable
latency histogram.

The histogram has fixed bucket bounds, the same in every process and release of a schema
version: 20 buckets a decade, log-spaced, from 0.1 ms (the first bucket holds 0 to 0.1 ms) to
63 s (``LATENCY_BOUNDS``), plus one overflow bucket for slower answers. Each bucket is about
12 % wider than the one before, so a percentile read from it is within 12 % of the true value.
Two histograms merge by adding their counts: the windows of several server processes or
replicas merge exactly, whatever order they come in.

The JSON form (``to_json``) carries a type tag and a ``schema_version``; ``from_json`` checks
it strictly (known keys only, whole counts >= 0, a bucket list of the right length that adds up
to the requests) and raises ``InvalidArgument`` saying what is wrong.
"""

from __future__ import annotations

import math
from bisect import bisect_left
from collections.abc import Mapping
from typing import Any, Final

from ..errors import InvalidArgument

__all__ = ["LATENCY_BOUNDS", "SERVING_STATS_TYPE", "ServingStats"]

SERVING_STATS_TYPE: Final = "mlsteward.serving_stats"
SCHEMA_VERSION: Final = 1
_PER_DECADE: Final = 20
LATENCY_BOUNDS: Final[tuple[float, ...]] = tuple(
    1e-4 * 10 ** (index / _PER_DECADE) for index in range(117)
)
"""Upper bounds (seconds, inclusive) of the latency buckets: 0.1 ms to about 63 s."""
BUCKETS: Final = len(LATENCY_BOUNDS) + 1  # the last one: slower than the last bound
_MAX_COUNT: Final = 2**53  # exact in a float and in every JSON reader
_KEYS: Final = frozenset(
    {"type", "schema_version", "requests", "errors", "client_errors", "latency_counts"}
)


class ServingStats:
    """Counts of answered requests of one window and their latency histogram.

    ``requests``: every answered request; ``errors``: those answered with a status >= 500;
    ``client_errors``: those answered with a 4xx status; ``latency_counts``: requests per
    latency bucket (``LATENCY_BOUNDS``; one count a request, so they add up to ``requests``).
    Not thread-safe: one writer at a time.
    """

    __slots__ = ("client_errors", "errors", "latency_counts", "requests")

    def __init__(self) -> None:
        self.requests = 0
        self.errors = 0
        self.client_errors = 0
        self.latency_counts = [0] * BUCKETS

    def observe(self, seconds: float, status: int) -> None:
        """Count one request answered with HTTP ``status`` after ``seconds``."""
        self.requests += 1
        if status >= 500:
            self.errors += 1
        elif status >= 400:
            self.client_errors += 1
        self.latency_counts[bisect_left(LATENCY_BOUNDS, seconds)] += 1

    def merge(self, other: ServingStats) -> ServingStats:
        """A new histogram holding the requests of both (exact: counts are added)."""
        merged = ServingStats()
        merged.requests = self.requests + other.requests
        merged.errors = self.errors + other.errors
        merged.client_errors = self.client_errors + other.client_errors
        merged.latency_counts = [
            a + b for a, b in zip(self.latency_counts, other.latency_counts, strict=True)
        ]
        return merged

    def percentile(self, q: float) -> float | None:
        """The ``q`` percentile (0 to 100) of the latencies, in seconds: the upper bound of the
        bucket holding the request of rank ``ceil(q / 100 * requests)`` (at least 1), so it is
        never below the true value and at most one bucket (12 %) above it. Requests slower
        than the last bound give the last bound (about 63 s). None without requests."""
        if not (isinstance(q, int | float) and 0 <= q <= 100):
            raise InvalidArgument(f"a percentile must be between 0 and 100, not {q!r}")
        if self.requests == 0:
            return None
        rank = max(1, math.ceil(q / 100 * self.requests))
        seen = 0
        for index, count in enumerate(self.latency_counts):
            seen += count
            if seen >= rank:
                return LATENCY_BOUNDS[min(index, len(LATENCY_BOUNDS) - 1)]
        return LATENCY_BOUNDS[-1]

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, ServingStats):
            return NotImplemented
        return self.to_json() == other.to_json()

    def __repr__(self) -> str:
        return (
            f"ServingStats(requests={self.requests}, errors={self.errors}, "
            f"client_errors={self.client_errors})"
        )

    def to_json(self) -> dict[str, Any]:
        """The JSON-ready form (type tag and ``schema_version`` included)."""
        return {
            "type": SERVING_STATS_TYPE,
            "schema_version": SCHEMA_VERSION,
            "requests": self.requests,
            "errors": self.errors,
            "client_errors": self.client_errors,
            "latency_counts": list(self.latency_counts),
        }

    @classmethod
    def from_json(cls, data: object) -> ServingStats:
        """The histogram ``to_json`` wrote; ``InvalidArgument`` (field ``serving``) naming what
        is wrong for anything else."""
        if not isinstance(data, Mapping):
            raise _bad("serving must be a JSON object (the window's serving statistics)")
        unknown = sorted(str(key)[:40] for key in data if key not in _KEYS)
        if unknown:
            raise _bad(f"serving has unknown keys: {', '.join(unknown)}")
        missing = sorted(_KEYS - set(data))
        if missing:
            raise _bad(f"serving lacks {', '.join(missing)}")
        if data["type"] != SERVING_STATS_TYPE:
            raise _bad(f"serving.type must be {SERVING_STATS_TYPE!r}")
        if data["schema_version"] != SCHEMA_VERSION or isinstance(data["schema_version"], bool):
            raise _bad(
                f"serving.schema_version {str(data['schema_version'])[:20]} is not supported "
                f"(this release reads {SCHEMA_VERSION}): upgrade mlsteward"
            )
        stats = cls()
        stats.requests = _count(data["requests"], "requests")
        stats.errors = _count(data["errors"], "errors")
        stats.client_errors = _count(data["client_errors"], "client_errors")
        counts = data["latency_counts"]
        if not isinstance(counts, list) or len(counts) != BUCKETS:
            raise _bad(f"serving.latency_counts must be a list of {BUCKETS} whole numbers")
        stats.latency_counts = [_count(c, "latency_counts") for c in counts]
        if stats.errors + stats.client_errors > stats.requests:
            raise _bad("serving.errors and serving.client_errors cannot add up to more requests")
        if sum(stats.latency_counts) != stats.requests:
            raise _bad("serving.latency_counts must add up to serving.requests")
        return stats


def _bad(message: str) -> InvalidArgument:
    return InvalidArgument(message, details={"field": "serving"})


def _count(value: object, field: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value < _MAX_COUNT:
        raise _bad(f"serving.{field} must hold whole numbers >= 0")
    return value
