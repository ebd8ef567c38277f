"""Checking and converting the inputs of the quality metrics: frames, feedback labels (JSON
text), label arrays (numbers or strings, no missing values) and probabilities."""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from typing import Any, Final

import numpy as np

from ..errors import InvalidArgument, MissingExtra

__all__ = [
    "NOT_A_LABEL",
    "bad_label",
    "check_frame",
    "label_array",
    "label_pair",
    "label_value",
    "pandas_module",
    "plain",
    "score_array",
]

_SUM_TOLERANCE: Final = 1e-5  # rows of multiclass probabilities must sum to 1 within this


def plain(value: Any) -> Any:
    """A NumPy scalar as the Python value (JSON-ready)."""
    return value.item() if isinstance(value, np.generic) else value


def pandas_module() -> Any:
    try:
        import pandas
    except ImportError as exc:  # pragma: no cover - depends on the environment
        raise MissingExtra(
            "quality and fairness monitoring need pandas: pip install 'mlsteward[pandas]'"
        ) from exc
    return pandas


def check_frame(pd: Any, frame: object, what: str, columns: Sequence[str]) -> Any:
    if not isinstance(frame, pd.DataFrame):
        raise InvalidArgument(f"{what} must be a pandas DataFrame, not {type(frame).__name__}")
    for column in columns:
        if column not in frame.columns:
            raise InvalidArgument(
                f"{what} have no {column!r} column (columns: "
                f"{', '.join(map(str, list(frame.columns)[:20])) or 'none'})",
                details={"field": column},
            )
    return frame


NOT_A_LABEL: Final = object()


def label_value(text: object) -> Any:
    """The label JSON ``text`` holds, or ``NOT_A_LABEL``."""
    if not isinstance(text, str):
        return NOT_A_LABEL
    try:
        value = json.loads(text)
    except ValueError:
        return NOT_A_LABEL
    if isinstance(value, str | bool) or (isinstance(value, int | float) and math.isfinite(value)):
        return value
    return NOT_A_LABEL


def bad_label(prediction_id: object, text: object) -> InvalidArgument:
    """The error for prediction ``prediction_id``'s label ``text`` that is not a label."""
    details = {"prediction_id": str(prediction_id)[:200]}
    if not isinstance(text, str):
        return InvalidArgument(
            f"the label of prediction {str(prediction_id)[:100]!r} is not JSON text "
            f"({type(text).__name__}): pass the window's feedback.parquet as it is",
            details=details,
        )
    return InvalidArgument(
        f"the label of prediction {str(prediction_id)[:100]!r} is not a JSON string, "
        f"finite number or boolean: {text[:100]!r}",
        details=details,
    )


def _kind_of(value: object) -> str:
    if value is None or (isinstance(value, float) and value != value):
        return "missing"
    if isinstance(value, bool | np.bool_):
        return "bool"
    if isinstance(value, int | np.integer):
        return "int"
    if isinstance(value, float | np.floating):
        return "float"
    if isinstance(value, str):
        return "str"
    return "missing" if type(value).__name__ == "NAType" else "other"


def _uniform(array: np.ndarray, field: str) -> np.ndarray:
    kinds = {_kind_of(v) for v in array.tolist()}
    if "missing" in kinds:
        raise InvalidArgument(f"{field} has missing values (None or NaN): drop those rows first")
    if "other" in kinds or ("str" in kinds and len(kinds) > 1):
        raise InvalidArgument(
            f"{field} must hold only numbers and booleans, or only strings",
            details={"field": field},
        )
    if kinds == {"str"}:
        return array.astype(str)
    if kinds == {"bool"}:
        return array.astype(bool)
    try:
        return array.astype(np.float64 if "float" in kinds else np.int64)
    except OverflowError:
        raise InvalidArgument(f"{field} has integers too large for 64 bits") from None


def label_array(values: object, field: str) -> np.ndarray:
    """``values`` as a 1-D NumPy array of numbers (``biuf``) or strings (``U``)."""
    isna = getattr(values, "isna", None)
    if callable(isna) and hasattr(values, "to_numpy"):  # pandas: nullable dtypes hold pd.NA
        if bool(np.asarray(isna()).any()):
            raise InvalidArgument(f"{field} has missing values: drop those rows first")
        values = values.to_numpy()
    if isinstance(values, str | bytes) or not hasattr(values, "__len__"):
        raise InvalidArgument(f"{field} must be a sequence of values, one per prediction")
    try:  # a list as objects: NumPy would turn [1, "a"] into two strings
        array = values if isinstance(values, np.ndarray) else np.asarray(values, dtype=object)
    except (ValueError, TypeError):
        raise InvalidArgument(f"{field} must be a one-dimensional sequence of values") from None
    if array.ndim != 1:
        raise InvalidArgument(
            f"{field} must be one-dimensional, got shape {array.shape}", details={"field": field}
        )
    if array.size == 0:
        raise InvalidArgument(f"{field} is empty: quality needs at least one labelled prediction")
    if array.dtype.kind == "O":
        array = _uniform(array, field)
    if array.dtype.kind == "f" and np.isnan(array).any():
        raise InvalidArgument(f"{field} has missing values (NaN): drop those rows first")
    if array.dtype.kind not in "biufU":
        raise InvalidArgument(f"{field} must hold numbers, booleans or strings")
    return array


def label_pair(y_true: object, y_pred: object) -> tuple[np.ndarray, np.ndarray]:
    true, pred = label_array(y_true, "y_true"), label_array(y_pred, "y_pred")
    if len(true) != len(pred):
        raise InvalidArgument(
            f"y_true has {len(true)} values but y_pred has {len(pred)}: one of each per prediction"
        )
    if (true.dtype.kind == "U") != (pred.dtype.kind == "U"):
        raise InvalidArgument(
            "y_true and y_pred must both be numbers or both be strings (labels "
            f"{'are' if true.dtype.kind == 'U' else 'are not'} strings, predictions "
            f"{'are' if pred.dtype.kind == 'U' else 'are not'})"
        )
    return true, pred


def score_array(y_score: object, n: int, columns: int | None) -> np.ndarray:
    try:
        scores = np.asarray(y_score, dtype=np.float64)
    except (ValueError, TypeError):
        raise InvalidArgument("y_score must be numbers: probabilities between 0 and 1") from None
    if scores.ndim not in (1, 2) or len(scores) != n:
        raise InvalidArgument(
            f"y_score must have one row per prediction ({n}), got shape {scores.shape}"
        )
    if not np.isfinite(scores).all() or scores.min() < 0.0 or scores.max() > 1.0:
        raise InvalidArgument("y_score must be probabilities between 0 and 1 (no NaN)")
    if scores.ndim == 2 and columns is not None and scores.shape[1] != columns:
        raise InvalidArgument(
            f"y_score has {scores.shape[1]} columns but there are {columns} classes: pass "
            "classes= naming the class of each column, in order"
        )
    if scores.ndim == 2 and scores.shape[1] > 1:
        sums = scores.sum(axis=1)
        if np.abs(sums - 1.0).max() > _SUM_TOLERANCE:
            raise InvalidArgument("each row of y_score must be class probabilities summing to 1")
    return scores
