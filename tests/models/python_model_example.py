"""A PythonModel the python-flavor tests package: its source is copied into the saved model."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy

from mlsteward.models._flavors import PythonModel


class ThresholdModel(PythonModel):
    """Scores rows by a weighted sum read from an artifact; positive above ``threshold``."""

    def __init__(self, threshold: float = 0.0) -> None:
        self.threshold = threshold
        self.weights: Any = None

    def load_context(self, artifacts: dict[str, Path]) -> None:
        self.weights = numpy.asarray(json.loads(artifacts["weights"].read_text()))

    def scores(self, data: Any) -> Any:
        return numpy.asarray(data, dtype=float) @ self.weights

    def predict(self, data: Any) -> Any:
        return (self.scores(data) > self.threshold).astype(numpy.int64)

    def predict_proba(self, data: Any) -> Any:
        positive = 1.0 / (1.0 + numpy.exp(-(self.scores(data) - self.threshold)))
        return numpy.column_stack([1.0 - positive, positive])


class MeanModel(PythonModel):
    """Predicts a constant; has no predict_proba."""

    def __init__(self, value: float = 1.5) -> None:
        self.value = value

    def predict(self, data: Any) -> Any:
        return numpy.full(len(data), self.value)
