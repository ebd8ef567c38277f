"""JSON from the server back into the data subsystem's objects (the remote client's side)."""

from __future__ import annotations

import datetime as dt
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from ..data import Dataset, DatasetDiff, DatasetVersion
    from ..data._lineage import LineageGraph


def _time(value: Any) -> dt.datetime:
    parsed = dt.datetime.fromisoformat(value)
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=dt.UTC)


def dataset_from_json(data: dict[str, Any]) -> Dataset:
    from ..data import Dataset, DatasetId

    return Dataset(
        id=DatasetId(data["id"]),
        project_id=data["project_id"],
        name=data["name"],
        description=data["description"],
        owners=tuple(data["owners"]),
        tags={str(k): str(v) for k, v in data["tags"].items()},
        latest_version=data["latest_version"],
        created_at=_time(data["created_at"]),
        created_by=data["created_by"],
        updated_at=_time(data["updated_at"]),
    )


def dataset_version_from_json(data: dict[str, Any]) -> DatasetVersion:
    from ..data import DatasetVersion, DatasetVersionId

    return DatasetVersion(
        id=DatasetVersionId(data["id"]),
        dataset_name=data["dataset"],
        version=int(data["version"]),
        kind=data["kind"],
        manifest_address=data["manifest_address"],
        file_count=int(data["file_count"]),
        total_bytes=int(data["total_bytes"]),
        new_bytes=int(data["new_bytes"]),
        table_schema=data["table_schema"],
        row_count=data["row_count"],
        profile_address=data["profile_address"],
        source=data["source"],
        message=data["message"],
        created_at=_time(data["created_at"]),
        created_by=data["created_by"],
        unchanged=bool(data.get("unchanged", False)),
    )


def dataset_diff_from_json(data: dict[str, Any]) -> DatasetDiff:
    from ..data import ColumnChange, DatasetDiff, FileChange, ManifestEntry, StatChange

    def entry(item: dict[str, Any]) -> ManifestEntry:
        # A diff names files by path and size only; their content is not part of it.
        return ManifestEntry(item["path"], int(item["size"]), 0o644, address=None, chunks=())

    return DatasetDiff(
        dataset_name=data["dataset"],
        version_a=int(data["version_a"]),
        version_b=int(data["version_b"]),
        added=tuple(entry(i) for i in data["added"]),
        removed=tuple(entry(i) for i in data["removed"]),
        changed=tuple(FileChange(c["path"], c["size_a"], c["size_b"]) for c in data["changed"]),
        columns=tuple(
            ColumnChange(c["name"], c["change"], c["type_a"], c["type_b"]) for c in data["columns"]
        ),
        row_count_a=data["row_count_a"],
        row_count_b=data["row_count_b"],
        statistics=tuple(
            StatChange(s["column"], s["statistic"], s["value_a"], s["value_b"])
            for s in data["statistics"]
        ),
    )


def lineage_graph_from_json(data: dict[str, Any]) -> LineageGraph:
    from ..data._lineage import LineageEdge, LineageGraph, LineageNode

    return LineageGraph(
        start=data["start"],
        direction=data["direction"],
        nodes=tuple(
            LineageNode(
                node_type=n["type"],
                node_id=n["id"],
                label=n["label"],
                link=n["link"],
                project=n["project"],
                depth=int(n["depth"]),
                restricted=bool(n["restricted"]),
            )
            for n in data["nodes"]
        ),
        edges=tuple(LineageEdge(e["source"], e["target"], e["relation"]) for e in data["edges"]),
        truncated=bool(data["truncated"]),
    )
