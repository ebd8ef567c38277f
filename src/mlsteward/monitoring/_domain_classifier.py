"""Multivariate drift: can a classifier tell the current rows from the reference rows?

Per-column statistics miss a change in how columns relate (two features whose correlation
flips keep both their distributions). A *domain classifier* catches it: rows of both samples,
labelled by where they come from, are cross-validated with a gradient-boosted tree model; its
ROC AUC is 0.5 when the samples are alike and approaches 1 as they part. The sample is
balanced (as many rows of each side, at most ``max_rows`` in all) so the AUC reads the same
whatever the sizes, and the folds are stratified and seeded, so one input gives one answer.

Drifted when the AUC is at least ``threshold`` (0.55 by default) and the lower end of its 95 %
interval (Hanley and McNeil) is above 0.5, so a small sample's noise alone does not raise it.
The columns the model leaned on most (impurity-free: the AUC lost when a column is shuffled
in the held-out rows) say where to look.

Inputs are the sampled rows a prediction log keeps (or any two frames with common columns):
numbers as they are (missing values included), text and booleans as categories.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Final

import numpy as np

from ..errors import InvalidArgument, MissingExtra

__all__ = ["DomainClassifierDrift", "domain_classifier_drift"]

DEFAULT_THRESHOLD: Final = 0.55
DEFAULT_MAX_ROWS: Final = 20_000
MIN_ROWS_PER_SIDE: Final = 50
FOLDS: Final = 3
_IGNORED: Final = frozenset({"prediction_id", "mlsteward_label"})
_TOP: Final = 5


@dataclass(frozen=True)
class DomainClassifierDrift:
    """How well a classifier separates current rows from reference rows (``auc``), whether
    that is drift, and the columns that separate them most (``top_columns``: column and the
    AUC lost when it is shuffled). ``reference_rows`` and ``current_rows``: the rows used from
    each side (as many of each)."""

    auc: float
    auc_low: float
    auc_high: float
    threshold: float
    drifted: bool
    reference_rows: int
    current_rows: int
    columns: tuple[str, ...]
    top_columns: tuple[tuple[str, float], ...]

    def to_json(self) -> dict[str, Any]:
        return {
            "method": "domain_classifier",
            "auc": self.auc,
            "auc_interval": [self.auc_low, self.auc_high],
            "threshold": self.threshold,
            "drifted": self.drifted,
            "reference_rows": self.reference_rows,
            "current_rows": self.current_rows,
            "columns": list(self.columns),
            "top_columns": [{"column": c, "auc_drop": d} for c, d in self.top_columns],
        }


def _sklearn() -> Any:
    try:
        import sklearn.ensemble
        import sklearn.metrics
        import sklearn.model_selection
    except ImportError:
        raise MissingExtra(
            "the multivariate drift detector trains a scikit-learn model: "
            "pip install 'mlsteward[sklearn]'"
        ) from None
    return sklearn


def _check(
    reference: Any, current: Any, columns: Sequence[str] | None, threshold: float, max_rows: int
) -> list[str]:
    import pandas as pd

    for label, frame in (("reference", reference), ("current", current)):
        if not isinstance(frame, pd.DataFrame):
            raise InvalidArgument(f"{label} must be a pandas DataFrame, got {type(frame).__name__}")
    if isinstance(threshold, bool) or not isinstance(threshold, int | float):
        raise InvalidArgument("threshold must be a number between 0.5 and 1")
    if not 0.5 < threshold < 1:
        raise InvalidArgument(f"threshold must be between 0.5 and 1, got {threshold}")
    least = 2 * MIN_ROWS_PER_SIDE
    if isinstance(max_rows, bool) or not isinstance(max_rows, int) or max_rows < least:
        raise InvalidArgument(f"max_rows must be a whole number of at least {least}")
    if columns is None:
        names = [
            str(c)
            for c in reference.columns
            if c in current.columns and str(c) not in _IGNORED and not str(c).startswith("score.")
        ]
    else:
        if isinstance(columns, str) or not all(isinstance(c, str) for c in columns):
            raise InvalidArgument("columns must be a list of column names")
        names = list(dict.fromkeys(columns))
        missing = [c for c in names if c not in reference.columns or c not in current.columns]
        if missing:
            raise InvalidArgument(f"columns not in both frames: {missing[:10]}")
    if not names:
        raise InvalidArgument("the two frames have no column in common to compare")
    for label, frame in (("reference", reference), ("current", current)):
        if len(frame) < MIN_ROWS_PER_SIDE:
            raise InvalidArgument(
                f"the {label} rows are too few for a domain classifier: {len(frame)}, at "
                f"least {MIN_ROWS_PER_SIDE} are needed"
            )
    return names


def _features(reference: Any, current: Any, names: list[str]) -> tuple[np.ndarray, list[bool]]:
    """Both samples as one float matrix (reference rows first); text and boolean columns as
    category codes over both sides' values, with a mask saying which columns they are."""
    import pandas as pd

    columns: list[np.ndarray] = []
    categorical: list[bool] = []
    for name in names:
        both = pd.concat([reference[name], current[name]], ignore_index=True)
        if pd.api.types.is_bool_dtype(both) or not pd.api.types.is_numeric_dtype(both):
            codes = pd.Categorical(both.astype("string")).codes.astype(np.float64)
            codes[codes < 0] = np.nan
            columns.append(codes)
            categorical.append(True)
        else:
            columns.append(pd.to_numeric(both, errors="coerce").to_numpy(np.float64))
            categorical.append(False)
    return np.column_stack(columns), categorical


