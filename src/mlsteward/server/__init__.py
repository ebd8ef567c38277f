"""The platform server: REST API, web UI, health and metrics (needs ``mlsteward[server]``)."""

from ._app import API_PREFIX as API_PREFIX
from ._app import create_app as create_app
from ._auth import auth_required as auth_required
from ._auth import check_can_serve as check_can_serve
from ._run import run_server as run_server

__all__ = ["API_PREFIX", "auth_required", "check_can_serve", "create_app", "run_server"]
