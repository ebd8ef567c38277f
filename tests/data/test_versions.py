"""Dataset versions: add, dedup, unchanged re-adds, tables, concurrency, reading back."""

from __future__ import annotations

import os
import threading
from pathlib import Path

import pandas as pd
import polars as pl
import pyarrow as pa
import pytest
from sqlalchemy import select, update

from mlsteward.data import (
    add_dataset_version,
    create_dataset,
    get_dataset,
    get_dataset_version,
    list_dataset_versions,
    list_datasets,
    log_table_version,
    parse_dataset_ref,
    read_manifest,
    resolve_dataset_ref,
)
from mlsteward.data._tables import dataset_columns, datasets
from mlsteward.errors import AlreadyExists, InvalidArgument, NotFound, PermissionDenied
from mlsteward.platform import Platform
from mlsteward.security import LOCAL_ADMIN, SYSTEM, add_member, authenticate_password, create_user
from mlsteward.store._tables import blob_refs

from ..server._support import cheap_password_hashing
from ._dataset_support import NOTHING, stored_sizes, write_random, written

P = "default"


def _folder(root: Path, seed: int = 0) -> Path:
    write_random(root / "a.bin", 10_000, seed)
    write_random(root / "sub" / "b.bin", 20_000, seed + 1)
    write_random(root / "sub" / "deeper" / "c.bin", 30_000, seed + 2)
    return root


def test_add_records_the_version_its_blob_refs_and_an_audit_event(
    platform: Platform, tmp_path: Path
) -> None:
    folder = _folder(tmp_path / "src")
    before = platform.audit.count(platform.db)
    version = add_dataset_version(platform, LOCAL_ADMIN, P, "events", folder, message="first")
    assert (version.version, version.kind, version.file_count) == (1, "files", 3)
    assert version.total_bytes == 60_000
    assert version.message == "first"
    assert version.source == str(folder)
    assert not version.unchanged
    manifest = read_manifest(platform, version)
    assert [e.path for e in manifest.entries] == ["a.bin", "sub/b.bin", "sub/deeper/c.bin"]
    with platform.db.read() as conn:
        refs = conn.execute(
            select(blob_refs.c.address).where(blob_refs.c.owner_id == version.id)
        ).scalars()
        assert set(refs) == manifest.addresses() | {version.manifest_address}
        row = conn.execute(select(datasets)).one()
    assert row.latest_version == 1
    assert "events" in row.search_text
    assert platform.audit.count(platform.db) == before + 2  # dataset created, version added
    dataset = get_dataset(platform, LOCAL_ADMIN, P, "events")
    assert dataset.latest_version == 1
    assert dataset.owners == ("local-admin",)
    assert [d.name for d in list_datasets(platform, LOCAL_ADMIN, P)] == ["events"]


def test_a_second_version_with_one_file_changed_stores_only_that_file(
    platform: Platform, tmp_path: Path
) -> None:
    folder = _folder(tmp_path / "src")
    first = add_dataset_version(platform, LOCAL_ADMIN, P, "events", folder)
    assert first.new_bytes >= 60_000
    before = stored_sizes(platform)
    write_random(folder / "sub" / "b.bin", 20_000, seed=99)
    second = add_dataset_version(platform, LOCAL_ADMIN, P, "events", folder)
    after = stored_sizes(platform)
    new = {a: s for a, s in after.items() if a not in before}
    manifest_size = after[second.manifest_address]
    assert second.version == 2
    assert sorted(new.values()) == sorted([20_000, manifest_size])
    assert second.new_bytes == 20_000 + manifest_size


def test_the_same_content_again_records_nothing_and_returns_the_latest(
    platform: Platform, tmp_path: Path
) -> None:
    folder = _folder(tmp_path / "src")
    first = add_dataset_version(platform, LOCAL_ADMIN, P, "events", folder)
    events = platform.audit.count(platform.db)
    again = add_dataset_version(platform, LOCAL_ADMIN, P, "events", folder, message="again")
    assert again.unchanged
    assert again.version == 1
    assert again.id == first.id
    assert written(platform).versions == 1
    assert platform.audit.count(platform.db) == events


def test_a_changed_executable_bit_is_a_new_version(platform: Platform, tmp_path: Path) -> None:
    folder = _folder(tmp_path / "src")
    add_dataset_version(platform, LOCAL_ADMIN, P, "events", folder)
    os.chmod(folder / "a.bin", 0o755)
    second = add_dataset_version(platform, LOCAL_ADMIN, P, "events", folder)
    assert second.version == 2
    assert read_manifest(platform, second).entries[0].executable