def _hanley_mcneil(auc: float, positives: int, negatives: int) -> tuple[float, float]:
    q1, q2 = auc / (2 - auc), 2 * auc * auc / (1 + auc)
    variance = (
        auc * (1 - auc) + (positives - 1) * (q1 - auc * auc) + (negatives - 1) * (q2 - auc * auc)
    ) / (positives * negatives)
    half = 1.959964 * math.sqrt(max(variance, 0.0))
    return max(0.0, auc - half), min(1.0, auc + half)


def domain_classifier_drift(
    reference: Any,
    current: Any,
    *,
    columns: Sequence[str] | None = None,
    threshold: float = DEFAULT_THRESHOLD,
    max_rows: int = DEFAULT_MAX_ROWS,
    seed: int = 0,
) -> DomainClassifierDrift:
    """Cross-validated ROC AUC of a classifier telling ``current`` rows from ``reference``
    rows (pandas DataFrames), on ``columns`` (default: every column both have, but prediction
    ids, labels and class scores). ``InvalidArgument`` for frames that are not DataFrames,
    fewer than 50 rows on a side, no common column, a threshold outside (0.5, 1) or
    ``max_rows`` under 100; ``MissingExtra`` without scikit-learn."""
    names = _check(reference, current, columns, threshold, max_rows)
    sklearn = _sklearn()
    rng = np.random.default_rng(seed)
    each = min(len(reference), len(current), max_rows // 2)
    ref = reference.iloc[np.sort(rng.choice(len(reference), each, replace=False))]
    cur = current.iloc[np.sort(rng.choice(len(current), each, replace=False))]
    x, categorical = _features(ref, cur, names)
    y = np.concatenate([np.zeros(each, np.int8), np.ones(each, np.int8)])
    folds = sklearn.model_selection.StratifiedKFold(FOLDS, shuffle=True, random_state=seed)
    scores = np.empty(len(y))
    drops = np.zeros(len(names))
    for train, test in folds.split(x, y):
        model = sklearn.ensemble.HistGradientBoostingClassifier(
            max_iter=100, categorical_features=np.array(categorical), random_state=seed
        )
        model.fit(x[train], y[train])
        scores[test] = model.predict_proba(x[test])[:, 1]
        held = sklearn.metrics.roc_auc_score(y[test], scores[test])
        for position in range(len(names)):
            shuffled = x[test].copy()
            shuffled[:, position] = rng.permutation(shuffled[:, position])
            lost = held - sklearn.metrics.roc_auc_score(
                y[test], model.predict_proba(shuffled)[:, 1]
            )
            drops[position] += lost / FOLDS
    auc = float(sklearn.metrics.roc_auc_score(y, scores))
    low, high = _hanley_mcneil(auc, each, each)
    order = np.argsort(-drops)[:_TOP]
    top = tuple((names[i], round(float(drops[i]), 6)) for i in order if drops[i] > 0)
    return DomainClassifierDrift(
        auc=auc,
        auc_low=low,
        auc_high=high,
        threshold=float(threshold),
        drifted=auc >= threshold and low > 0.5,
        reference_rows=each,
        current_rows=each,
        columns=tuple(names),
        top_columns=top,
    )
