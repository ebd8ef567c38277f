"""Model quality from delayed labels: the feedback joined to a window's sampled rows, then
classification and regression metrics with confidence intervals, per window.

The values equal scikit-learn's (``accuracy_score``, ``precision_score``, ``recall_score``,
``f1_score``, ``roc_auc_score``, ``log_loss``, ``mean_absolute_error``, the root of
``mean_squared_error``, ``r2_score``) on the same data, computed with NumPy alone so monitoring
needs no scikit-learn. Where a metric is not defined its value is None with the reason (where
scikit-learn warns and answers 0 or NaN): a binary precision without positive predictions, a
recall without positive labels, ROC AUC and log loss without probabilities or with one class
only in the labels, R² of constant labels. A multiclass model gets macro averages (the
unweighted mean over the classes seen in labels or predictions), in which an undefined
per-class ratio counts as 0, as in scikit-learn.

Intervals are two-sided at ``confidence`` (0.95 by default) and chosen to stay fast at 100,000
labels (see :mod:`._quality_intervals`): Wilson score intervals for proportions (accuracy, a
binary precision and recall); a percentile bootstrap of the confusion matrix (1,000 multinomial
resamples of its cells, seed 0, so the same data gives the same interval) for F1 and macro
averages; Hanley and McNeil's standard error for ROC AUC; normal intervals from each row's
influence for log loss, MAE, RMSE and R².
"""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Final

import numpy as np

from .._wire import iso
from ..errors import InvalidArgument
from ._quality_inputs import (
    NOT_A_LABEL,
    bad_label,
    check_frame,
    label_array,
    label_pair,
    label_value,
    pandas_module,
    plain,
    score_array,
)
from ._quality_intervals import (
    MetricEstimate,
    bootstrap_confusion,
    check_confidence,
    mean_interval,
    normal_interval,
    wilson,
    z_value,
)

if TYPE_CHECKING:
    import pandas as pd

__all__ = [
    "CLASSIFICATION_QUALITY_TYPE",
    "REGRESSION_QUALITY_TYPE",
    "ClassificationQuality",
    "RegressionQuality",
    "WindowQuality",
    "classification_quality",
    "join_feedback",
    "quality_over_time",
    "regression_quality",
]

CLASSIFICATION_QUALITY_TYPE: Final = "mlsteward.classification_quality"
REGRESSION_QUALITY_TYPE: Final = "mlsteward.regression_quality"
SCHEMA_VERSION: Final = 1
_TASKS: Final = ("classification", "regression")


@dataclass(frozen=True)
class ClassificationQuality:
    """Quality of a classifier on ``n`` labelled predictions.

    ``kind``: ``binary`` (precision, recall and F1 of ``positive_label``) or ``multiclass``
    (macro averages over ``classes``, the sorted classes seen in labels or predictions).
    """

    kind: str
    n: int
    classes: tuple[Any, ...]
    positive_label: Any
    confidence: float
    accuracy: MetricEstimate
    precision: MetricEstimate
    recall: MetricEstimate
    f1: MetricEstimate
    roc_auc: MetricEstimate
    log_loss: MetricEstimate

    @property
    def metrics(self) -> dict[str, MetricEstimate]:
        """Metric name -> estimate."""
        names = ("accuracy", "precision", "recall", "f1", "roc_auc", "log_loss")
        return {name: getattr(self, name) for name in names}

    def to_json(self) -> dict[str, Any]:
        return {
            "type": CLASSIFICATION_QUALITY_TYPE,
            "schema_version": SCHEMA_VERSION,
            "kind": self.kind,
            "n": self.n,
            "classes": [plain(c) for c in self.classes],
            "positive_label": plain(self.positive_label),
            "confidence": self.confidence,
            "metrics": {name: m.to_json() for name, m in self.metrics.items()},
        }


@dataclass(frozen=True)
class RegressionQuality:
    """Quality of a regressor on ``n`` labelled predictions."""

    n: int
    confidence: float
    mae: MetricEstimate
    rmse: MetricEstimate
    r2: MetricEstimate

    @property
    def metrics(self) -> dict[str, MetricEstimate]:
        """Metric name -> estimate."""
        return {"mae": self.mae, "rmse": self.rmse, "r2": self.r2}

    def to_json(self) -> dict[str, Any]:
        return {
            "type": REGRESSION_QUALITY_TYPE,
            "schema_version": SCHEMA_VERSION,
            "n": self.n,
            "confidence": self.confidence,
            "metrics": {name: m.to_json() for name, m in self.metrics.items()},
        }


