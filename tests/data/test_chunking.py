"""Content-defined chunking: small edits to big files store few new bytes."""

from __future__ import annotations

import os
from pathlib import Path

from fastcdc.fastcdc_cy import fastcdc_cy

from mlsteward.blobs import BlobStore
from mlsteward.data import add_dataset_version, read_manifest
from mlsteward.data._chunking import AVG_CHUNK, MAX_CHUNK, MIN_CHUNK, WINDOW, store_chunks
from mlsteward.platform import Platform
from mlsteward.security import LOCAL_ADMIN

from ._dataset_support import random_bytes, stored_sizes

MB = 1024 * 1024


def test_a_one_byte_edit_in_a_200_mb_file_stores_only_a_few_chunks(
    platform: Platform, tmp_path: Path
) -> None:
    src = tmp_path / "src"
    src.mkdir()
    big = src / "big.bin"
    big.write_bytes(random_bytes(200 * MB, seed=1))
    first = add_dataset_version(platform, LOCAL_ADMIN, "default", "ds", src)
    chunks = read_manifest(platform, first).entries[0].chunks
    assert chunks is not None
    assert len(chunks) > 50
    before = stored_sizes(platform)
    with open(big, "r+b") as handle:
        handle.seek(100 * MB)
        byte = handle.read(1)
        handle.seek(100 * MB)
        handle.write(bytes([byte[0] ^ 0xFF]))
    second = add_dataset_version(platform, LOCAL_ADMIN, "default", "ds", src)
    after = stored_sizes(platform)
    new = {a: s for a, s in after.items() if a not in before}
    chunk_bytes = sum(s for a, s in new.items() if a != second.manifest_address)
    assert 0 < chunk_bytes < 3 * MAX_CHUNK
    assert second.new_bytes == sum(new.values())
    assert second.total_bytes == 200 * MB


def test_windowed_chunking_cuts_exactly_where_whole_file_chunking_does(tmp_path: Path) -> None:
    data = random_bytes(3 * WINDOW + 12345, seed=2)
    path = tmp_path / "f.bin"
    path.write_bytes(data)
    expected = [
        c.length for c in fastcdc_cy(memoryview(data), MIN_CHUNK, AVG_CHUNK, MAX_CHUNK, False)
    ]
    store = BlobStore(str(tmp_path / "store"))
    fd = os.open(path, os.O_RDONLY)
    try:
        chunks, new_bytes = store_chunks(store, fd)
    finally:
        os.close(fd)
    assert [size for _, size in chunks] == expected
    assert new_bytes == len(data)
    assert b"".join(store.get_bytes(a) for a, _ in chunks) == data
    fd = os.open(path, os.O_RDONLY)
    try:
        again, new_again = store_chunks(store, fd)
    finally:
        os.close(fd)
    assert again == chunks
    assert new_again == 0
