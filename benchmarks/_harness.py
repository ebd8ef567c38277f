"""Shared benchmark plumbing: child processes, repetitions, peak RSS, the results table."""

from __future__ import annotations

import json
import resource
import statistics
import subprocess
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

MB = 1_000_000


def peak_rss() -> int:
    """Peak RSS of this process in bytes.

    Linux keeps ``ru_maxrss`` across ``exec``, so a child would report its parent's peak;
    ``VmHWM`` is the high-water mark of this program only.
    """
    try:
        with open("/proc/self/status") as status:
            for line in status:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024


@dataclass
class Side:
    """Timings (seconds) of the repetitions of one side, and its peak RSS in bytes."""

    times: list[float]
    peak_rss: int


@dataclass
class Row:
    """One line of the results table: ``size`` units were processed per repetition.

    ``unit="MB"`` means ``size`` is in bytes and rates are shown in MB/s.
    """

    workload: str
    size: int
    ours: Side
    peer: Side | None
    unit: str = "MB"

    def rates(self, side: Side) -> list[float]:
        """Units per second of every repetition of ``side``."""
        scale = MB if self.unit == "MB" else 1
        return [self.size / scale / t for t in side.times]


def run_child(
    module: str, job: dict[str, Any], *, python: str | None = None, script: str | None = None
) -> Side:
    """Run ``python -m <module> --child <job>`` and read the ``Side`` it prints as JSON.

    Each side runs in its own process so that its peak RSS is its own. A peer runs with its
    own interpreter (``python``, from ``benchmarks/.peers/``) and a ``script`` path, since
    the peer's environment does not have mlsteward installed.
    """
    target = ["-m", module] if script is None else [script]
    result = subprocess.run(
        [python or sys.executable, *target, "--child", json.dumps(job)],
        capture_output=True,
        text=True,
        check=False,
    )
    if result.returncode != 0:
        raise RuntimeError(f"benchmark child failed:\n{result.stderr}")
    data = json.loads(result.stdout.strip().splitlines()[-1])
    return Side(times=data["times"], peak_rss=data["peak_rss"])


def _spread(values: Sequence[float], unit: str) -> str:
    low, mid, high = min(values), statistics.median(values), max(values)
    return f"{low:,.0f} / {mid:,.0f} / {high:,.0f} {unit}/s"


def _size(row: Row) -> str:
    if row.unit == "MB":
        return f"{row.size / MB:,.0f} MB" if row.size >= MB else f"{row.size:,} B"
    return f"{row.size:,} {row.unit}"


def format_table(rows: Sequence[Row]) -> str:
    """A Markdown table: rate min / median / max, ratio of medians, peak RSS of each side."""
    header = (
        "| workload | size | mlsteward (min / median / max) | peer (min / median / max)"
        " | ratio | mlsteward peak RSS | peer peak RSS |"
    )
    lines = [header, "|" + "---|" * 7]
    for row in rows:
        ours = row.rates(row.ours)
        if row.peer is not None:
            peer = row.rates(row.peer)
            peer_text = _spread(peer, row.unit)
            factor = statistics.median(ours) / statistics.median(peer)
            ratio = f"{factor:,.1f}x" if factor >= 2 else f"{factor:.0%}"
            peer_rss = f"{row.peer.peak_rss / MB:,.0f} MB"
        else:
            peer_text, ratio, peer_rss = "-", "-", "-"
        lines.append(
            f"| {row.workload} | {_size(row)} | {_spread(ours, row.unit)} | {peer_text} "
            f"| {ratio} | {row.ours.peak_rss / MB:,.0f} MB | {peer_rss} |"
        )
    return "\n".join(lines)
