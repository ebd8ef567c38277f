"""Table files: bad Parquet and CSV are refused before anything is recorded."""

from __future__ import annotations

from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from mlsteward.data import add_dataset_version
from mlsteward.errors import InvalidArgument
from mlsteward.platform import Platform
from mlsteward.security import LOCAL_ADMIN

from ._dataset_support import NOTHING, random_bytes, written

CASES = [
    ("empty.parquet", b"", r"'empty\.parquet' is empty: a table file needs"),
    ("empty.csv", b"", r"'empty\.csv' is empty: a table file needs"),
    ("junk.parquet", random_bytes(5000, seed=3), r"cannot read 'junk\.parquet' as Parquet"),
    ("magic.parquet", b"PAR1" + b"\0" * 100 + b"PAR1", r"cannot read 'magic\.parquet' as Parquet"),
    (
        "mixed.csv",
        "name,city\nJosé,Zürich\n".encode() + "Renée,Genève\n".encode("latin-1"),
        r"cannot read 'mixed\.csv' as UTF-8 CSV: column 'name' holds text that is not valid UTF-8",
    ),
    ("ragged.csv", b"a,b\n1,2\n3,4,5\n", r"cannot read 'ragged\.csv' as UTF-8 CSV"),
]


@pytest.mark.parametrize(("name", "content", "message"), CASES, ids=[c[0] for c in CASES])
def test_bad_table_files_are_refused_and_nothing_is_recorded(
    platform: Platform, tmp_path: Path, name: str, content: bytes, message: str
) -> None:
    path = tmp_path / name
    path.write_bytes(content)
    with pytest.raises(InvalidArgument, match=message):
        add_dataset_version(platform, LOCAL_ADMIN, "default", "t", path)
    assert written(platform) == NOTHING


def test_a_truncated_parquet_file_is_refused(platform: Platform, tmp_path: Path) -> None:
    path = tmp_path / "cut.parquet"
    pq.write_table(pa.table({"x": list(range(1000))}), path)
    path.write_bytes(path.read_bytes()[:-100])
    with pytest.raises(InvalidArgument, match=r"cannot read 'cut\.parquet' as Parquet"):
        add_dataset_version(platform, LOCAL_ADMIN, "default", "t", path)
    assert written(platform) == NOTHING


def test_a_header_only_csv_is_an_empty_table(platform: Platform, tmp_path: Path) -> None:
    path = tmp_path / "header.csv"
    path.write_text("a,b\n")
    version = add_dataset_version(platform, LOCAL_ADMIN, "default", "t", path)
    assert (version.kind, version.row_count) == ("table", 0)
    assert [c["name"] for c in (version.table_schema or {})["columns"]] == ["a", "b"]


def test_an_empty_parquet_table_keeps_its_schema(platform: Platform, tmp_path: Path) -> None:
    path = tmp_path / "none.parquet"
    pq.write_table(pa.table({"x": pa.array([], pa.int32())}), path)
    version = add_dataset_version(platform, LOCAL_ADMIN, "default", "t", path)
    assert version.row_count == 0
    assert version.table_schema == {"columns": [{"name": "x", "type": "int32", "nullable": True}]}
