"""Server-side SVG charts of the monitoring report: the drift heatmap, line charts with
confidence bands and reference-vs-current bar charts. Colours come from CSS classes of the
page; every text from the data is HTML-escaped here."""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from html import escape
from typing import Final

__all__ = ["Series", "bar_chart", "cell_fill", "heatmap", "line_chart", "short"]

WIDTH: Final = 760
_LEFT: Final = 56
_RIGHT: Final = 12
_TOP: Final = 10
_BOTTOM: Final = 30
HEATMAP_LABEL: Final = 190
_LABEL_CHARS: Final = 28


def _n(x: float) -> str:
    """A compact SVG coordinate."""
    return f"{x:.1f}".removesuffix(".0")


def short(text: str, limit: int = _LABEL_CHARS) -> str:
    """``text`` cut to ``limit`` characters with an ellipsis (not escaped)."""
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _tick(value: float) -> str:
    return f"{value:.3g}"


def _moment(value: dt.datetime) -> str:
    return value.strftime("%Y-%m-%d %H:%M")


@dataclass(frozen=True)
class Series:
    """One line: a value (None: no value) per window, an optional band, a CSS class ``s0``..
    ``s5`` for its colour, and ``alarms``: windows to mark with a red dot."""

    name: str
    values: Sequence[float | None]
    css: str
    lower: Sequence[float | None] | None = None
    upper: Sequence[float | None] | None = None
    alarms: Sequence[bool] | None = None


def _at(values: Sequence[float | None], i: int) -> float:
    value = values[i]
    assert value is not None
    return value


def _runs(values: Sequence[float | None]) -> list[list[int]]:
    """Index runs of consecutive defined values."""
    runs: list[list[int]] = []
    for i, v in enumerate(values):
        if v is None or not math.isfinite(v):
            continue
        if runs and runs[-1][-1] == i - 1:
            runs[-1].append(i)
        else:
            runs.append([i])
    return runs


def _range(series: Sequence[Series], fixed: tuple[float, float] | None) -> tuple[float, float]:
    if fixed is not None:
        return fixed
    values = [
        v
        for s in series
        for part in (s.values, s.lower or (), s.upper or ())
        for v in part
        if v is not None and math.isfinite(v)
    ]
    if not values:
        return 0.0, 1.0
    lo, hi = min(values), max(values)
    pad = (hi - lo) * 0.08 or abs(hi) * 0.1 or 1.0
    return (0.0 if lo >= 0 and lo - pad < 0 else lo - pad), hi + pad


