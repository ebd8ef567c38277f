"""XGBoost models in XGBoost's own UBJSON (default) or JSON model format.

The scikit-learn wrappers (``XGBClassifier`` and friends) keep their estimator attributes inside
the model file, so loading into the recorded wrapper class gives back ``predict`` and, for
classifiers, ``predict_proba``. A bare ``Booster`` loads as a Booster that predicts on a DMatrix.
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
    mro_roots,
    new_config,
    only_file,
    pinned_requirements,
    resolve_file,
    wrap_load_error,
)

__all__ = ["XGBoostFlavor"]

_FORMATS = {"ubj": "xgboost-ubj", "json": "xgboost-json"}
_SKLEARN_CLASSES = frozenset(
    {"XGBClassifier", "XGBRegressor", "XGBRanker", "XGBRFClassifier", "XGBRFRegressor"}
)
_CLASSES = _SKLEARN_CLASSES | {"Booster"}


class _BoosterPredictor:
    """A bare Booster: ``predict`` wraps the input in a DMatrix."""

    def __init__(self, booster: Any) -> None:
        self.booster = booster

    def predict(self, data: Any) -> Any:
        xgboost = import_extra("xgboost", "xgboost")
        return self.booster.predict(xgboost.DMatrix(data))


class XGBoostFlavor:
    """XGBoost Boosters and scikit-learn wrappers as ``model.ubj`` (or ``model.json``)."""

    name = "xgboost"
    extra = "xgboost"
    executes_code = False

    def handles(self, model: object) -> bool:
        return any(root == "xgboost" for root, _ in mro_roots(model))

    def save(self, model: object, directory: Path, **options: Any) -> FlavorConfig:
        """Options: ``format`` is ``"ubj"`` (default, compact) or ``"json"`` (readable)."""
        check_options(self.name, directory, options, ["format"])
        fmt = options.get("format", "ubj")
        if fmt not in _FORMATS:
            raise InvalidArgument(f"XGBoost format must be 'ubj' or 'json', not {fmt!r}")
        # The first XGBoost class in the MRO, so a user subclass loads as its base wrapper.
        model_class = next(
            (name for root, name in mro_roots(model) if root == "xgboost" and name in _CLASSES),
            None,
        )
        if model_class is None:
            raise InvalidArgument(
                f"{type(model).__name__} is not an XGBoost model this flavor saves; it saves "
                f"{', '.join(sorted(_CLASSES))}",
            )
        xgboost = import_extra("xgboost", self.extra)
        filename = f"model.{fmt}"
        path = directory / filename
        try:
            model.save_model(str(path))  # type: ignore[attr-defined]
        except Exception as exc:
            path.unlink(missing_ok=True)
            raise InvalidArgument(
                f"XGBoost cannot save this {model_class} (is it fitted?): {exc}",
            ) from exc
        config = new_config(self.name, _FORMATS[fmt], [filename], str(xgboost.__version__))
        config["model_class"] = model_class
        return config

    def load(self, directory: Path, config: FlavorConfig, *, trust: bool = False) -> Predictor:
        check_config(config, self.name, _FORMATS.values())
        model_class = config.get("model_class")
        if model_class not in _CLASSES:
            raise InvalidArgument(
                f"unknown XGBoost model_class {model_class!r}; expected one of "
                f"{', '.join(sorted(_CLASSES))}",
            )
        path = resolve_file(directory, only_file(config))
        xgboost = import_extra("xgboost", self.extra)
        try:
            if model_class == "Booster":
                return _BoosterPredictor(xgboost.Booster(model_file=str(path)))
            model = getattr(xgboost, model_class)()
            model.load_model(str(path))
        except Exception as exc:
            raise wrap_load_error(exc, path, self.name) from exc
        loaded: Predictor = model
        return loaded

    def requirements(self) -> list[str]:
        return pinned_requirements(["xgboost"], self.extra)
