"""BlobStore behaviour on every backend: round trips, dedup, streaming, verify, gc."""

from __future__ import annotations

import io
import os
import time
from pathlib import Path

import blake3
import pytest

from mlsteward.blobs import BlobInfo, BlobStore
from mlsteward.blobs._crypto import DEFAULT_CHUNK_SIZE
from mlsteward.blobs._streams import IO_CHUNK_SIZE
from mlsteward.errors import (
    IntegrityError,
    InvalidArgument,
    NotFound,
    PayloadTooLarge,
)

from ._support import (
    GeneratedStream,
    MiB,
    StoreSpec,
    generated_bytes,
    object_key,
    sidecar_key,
)

CHUNK = DEFAULT_CHUNK_SIZE  # plaintext bytes per encrypted chunk
SIZES = {
    "empty": 0,
    "one-byte": 1,
    "one-chunk": CHUNK,
    "chunk-plus-one": CHUNK + 1,
    "one-io-buffer": IO_CHUNK_SIZE,
    "io-buffer-plus-one": IO_CHUNK_SIZE + 1,
    "several-mib": 9 * MiB + 123,
}


def _address_of(store: BlobStore, data: bytes) -> str:
    key = store.keyring.address_key if store.keyring else None
    hasher = blake3.blake3(key=key) if key else blake3.blake3()
    hasher.update(data)
    return str(hasher.hexdigest())


@pytest.mark.parametrize("size", SIZES.values(), ids=SIZES.keys())
def test_round_trip(store: BlobStore, size: int, tmp_path: Path) -> None:
    data = generated_bytes(size, seed=size)
    info = store.put_bytes(data)
    assert info == BlobInfo(_address_of(store, data), size, True)
    assert store.exists(info.address)
    assert store.size(info.address) == size
    assert store.get_bytes(info.address) == data
    with store.open(info.address) as reader:
        assert reader.read() == data
    dest = tmp_path / "out.bin"
    assert store.get_file(info.address, dest) == size
    assert dest.read_bytes() == data
    assert [p.name for p in tmp_path.iterdir() if p.name.endswith(".part")] == []


def test_identical_content_is_stored_once(store: BlobStore, spec: StoreSpec) -> None:
    data = b"same bytes" * 1000
    first = store.put_bytes(data)
    second = store.put_stream(io.BytesIO(data))
    assert first.created is True
    assert second == BlobInfo(first.address, len(data), False)
    assert list(store.iter_addresses()) == [first.address]
    raw = spec.raw()
    assert raw.list_keys("objects/") == [object_key(first.address)]
    assert raw.list_keys("tmp/") == []
    if spec.encrypted:
        assert raw.list_keys("keys/") == [sidecar_key(first.address)]


def test_put_file_and_progress(store: BlobStore, tmp_path: Path) -> None:
    source = tmp_path / "model.bin"
    data = generated_bytes(10 * MiB + 7, seed=3)
    source.write_bytes(data)
    seen: list[int] = []
    info = store.put_file(source, progress=seen.append)
    assert sum(seen) == len(data)
    assert info.size == len(data)
    got: list[int] = []
    dest = tmp_path / "copy.bin"
    store.get_file(info.address, dest, progress=got.append)
    assert sum(got) == len(data)
    assert dest.read_bytes() == data


def test_put_stream_without_readinto(store: BlobStore) -> None:
    class ReadOnly:
        def __init__(self, data: bytes) -> None:
            self._inner = io.BytesIO(data)

        def read(self, size: int = -1) -> bytes:
            return self._inner.read(min(size, 1000))  # short reads

    data = generated_bytes(CHUNK + 5000, seed=9)
    info = store.put_stream(ReadOnly(data))
    assert store.get_bytes(info.address) == data


def test_open_streams_in_small_reads(store: BlobStore) -> None:
    data = generated_bytes(CHUNK + 100_000, seed=4)
    address = store.put_bytes(data).address
    pieces = []
    with store.open(address) as reader:
        while piece := reader.read(65_536):
            pieces.append(piece)
    assert b"".join(pieces) == data


def test_missing_blob_is_not_found(store: BlobStore, tmp_path: Path) -> None:
    absent = "0" * 64
    assert store.exists(absent) is False
    with pytest.raises(NotFound, match="no blob with address 0000"):
        store.open(absent)
    with pytest.raises(NotFound):
        store.get_bytes(absent)
    with pytest.raises(NotFound):
        store.size(absent)
    with pytest.raises(NotFound):
        store.get_file(absent, tmp_path / "x")
    assert not (tmp_path / "x").exists()
    assert store.delete(absent) is False


