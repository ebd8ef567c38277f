"""Data: dataset versions (content-addressed snapshots), the catalog and the lineage graph.

Profiles live in ``mlsteward.profiles``, PII detection in ``mlsteward.privacy`` and
expectation suites in ``mlsteward.validation``.

Names load on first use (PEP 562): the catalog and lineage modules import SQLAlchemy, which a
command that only snapshots files (``data add`` with nothing changed) does not need.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from ._catalog import CatalogColumn as CatalogColumn
    from ._catalog import CatalogEntry as CatalogEntry
    from ._catalog import DatasetSearchHit as DatasetSearchHit
    from ._catalog import DatasetUsage as DatasetUsage
    from ._catalog import dataset_catalog_entry as dataset_catalog_entry
    from ._catalog import search_datasets as search_datasets
    from ._catalog import set_column_classification as set_column_classification
    from ._catalog import update_dataset as update_dataset
    from ._checkout import Checkout as Checkout
    from ._checkout import checkout_dataset_version as checkout_dataset_version
    from ._datasets import create_dataset as create_dataset
    from ._datasets import get_dataset as get_dataset
    from ._datasets import list_datasets as list_datasets
    from ._diff import diff_dataset_versions as diff_dataset_versions
    from ._lineage import LineageEdge as LineageEdge
    from ._lineage import LineageGraph as LineageGraph
    from ._lineage import LineageNode as LineageNode
    from ._lineage import lineage_downstream as lineage_downstream
    from ._lineage import lineage_upstream as lineage_upstream
    from ._lineage import record_dataset_input as record_dataset_input
    from ._lineage_nodes import LineageNodeRef as LineageNodeRef
    from ._model import ColumnChange as ColumnChange
    from ._model import Dataset as Dataset
    from ._model import DatasetDiff as DatasetDiff
    from ._model import DatasetId as DatasetId
    from ._model import DatasetVersion as DatasetVersion
    from ._model import DatasetVersionId as DatasetVersionId
    from ._model import FileChange as FileChange
    from ._model import Manifest as Manifest
    from ._model import ManifestEntry as ManifestEntry
    from ._model import StatChange as StatChange
    from ._openlineage import IngestedOpenLineageEvent as IngestedOpenLineageEvent
    from ._openlineage import ingest_openlineage_event as ingest_openlineage_event
    from ._openlineage import openlineage_events_for_run as openlineage_events_for_run
    from ._versions import add_dataset_version as add_dataset_version
    from ._versions import get_dataset_version as get_dataset_version
    from ._versions import list_dataset_versions as list_dataset_versions
    from ._versions import log_table_version as log_table_version
    from ._versions import parse_dataset_ref as parse_dataset_ref
    from ._versions import read_manifest as read_manifest
    from ._versions import resolve_dataset_ref as resolve_dataset_ref

_SOURCES = {
    "CatalogColumn": "_catalog",
    "CatalogEntry": "_catalog",
    "Checkout": "_checkout",
    "ColumnChange": "_model",
    "Dataset": "_model",
    "DatasetDiff": "_model",
    "DatasetId": "_model",
    "DatasetSearchHit": "_catalog",
    "DatasetUsage": "_catalog",
    "DatasetVersion": "_model",
    "DatasetVersionId": "_model",
    "FileChange": "_model",
    "IngestedOpenLineageEvent": "_openlineage",
    "LineageEdge": "_lineage",
    "LineageGraph": "_lineage",
    "LineageNode": "_lineage",
    "LineageNodeRef": "_lineage_nodes",
    "Manifest": "_model",
    "ManifestEntry": "_model",
    "StatChange": "_model",
    "add_dataset_version": "_versions",
    "checkout_dataset_version": "_checkout",
    "create_dataset": "_datasets",
    "dataset_catalog_entry": "_catalog",
    "diff_dataset_versions": "_diff",
    "get_dataset": "_datasets",
    "get_dataset_version": "_versions",
    "ingest_openlineage_event": "_openlineage",
    "lineage_downstream": "_lineage",
    "lineage_upstream": "_lineage",
    "list_dataset_versions": "_versions",
    "list_datasets": "_datasets",
    "log_table_version": "_versions",
    "openlineage_events_for_run": "_openlineage",
    "parse_dataset_ref": "_versions",
    "read_manifest": "_versions",
    "record_dataset_input": "_lineage",
    "resolve_dataset_ref": "_versions",
    "search_datasets": "_catalog",
    "set_column_classification": "_catalog",
    "update_dataset": "_catalog",
}

__all__ = [
    "CatalogColumn",
    "CatalogEntry",
    "Checkout",
    "ColumnChange",
    "Dataset",
    "DatasetDiff",
    "DatasetId",
    "DatasetSearchHit",
    "DatasetUsage",
    "DatasetVersion",
    "DatasetVersionId",
    "FileChange",
    "IngestedOpenLineageEvent",
    "LineageEdge",
    "LineageGraph",
    "LineageNode",
    "LineageNodeRef",
    "Manifest",
    "ManifestEntry",
    "StatChange",
    "add_dataset_version",
    "checkout_dataset_version",
    "create_dataset",
    "dataset_catalog_entry",
    "diff_dataset_versions",
    "get_dataset",
    "get_dataset_version",
    "ingest_openlineage_event",
    "lineage_downstream",
    "lineage_upstream",
    "list_dataset_versions",
    "list_datasets",
    "log_table_version",
    "openlineage_events_for_run",
    "parse_dataset_ref",
    "read_manifest",
    "record_dataset_input",
    "resolve_dataset_ref",
    "search_datasets",
    "set_column_classification",
    "update_dataset",
]


def __getattr__(name: str) -> Any:
    source = _SOURCES.get(name)
    if source is None:
        raise AttributeError(f"module 'mlsteward.data' has no attribute {name!r}")
    value = getattr(importlib.import_module(f"{__name__}.{source}"), name)
    globals()[name] = value  # later lookups skip this function
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))
