"""Confidence intervals for the quality metrics, chosen to stay fast at 100,000 labels.

- Proportions (accuracy, a binary precision or recall): Wilson score intervals, which stay
  inside [0, 1] and behave at small counts and at rates near 0 or 1.
- Statistics of a confusion matrix (F1, macro averages): a percentile bootstrap that resamples
  the matrix's cells (a multinomial draw over the cells is exactly a bootstrap resample of the
  rows), ``RESAMPLES`` times with seed ``SEED``, so its cost grows with the number of distinct
  (label, prediction) pairs, not with the number of labels, and the same data always gives the
  same interval.
- Means of per-row values (log loss, MAE, mean squared error, R² through each row's influence):
  normal intervals, mean +- z * standard error.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from statistics import NormalDist
from typing import Any, Final

import numpy as np

from ..errors import InvalidArgument

__all__ = [
    "RESAMPLES",
    "SEED",
    "MetricEstimate",
    "bootstrap_confusion",
    "check_confidence",
    "mean_interval",
    "normal_interval",
    "wilson",
    "z_value",
]

RESAMPLES: Final = 1_000
SEED: Final = 0


@dataclass(frozen=True)
class MetricEstimate:
    """A metric's value and its interval ``[lower, upper]``; ``reason`` says why the value
    (or only the interval) is None."""

    value: float | None
    lower: float | None = None
    upper: float | None = None
    reason: str | None = None

    def to_json(self) -> dict[str, Any]:
        return {
            "value": self.value,
            "lower": self.lower,
            "upper": self.upper,
            "reason": self.reason,
        }


def check_confidence(confidence: object) -> float:
    """``confidence`` as a float strictly between 0 and 1; ``InvalidArgument`` otherwise."""
    if (
        isinstance(confidence, bool)
        or not isinstance(confidence, int | float)
        or not 0.0 < confidence < 1.0
    ):
        raise InvalidArgument(
            f"confidence must be a number between 0 and 1 (e.g. 0.95), not {confidence!r:.50}",
            details={"field": "confidence"},
        )
    return float(confidence)


def z_value(confidence: float) -> float:
    """The standard normal quantile of a two-sided interval at ``confidence``."""
    return NormalDist().inv_cdf(0.5 + confidence / 2)


def wilson(successes: int, n: int, z: float) -> MetricEstimate:
    """``successes / n`` with its Wilson score interval (``n`` > 0)."""
    p = successes / n
    scale = 1 + z * z / n
    centre = (p + z * z / (2 * n)) / scale
    half = z / scale * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n))
    return MetricEstimate(p, max(0.0, centre - half), min(1.0, centre + half))


def normal_interval(
    value: float, standard_error: float, z: float, *, low: float | None = None,
    high: float | None = None,
) -> MetricEstimate:  # fmt: skip
    """``value +- z * standard_error``, clipped to ``[low, high]``."""
    lower, upper = value - z * standard_error, value + z * standard_error
    if low is not None:
        lower = max(low, lower)
    if high is not None:
        upper = min(high, upper)
    return MetricEstimate(value, lower, upper)


def mean_interval(
    values: np.ndarray, z: float, *, low: float | None = None, high: float | None = None
) -> MetricEstimate:
    """The mean of ``values`` with its normal interval (none with fewer than two values)."""
    mean = float(values.mean())
    if len(values) < 2:
        return MetricEstimate(mean, reason="an interval needs at least two labels")
    error = float(values.std(ddof=1)) / math.sqrt(len(values))
    return normal_interval(mean, error, z, low=low, high=high)


Statistic = Callable[[np.ndarray, np.ndarray, np.ndarray], np.ndarray]
"""``(true positives, label counts, prediction counts)`` per class -> statistic values."""


def bootstrap_confusion(
    values: np.ndarray, cells: np.ndarray, true_class: np.ndarray, predicted_class: np.ndarray,
    classes: int, statistic: Statistic, confidence: float,
) -> list[MetricEstimate]:  # fmt: skip
    """Percentile bootstrap intervals of ``statistic`` of a confusion matrix.

    ``cells``: the counts of the matrix's non-empty cells, cell ``i`` being label class
    ``true_class[i]`` predicted as ``predicted_class[i]`` (indices below ``classes``).
    ``values``: the statistic of the matrix itself; an interval is widened to hold its value
    (a percentile interval of a skewed statistic can miss it at tiny counts).
    """
    n = int(cells.sum())
    rng = np.random.default_rng(SEED)
    draws = rng.multinomial(n, cells / n, size=RESAMPLES)
    diagonal = true_class == predicted_class
    diagonal_class = true_class[diagonal]
    samples = np.empty((RESAMPLES, len(values)))
    for i, draw in enumerate(draws):
        tp = np.bincount(diagonal_class, weights=draw[diagonal], minlength=classes)
        true_sum = np.bincount(true_class, weights=draw, minlength=classes)
        pred_sum = np.bincount(predicted_class, weights=draw, minlength=classes)
        samples[i] = statistic(tp, true_sum, pred_sum)
    alpha = (1 - confidence) / 2
    estimates = []
    for j, value in enumerate(values.tolist()):
        column = samples[:, j]
        column = column[~np.isnan(column)]
        if len(column) == 0:
            estimates.append(MetricEstimate(value, reason="no resample defines it"))
            continue
        lower, upper = np.quantile(column, [alpha, 1 - alpha]).tolist()
        estimates.append(MetricEstimate(value, min(lower, value), max(upper, value)))
    return estimates
