"""Live statistics of a deployment, per version: requests, errors and latency.

Each answered request is counted in the bucket of its second. A version keeps the last
``SERIES_SECONDS`` (5 minutes) of seconds, for the per-second series the web UI charts, and
running totals over the rollback window, so the automatic rollback check after each request
costs a few additions, not a pass over the window.

Latencies go into logarithmic bins (each 10 % wider than the previous, 50 µs to about 2 min),
so a percentile is exact to within 10 % and memory does not grow with the traffic.

A shadow version's output agrees with the primary's answer (``outputs_agree``) when NumPy's
``allclose`` says so for floating-point values (NaN equal to NaN) and when everything else
(labels, integers, text) is equal; a DataFrame agrees with one of the same columns and values,
a mapping (named outputs) with one of the same keys and agreeing values; shapes must be equal.
"""

from __future__ import annotations

import math
from collections import deque
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from ._routing import AutoRollbackRule

SERIES_SECONDS = 300
_BIN_BASE_MS = 0.05
_BIN_GROWTH = 1.1
_BINS = 160  # 0.05 ms * 1.1**159: about 190 s; slower requests land in the last bin


def latency_bin(ms: float) -> int:
    """The latency bin of ``ms`` milliseconds."""
    if ms <= _BIN_BASE_MS:
        return 0
    return min(_BINS - 1, int(math.log(ms / _BIN_BASE_MS, _BIN_GROWTH)) + 1)


def bin_upper_ms(index: int) -> float:
    """The upper bound, in milliseconds, of latency bin ``index``."""
    return float(_BIN_BASE_MS * _BIN_GROWTH**index)


def percentile_ms(bins: dict[int, int], total: int, share: float) -> float | None:
    """The ``share`` quantile (0.99: p99) of the latencies counted in ``bins`` (upper bound of
    its bin); None without requests."""
    if total <= 0:
        return None
    rank = max(1, math.ceil(share * total))
    seen = 0
    for index in sorted(bins):
        seen += bins[index]
        if seen >= rank:
            return round(bin_upper_ms(index), 3)
    return round(bin_upper_ms(max(bins)), 3)


@dataclass(eq=False)
class _Second:
    second: int
    requests: int = 0
    errors: int = 0
    bins: dict[int, int] = field(default_factory=dict)


class VersionStats:
    """The counts of one version (see the module docstring). Use from one thread.

    ``reset_window()`` starts the rollback window afresh (a version that becomes a canary again
    is judged on its new requests only); the series and the totals keep everything.
    """

    def __init__(self, window_seconds: float) -> None:
        self.window_seconds = window_seconds
        self.requests_total = 0
        self.errors_total = 0
        self._series: deque[_Second] = deque()  # the last 5 minutes
        self._window: deque[_Second] = deque()  # the seconds counted in the window totals
        self._window_requests = 0
        self._window_errors = 0
        self._window_bins: dict[int, int] = {}

    def record(self, now: float, ms: float, error: bool) -> None:
        """Count one request answered at ``now`` (epoch seconds) after ``ms`` milliseconds."""
        second = int(now)
        self._expire(second)
        bucket = self._series[-1] if self._series else None
        # A clock stepping back counts in the latest second.
        if (
            bucket is None
            or bucket.second < second
            or not self._window
            or self._window[-1] is not bucket
        ):
            bucket = _Second(max(second, bucket.second) if bucket is not None else second)
            self._series.append(bucket)
            self._window.append(bucket)
        index = latency_bin(ms)
        bucket.requests += 1
        bucket.bins[index] = bucket.bins.get(index, 0) + 1
        self.requests_total += 1
        self._window_requests += 1
        self._window_bins[index] = self._window_bins.get(index, 0) + 1
        if error:
            bucket.errors += 1
            self.errors_total += 1
            self._window_errors += 1

    def reset_window(self, window_seconds: float | None = None) -> None:
        """Forget the window's counts (and take a new window length, when given)."""
        if window_seconds is not None:
            self.window_seconds = window_seconds
        self._window.clear()
        self._window_requests = self._window_errors = 0
        self._window_bins = {}

    def _expire(self, second: int) -> None:
        while self._series and self._series[0].second <= second - SERIES_SECONDS:
            self._series.popleft()
        first_in_window = second - math.ceil(self.window_seconds) + 1
        while self._window and self._window[0].second < first_in_window:
            dropped = self._window.popleft()
            self._window_requests -= dropped.requests
            self._window_errors -= dropped.errors
            for index, count in dropped.bins.items():
                left = self._window_bins[index] - count
                if left:
                    self._window_bins[index] = left
                else:
                    del self._window_bins[index]

    def window(self, now: float) -> tuple[int, int, dict[int, int]]:
        """``(requests, errors, latency bins)`` over the window ending at ``now``."""
        self._expire(int(now))
        return self._window_requests, self._window_errors, self._window_bins

    def summary(self, now: float) -> dict[str, Any]:
        """The JSON of this version's counts: window figures and totals."""
        requests, errors, bins = self.window(now)
        return {
            "requests": requests,
            "errors": errors,
            "error_rate": round(errors / requests, 6) if requests else None,
            "p50_ms": percentile_ms(bins, requests, 0.5),
            "p99_ms": percentile_ms(bins, requests, 0.99),
            "requests_total": self.requests_total,
            "errors_total": self.errors_total,
        }

    def series(self, now: float) -> dict[str, list[Any]]:
        """One point per second of the last 5 minutes, oldest first, ending at ``now``:
        requests, errors, p50 and p99 (ms; None for a second without requests)."""
        end = int(now)
        self._expire(end)
        start = end - SERIES_SECONDS + 1
        merged: dict[int, _Second] = {}
        for bucket in self._series:  # a reset window can leave two buckets for one second
            offset = bucket.second - start
            if not 0 <= offset < SERIES_SECONDS:
                continue
            into = merged.setdefault(offset, _Second(bucket.second))
            into.requests += bucket.requests
            into.errors += bucket.errors
            for index, count in bucket.bins.items():
                into.bins[index] = into.bins.get(index, 0) + count
        requests = [0] * SERIES_SECONDS
        errors = [0] * SERIES_SECONDS
        p50: list[float | None] = [None] * SERIES_SECONDS
        p99: list[float | None] = [None] * SERIES_SECONDS
        for offset, bucket in merged.items():
            requests[offset] = bucket.requests
            errors[offset] = bucket.errors
            p50[offset] = percentile_ms(bucket.bins, bucket.requests, 0.5)
            p99[offset] = percentile_ms(bucket.bins, bucket.requests, 0.99)
        return {"requests": requests, "errors": errors, "p50_ms": p50, "p99_ms": p99}

    def active(self, now: float) -> bool:
        """Whether this version has requests in the last 5 minutes."""
        self._expire(int(now))
        return bool(self._series)


