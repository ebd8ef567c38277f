"""The inference server: Open Inference Protocol v2, MLflow-compatible scoring and a plain
JSON API over models loaded from signed packages or the registry (needs the ``[server]``
extra).

Deployments: a ``RoutingPlan`` routes a model's traffic between versions (canary weights,
sticky keys, a shadow, automatic rollback); a ``DeploymentRuntime`` serves it and
``create_deployment_app`` puts it behind every protocol. The routing names are pure data and
cheap to import; the runtime's names load on first use (PEP 562), as they import Starlette.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from ._core import ModelRepository as ModelRepository
from ._core import Predict as Predict
from ._core import ServedModel as ServedModel
from ._routing import AutoRollbackRule as AutoRollbackRule
from ._routing import Route as Route
from ._routing import Router as Router
from ._routing import RoutingPlan as RoutingPlan

if TYPE_CHECKING:
    from ._deployment import DeploymentRuntime as DeploymentRuntime
    from ._deployment import create_deployment_app as create_deployment_app

_SOURCES = {"DeploymentRuntime": "_deployment", "create_deployment_app": "_deployment"}

__all__ = [
    "AutoRollbackRule",
    "DeploymentRuntime",
    "ModelRepository",
    "Predict",
    "Route",
    "Router",
    "RoutingPlan",
    "ServedModel",
    "create_deployment_app",
]


def __getattr__(name: str) -> Any:
    source = _SOURCES.get(name)
    if source is None:
        raise AttributeError(f"module 'mlsteward.serving' has no attribute {name!r}")
    value = getattr(importlib.import_module(f"{__name__}.{source}"), name)
    globals()[name] = value  # later lookups skip this function
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))