@dataclass(frozen=True)
class WindowQuality:
    """One window's quality: ``rows`` sampled, ``labelled`` of them, ``coverage`` their share
    (0.0 without rows); ``quality`` None (with ``reason``) when no row is labelled."""

    start: Any
    end: Any
    rows: int
    labelled: int
    coverage: float
    quality: ClassificationQuality | RegressionQuality | None
    reason: str | None = None

    def to_json(self) -> dict[str, Any]:
        def moment(value: Any) -> Any:
            return iso(value) if isinstance(value, dt.datetime) else plain(value)

        return {
            "start": moment(self.start),
            "end": moment(self.end),
            "rows": self.rows,
            "labelled": self.labelled,
            "coverage": self.coverage,
            "quality": None if self.quality is None else self.quality.to_json(),
            "reason": self.reason,
        }


# -- the join ------------------------------------------------------------------------------


def join_feedback(
    rows: pd.DataFrame, feedback: pd.DataFrame, *, label_column: str = "label"
) -> tuple[pd.DataFrame, float]:
    """The sampled ``rows`` (``prediction_id`` and the logged columns) with the decoded label
    of each from ``feedback`` (``prediction_id``, ``label`` as JSON text, optional
    ``received_at``) in a new column ``label_column``, None where no label came, and the label
    coverage: labelled rows / rows (0.0 without rows).

    A prediction labelled several times keeps its latest label (by ``received_at``, then by
    order); labels of predictions not among the rows are ignored (most labels are of rows the
    log did not sample). Labels arrive in later windows than their predictions: pass the
    feedback of every window that can hold them. ``InvalidArgument`` for a missing column, a
    ``label_column`` the rows already have, or a label that is not JSON of a string, a finite
    number or a boolean; the inputs are not modified.
    """
    pd = pandas_module()
    check_frame(pd, rows, "rows", ["prediction_id"])
    check_frame(pd, feedback, "feedback", ["prediction_id", "label"])
    if not isinstance(label_column, str) or not label_column:
        raise InvalidArgument("label_column must be a non-empty column name")
    if label_column in rows.columns:
        raise InvalidArgument(
            f"rows already have a {label_column!r} column: pass another label_column",
            details={"field": "label_column"},
        )
    ordered = feedback.reset_index(drop=True)
    if "received_at" in feedback.columns:
        ordered = ordered.sort_values("received_at", kind="stable")
    latest = ordered.drop_duplicates("prediction_id", keep="last")  # a later label wins
    position = pd.Index(latest["prediction_id"]).get_indexer(rows["prediction_id"])
    found = position >= 0
    ids = latest["prediction_id"].to_numpy(dtype=object)[position[found]]
    texts = latest["label"].to_numpy(dtype=object)[position[found]]
    codes, uniques = pd.factorize(texts)  # labels repeat ("0", "1"): decode each text once
    if (codes < 0).any():
        raise bad_label(ids[np.argmax(codes < 0)], None)
    decoded = np.empty(len(uniques), dtype=object)
    for code, text in enumerate(uniques.tolist()):
        decoded[code] = label_value(text)
        if decoded[code] is NOT_A_LABEL:
            raise bad_label(ids[np.argmax(codes == code)], text)
    values = np.full(len(rows), None, dtype=object)
    values[found] = decoded[codes]
    joined = rows.copy()
    joined[label_column] = pd.Series(values, index=rows.index, dtype=object)
    labelled = int(found.sum())
    return joined, (labelled / len(rows) if len(rows) else 0.0)


# -- classification ------------------------------------------------------------------------


def _average_ranks(scores: np.ndarray) -> np.ndarray:
    """1-based ranks of ``scores``, ties sharing their average rank."""
    order = np.argsort(scores)
    ordered = scores[order]
    first = np.concatenate([[0], np.flatnonzero(ordered[1:] != ordered[:-1]) + 1])
    counts = np.diff(np.append(first, len(scores)))
    ranks = np.empty(len(scores))
    ranks[order] = np.repeat(first + (counts + 1) / 2.0, counts)
    return ranks