@dataclass
class ShadowStats:
    """What the shadow version did: requests compared, disagreements, requests dropped
    (too many in flight, or the shadow's queue was full) and errors (the shadow raised)."""

    requests: int = 0
    disagreements: int = 0
    dropped: int = 0
    errors: int = 0

    def to_json(self) -> dict[str, Any]:
        compared = self.requests
        return {
            "requests": self.requests,
            "disagreements": self.disagreements,
            "disagreement_rate": round(self.disagreements / compared, 6) if compared else None,
            "dropped": self.dropped,
            "errors": self.errors,
        }


def outputs_agree(expected: Any, got: Any) -> bool:
    """Whether a shadow's output ``got`` agrees with the answer ``expected`` (see the module
    docstring); never raises."""
    try:
        return _agree(expected, got)
    except Exception:  # outputs that cannot even be compared disagree
        return False


def _agree(expected: Any, got: Any) -> bool:
    if isinstance(expected, Mapping) or isinstance(got, Mapping):
        if not (isinstance(expected, Mapping) and isinstance(got, Mapping)):
            return False
        if set(expected) != set(got):
            return False
        return all(_agree(expected[key], got[key]) for key in expected)
    columns = getattr(expected, "columns", None)
    if columns is not None or getattr(got, "columns", None) is not None:
        other = getattr(got, "columns", None)
        if columns is None or other is None or list(columns) != list(other):
            return False
        return all(_arrays_agree(expected[c].to_numpy(), got[c].to_numpy()) for c in columns)
    return _arrays_agree(expected, got)


def _arrays_agree(expected: Any, got: Any) -> bool:
    import numpy as np

    left = np.asarray(expected.to_numpy() if hasattr(expected, "to_numpy") else expected)
    right = np.asarray(got.to_numpy() if hasattr(got, "to_numpy") else got)
    if left.shape != right.shape:
        return False
    if left.dtype.kind in "fc" or right.dtype.kind in "fc":
        if left.dtype.kind in "biufc" and right.dtype.kind in "biufc":
            return bool(np.allclose(left, right, equal_nan=True))
        return False
    return bool(np.array_equal(left, right))


def rollback_reason(
    rule: AutoRollbackRule, version: str, stats: VersionStats, now: float
) -> str | None:
    """Why canary ``version`` must be rolled back under ``rule`` at ``now``, or None: at least
    ``min_requests`` requests in the window, and its error share over ``max_error_rate`` or its
    p99 latency over ``max_p99_ms``."""
    requests, errors, bins = stats.window(now)
    if requests < rule.min_requests:
        return None
    window = f"{rule.window_seconds:g} s"
    if errors / requests > rule.max_error_rate:
        return (
            f"canary version {version}: {errors} of {requests} requests failed in the last "
            f"{window} ({errors / requests:.1%}), over the limit of {rule.max_error_rate:.1%}"
        )
    if rule.max_p99_ms is not None:
        p99 = percentile_ms(bins, requests, 0.99)
        if p99 is not None and p99 > rule.max_p99_ms:
            return (
                f"canary version {version}: p99 latency {p99:g} ms over the last {window} "
                f"({requests} requests), over the limit of {rule.max_p99_ms:g} ms"
            )
    return None