def test_put_file_missing_or_folder(store: BlobStore, tmp_path: Path) -> None:
    with pytest.raises(NotFound, match="no such file"):
        store.put_file(tmp_path / "absent.bin")
    with pytest.raises(InvalidArgument, match="is a folder"):
        store.put_file(tmp_path)


def test_oversized_stream_is_refused_and_leaves_nothing(store: BlobStore, spec: StoreSpec) -> None:
    with pytest.raises(PayloadTooLarge, match="larger than the limit of 1000000 bytes"):
        store.put_stream(GeneratedStream(3 * MiB), max_bytes=1_000_000)
    assert spec.raw().files() == {}
    info = store.put_stream(GeneratedStream(1_000_000), max_bytes=1_000_000)
    assert info.size == 1_000_000


def test_failing_source_leaves_nothing(store: BlobStore, spec: StoreSpec) -> None:
    class Broken(io.RawIOBase):
        def __init__(self) -> None:
            self.calls = 0

        def readable(self) -> bool:
            return True

        def readinto(self, buffer: memoryview) -> int:  # type: ignore[override]
            self.calls += 1
            if self.calls > 2:
                raise OSError("disk on fire")
            buffer[: 1 * MiB] = b"x" * MiB
            return MiB

    with pytest.raises(OSError, match="disk on fire"):
        store.put_stream(Broken())
    assert spec.raw().files() == {}


def test_delete_and_iter_addresses(store: BlobStore, spec: StoreSpec) -> None:
    infos = [store.put_bytes(f"blob {i}".encode()) for i in range(5)]
    assert sorted(store.iter_addresses()) == sorted(i.address for i in infos)
    assert store.delete(infos[0].address) is True
    assert store.exists(infos[0].address) is False
    assert infos[0].address not in set(store.iter_addresses())
    assert [k for k in spec.raw().list_keys() if infos[0].address[2:] in k] == []


def test_encrypted_address_is_keyed(store: BlobStore, spec: StoreSpec) -> None:
    data = b"a guessable plaintext"
    info = store.put_bytes(data)
    plain = blake3.blake3(data).hexdigest()
    if spec.encrypted:
        assert info.address != plain
        assert store.exists(plain) is False
    else:
        assert info.address == plain


def test_verify_clean_store(store: BlobStore) -> None:
    sizes = [0, 10, CHUNK + 1]
    for n in sizes:
        store.put_bytes(generated_bytes(n, seed=n + 100))
    seen: list[int] = []
    report = store.verify(progress=seen.append)
    assert report.ok
    assert (report.objects, report.bytes) == (3, sum(sizes))
    assert sum(seen) == sum(sizes)


