"""Monitoring: the prediction windows inference servers ship (per-window profiles of inputs and
outputs, sampled rows, delayed labels), the ground drift, quality and fairness monitors build
on."""

from __future__ import annotations

from ._training_pii import training_pii_columns as training_pii_columns
from ._windows import PredictionWindow as PredictionWindow
from ._windows import list_prediction_windows as list_prediction_windows
from ._windows import record_prediction_window as record_prediction_window

__all__ = [
    "PredictionWindow",
    "list_prediction_windows",
    "record_prediction_window",
    "training_pii_columns",
]
