"""``BlobStore.batch()``: many blobs made durable together, visible only once committed."""

from __future__ import annotations

import os
import threading
from collections.abc import Callable
from pathlib import Path

import pytest

from mlsteward.blobs import BlobStore
from mlsteward.blobs import _batch as batch_module
from mlsteward.errors import InvalidArgument, NotFound

from ._support import StoreSpec


def _temp_files(store: BlobStore) -> list[str]:
    folder = Path(store.url) / "tmp"
    return sorted(p.name for p in folder.iterdir()) if folder.exists() else []


def test_objects_become_visible_only_at_commit(tmp_path: Path) -> None:
    store = BlobStore(str(tmp_path / "store"))
    source = tmp_path / "a.bin"
    source.write_bytes(b"file content" * 1000)
    with store.batch() as batch:
        from_file = batch.put_file(source)
        from_bytes = batch.put_bytes(b"some bytes")
        assert from_file.created
        assert from_bytes.created
        assert not store.exists(from_file.address)  # not visible before the commit
        assert batch.exists(from_file.address)  # but the batch knows it will be stored
        assert len(_temp_files(store)) == 2
    assert store.get_bytes(from_file.address) == source.read_bytes()
    assert store.get_bytes(from_bytes.address) == b"some bytes"
    assert from_file.address == store.put_file(source).address  # same address as one put
    assert _temp_files(store) == []


def test_same_content_is_written_once(tmp_path: Path) -> None:
    store = BlobStore(str(tmp_path / "store"))
    stored = store.put_bytes(b"already there")
    with store.batch() as batch:
        again = batch.put_bytes(b"already there")
        first = batch.put_bytes(b"new content")
        second = batch.put_bytes(b"new content")
        assert len(_temp_files(store)) == 1
    assert (again.address, again.created) == (stored.address, False)
    assert first.created
    assert not second.created
    assert first.address == second.address
    assert store.get_bytes(first.address) == b"new content"


def test_threads_storing_the_same_content_create_it_once(tmp_path: Path) -> None:
    store = BlobStore(str(tmp_path / "store"))
    results: list[bool] = []
    lock = threading.Lock()
    with store.batch() as batch:

        def put() -> None:
            info = batch.put_bytes(b"shared" * 10_000)
            with lock:
                results.append(info.created)

        threads = [threading.Thread(target=put) for _ in range(8)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
    assert sorted(results) == [False] * 7 + [True]
    assert _temp_files(store) == []


def test_an_exception_leaves_nothing(tmp_path: Path) -> None:
    store = BlobStore(str(tmp_path / "store"))
    stored: list[str] = []

    def store_then_fail() -> None:
        with store.batch() as batch:
            stored.append(batch.put_bytes(b"never published").address)
            raise RuntimeError("stop")

    with pytest.raises(RuntimeError, match="stop"):
        store_then_fail()
    assert not store.exists(stored[0])
    assert _temp_files(store) == []


def test_a_failed_sync_publishes_nothing(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    store = BlobStore(str(tmp_path / "store"))

    def failing_sync(path: str) -> None:
        raise OSError(5, "Input/output error")

    monkeypatch.setattr(batch_module, "sync_filesystem", failing_sync)
    with pytest.raises(OSError, match="Input/output"), store.batch() as batch:
        info = batch.put_bytes(b"write-back failed")
    assert not store.exists(info.address)
    assert _temp_files(store) == []


def test_big_and_empty_files_stream(tmp_path: Path) -> None:
    store = BlobStore(str(tmp_path / "store"))
    big = tmp_path / "big.bin"
    big.write_bytes(os.urandom(batch_module.WHOLE_READ_LIMIT + 12345))
    empty = tmp_path / "empty.bin"
    empty.write_bytes(b"")
    seen: list[int] = []
    with store.batch() as batch:
        info = batch.put_file(big, progress=seen.append)
        nothing = batch.put_file(empty)
    assert info.size == big.stat().st_size == sum(seen)
    assert store.get_bytes(info.address) == big.read_bytes()
    assert store.get_bytes(nothing.address) == b""


def test_bad_paths_are_refused(tmp_path: Path) -> None:
    store = BlobStore(str(tmp_path / "store"))
    with store.batch() as batch:
        with pytest.raises(NotFound, match="no such file"):
            batch.put_file(tmp_path / "missing.bin")
        with pytest.raises(InvalidArgument, match="is a folder"):
            batch.put_file(tmp_path)
    with pytest.raises(RuntimeError, match="committed or aborted"):
        batch.put_bytes(b"too late")


def test_other_stores_store_each_blob_at_once(make_spec: Callable[[str], StoreSpec]) -> None:
    store = make_spec("local-encrypted").open()
    with store.batch() as batch:
        info = batch.put_bytes(b"encrypted right away")
        assert store.exists(info.address)
        assert batch.encrypted
        assert batch.keyring is store.keyring
    assert store.get_bytes(info.address) == b"encrypted right away"
