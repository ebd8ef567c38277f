"""Small SVG histograms for the dataset page, drawn on the server from a profile summary."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

WIDTH = 240
HEIGHT = 64
GAP = 1


@dataclass(frozen=True, slots=True)
class Bar:
    x: float
    y: float
    width: float
    height: float
    title: str


def _format(value: float) -> str:
    return f"{value:.4g}"


def histogram_bars(edges: Sequence[float], counts: Sequence[float]) -> list[Bar]:
    """One bar per bin, scaled to ``WIDTH`` by ``HEIGHT``; ``edges`` has one more item than
    ``counts``. Bad or empty input draws nothing rather than failing the page."""
    if not counts or len(edges) != len(counts) + 1:
        return []
    tallest = max(counts)
    if tallest <= 0:
        return []
    step = WIDTH / len(counts)
    bars = []
    for index, count in enumerate(counts):
        height = HEIGHT * count / tallest
        lo, hi = edges[index], edges[index + 1]
        bars.append(
            Bar(
                x=round(index * step, 2),
                y=round(HEIGHT - height, 2),
                width=round(max(step - GAP, 0.5), 2),
                height=round(height, 2),
                title=f"{_format(lo)} to {_format(hi)}: {count:g}",
            )
        )
    return bars
