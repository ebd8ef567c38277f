"""LightGBM models in LightGBM's text model format, loaded as a ``lightgbm.Booster``.

The text file holds the trees, not the scikit-learn wrapper, so the flavor records what the
wrapper adds for classifiers (class labels and their dtype, number of classes, objective) and
rebuilds ``predict_proba`` and ``predict`` exactly as ``LGBMClassifier`` computes them.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from mlsteward.errors import InvalidArgument

from ._base import (
    FlavorConfig,
    Predictor,
    check_config,
    check_options,
    import_extra,
    json_kwargs,
    mro_roots,
    new_config,
    only_file,
    pinned_requirements,
    resolve_file,
    wrap_load_error,
)

__all__ = ["LightGBMFlavor"]

_MODEL_FILE = "model.txt"
_CLASSES = frozenset({"Booster", "LGBMClassifier", "LGBMRegressor", "LGBMRanker"})


class _BoosterPredictor:
    """A LightGBM regressor, ranker or bare Booster: raw ``Booster.predict``."""

    def __init__(self, booster: Any) -> None:
        self.booster = booster

    def predict(self, data: Any) -> Any:
        return self.booster.predict(data)


class _ClassifierPredictor(_BoosterPredictor):
    """An ``LGBMClassifier``: probabilities per class, labels by the most probable class."""

    def __init__(self, booster: Any, classes: Any) -> None:
        super().__init__(booster)
        self.classes_ = classes

    def predict_proba(self, data: Any) -> Any:
        import numpy

        raw = numpy.asarray(self.booster.predict(data))
        if raw.ndim == 1:  # binary objectives give P(second class) only
            return numpy.vstack((1.0 - raw, raw)).T
        return raw

    def predict(self, data: Any) -> Any:
        import numpy

        return self.classes_[numpy.argmax(self.predict_proba(data), axis=1)]


class LightGBMFlavor:
    """LightGBM Boosters and scikit-learn wrappers as ``model.txt``."""

    name = "lightgbm"
    extra = "lightgbm"
    executes_code = False

    def handles(self, model: object) -> bool:
        return any(root == "lightgbm" for root, _ in mro_roots(model))

    def save(self, model: object, directory: Path, **options: Any) -> FlavorConfig:
        check_options(self.name, directory, options, ())
        model_class = next(
            (name for root, name in mro_roots(model) if root == "lightgbm" and name in _CLASSES),
            None,
        )
        if model_class is None:
            raise InvalidArgument(
                f"{type(model).__name__} is not a LightGBM model this flavor saves; it saves "
                f"{', '.join(sorted(_CLASSES))}",
            )
        lightgbm = import_extra("lightgbm", self.extra)
        config = new_config(self.name, "lightgbm-text", [_MODEL_FILE], str(lightgbm.__version__))
        config["model_class"] = model_class
        fitted: Any = model
        try:
            booster = fitted if model_class == "Booster" else fitted.booster_
        except Exception as exc:
            raise InvalidArgument(f"this {model_class} is not fitted: {exc}") from exc
        if model_class != "Booster":
            objective = fitted.objective_
            if not isinstance(objective, str):
                raise InvalidArgument(
                    "a LightGBM model trained with a custom objective function cannot be "
                    "saved: its predictions depend on Python code the text format does not hold",
                )
            config["objective"] = objective
        if model_class == "LGBMClassifier":
            classes = fitted.classes_
            if classes.dtype.kind not in "biuUf":
                raise InvalidArgument(
                    "LightGBM class labels must be numbers or strings to be saved; got dtype "
                    f"{classes.dtype}",
                )
            labels = json_kwargs({"classes": classes.tolist()}, "LightGBM class labels")
            config["classes"] = labels["classes"]
            config["classes_dtype"] = classes.dtype.str
            config["num_class"] = len(config["classes"])
        booster.save_model(str(directory / _MODEL_FILE))
        return config

    def load(self, directory: Path, config: FlavorConfig, *, trust: bool = False) -> Predictor:
        check_config(config, self.name, ["lightgbm-text"])
        model_class = config.get("model_class")
        if model_class not in _CLASSES:
            raise InvalidArgument(
                f"unknown LightGBM model_class {model_class!r}; expected one of "
                f"{', '.join(sorted(_CLASSES))}",
            )
        classes = None
        if model_class == "LGBMClassifier":
            classes = _classes(config)
        path = resolve_file(directory, only_file(config))
        lightgbm = import_extra("lightgbm", self.extra)
        try:
            booster = lightgbm.Booster(model_file=str(path))
        except Exception as exc:
            raise wrap_load_error(exc, path, self.name) from exc
        if classes is None:
            return _BoosterPredictor(booster)
        return _ClassifierPredictor(booster, classes)

    def requirements(self) -> list[str]:
        return pinned_requirements(["lightgbm"], self.extra)


def _classes(config: FlavorConfig) -> Any:
    import numpy

    labels, dtype = config.get("classes"), config.get("classes_dtype")
    if not isinstance(labels, list) or not labels or not isinstance(dtype, str):
        raise InvalidArgument("a LightGBM classifier config needs its classes and classes_dtype")
    try:
        classes = numpy.asarray(labels, dtype=numpy.dtype(dtype))
    except (TypeError, ValueError) as exc:
        raise InvalidArgument(f"LightGBM classes do not fit dtype {dtype!r}: {exc}") from exc
    if classes.dtype.kind not in "biuUf" or classes.ndim != 1:
        raise InvalidArgument(f"LightGBM classes_dtype {dtype!r} is not a label dtype")
    return classes
