"""mlsteward: track, version, package, serve, monitor and govern machine-learning models.

``import mlsteward`` is cheap: heavy and optional packages load on first use.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"

if TYPE_CHECKING:
    from .client import Client as Client

__all__ = ["Client", "__version__"]


def __getattr__(name: str) -> Any:
    if name == "Client":
        from .client import Client

        return Client
    raise AttributeError(f"module 'mlsteward' has no attribute {name!r}")
