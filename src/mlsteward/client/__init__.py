"""One client API for the platform: in-process on the local platform, or over HTTP.

``Client()`` works in-process (SQLite in ``MLSTEWARD_HOME`` by default) as the local
administrator; ``Client(server_url=...)`` (or ``MLSTEWARD_SERVER_URL``) talks to a server. Both
have the same methods, return the same types and raise the same ``mlsteward.errors``.
"""

from ._client import Client as Client

__all__ = ["Client"]
