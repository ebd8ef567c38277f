"""The live figures of a deployment page, shaped for its charts.

``live_view`` turns what the ``deployment_stats`` service returns (the server's
``GET /deployment``, or ``{"running": false}``) into the JSON that ``static/deployments.js``
draws: per version its window figures and per-second series of the last 5 minutes
(requests/s, error rate, p99 and p50 when the server reports them), the traffic split (each
version's share of the requests over a sliding ``SHARE_SECONDS``), the shadow's counts, the
automatic rollbacks and the supervisor's restarts. Anything malformed is left out, never
trusted: the figures come from another process.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

SHARE_SECONDS = 5
"""The traffic split of a second counts the requests of the ``SHARE_SECONDS`` up to it."""
MAX_SECONDS = 300
MAX_VERSIONS = 20
MAX_ROLLBACKS = 20
_ERROR_CHARS = 300


def _number(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    return float(value) if math.isfinite(value) else None


def _count(value: Any) -> int:
    number = _number(value)
    return int(number) if number is not None and number >= 0 else 0


# Every series ends at the server's "now": a short one is padded on the left.
def _counts(values: Any, length: int) -> list[int]:
    items = values[-length:] if isinstance(values, list) and length else []
    return [0] * (length - len(items)) + [_count(v) for v in items]


def _numbers(values: Any, length: int) -> list[float | None]:
    items = values[-length:] if isinstance(values, list) and length else []
    return [None] * (length - len(items)) + [_number(v) for v in items]


def _text(value: Any, limit: int = _ERROR_CHARS) -> str | None:
    return value[:limit] if isinstance(value, str) else None


def shares(requests: Mapping[str, Sequence[int]], window: int = SHARE_SECONDS) -> dict[str, Any]:
    """Each version's share (0..1) of the requests of the ``window`` seconds up to each
    second (None where no version had any), and the latest second's shares as ``recent``
    with the requests they count as ``recent_requests``."""
    length = max((len(v) for v in requests.values()), default=0)
    totals = [sum(v[i] for v in requests.values() if i < len(v)) for i in range(length)]
    series: dict[str, list[float | None]] = {}
    recent: dict[str, float | None] = {}
    recent_total = sum(totals[max(0, length - window) :])
    for version, counts in requests.items():
        points: list[float | None] = []
        running = 0
        running_total = 0
        for i in range(length):
            running += counts[i] if i < len(counts) else 0
            running_total += totals[i]
            if i >= window:
                running -= counts[i - window] if i - window < len(counts) else 0
                running_total -= totals[i - window]
            points.append(round(running / running_total, 4) if running_total else None)
        series[version] = points
        recent[version] = points[-1] if points else None
    return {"series": series, "recent": recent, "recent_requests": recent_total}


def _version_row(version: str, data: Mapping[str, Any]) -> dict[str, Any]:
    role = data.get("role")
    return {
        "version": version,
        "role": role if isinstance(role, str) else "unknown",
        "weight": _count(data.get("weight")),
        "loaded": data.get("loaded") is True,
        "in_flight": _count(data.get("in_flight")),
        "requests": _count(data.get("requests")),
        "errors": _count(data.get("errors")),
        "error_rate": _number(data.get("error_rate")),
        "p50_ms": _number(data.get("p50_ms")),
        "p99_ms": _number(data.get("p99_ms")),
        "requests_total": _count(data.get("requests_total")),
        "errors_total": _count(data.get("errors_total")),
    }


def _version_series(data: Any, length: int) -> dict[str, Any]:
    data = data if isinstance(data, Mapping) else {}
    requests = _counts(data.get("requests"), length)
    errors = _counts(data.get("errors"), length)
    error_rate = [round(e / r, 4) if r else None for r, e in zip(requests, errors, strict=True)]
    series: dict[str, Any] = {
        "requests": requests,
        "error_rate": error_rate,
        "p99_ms": _numbers(data.get("p99_ms"), length),
    }
    if "p50_ms" in data:  # not every server reports a per-second median
        series["p50_ms"] = _numbers(data.get("p50_ms"), length)
    return series


def _shadow(data: Any) -> dict[str, Any] | None:
    if not isinstance(data, Mapping) or not isinstance(data.get("version"), str):
        return None
    return {
        "version": data["version"],
        "requests": _count(data.get("requests")),
        "disagreements": _count(data.get("disagreements")),
        "disagreement_rate": _number(data.get("disagreement_rate")),
        "dropped": _count(data.get("dropped")),
        "errors": _count(data.get("errors")),
    }


def _rollbacks(data: Any) -> list[dict[str, Any]]:
    items = data if isinstance(data, list) else []
    return [
        {
            "time": _text(item.get("time"), 40),
            "version": _text(item.get("version"), 64),
            "reason": _text(item.get("reason"), 1000),
        }
        for item in items[-MAX_ROLLBACKS:]
        if isinstance(item, Mapping)
    ]


def _process(data: Any) -> dict[str, Any]:
    data = data if isinstance(data, Mapping) else {}
    return {
        "supervisor_alive": data.get("supervisor_alive") is True,
        "state": _text(data.get("state"), 40),
        "restarts": _count(data.get("restarts")),
    }


def live_view(stats: Mapping[str, Any]) -> dict[str, Any]:
    """The chart JSON of a deployment page from the ``deployment_stats`` service's answer."""
    process = _process(stats.get("process"))
    if stats.get("running") is not True:
        return {
            "running": False,
            "error": _text(stats.get("error")) or "the server did not answer",
            "process": process,
        }
    raw_versions = stats.get("versions")
    versions = raw_versions if isinstance(raw_versions, Mapping) else {}
    raw_series = stats.get("series")
    series = raw_series if isinstance(raw_series, Mapping) else {}
    per_version = series.get("versions")
    per_version = per_version if isinstance(per_version, Mapping) else {}
    start = _number(series.get("start"))
    full = max(
        (
            len(s["requests"])
            for s in per_version.values()
            if isinstance(s, Mapping) and isinstance(s.get("requests"), list)
        ),
        default=0,
    )
    length = min(full, MAX_SECONDS)
    names = sorted(
        (v for v in versions if isinstance(v, str) and isinstance(versions[v], Mapping)),
        key=lambda v: (len(v), v),
    )[:MAX_VERSIONS]
    charted = {v: _version_series(per_version.get(v), length) for v in names}
    split = shares({v: s["requests"] for v, s in charted.items()})
    revision = stats.get("revision")
    # The series ends at the server's "now" (a longer one is cut from the left).
    end = None if start is None else int(start) + max(0, full - 1)
    return {
        "running": True,
        "revision": revision if isinstance(revision, int) else None,
        "ready": stats.get("ready") is True,
        "end": end,
        "seconds": length,
        "versions": [_version_row(v, versions[v]) for v in names],
        "series": charted,
        "split": split["series"],
        "recent_shares": split["recent"],
        "recent_requests": split["recent_requests"],
        "share_seconds": SHARE_SECONDS,
        "shadow": _shadow(stats.get("shadow")),
        "auto_rollbacks": _rollbacks(stats.get("auto_rollbacks")),
        "process": process,
    }
