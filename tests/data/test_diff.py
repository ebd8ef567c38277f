"""Diffs of file versions and of table versions."""

from __future__ import annotations

import os
from pathlib import Path

import pandas as pd
import pyarrow as pa
import pytest

from mlsteward.data import add_dataset_version, diff_dataset_versions, log_table_version
from mlsteward.errors import InvalidArgument, NotFound
from mlsteward.platform import Platform
from mlsteward.security import LOCAL_ADMIN

from ._dataset_support import write_random

P = "default"


def test_files_added_removed_and_changed(platform: Platform, tmp_path: Path) -> None:
    src = tmp_path / "src"
    write_random(src / "keep.bin", 100, seed=1)
    write_random(src / "edit.bin", 100, seed=2)
    write_random(src / "drop.bin", 50, seed=3)
    write_random(src / "mode.sh", 10, seed=4)
    add_dataset_version(platform, LOCAL_ADMIN, P, "ds", src)
    write_random(src / "edit.bin", 120, seed=5)
    (src / "drop.bin").unlink()
    write_random(src / "sub" / "new.bin", 7, seed=6)
    os.chmod(src / "mode.sh", 0o755)
    add_dataset_version(platform, LOCAL_ADMIN, P, "ds", src)
    diff = diff_dataset_versions(platform, LOCAL_ADMIN, P, "ds", 1, 2)
    assert [(e.path, e.size) for e in diff.added] == [("sub/new.bin", 7)]
    assert [(e.path, e.size) for e in diff.removed] == [("drop.bin", 50)]
    assert [(c.path, c.size_a, c.size_b) for c in diff.changed] == [
        ("edit.bin", 100, 120),
        ("mode.sh", 10, 10),
    ]
    assert not diff.identical
    assert diff.columns == ()
    assert diff.row_count_a is None
    back = diff_dataset_versions(platform, LOCAL_ADMIN, P, "ds", 2, 1)
    assert [e.path for e in back.added] == ["drop.bin"]
    same = diff_dataset_versions(platform, LOCAL_ADMIN, P, "ds", 1, 1)
    assert same.identical
    assert same.to_json()["identical"] is True


def _string_type() -> str:
    """How pyarrow types a pandas string column here (string or large_string)."""
    return str(pa.Table.from_pandas(pd.DataFrame({"s": ["a"]})).schema.field("s").type)


def test_tables_schema_rows_and_statistics(platform: Platform) -> None:
    first = pd.DataFrame({"id": [1, 2, 3, 4], "amount": [1.0, 2.0, None, 4.0], "old": ["a"] * 4})
    log_table_version(platform, LOCAL_ADMIN, P, "t", first)
    second = pd.DataFrame(
        {"id": ["1", "2", "3", "4", "5"], "amount": [1.0, 2.0, 3.0, 4.0, 10.0], "new": [1] * 5}
    )
    log_table_version(platform, LOCAL_ADMIN, P, "t", second)
    diff = diff_dataset_versions(platform, LOCAL_ADMIN, P, "t", 1, 2)
    assert (diff.row_count_a, diff.row_count_b) == (4, 5)
    text = _string_type()
    assert [(c.name, c.change, c.type_a, c.type_b) for c in diff.columns] == [
        ("id", "retyped", "int64", text),
        ("new", "added", None, "int64"),
        ("old", "removed", text, None),
    ]
    stats = {(s.column, s.statistic): (s.value_a, s.value_b) for s in diff.statistics}
    assert stats[("amount", "null_fraction")] == (0.25, 0.0)
    assert stats[("amount", "max")] == (4.0, 10.0)
    assert stats[("amount", "mean")] == pytest.approx((7 / 3, 4.0))
    assert ("amount", "min") not in stats  # unchanged statistics are left out
    assert stats[("id", "distinct_estimate")][1] == pytest.approx(5, abs=0.01)
    assert diff.to_json()["statistics"]


def test_bad_diff_arguments(platform: Platform, tmp_path: Path) -> None:
    write_random(tmp_path / "a.bin", 10)
    add_dataset_version(platform, LOCAL_ADMIN, P, "ds", tmp_path / "a.bin")
    with pytest.raises(NotFound, match="has no version 3"):
        diff_dataset_versions(platform, LOCAL_ADMIN, P, "ds", 1, 3)
    with pytest.raises(InvalidArgument, match="version must be a positive integer"):
        diff_dataset_versions(platform, LOCAL_ADMIN, P, "ds", 0, 1)
    with pytest.raises(InvalidArgument, match="invalid dataset name"):
        diff_dataset_versions(platform, LOCAL_ADMIN, P, "../x", 1, 1)
