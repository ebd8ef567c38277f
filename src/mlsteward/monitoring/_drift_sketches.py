"""Drift statistics read from two column profiles' sketches (see :mod:`._drift`).

Numeric columns: KLL quantile grids and CDFs. Categorical columns: frequent-items counts plus
an "other" bucket, or, for floats (which have no item counts), one KLL bucket per value.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Any, Final

import numpy as np

from . import _drift_stats as stats
from ._drift_options import Kind

if TYPE_CHECKING:
    from ..profiles import ColumnProfile

__all__ = ["NotComparable", "column_statistic", "valid_count"]

_GRID: Final = 1000  # ranks of the quantile grid for KS and Wasserstein
_ALL_ITEMS: Final = 100_000


def _kll(profile: ColumnProfile) -> Any:
    # ColumnProfile has no public CDF or batch-quantile reader; its KLL sketch answers both.
    sketch = profile._kll
    return None if sketch is None or sketch.is_empty() else sketch


def _quantiles(sketch: Any, ranks: np.ndarray) -> np.ndarray:
    return np.array([sketch.get_quantile(float(q)) for q in ranks], dtype=np.float64)


def _cdf(sketch: Any, points: np.ndarray) -> np.ndarray:
    if len(points) == 0:
        return np.empty(0)
    return np.asarray(sketch.get_cdf(points.tolist(), True), dtype=np.float64)[:-1]


def _shares_between(sketch: Any, edges: np.ndarray) -> np.ndarray:
    """Shares of the bins (-inf, e1], (e1, e2], ..., (ek, inf)."""
    cdf = np.concatenate(([0.0], _cdf(sketch, edges), [1.0]))
    return np.maximum(np.diff(cdf), 0.0)


def valid_count(profile: ColumnProfile) -> int:
    return profile.count - profile.null_count


def _buckets(reference: ColumnProfile, current: ColumnProfile) -> tuple[np.ndarray, np.ndarray]:
    """Counts per category on both sides, same order: the frequent items, then "other"."""
    ref_items, cur_items = reference.frequent(_ALL_ITEMS), current.frequent(_ALL_ITEMS)
    if ref_items and cur_items:
        ref, cur = dict(ref_items), dict(cur_items)
        names = sorted(set(ref) | set(cur))
        ref_counts = np.array([ref.get(n, 0) for n in names] + [0], dtype=np.float64)
        cur_counts = np.array([cur.get(n, 0) for n in names] + [0], dtype=np.float64)
        # Estimates never under-count, so the listed items can exceed the total a little.
        ref_counts[-1] = max(valid_count(reference) - ref_counts[:-1].sum(), 0)
        cur_counts[-1] = max(valid_count(current) - cur_counts[:-1].sum(), 0)
        return ref_counts, cur_counts
    ref_kll, cur_kll = _kll(reference), _kll(current)
    if ref_kll is None or cur_kll is None:
        raise NotComparable("no frequent items or quantiles to compare")
    # Few distinct numbers without item counts (floats): one bin per value seen on either side.
    ranks = np.linspace(0.0, 1.0, 201)
    values = np.unique(np.concatenate((_quantiles(ref_kll, ranks), _quantiles(cur_kll, ranks))))
    values = values[np.isfinite(values)]
    return (
        _shares_between(ref_kll, values) * valid_count(reference),
        _shares_between(cur_kll, values) * valid_count(current),
    )


class NotComparable(Exception):
    """The column cannot be compared, for the reason given."""


def column_statistic(
    method: str, kind: Kind, reference: ColumnProfile, current: ColumnProfile, bins: int
) -> tuple[float, float | None]:
    """``(statistic, p_value)`` of ``method``; both sides have non-null values."""
    if kind == "categorical":
        ref, cur = _buckets(reference, current)
        if method == "chisquare":
            return stats.chi_squared(ref, cur)
        if method == "z":
            first = int(np.argmax(ref))  # the reference's most common category
            return stats.z_test(ref[first], ref.sum(), cur[first], cur.sum())
        return _distance(method, ref, cur), None
    ref_kll, cur_kll = _kll(reference), _kll(current)
    if ref_kll is None or cur_kll is None:  # a column of strings forced to "numeric"
        raise NotComparable("the column has no numbers to compare as numeric")
    if method in ("psi", "jensenshannon"):
        ranks = np.arange(1, bins) / bins
        edges = np.unique(_quantiles(ref_kll, ranks))
        edges = edges[np.isfinite(edges)]
        ref_shares = _shares_between(ref_kll, edges)
        cur_shares = _shares_between(cur_kll, edges)
        return _distance(method, ref_shares, cur_shares), None
    grid = (np.arange(_GRID) + 0.5) / _GRID
    ref_q, cur_q = _quantiles(ref_kll, grid), _quantiles(cur_kll, grid)
    if method == "wasserstein":
        variance = reference.variance or 0.0
        distance = stats.wasserstein(ref_q, cur_q)
        if variance > 0 and math.isfinite(variance):
            return distance / math.sqrt(variance), None
        return (0.0 if distance == 0 else math.inf), None
    # KS: both CDFs at every split point either quantile grid shows, plus both extremes.
    ends = np.array([0.0, 1.0])
    points = np.unique(
        np.concatenate((ref_q, cur_q, _quantiles(ref_kll, ends), _quantiles(cur_kll, ends)))
    )
    points = points[~np.isnan(points)]
    d = float(np.max(np.abs(_cdf(ref_kll, points) - _cdf(cur_kll, points)), initial=0.0))
    # The p-value is that of the smallest gap the sketches guarantee (99 % confidence): with
    # many rows the sketches' rank error outgrows the sampling noise the test is about.
    guaranteed = max(d - _rank_error(ref_kll) - _rank_error(cur_kll), 0.0)
    return d, stats.ks_p_value(guaranteed, valid_count(reference), valid_count(current))


def _rank_error(sketch: Any) -> float:
    return float(sketch.normalized_rank_error(False)) if sketch.is_estimation_mode() else 0.0


def _distance(method: str, reference: np.ndarray, current: np.ndarray) -> float:
    return (
        stats.psi(reference, current)
        if method == "psi"
        else stats.jensen_shannon(reference, current)
    )