def test_concurrent_adds_get_distinct_version_numbers(
    backend_platform: Platform, tmp_path: Path
) -> None:
    folders = [_folder(tmp_path / f"src{i}", seed=10 * i) for i in range(4)]
    barrier = threading.Barrier(len(folders))
    results: list[int] = []
    errors: list[BaseException] = []

    def add(folder: Path) -> None:
        barrier.wait()
        try:
            version = add_dataset_version(backend_platform, LOCAL_ADMIN, P, "events", folder)
            results.append(version.version)
        except BaseException as exc:  # reported below
            errors.append(exc)

    threads = [threading.Thread(target=add, args=(f,)) for f in folders]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    assert sorted(results) == [1, 2, 3, 4]
    assert written(backend_platform).datasets == 1
    versions = list_dataset_versions(backend_platform, LOCAL_ADMIN, P, "events")
    assert [v.version for v in versions] == [1, 2, 3, 4]


def test_a_pandas_table_is_versioned_with_schema_rows_profile_and_pii(
    platform: Platform,
) -> None:
    frame = pd.DataFrame(
        {"amount": [1.5, 2.5, None], "email": ["a@example.com", "b@example.org", "c@example.net"]}
    )
    version = log_table_version(platform, LOCAL_ADMIN, P, "customers", frame, message="m")
    text = str(pa.Table.from_pandas(frame).schema.field("email").type)  # string or large_string
    assert (version.kind, version.row_count, version.file_count) == ("table", 3, 1)
    assert version.source == "pandas.DataFrame"
    assert version.table_schema == {
        "columns": [
            {"name": "amount", "type": "double", "nullable": True},
            {"name": "email", "type": text, "nullable": True},
        ]
    }
    assert version.profile_address is not None
    assert platform.blobs.exists(version.profile_address)
    with platform.db.read() as conn:
        columns = {r.name: r for r in conn.execute(select(dataset_columns))}
        refs = set(
            conn.execute(
                select(blob_refs.c.address).where(blob_refs.c.owner_id == version.id)
            ).scalars()
        )
        search_text = conn.execute(select(datasets.c.search_text)).scalar_one()
    assert version.profile_address in refs
    assert version.manifest_address in refs
    assert (columns["email"].pii_class, columns["email"].pii_source) == ("email", "detected")
    assert (columns["amount"].pii_class, columns["amount"].pii_source) == (None, "none")
    assert "amount" in search_text
    again = log_table_version(platform, LOCAL_ADMIN, P, "customers", frame)
    assert again.unchanged
    assert again.version == 1


def test_a_pii_class_set_by_hand_is_never_overwritten(platform: Platform) -> None:
    frame = pd.DataFrame({"email": ["a@example.com", "b@example.org"], "n": [1, 2]})
    log_table_version(platform, LOCAL_ADMIN, P, "customers", frame)
    with platform.db.write() as conn:
        conn.execute(
            update(dataset_columns)
            .where(dataset_columns.c.name == "n")
            .values(pii_class="phone", pii_source="manual")
        )
    log_table_version(platform, LOCAL_ADMIN, P, "customers", frame.assign(n=[3, 4]))
    log_table_version(platform, LOCAL_ADMIN, P, "customers", frame.drop(columns=["n"]))
    with platform.db.read() as conn:
        columns = {
            r.name: (r.pii_class, r.pii_source) for r in conn.execute(select(dataset_columns))
        }
    assert columns == {"email": ("email", "detected"), "n": ("phone", "manual")}


def test_polars_and_arrow_tables_and_csv_files(platform: Platform, tmp_path: Path) -> None:
    arrow = pa.table({"x": [1, 2, 3]})
    assert log_table_version(platform, LOCAL_ADMIN, P, "a", arrow).row_count == 3
    polars = pl.DataFrame({"x": [1, 2], "y": ["u", "v"]})
    assert log_table_version(platform, LOCAL_ADMIN, P, "b", polars).source == "polars.DataFrame"
    csv = tmp_path / "prices.csv"
    csv.write_text("item,price\napple,1.5\npear,2.25\nplum,\n")
    version = add_dataset_version(platform, LOCAL_ADMIN, P, "prices", csv)
    assert (version.kind, version.row_count) == ("table", 3)
    assert [c["name"] for c in (version.table_schema or {})["columns"]] == ["item", "price"]