def _auc(positive: np.ndarray, scores: np.ndarray) -> tuple[float, float]:
    """ROC AUC (the Mann-Whitney statistic) and Hanley and McNeil's standard error."""
    n1 = float(positive.sum())
    n0 = float(len(positive)) - n1
    auc = (_average_ranks(scores)[positive].sum() - n1 * (n1 + 1) / 2) / (n1 * n0)
    q1, q2 = auc / (2 - auc), 2 * auc * auc / (1 + auc)
    variance = (auc * (1 - auc) + (n1 - 1) * (q1 - auc**2) + (n0 - 1) * (q2 - auc**2)) / (n1 * n0)
    return float(auc), math.sqrt(max(variance, 0.0))


def _log_loss(probability_of_truth: np.ndarray, z: float) -> MetricEstimate:
    eps = np.finfo(np.float64).eps
    losses = -np.log(np.clip(probability_of_truth, eps, 1 - eps))
    return mean_interval(losses, z, low=0.0)


def _classes_of(true: np.ndarray, pred: np.ndarray, classes: object) -> np.ndarray:
    seen = np.unique(np.concatenate([true, pred]))
    if classes is None:
        return seen
    if hasattr(classes, "__len__") and len(classes) == 0:
        raise InvalidArgument("classes must name at least one class")
    named = label_array(classes, "classes")
    if (named.dtype.kind == "U") != (seen.dtype.kind == "U") or len(np.unique(named)) != len(named):
        raise InvalidArgument("classes must be distinct values of the labels' kind")
    unknown = np.setdiff1d(seen, named)
    if len(unknown):
        raise InvalidArgument(
            f"{plain(unknown[0])!r} is in the labels or predictions but not in classes"
        )
    return named


def _binary_positive(seen: np.ndarray, positive_label: object) -> Any:
    """The positive class, or None for macro averages (labels other than 0/1, no
    ``positive_label``)."""
    if positive_label is None:
        if seen.dtype.kind != "U" and set(seen.tolist()) <= {0, 1}:
            return True if seen.dtype.kind == "b" else 1
        return None
    if isinstance(positive_label, str) != (seen.dtype.kind == "U") or isinstance(
        positive_label, list | dict | tuple
    ):
        raise InvalidArgument("positive_label must be of the labels' kind (a string or a number)")
    others = [c for c in seen.tolist() if c != positive_label]
    if len(others) > 1:
        raise InvalidArgument(
            f"binary quality needs labels of two classes, one of them positive_label "
            f"{positive_label!r}; got {len(seen)}: "
            f"{', '.join(repr(c) for c in seen.tolist()[:10])}",
            details={"field": "positive_label"},
        )
    return positive_label


def _binary(
    true: np.ndarray, pred: np.ndarray, scores: np.ndarray | None, positive: Any,
    classes: np.ndarray, z: float, confidence: float,
) -> dict[str, MetricEstimate]:  # fmt: skip
    t, p = true == positive, pred == positive
    n = len(t)
    tp = int(np.count_nonzero(t & p))
    fp = int(np.count_nonzero(~t & p))
    fn = int(np.count_nonzero(t & ~p))
    tn = n - tp - fp - fn
    out = {"accuracy": wilson(tp + tn, n, z)}
    out["precision"] = (
        wilson(tp, tp + fp, z)
        if tp + fp
        else MetricEstimate(None, reason="no positive predictions")
    )
    out["recall"] = (
        wilson(tp, tp + fn, z) if tp + fn else MetricEstimate(None, reason="no positive labels")
    )
    if 2 * tp + fp + fn:
        cells = np.array([tn, fp, fn, tp])  # (true, predicted): (0,0), (0,1), (1,0), (1,1)
        out["f1"] = bootstrap_confusion(
            np.array([2 * tp / (2 * tp + fp + fn)]), cells, np.array([0, 0, 1, 1]),
            np.array([0, 1, 0, 1]), 2, _binary_f1, confidence,
        )[0]  # fmt: skip
    else:
        out["f1"] = MetricEstimate(None, reason="no positive labels or predictions")
    out.update(_binary_scores(t, scores, positive, classes, z))
    return out


