"""Compare two versions of a dataset: files, and for tables schema, rows and statistics."""

from __future__ import annotations

import json
import math
from typing import TYPE_CHECKING, Any

from ..security import Actor
from ._model import (
    ColumnChange,
    DatasetDiff,
    DatasetVersion,
    FileChange,
    StatChange,
    entries_by_path,
)
from ._versions import get_dataset_version, read_manifest

if TYPE_CHECKING:
    from ..platform import Platform

STATISTICS = ("null_fraction", "mean", "min", "max", "distinct_estimate")


def diff_dataset_versions(
    platform: Platform, actor: Actor, project: str, name: str, a: int, b: int
) -> DatasetDiff:
    """What changed from version ``a`` to version ``b`` (viewers): files added, removed and
    changed (content or executable bit); for two table versions also columns added, removed
    or retyped, the row counts and per-column statistics that differ."""
    version_a = get_dataset_version(platform, actor, project, name, a)
    version_b = get_dataset_version(platform, actor, project, name, b)
    files_a = entries_by_path(read_manifest(platform, version_a).entries)
    files_b = entries_by_path(read_manifest(platform, version_b).entries)
    added = tuple(files_b[p] for p in sorted(files_b.keys() - files_a.keys()))
    removed = tuple(files_a[p] for p in sorted(files_a.keys() - files_b.keys()))
    changed = tuple(
        FileChange(p, files_a[p].size, files_b[p].size)
        for p in sorted(files_a.keys() & files_b.keys())
        if files_a[p] != files_b[p]
    )
    columns: tuple[ColumnChange, ...] = ()
    statistics: tuple[StatChange, ...] = ()
    if version_a.kind == "table" and version_b.kind == "table":
        columns = _column_changes(version_a, version_b)
        statistics = _stat_changes(platform, version_a, version_b)
    return DatasetDiff(
        name,
        version_a.version,
        version_b.version,
        added=added,
        removed=removed,
        changed=changed,
        columns=columns,
        row_count_a=version_a.row_count,
        row_count_b=version_b.row_count,
        statistics=statistics,
    )


def _types(version: DatasetVersion) -> dict[str, str]:
    schema = version.table_schema or {}
    return {str(c["name"]): str(c["type"]) for c in schema.get("columns", [])}


def _column_changes(a: DatasetVersion, b: DatasetVersion) -> tuple[ColumnChange, ...]:
    types_a, types_b = _types(a), _types(b)
    changes = [ColumnChange(n, "removed", types_a[n], None) for n in types_a if n not in types_b]
    changes += [ColumnChange(n, "added", None, types_b[n]) for n in types_b if n not in types_a]
    changes += [
        ColumnChange(n, "retyped", types_a[n], types_b[n])
        for n in types_a
        if n in types_b and types_a[n] != types_b[n]
    ]
    return tuple(sorted(changes, key=lambda c: (c.name, c.change)))


def _stats(column: Any) -> dict[str, float | None]:
    def number(value: object) -> float | None:
        return float(value) if isinstance(value, int | float) else None

    return {
        "null_fraction": column.null_count / column.count if column.count else None,
        "mean": number(column.mean),
        "min": number(column.min),
        "max": number(column.max),
        "distinct_estimate": column.distinct_estimate(),
    }


def _same(x: float | None, y: float | None) -> bool:
    if x is None or y is None:
        return x is y
    return math.isclose(x, y, rel_tol=1e-9, abs_tol=1e-12)


def _stat_changes(
    platform: Platform, a: DatasetVersion, b: DatasetVersion
) -> tuple[StatChange, ...]:
    if a.profile_address is None or b.profile_address is None:
        return ()
    from ..profiles import DatasetProfile

    profile_a = DatasetProfile.from_dict(json.loads(platform.blobs.get_bytes(a.profile_address)))
    profile_b = DatasetProfile.from_dict(json.loads(platform.blobs.get_bytes(b.profile_address)))
    changes = []
    for column in sorted(profile_a.columns.keys() & profile_b.columns.keys()):
        stats_a = _stats(profile_a.columns[column])
        stats_b = _stats(profile_b.columns[column])
        for statistic in STATISTICS:
            if not _same(stats_a[statistic], stats_b[statistic]):
                changes.append(
                    StatChange(column, statistic, stats_a[statistic], stats_b[statistic])
                )
    return tuple(changes)