def test_versions_are_read_back_by_number_latest_and_reference(
    platform: Platform, tmp_path: Path
) -> None:
    folder = _folder(tmp_path / "src")
    add_dataset_version(platform, LOCAL_ADMIN, P, "events", folder)
    write_random(folder / "new.bin", 5, seed=5)
    add_dataset_version(platform, LOCAL_ADMIN, P, "events", folder)
    assert get_dataset_version(platform, LOCAL_ADMIN, P, "events").version == 2
    assert get_dataset_version(platform, LOCAL_ADMIN, P, "events", 1).file_count == 3
    assert resolve_dataset_ref(platform, LOCAL_ADMIN, P, "events@1").version == 1
    assert resolve_dataset_ref(platform, LOCAL_ADMIN, P, "events").version == 2
    assert resolve_dataset_ref(platform, LOCAL_ADMIN, P, "events@latest").version == 2
    with pytest.raises(NotFound, match="has no version 7 \\(latest: 2\\)"):
        resolve_dataset_ref(platform, LOCAL_ADMIN, P, "events@7")
    with pytest.raises(NotFound, match="no dataset named 'other'"):
        get_dataset_version(platform, LOCAL_ADMIN, P, "other")


@pytest.mark.parametrize("ref", ["", "@1", "events@", "events@0", "events@x", "a b@1", "e@1@2"])
def test_malformed_references_are_refused(ref: str) -> None:
    with pytest.raises(InvalidArgument, match=r"invalid dataset|version must be"):
        parse_dataset_ref(ref)


BAD_NAMES = ["", "a b", "../x", "x@1", "-x", "a" * 129, "a/b", "é", None]


def test_bad_dataset_names_are_refused_and_nothing_is_written(
    platform: Platform, tmp_path: Path
) -> None:
    folder = _folder(tmp_path / "src")
    for name in BAD_NAMES:
        with pytest.raises(InvalidArgument, match="invalid dataset name"):
            add_dataset_version(platform, LOCAL_ADMIN, P, name, folder)  # type: ignore[arg-type]
        with pytest.raises(InvalidArgument, match="invalid dataset name"):
            create_dataset(platform, LOCAL_ADMIN, P, name)  # type: ignore[arg-type]
    assert written(platform) == NOTHING
    assert stored_sizes(platform) == {}


def test_other_bad_arguments_write_nothing(platform: Platform, tmp_path: Path) -> None:
    folder = _folder(tmp_path / "src")
    with pytest.raises(InvalidArgument, match="message must be text"):
        add_dataset_version(platform, LOCAL_ADMIN, P, "e", folder, message="x" * 10_001)
    with pytest.raises(InvalidArgument, match="takes a pandas or Polars DataFrame"):
        log_table_version(platform, LOCAL_ADMIN, P, "e", [{"x": 1}])
    with pytest.raises(NotFound, match="project"):
        add_dataset_version(platform, LOCAL_ADMIN, "nope", "e", folder)
    with pytest.raises(InvalidArgument, match="version must be a positive integer"):
        get_dataset_version(platform, LOCAL_ADMIN, P, "e", 0)
    assert written(platform) == NOTHING
    assert stored_sizes(platform) == {}


def test_create_dataset_sets_metadata_and_refuses_a_taken_name(platform: Platform) -> None:
    dataset = create_dataset(
        platform, LOCAL_ADMIN, P, "events", description="clicks", owners=["ana"], tags={"t": "1"}
    )
    assert (dataset.description, dataset.owners, dataset.tags) == ("clicks", ("ana",), {"t": "1"})
    assert dataset.latest_version is None
    with pytest.raises(AlreadyExists, match="exists in this project already"):
        create_dataset(platform, LOCAL_ADMIN, P, "events")
    with pytest.raises(InvalidArgument, match="owners must be a list"):
        create_dataset(platform, LOCAL_ADMIN, P, "x", owners="ana")
    with pytest.raises(NotFound, match="has no versions yet"):
        get_dataset_version(platform, LOCAL_ADMIN, P, "events")
    assert written(platform).datasets == 1


def test_a_viewer_can_read_but_not_add(platform: Platform, tmp_path: Path) -> None:
    folder = _folder(tmp_path / "src")
    add_dataset_version(platform, LOCAL_ADMIN, P, "events", folder)
    with cheap_password_hashing():
        create_user(platform, SYSTEM, "vic", "a-long-password-1")
        add_member(platform, SYSTEM, P, "vic", "viewer")
        viewer = authenticate_password(platform, "vic", "a-long-password-1")
    assert get_dataset_version(platform, viewer, P, "events").version == 1
    before = stored_sizes(platform)
    write_random(folder / "more.bin", 100, seed=3)
    with pytest.raises(PermissionDenied):
        add_dataset_version(platform, viewer, P, "events", folder)
    assert written(platform).versions == 1
    assert stored_sizes(platform) == before  # refused before anything was stored
