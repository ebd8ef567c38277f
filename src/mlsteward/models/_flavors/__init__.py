"""Model flavors: one interface to save and load each framework's models.

``flavor_for(model)`` picks the flavor that handles a model (judged by module names, so no
framework is imported to decide); ``get_flavor(name)`` finds one by the name a saved config
carries. Plugins add flavors with ``register_flavor``; a later registration is asked first, so
a plugin can claim types a built-in would otherwise take.
"""

from __future__ import annotations

from mlsteward.errors import AlreadyExists, InvalidArgument

from ._base import Flavor, FlavorConfig, Predictor
from ._lightgbm import LightGBMFlavor
from ._onnx import OnnxFlavor
from ._python_model import PythonModel, PythonModelFlavor
from ._sklearn import SklearnFlavor
from ._torch import TorchFlavor
from ._xgboost import XGBoostFlavor

__all__ = [
    "FLAVORS",
    "Flavor",
    "FlavorConfig",
    "LightGBMFlavor",
    "OnnxFlavor",
    "Predictor",
    "PythonModel",
    "PythonModelFlavor",
    "SklearnFlavor",
    "TorchFlavor",
    "XGBoostFlavor",
    "flavor_for",
    "get_flavor",
    "register_flavor",
]

FLAVORS: dict[str, Flavor] = {}
"""Registered flavors by name, in registration order."""


def register_flavor(flavor: Flavor, *, replace: bool = False) -> None:
    """Add ``flavor`` under ``flavor.name``; ``AlreadyExists`` if taken, unless ``replace``."""
    if not isinstance(getattr(flavor, "name", None), str) or not flavor.name:
        raise InvalidArgument("a flavor needs a non-empty string name")
    if flavor.name in FLAVORS and not replace:
        raise AlreadyExists(
            f"a flavor named {flavor.name!r} is registered; pass replace=True to override it",
        )
    FLAVORS.pop(flavor.name, None)  # re-registering moves it to the front of flavor_for
    FLAVORS[flavor.name] = flavor


def get_flavor(name: str) -> Flavor:
    """The flavor registered as ``name``; ``InvalidArgument`` listing the known names."""
    try:
        return FLAVORS[name]
    except (KeyError, TypeError):
        raise InvalidArgument(
            f"unknown model flavor {name!r}; known flavors: {', '.join(sorted(FLAVORS))}",
            details={"flavor": str(name), "known": sorted(FLAVORS)},
        ) from None


def flavor_for(model: object) -> Flavor:
    """The flavor that saves ``model`` (the latest registered that handles it).

    Raises ``InvalidArgument`` naming the model's type and the supported ones."""
    for flavor in reversed(FLAVORS.values()):
        if flavor.handles(model):
            return flavor
    kind = f"{type(model).__module__}.{type(model).__qualname__}"
    raise InvalidArgument(
        f"no model flavor handles {kind}; the registered flavors "
        f"({', '.join(sorted(FLAVORS))}) save scikit-learn estimators, XGBoost and LightGBM "
        "models, onnx.ModelProto, torch.nn.Module and mlsteward PythonModel subclasses; "
        "plugins add more with register_flavor",
        details={"type": kind, "flavors": sorted(FLAVORS)},
    )


# Generic first, specific last: XGBoost and LightGBM wrappers subclass scikit-learn's
# BaseEstimator, and flavor_for asks the latest registered first.
_BUILT_INS: tuple[Flavor, ...] = (
    SklearnFlavor(),
    OnnxFlavor(),
    TorchFlavor(),
    XGBoostFlavor(),
    LightGBMFlavor(),
    PythonModelFlavor(),
)
for _flavor in _BUILT_INS:
    register_flavor(_flavor)