def test_verify_detects_a_flipped_byte(store: BlobStore, spec: StoreSpec) -> None:
    good = store.put_bytes(b"good" * 1000).address
    bad = store.put_bytes(generated_bytes(CHUNK + 10, seed=5)).address
    raw = spec.raw()
    content = bytearray(raw.read(object_key(bad)))
    content[len(content) // 2] ^= 0x01
    raw.write(object_key(bad), bytes(content))

    report = store.verify()
    assert not report.ok
    assert report.corrupt == [bad]
    assert report.missing_keys == []
    assert bad in report.problems
    with pytest.raises(IntegrityError, match=bad):
        store.get_bytes(bad)
    assert store.get_bytes(good) == b"good" * 1000


def test_verify_reports_missing_and_missing_keys(store: BlobStore, spec: StoreSpec) -> None:
    kept = store.put_bytes(b"kept").address
    gone = store.put_bytes(b"gone").address
    store.delete(gone)
    report = store.verify(expected=[kept, gone])
    assert report.missing == [gone]
    assert not report.ok
    if spec.encrypted:
        spec.raw().delete(sidecar_key(kept))
        report = store.verify()
        assert report.missing_keys == [kept]
        assert "wrapped data key" in report.problems[kept]


def test_verify_rejects_hostile_expected_before_reading(store: BlobStore) -> None:
    with pytest.raises(InvalidArgument):
        store.verify(expected=["../../etc/passwd"])


def test_gc_keeps_referenced_and_young(store: BlobStore, spec: StoreSpec) -> None:
    referenced = store.put_bytes(b"referenced").address
    unreferenced = store.put_bytes(b"unreferenced").address
    raw = spec.raw()
    raw.write("tmp/stale-from-a-crash.part", b"partial")

    report = store.gc({referenced}, grace_seconds=3600)
    assert (report.deleted, report.kept, report.young, report.temp_deleted) == (0, 1, 1, 0)
    assert store.exists(unreferenced)

    time.sleep(1.1)  # S3 timestamps have one-second resolution
    dry = store.gc({referenced}, grace_seconds=0, dry_run=True)
    assert (dry.deleted, dry.kept, dry.temp_deleted, dry.dry_run) == (1, 1, 1, True)
    assert store.exists(unreferenced)

    report = store.gc({referenced}, grace_seconds=0)
    assert (report.deleted, report.kept, report.temp_deleted) == (1, 1, 1)
    assert report.deleted_bytes > 0
    assert list(store.iter_addresses()) == [referenced]
    assert store.get_bytes(referenced) == b"referenced"
    assert raw.list_keys("tmp/") == []
    if spec.encrypted:
        assert raw.list_keys("keys/") == [sidecar_key(referenced)]


def test_gc_grace_period_by_age(make_spec: object, tmp_path: Path) -> None:
    spec = make_spec("local")  # type: ignore[operator]
    store = spec.open()
    old = store.put_bytes(b"old").address
    young = store.put_bytes(b"young").address
    hour_ago = time.time() - 7200
    os.utime(Path(spec.url) / object_key(old), (hour_ago, hour_ago))
    report = store.gc(set(), grace_seconds=3600)
    assert (report.deleted, report.young) == (1, 1)
    assert list(store.iter_addresses()) == [young]
    # Putting content again makes it young again, so a concurrent gc spares it.
    os.utime(Path(spec.url) / object_key(young), (hour_ago, hour_ago))
    assert store.put_bytes(b"young").created is False
    assert store.gc(set(), grace_seconds=3600).deleted == 0


def test_gc_rejects_negative_grace(store: BlobStore) -> None:
    with pytest.raises(InvalidArgument, match="grace_seconds"):
        store.gc(set(), grace_seconds=-1)


def test_foreign_files_are_ignored(store: BlobStore, spec: StoreSpec) -> None:
    address = store.put_bytes(b"x").address
    spec.raw().write("objects/zz/not-a-blob", b"junk")
    spec.raw().write("objects/README", b"junk")
    assert list(store.iter_addresses()) == [address]
    assert store.verify().ok


@pytest.mark.parametrize("pieces", [1, 2])
def test_corrupt_last_piece_is_never_returned(
    store: BlobStore, spec: StoreSpec, pieces: int
) -> None:
    """Even when the size is an exact multiple of the read size, the end is checked first.

    (Encrypted: every chunk returned is authenticated; here the last byte belongs to the
    empty final chunk, so all the data is genuine and the error still comes at the end.)
    """
    size = pieces * (CHUNK if spec.encrypted else IO_CHUNK_SIZE)
    data = generated_bytes(size, seed=pieces)
    address = store.put_bytes(data).address
    raw = spec.raw()
    content = bytearray(raw.read(object_key(address)))
    content[-1] ^= 0xFF
    raw.write(object_key(address), bytes(content))
    received = bytearray()

    def read_all() -> None:
        with store.open(address) as reader:
            while piece := reader.read(MiB):
                received.extend(piece)

    with pytest.raises(IntegrityError):
        read_all()
    assert data.startswith(bytes(received))
    if not spec.encrypted:
        assert len(received) < size


def test_get_file_of_a_corrupt_blob_leaves_no_file(
    store: BlobStore, spec: StoreSpec, tmp_path: Path
) -> None:
    data = generated_bytes(3 * MiB + 5, seed=21)
    address = store.put_bytes(data).address
    raw = spec.raw()
    content = bytearray(raw.read(object_key(address)))
    content[MiB] ^= 0x40
    raw.write(object_key(address), bytes(content))
    dest = tmp_path / "restored.bin"
    with pytest.raises(IntegrityError, match=address):
        store.get_file(address, dest)
    assert [p.name for p in tmp_path.iterdir() if "restored" in p.name] == []


def test_put_file_of_a_special_file_reads_its_content(store: BlobStore) -> None:
    """/proc files report size 0 yet have content: they must not be stored empty."""
    proc = Path("/proc/self/cmdline")
    if not proc.exists():
        pytest.skip("no /proc on this system")
    info = store.put_file(proc)
    assert info.size > 0
    assert b"pytest" in store.get_bytes(info.address) or b"python" in store.get_bytes(info.address)