def _binary_f1(tp: np.ndarray, true_sum: np.ndarray, pred_sum: np.ndarray) -> np.ndarray:
    denominator = true_sum[1] + pred_sum[1]
    return np.array([2 * tp[1] / denominator if denominator else math.nan])


def _binary_scores(
    t: np.ndarray, scores: np.ndarray | None, positive: Any, classes: np.ndarray, z: float
) -> dict[str, MetricEstimate]:
    if scores is None:
        missing = MetricEstimate(None, reason="no probabilities (y_score) given")
        return {"roc_auc": missing, "log_loss": missing}
    one_class = bool(t.all() or not t.any())
    if scores.ndim == 2:
        known = len(classes) == 2 and positive in classes.tolist()
        if scores.shape[1] != 2 or not (known or one_class):
            raise InvalidArgument(
                "binary y_score must be the positive class's probability, or two columns "
                "(the sorted classes, or those named by classes=)"
            )
        scores = scores[:, classes.tolist().index(positive)] if known else scores[:, 0]
    if one_class:
        one = MetricEstimate(None, reason="the labels hold one class only")
        return {"roc_auc": one, "log_loss": one}
    auc, se = _auc(t, scores)
    return {
        "roc_auc": normal_interval(auc, se, z, low=0.0, high=1.0),
        "log_loss": _log_loss(np.where(t, scores, 1.0 - scores), z),
    }


def _macro(tp: np.ndarray, true_sum: np.ndarray, pred_sum: np.ndarray) -> np.ndarray:
    """Macro precision, recall and F1 (an undefined ratio counts as 0)."""
    with np.errstate(divide="ignore", invalid="ignore"):
        precision = np.where(pred_sum > 0, tp / np.maximum(pred_sum, 1), 0.0)
        recall = np.where(true_sum > 0, tp / np.maximum(true_sum, 1), 0.0)
        f1 = np.where(true_sum + pred_sum > 0, 2 * tp / np.maximum(true_sum + pred_sum, 1), 0.0)
    return np.array([precision.mean(), recall.mean(), f1.mean()])


def _multiclass(
    true: np.ndarray, pred: np.ndarray, scores: np.ndarray | None, classes: np.ndarray,
    z: float, confidence: float,
) -> dict[str, MetricEstimate]:  # fmt: skip
    seen = np.unique(np.concatenate([true, pred]))
    k = len(seen)
    cells = np.bincount(
        np.searchsorted(seen, true) * k + np.searchsorted(seen, pred), minlength=k * k
    )
    grid = cells.reshape(k, k)
    n = len(true)
    tp, true_sum, pred_sum = np.diag(grid), grid.sum(axis=1), grid.sum(axis=0)
    values = _macro(tp, true_sum, pred_sum)
    nonzero = np.flatnonzero(cells)
    intervals = bootstrap_confusion(
        values, cells[nonzero], nonzero // k, nonzero % k, k, _macro, confidence
    )
    out = {"accuracy": wilson(int(tp.sum()), n, z)}
    out.update(zip(("precision", "recall", "f1"), intervals, strict=True))
    if scores is None:
        missing = MetricEstimate(None, reason="no probabilities (y_score) given")
        return out | {"roc_auc": missing, "log_loss": missing}
    if scores.ndim != 2:
        raise InvalidArgument("multiclass y_score must have one column per class")
    column = np.searchsorted(classes, true) if _sorted(classes) else _positions(classes, true)
    present = np.unique(column)
    if len(present) < 2:
        one = MetricEstimate(None, reason="the labels hold one class only")
        return out | {"roc_auc": one, "log_loss": one}
    normalised = scores / scores.sum(axis=1, keepdims=True)
    out["log_loss"] = _log_loss(normalised[np.arange(n), column], z)
    if len(present) < len(classes):
        out["roc_auc"] = MetricEstimate(None, reason="not every class occurs in the labels")
        return out
    aucs = [_auc(column == j, scores[:, j]) for j in range(len(classes))]
    auc = float(np.mean([a for a, _ in aucs]))
    se = float(np.mean([s for _, s in aucs]))  # the mean of the errors bounds the macro's
    out["roc_auc"] = normal_interval(auc, se, z, low=0.0, high=1.0)
    return out


def _sorted(classes: np.ndarray) -> bool:
    return bool(np.all(classes[:-1] < classes[1:]))


