"""Shared benchmark plumbing: child processes, repetitions, peak RSS, the results table."""

from __future__ import annotations

import json
import statistics
import subprocess
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

MB = 1_000_000


@dataclass
class Side:
    """Timings (seconds) of the repetitions of one side, and its peak RSS in bytes."""

    times: list[float]
    peak_rss: int

    def throughputs(self, size: int) -> list[float]:
        """MB/s of every repetition."""
        return [size / t / MB for t in self.times]


@dataclass
class Row:
    """One line of the results table."""

    workload: str
    size: int
    ours: Side
    peer: Side | None


def run_child(module: str, job: dict[str, Any]) -> Side:
    """Run ``python -m <module> --child <job>`` and read the ``Side`` it prints as JSON.

    Each side runs in its own process so that its peak RSS (``ru_maxrss``) is its own.
    """
    result = subprocess.run(
        [sys.executable, "-m", module, "--child", json.dumps(job)],
        capture_output=True,
        text=True,
        check=False,
    )
    if result.returncode != 0:
        raise RuntimeError(f"benchmark child failed:\n{result.stderr}")
    data = json.loads(result.stdout.strip().splitlines()[-1])
    return Side(times=data["times"], peak_rss=data["peak_rss"])


def _spread(values: Sequence[float]) -> str:
    return f"{min(values):,.0f} / {statistics.median(values):,.0f} / {max(values):,.0f}"


def _human(size: int) -> str:
    return f"{size / MB:,.0f} MB" if size >= MB else f"{size:,} B"


def format_table(rows: Sequence[Row]) -> str:
    """A Markdown table: throughput min / median / max (MB/s), ratio of medians, peak RSS."""
    header = (
        "| workload | size | mlsteward MB/s (min / median / max) | peer MB/s (min / median / max)"
        " | ratio | mlsteward peak RSS | peer peak RSS |"
    )
    lines = [header, "|" + "---|" * 7]
    for row in rows:
        ours = row.ours.throughputs(row.size)
        if row.peer is not None:
            peer = row.peer.throughputs(row.size)
            peer_text = _spread(peer)
            ratio = f"{statistics.median(ours) / statistics.median(peer):.0%}"
            peer_rss = f"{row.peer.peak_rss / MB:,.0f} MB"
        else:
            peer_text, ratio, peer_rss = "-", "-", "-"
        lines.append(
            f"| {row.workload} | {_human(row.size)} | {_spread(ours)} | {peer_text} | {ratio} "
            f"| {row.ours.peak_rss / MB:,.0f} MB | {peer_rss} |"
        )
    return "\n".join(lines)
