"""mlsteward: track, version, package, serve, monitor and govern machine-learning models.

``import mlsteward`` is cheap: heavy and optional packages load on first use.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"

if TYPE_CHECKING:
    from .client import Client as Client
    from .models._autolog import autolog as autolog
    from .tracking._fluent import active_run as active_run
    from .tracking._fluent import end_run as end_run
    from .tracking._fluent import flush as flush
    from .tracking._fluent import load_model as load_model
    from .tracking._fluent import log_metric as log_metric
    from .tracking._fluent import log_metrics as log_metrics
    from .tracking._fluent import log_param as log_param
    from .tracking._fluent import log_params as log_params
    from .tracking._fluent import set_tag as set_tag
    from .tracking._fluent import set_tags as set_tags
    from .tracking._fluent import start_run as start_run

_FLUENT = frozenset(
    {
        "active_run",
        "end_run",
        "flush",
        "load_model",
        "log_metric",
        "log_metrics",
        "log_param",
        "log_params",
        "set_tag",
        "set_tags",
        "start_run",
    }
)

__all__ = ["Client", "__version__", "autolog", *sorted(_FLUENT)]


def __getattr__(name: str) -> Any:
    if name == "Client":
        from .client import Client

        return Client
    if name == "autolog":
        from .models._autolog import autolog

        return autolog
    if name in _FLUENT:
        from .tracking import _fluent

        value = getattr(_fluent, name)
        globals()[name] = value  # later lookups skip this function
        return value
    raise AttributeError(f"module 'mlsteward' has no attribute {name!r}")
