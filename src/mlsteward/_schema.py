"""Every subsystem's tables, registered on the one ``MetaData`` (for migrations and checks)."""

from __future__ import annotations

import importlib

from sqlalchemy import MetaData

# Modules that define tables; each adds its tables to ``mlsteward.store._tables.metadata``.
TABLE_MODULES = (
    "mlsteward.store._tables",
    "mlsteward.tracking._tables",
    "mlsteward.registry._tables",
    "mlsteward.packaging._tables",
    "mlsteward.data._tables",
    "mlsteward.validation._tables",
    "mlsteward.deployments._tables",
    "mlsteward.monitoring._tables",
    "mlsteward.monitoring._alert_tables",
)


def load_all_tables() -> MetaData:
    """Import every table module and return the shared metadata."""
    for name in TABLE_MODULES:
        importlib.import_module(name)
    from .store._tables import metadata

    return metadata
