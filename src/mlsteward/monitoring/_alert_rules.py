"""Alert rule conditions and the incident state machine, on plain values (no database).

A rule looks at one metric of a monitor's ordered series of windows and decides whether the
newest window breaches it:

- ``threshold``: the newest value compared with ``value`` by ``op``;
- ``consecutive``: the last ``windows`` values all cross the threshold;
- ``baseline``: the newest value deviates from the mean of the ``windows`` windows before it by
  more than ``value`` (absolute, or percent of the mean when ``relative``).

:func:`decide` turns that verdict and the rule's open incident into what to do: open an
incident, re-notify, resolve, or nothing. One incident per breach episode: while one is open a
breach only re-notifies, once ``renotify_seconds`` passed since the last notification (never
when 0, never while acknowledged).
"""

from __future__ import annotations

import datetime as dt
import math
import operator
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from enum import StrEnum
from typing import Any, Final

__all__ = [
    "AlertState",
    "Condition",
    "Decision",
    "MetricWindow",
    "Severity",
    "Verdict",
    "decide",
    "judge",
]

OPS: Final[dict[str, Callable[[float, float], bool]]] = {
    ">": operator.gt,
    ">=": operator.ge,
    "<": operator.lt,
    "<=": operator.le,
}
KINDS: Final = ("threshold", "consecutive", "baseline")
MAX_WINDOWS: Final = 1_000


class Severity(StrEnum):
    INFO = "info"
    WARNING = "warning"
    CRITICAL = "critical"


class AlertState(StrEnum):
    FIRING = "firing"
    ACKNOWLEDGED = "acknowledged"
    RESOLVED = "resolved"


@dataclass(frozen=True, slots=True)
class MetricWindow:
    """One window of a monitor's series: its bounds and its flat numeric metrics."""

    window_start: dt.datetime
    window_end: dt.datetime
    metrics: Mapping[str, float]


@dataclass(frozen=True, slots=True)
class Condition:
    """What a rule checks: ``kind`` over ``metric`` (see the module docstring)."""

    metric: str
    kind: str
    op: str
    value: float
    windows: int = 1
    relative: bool = False

    def describe(self) -> str:
        """The condition as a person reads it, e.g. ``quality.recall < 0.8 for 3 windows``."""
        if self.kind == "baseline":
            unit = "%" if self.relative else ""
            return (
                f"{self.metric} deviates by more than {self.value:g}{unit} from the mean of "
                f"the previous {self.windows} windows"
            )
        text = f"{self.metric} {self.op} {self.value:g}"
        return text + (f" for {self.windows} windows" if self.kind == "consecutive" else "")


@dataclass(frozen=True, slots=True)
class Verdict:
    """The newest window judged: ``breached`` is None when it cannot be judged (the metric is
    missing or not finite, or too few windows for the condition)."""

    breached: bool | None
    value: float | None
    window: MetricWindow | None
    baseline: float | None = None


def _metric(window: MetricWindow, key: str) -> float | None:
    raw: Any = window.metrics.get(key)
    if isinstance(raw, bool) or not isinstance(raw, int | float):
        return None
    value = float(raw)
    return value if math.isfinite(value) else None


def judge(condition: Condition, series: Sequence[MetricWindow]) -> Verdict:
    """Whether the newest window of ``series`` (ordered oldest first) breaches ``condition``."""
    if not series:
        return Verdict(None, None, None)
    newest = series[-1]
    value = _metric(newest, condition.metric)
    if value is None:
        return Verdict(None, None, newest)
    compare = OPS[condition.op]
    if condition.kind == "threshold":
        return Verdict(compare(value, condition.value), value, newest)
    if condition.kind == "consecutive":
        recent = [_metric(w, condition.metric) for w in series[-condition.windows :]]
        if len(recent) < condition.windows or any(v is None for v in recent):
            # Too short to say "N in a row"; a single window below it is a clear "no".
            return Verdict(False if not compare(value, condition.value) else None, value, newest)
        return Verdict(
            all(compare(v, condition.value) for v in recent if v is not None), value, newest
        )
    previous = [_metric(w, condition.metric) for w in series[-condition.windows - 1 : -1]]
    known = [v for v in previous if v is not None]
    if len(previous) < condition.windows or len(known) < condition.windows:
        return Verdict(None, value, newest)
    mean = math.fsum(known) / len(known)
    deviation = abs(value - mean)
    if condition.relative:
        if mean == 0:
            return Verdict(deviation > 0, value, newest, mean)
        deviation = deviation / abs(mean) * 100
    return Verdict(deviation > condition.value, value, newest, mean)


class Decision(StrEnum):
    NOTHING = "nothing"
    OPEN = "open"
    RENOTIFY = "renotify"
    RESOLVE = "resolve"
    UPDATE = "update"  # still breached, nothing to send: record the newest value


def decide(
    verdict: Verdict,
    *,
    open_state: AlertState | None,
    last_notified_at: dt.datetime | None,
    renotify_seconds: int,
    auto_resolve: bool,
    now: dt.datetime,
) -> Decision:
    """What the rule's incident does after ``verdict`` (``open_state``: the state of its
    incident that is not resolved, or None)."""
    if verdict.breached is None:
        return Decision.NOTHING
    if open_state is None:
        return Decision.OPEN if verdict.breached else Decision.NOTHING
    if not verdict.breached:
        return Decision.RESOLVE if auto_resolve else Decision.NOTHING
    if (
        open_state is AlertState.FIRING
        and renotify_seconds > 0
        and (
            last_notified_at is None
            or now - last_notified_at >= dt.timedelta(seconds=renotify_seconds)
        )
    ):
        return Decision.RENOTIFY
    return Decision.UPDATE
