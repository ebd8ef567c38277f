"""The inference server: Open Inference Protocol v2, MLflow-compatible scoring and a plain
JSON API over models loaded from signed packages or the registry (needs the ``[server]``
extra)."""

from __future__ import annotations

from ._core import ModelRepository as ModelRepository
from ._core import Predict as Predict
from ._core import ServedModel as ServedModel

__all__ = ["ModelRepository", "Predict", "ServedModel"]
