"""The drift statistics, on plain arrays: shares per bucket, quantile grids, counts.

Nothing here knows about profiles; :mod:`._drift` reads the sketches and calls these. Natural
logarithms throughout (PSI, and the Jensen-Shannon distance as ``scipy.spatial.distance.
jensenshannon`` computes it by default, so between 0 and sqrt(ln 2) ~ 0.83). The p-values
needing a distribution function (KS, chi-squared) import SciPy when first used.
"""

from __future__ import annotations

import math
from typing import Any, Final

import numpy as np

from ..errors import MissingExtra

__all__ = [
    "PSI_EPSILON",
    "chi_squared",
    "jensen_shannon",
    "ks_p_value",
    "psi",
    "wasserstein",
    "z_test",
]

# A bucket empty on one side would make PSI infinite; its share counts as 0.01 % instead (the
# same floor as validation's profile check and Evidently's PSI).
PSI_EPSILON: Final = 1e-4


def _stats() -> Any:
    try:
        from scipy import stats  # type: ignore[import-untyped]
    except ImportError as exc:  # pragma: no cover - depends on the environment
        raise MissingExtra(
            "the KS and chi-squared drift tests need SciPy: pip install 'mlsteward[data]'"
        ) from exc
    return stats


def _normalised(shares: np.ndarray) -> np.ndarray:
    total = float(shares.sum())
    return shares / total if total > 0 else shares


def psi(reference: np.ndarray, current: np.ndarray) -> float:
    """Population stability index of two share vectors over the same buckets (>= 0)."""
    r = np.maximum(_normalised(reference), PSI_EPSILON)
    c = np.maximum(_normalised(current), PSI_EPSILON)
    return float(np.sum((c - r) * np.log(c / r)))


def jensen_shannon(reference: np.ndarray, current: np.ndarray) -> float:
    """Jensen-Shannon distance (natural log) of two share vectors over the same buckets."""
    p, q = _normalised(reference), _normalised(current)
    m = (p + q) / 2

    def kl(a: np.ndarray) -> float:
        mask = a > 0
        return float(np.sum(a[mask] * np.log(a[mask] / m[mask])))

    return math.sqrt(max((kl(p) + kl(q)) / 2, 0.0))


def wasserstein(reference_quantiles: np.ndarray, current_quantiles: np.ndarray) -> float:
    """W1 distance from both quantile functions sampled at the same evenly spaced ranks.

    W1 is the integral over ranks of ``|Q_ref(q) - Q_cur(q)|``; on a midpoint grid it is the
    mean of the gaps.
    """
    with np.errstate(invalid="ignore"):
        gaps = np.abs(reference_quantiles - current_quantiles)
    if np.isnan(gaps).any():  # inf - inf: both tails infinite
        return math.inf
    return float(gaps.mean())


def ks_p_value(statistic: float, n_reference: int, n_current: int) -> float:
    """Asymptotic two-sided p-value of a two-sample KS statistic.

    The one-sample Kolmogorov distribution with the effective size ``n1*n2/(n1+n2)``, rounded,
    as SciPy's ``ks_2samp(method="asymp")`` does.
    """
    effective = max(1, round(n_reference * n_current / (n_reference + n_current)))
    return float(np.clip(_stats().kstwo.sf(statistic, effective), 0.0, 1.0))


def chi_squared(reference: np.ndarray, current: np.ndarray) -> tuple[float, float]:
    """Chi-squared test of homogeneity of two count vectors: ``(statistic, p_value)``.

    A 2 x k contingency table (buckets empty on both sides dropped), without Yates' correction;
    unlike a goodness-of-fit test against the reference's shares, a category new in the current
    data gives a finite statistic. Fewer than two buckets: ``(0.0, 1.0)``.
    """
    table = np.vstack([reference, current]).astype(np.float64)
    table = table[:, table.sum(axis=0) > 0]
    if table.shape[1] < 2 or (table.sum(axis=1) == 0).any():
        return 0.0, 1.0
    result = _stats().chi2_contingency(table, correction=False)
    return float(result.statistic), float(result.pvalue)


def z_test(
    reference_hits: float, reference_total: float, current_hits: float, current_total: float
) -> tuple[float, float]:
    """Two-proportion z-test (pooled variance): ``(z, two-sided p_value)``."""
    if reference_total <= 0 or current_total <= 0:
        return 0.0, 1.0
    p_ref, p_cur = reference_hits / reference_total, current_hits / current_total
    pooled = (reference_hits + current_hits) / (reference_total + current_total)
    spread = math.sqrt(pooled * (1 - pooled) * (1 / reference_total + 1 / current_total))
    if spread == 0:
        return 0.0, 1.0
    z = (p_cur - p_ref) / spread
    return z, math.erfc(abs(z) / math.sqrt(2))