def _positions(classes: np.ndarray, values: np.ndarray) -> np.ndarray:
    order = np.argsort(classes, kind="mergesort")
    return order[np.searchsorted(classes[order], values)]


def classification_quality(
    y_true: object,
    y_pred: object,
    y_score: object = None,
    *,
    positive_label: object = None,
    classes: object = None,
    confidence: float = 0.95,
) -> ClassificationQuality:
    """Accuracy, precision, recall, F1, ROC AUC and log loss of predicted classes ``y_pred``
    against labels ``y_true``, each with an interval at ``confidence``.

    Binary when ``positive_label`` is given (the labels then hold it and at most one other
    class) or when the labels are 0/1 (positive 1) or booleans; otherwise multiclass with
    macro averages. ``y_score``: probabilities, optional: for binary the positive class's
    (one value per row) or two columns; for multiclass one column per class, in the order of
    ``classes`` (default: the sorted classes seen in labels and predictions), rows summing to
    1. ``InvalidArgument`` for empty or mismatched inputs, missing values, labels and
    predictions of different kinds, more than two classes with ``positive_label``,
    probabilities outside [0, 1] or a bad ``confidence``.
    """
    confidence = check_confidence(confidence)
    z = z_value(confidence)
    true, pred = label_pair(y_true, y_pred)
    seen = np.unique(np.concatenate([true, pred]))
    positive = _binary_positive(seen, positive_label)
    named = _classes_of(true, pred, classes)
    scores = None if y_score is None else score_array(y_score, len(true), None)
    if positive is not None:
        if classes is None and positive_label is None:  # 0/1 labels: both classes, always
            named = np.array([False, True] if seen.dtype.kind == "b" else [0, 1], seen.dtype)
        values = _binary(true, pred, scores, positive, named, z, confidence)
        kind = "binary"
    else:
        if scores is not None and scores.ndim == 2 and scores.shape[1] != len(named):
            score_array(scores, len(true), len(named))  # raises, naming the column count
        values = _multiclass(true, pred, scores, named, z, confidence)
        kind = "multiclass"
    return ClassificationQuality(
        kind=kind,
        n=len(true),
        classes=tuple(plain(c) for c in named.tolist()),
        positive_label=positive,
        confidence=confidence,
        **values,
    )


# -- regression ----------------------------------------------------------------------------


def _numbers(values: object, field: str) -> np.ndarray:
    array = label_array(values, field)
    if array.dtype.kind == "U":
        raise InvalidArgument(f"{field} must be numbers for regression quality, not strings")
    array = array.astype(np.float64)
    if not np.isfinite(array).all():
        raise InvalidArgument(f"{field} must be finite numbers (no infinity)")
    return array


def regression_quality(
    y_true: object, y_pred: object, *, confidence: float = 0.95
) -> RegressionQuality:
    """MAE, RMSE and R² of predictions ``y_pred`` against labels ``y_true``, each with a
    normal interval at ``confidence`` (none with fewer than two labels; R² None for constant
    labels). ``InvalidArgument`` for empty or mismatched inputs, missing, infinite or
    non-numeric values, or a bad ``confidence``."""
    confidence = check_confidence(confidence)
    z = z_value(confidence)
    true, pred = _numbers(y_true, "y_true"), _numbers(y_pred, "y_pred")
    if len(true) != len(pred):
        raise InvalidArgument(
            f"y_true has {len(true)} values but y_pred has {len(pred)}: one of each per prediction"
        )
    errors = pred - true
    mae = mean_interval(np.abs(errors), z, low=0.0)
    mse = mean_interval(errors**2, z, low=0.0)
    rmse = MetricEstimate(
        math.sqrt(mse.value or 0.0),
        None if mse.lower is None else math.sqrt(mse.lower),
        None if mse.upper is None else math.sqrt(mse.upper),
        mse.reason,
    )
    centred = (true - true.mean()) ** 2
    variance = float(centred.mean())
    if variance == 0.0:
        r2 = MetricEstimate(None, reason="the labels are constant: R² is not defined")
    else:
        mean_squared = float(mse.value or 0.0)
        value = 1.0 - mean_squared / variance
        # R² = 1 - MSE / Var(y): each row's influence on it, by the delta method.
        influence = (
            -(errors**2 - mean_squared) / variance
            + mean_squared * (centred - variance) / variance**2
        )
        if len(true) < 2:
            r2 = MetricEstimate(value, reason="an interval needs at least two labels")
        else:
            error = float(influence.std(ddof=1)) / math.sqrt(len(true))
            r2 = normal_interval(value, error, z, high=1.0)
    return RegressionQuality(n=len(true), confidence=confidence, mae=mae, rmse=rmse, r2=r2)


