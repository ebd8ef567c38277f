"""The platform server: REST API, web UI, health and metrics (needs ``mlsteward[server]``)."""

from ._app import API_PREFIX as API_PREFIX
from ._app import create_app as create_app

__all__ = ["API_PREFIX", "create_app"]
