"""The CLI acts on the local platform: settings from the environment, the operator as actor.

Whoever runs ``mlsteward`` on the host has the database (and its files) in hand, so commands act
as ``LOCAL_ADMIN``; the audit trail records them as ``local-admin`` of kind ``local``.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from ..client import Client
    from ..platform import Platform
    from ..security import Actor
    from ..settings import Settings


def cli_settings() -> Settings:
    """The settings tree from ``MLSTEWARD_*`` (``ConfigurationError`` when invalid)."""
    from ..settings import load_settings

    return load_settings()


def cli_client() -> Client:
    """A ``Client`` on the CLI's settings: the platform in-process, or the server of
    ``MLSTEWARD_SERVER_URL``."""
    from ..client import Client

    return Client(cli_settings())


def operator() -> Actor:
    """The actor every CLI command acts as."""
    from ..security import LOCAL_ADMIN

    return LOCAL_ADMIN


@contextlib.contextmanager
def local_platform(settings: Settings | None = None) -> Iterator[Platform]:
    """Open the platform (the embedded default migrates itself) and close it afterwards.

    Raises ``SchemaOutOfDate`` for an explicit database that needs ``mlsteward db upgrade``.
    """
    from ..platform import Platform

    platform = Platform.open(settings or cli_settings())
    try:
        yield platform
    finally:
        platform.close()