def _x_labels(starts: Sequence[dt.datetime], x: Callable[[int], float], bottom: float) -> list[str]:
    n = len(starts)
    picks = sorted({0, n // 2, n - 1}) if n > 2 else list(range(n))
    anchors = {0: "start", n - 1: "end"}
    return [
        f'<text class="axis" x="{_n(x(i))}" y="{_n(bottom + 16)}" '
        f'text-anchor="{anchors.get(i, "middle")}">{escape(_moment(starts[i]))}</text>'
        for i in picks
    ]


def line_chart(
    series: Sequence[Series],
    starts: Sequence[dt.datetime],
    *,
    label: str,
    y_range: tuple[float, float] | None = None,
    rules: Sequence[tuple[float, str]] = (),
    height: int = 170,
) -> str:
    """Lines over the windows (x: window position), with bands, dashed horizontal ``rules``
    (value, label) and a y axis of three ticks."""
    n = max(len(starts), 1)
    lo, hi = _range(series, y_range)
    if hi <= lo:
        hi = lo + 1.0
    plot_w, plot_h = WIDTH - _LEFT - _RIGHT, height - _TOP - _BOTTOM
    bottom = _TOP + plot_h

    def x(i: int) -> float:
        return _LEFT + (i + 0.5) * plot_w / n

    def y(v: float) -> float:
        return bottom - (min(max(v, lo), hi) - lo) / (hi - lo) * plot_h

    parts = [
        f'<svg class="chart" viewBox="0 0 {WIDTH} {height}" width="{WIDTH}" height="{height}" '
        f'role="img" aria-label="{escape(label)}">',
        f'<rect class="frame" x="{_LEFT}" y="{_TOP}" width="{plot_w}" height="{plot_h}"/>',
    ]
    for value in (lo, (lo + hi) / 2, hi):
        parts.append(
            f'<text class="axis" x="{_LEFT - 4}" y="{_n(y(value) + 4)}" '
            f'text-anchor="end">{_tick(value)}</text>'
        )
    for value, text in rules:
        if lo <= value <= hi:
            parts.append(
                f'<line class="rule" x1="{_LEFT}" x2="{WIDTH - _RIGHT}" y1="{_n(y(value))}" '
                f'y2="{_n(y(value))}"/><text class="rule-label" x="{WIDTH - _RIGHT - 4}" '
                f'y="{_n(y(value) - 4)}" text-anchor="end">{escape(text)}</text>'
            )
    for s in series:
        if s.lower is not None and s.upper is not None:
            bounds = [
                None if a is None or b is None else 0.0
                for a, b in zip(s.lower, s.upper, strict=True)
            ]
            for run in _runs(bounds):
                upper = [f"{_n(x(i))},{_n(y(_at(s.upper, i)))}" for i in run]
                lower = [f"{_n(x(i))},{_n(y(_at(s.lower, i)))}" for i in reversed(run)]
                parts.append(f'<polygon class="band {s.css}" points="{" ".join(upper + lower)}"/>')
        for run in _runs(s.values):
            points = " ".join(f"{_n(x(i))},{_n(y(_at(s.values, i)))}" for i in run)
            if len(run) == 1:
                i = run[0]
                parts.append(
                    f'<circle class="dot {s.css}" cx="{_n(x(i))}" '
                    f'cy="{_n(y(_at(s.values, i)))}" r="2.5"/>'
                )
            else:
                parts.append(f'<polyline class="line {s.css}" points="{points}"/>')
        for i, alarm in enumerate(s.alarms or ()):
            mark = s.values[i]
            if alarm and mark is not None:
                parts.append(f'<circle class="alarm" cx="{_n(x(i))}" cy="{_n(y(mark))}" r="3.5"/>')
    parts += _x_labels(starts, x, bottom)
    parts.append("</svg>")
    return "".join(parts)


def cell_fill(score: float) -> str:
    """The colour of a heatmap cell that did not drift, from light green (score 0) to amber
    (score 1, the threshold)."""
    t = min(max(score, 0.0), 1.0)
    low, high = (232, 245, 233), (249, 168, 37)
    r, g, b = (round(a + (c - a) * t) for a, c in zip(low, high, strict=True))
    return f"#{r:02x}{g:02x}{b:02x}"


def heatmap(
    features: Sequence[str],
    starts: Sequence[dt.datetime],
    cells: Sequence[Sequence[tuple[str, str]]],
) -> str:
    """Rows = ``features``, columns = windows; ``cells[f][w]`` = (CSS state, fill colour).
    Each row is a focusable ``g.hm-row`` (``data-f``: feature position), each cell a
    ``rect.cell`` (``data-w``: window position)."""
    n = max(len(starts), 1)
    cell_w = min(max(900 / n, 3.0), 28.0)
    cell_h = 18
    top = 26
    width = HEATMAP_LABEL + cell_w * n + 80  # room for the last time label
    height = top + cell_h * len(features) + 4
    parts = [
        f'<svg class="heatmap{" wide" if cell_w >= 8 else ""}" id="heatmap" '
        f'viewBox="0 0 {_n(width)} {height}" '
        f'width="{_n(width)}" height="{height}" role="img" '
        'aria-label="Drift per feature and window">'
    ]
    step = max(1, math.ceil(120 / cell_w))  # a time label is about 110 px wide
    for w in range(0, len(starts), step):
        parts.append(
            f'<text class="axis" x="{_n(HEATMAP_LABEL + w * cell_w)}" y="{top - 8}">'
            f"{escape(_moment(starts[w]))}</text>"
        )
    for f, name in enumerate(features):
        y = top + f * cell_h
        row = [
            f'<g class="hm-row" data-f="{f}" tabindex="0" role="button" '
            f'aria-label="Show {escape(name)}">'
            f'<rect class="hm-band" x="0" y="{y}" width="{_n(width)}" height="{cell_h}"/>'
            f'<text class="hm-label" x="{HEATMAP_LABEL - 8}" y="{y + 13}" text-anchor="end">'
            f"{escape(short(name))}</text>"
        ]
        for w, (state, fill) in enumerate(cells[f]):
            row.append(
                f'<rect class="cell {state}" data-w="{w}" x="{_n(HEATMAP_LABEL + w * cell_w)}" '
                f'y="{y + 1}" width="{_n(max(cell_w - 1, 2))}" height="{cell_h - 2}" '
                f'fill="{fill}"/>'
            )
        row.append("</g>")
        parts.append("".join(row))
    parts.append("</svg>")
    return "".join(parts)


def bar_chart(
    buckets: Sequence[str],
    reference: Sequence[float],
    current: Sequence[float],
    *,
    label: str,
    categorical: bool,
    height: int = 230,
) -> str:
    """Reference and current shares side by side per bucket; each bucket's ``g`` has a
    ``title`` with both shares."""
    n = max(len(buckets), 1)
    bottom_space = 64 if categorical else _BOTTOM
    plot_w, plot_h = WIDTH - _LEFT - _RIGHT, height - _TOP - bottom_space
    bottom = _TOP + plot_h
    peak = max([*reference, *current, 0.0]) or 1.0
    slot = plot_w / n
    bar = max(slot * 0.4, 0.5)
    parts = [
        f'<svg class="chart bars" viewBox="0 0 {WIDTH} {height}" width="{WIDTH}" '
        f'height="{height}" role="img" aria-label="{escape(label)}">',
        f'<rect class="frame" x="{_LEFT}" y="{_TOP}" width="{plot_w}" height="{plot_h}"/>',
    ]
    for value in (0.0, peak / 2, peak):
        y = bottom - value / peak * plot_h
        parts.append(
            f'<text class="axis" x="{_LEFT - 4}" y="{_n(y + 4)}" text-anchor="end">'
            f"{value * 100:.3g} %</text>"
        )
    for i, name in enumerate(buckets):
        x0 = _LEFT + i * slot + slot * 0.1
        ref_h, cur_h = reference[i] / peak * plot_h, current[i] / peak * plot_h
        title = f"{name}: reference {reference[i] * 100:.3g} %, current {current[i] * 100:.3g} %"
        parts.append(
            f'<g class="bucket"><title>{escape(title)}</title>'
            f'<rect class="bar ref" x="{_n(x0)}" y="{_n(bottom - ref_h)}" width="{_n(bar)}" '
            f'height="{_n(ref_h)}"/><rect class="bar cur" x="{_n(x0 + bar)}" '
            f'y="{_n(bottom - cur_h)}" width="{_n(bar)}" height="{_n(cur_h)}"/></g>'
        )
        if categorical:
            cx = _n(x0 + bar)
            parts.append(
                f'<text class="axis" x="{cx}" y="{bottom + 12}" text-anchor="end" '
                f'transform="rotate(-35 {cx} {bottom + 12})">{escape(short(name, 16))}</text>'
            )
    if not categorical and buckets:
        first, last = buckets[0].split(" to ")[0], buckets[-1].split(" to ")[-1]
        parts.append(
            f'<text class="axis" x="{_LEFT}" y="{bottom + 16}">{escape(first)}</text>'
            f'<text class="axis" x="{WIDTH - _RIGHT}" y="{bottom + 16}" text-anchor="end">'
            f"{escape(last)}</text>"
        )
    parts.append("</svg>")
    return "".join(parts)