# -- over time -----------------------------------------------------------------------------


def _window_parts(window: object, position: int) -> tuple[Any, Any, Any]:
    if not isinstance(window, tuple | list) or len(window) != 3:
        raise InvalidArgument(
            f"windows[{position}] must be a (start, end, joined frame) triple",
            details={"field": f"windows[{position}]"},
        )
    start, end, frame = window
    try:
        ordered = end > start
    except TypeError:
        ordered = False
    if not ordered:
        raise InvalidArgument(
            f"windows[{position}] must end after it starts (start and end of one type)",
            details={"field": f"windows[{position}]"},
        )
    return start, end, frame


def quality_over_time(
    windows: Sequence[tuple[Any, Any, pd.DataFrame]],
    *,
    task: str,
    prediction_column: str = "prediction",
    label_column: str = "label",
    score_columns: str | Sequence[str] | None = None,
    positive_label: object = None,
    classes: object = None,
    confidence: float = 0.95,
) -> list[WindowQuality]:
    """Quality per window, oldest first, from ``(start, end, frame)`` triples whose frame is
    what :func:`join_feedback` returns (rows without a label count in the coverage only).

    ``task``: ``classification`` or ``regression``. ``score_columns``: for classification,
    the column of the positive class's probability, or one column per class (in the order of
    ``classes``). ``InvalidArgument`` naming the window for a malformed window, a missing
    column, or data :func:`classification_quality` / :func:`regression_quality` reject.
    """
    pd = pandas_module()
    if task not in _TASKS:
        raise InvalidArgument(f"task must be one of {', '.join(_TASKS)}, not {str(task)[:50]!r}")
    if task == "regression" and (score_columns, positive_label, classes) != (None, None, None):
        raise InvalidArgument("score_columns, positive_label and classes are for classification")
    check_confidence(confidence)
    if isinstance(windows, str | bytes) or not isinstance(windows, Sequence):
        raise InvalidArgument("windows must be a sequence of (start, end, frame) triples")
    scored = [score_columns] if isinstance(score_columns, str) else list(score_columns or [])
    parts = [_window_parts(w, i) for i, w in enumerate(windows)]
    results = []
    for position, (start, end, frame) in enumerate(parts):
        what = f"windows[{position}]"
        check_frame(pd, frame, f"the rows of {what}", [prediction_column, label_column, *scored])
        labelled = frame[frame[label_column].notna()]
        rows = len(frame)
        coverage = len(labelled) / rows if rows else 0.0
        if labelled.empty:
            results.append(WindowQuality(start, end, rows, 0, coverage, None, "no labelled rows"))
            continue
        try:
            quality: ClassificationQuality | RegressionQuality
            if task == "regression":
                quality = regression_quality(
                    labelled[label_column], labelled[prediction_column], confidence=confidence
                )
            else:
                scores = None
                if scored:
                    block = _score_block(labelled, scored)
                    scores = block[:, 0] if isinstance(score_columns, str) else block
                quality = classification_quality(
                    labelled[label_column], labelled[prediction_column], scores,
                    positive_label=positive_label, classes=classes, confidence=confidence,
                )  # fmt: skip
        except InvalidArgument as exc:
            raise InvalidArgument(f"{what}: {exc.message}", details=exc.details) from None
        results.append(WindowQuality(start, end, rows, len(labelled), coverage, quality))
    try:
        order = sorted(range(len(results)), key=lambda i: parts[i][0])
    except TypeError:
        raise InvalidArgument("the windows' starts must be of one type to be ordered") from None
    return [results[i] for i in order]


def _score_block(frame: Any, columns: list[str]) -> np.ndarray:
    try:
        return np.asarray(frame[columns].to_numpy(dtype=np.float64, na_value=np.nan))
    except (ValueError, TypeError):
        raise InvalidArgument(
            f"the score columns {', '.join(columns)[:200]} must hold probabilities (numbers)"
        ) from None
