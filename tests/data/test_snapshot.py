"""Snapshots: the walk, hostile input, files changing while read, and the stat cache."""

from __future__ import annotations

import ctypes
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pytest

from mlsteward.data import _snapshot as snapshot_module
from mlsteward.data import add_dataset_version, read_manifest
from mlsteward.data._chunking import CHUNKING_THRESHOLD, MIN_CHUNK
from mlsteward.data._stat_cache import RACY_MARGIN_NS, FileKey, StatCache, is_cacheable
from mlsteward.errors import Conflict, InvalidArgument, NotFound
from mlsteward.platform import Platform
from mlsteward.security import LOCAL_ADMIN
from mlsteward.settings import Settings

from ._dataset_support import NOTHING, stored_sizes, write_random, written

P = "default"


def _refused(
    platform: Platform, path: Path, error: type[Exception], match: str, **kwargs: object
) -> None:
    with pytest.raises(error, match=match):
        add_dataset_version(platform, LOCAL_ADMIN, P, "ds", path, **kwargs)  # type: ignore[arg-type]
    assert written(platform) == NOTHING


def test_a_missing_path_is_not_found(platform: Platform, tmp_path: Path) -> None:
    _refused(platform, tmp_path / "nope", NotFound, "no such file or folder: .*nope")


def test_an_empty_folder_is_refused(platform: Platform, tmp_path: Path) -> None:
    (tmp_path / "src" / "only-folders").mkdir(parents=True)
    _refused(platform, tmp_path / "src", InvalidArgument, "has no files: nothing to version")


def test_a_symlink_looping_to_its_parent_is_refused(platform: Platform, tmp_path: Path) -> None:
    src = tmp_path / "src"
    write_random(src / "sub" / "a.bin", 10)
    (src / "sub" / "loop").symlink_to(src)
    _refused(platform, src, InvalidArgument, "the symlink 'sub/loop' loops back")
    assert stored_sizes(platform) == {}


def test_a_symlink_to_itself_is_refused(platform: Platform, tmp_path: Path) -> None:
    src = tmp_path / "src"
    write_random(src / "a.bin", 10)
    (src / "self").symlink_to(src / "self")
    _refused(platform, src, InvalidArgument, "the symlink 'self' loops")


def test_a_symlink_escaping_the_root_is_refused(platform: Platform, tmp_path: Path) -> None:
    src = tmp_path / "src"
    write_random(src / "a.bin", 10)
    write_random(tmp_path / "secret.txt", 10)
    (src / "link").symlink_to(tmp_path / "secret.txt")
    _refused(platform, src, InvalidArgument, "the symlink 'link' points outside the folder")
    (src / "link").unlink()
    (src / "link").symlink_to("../secret.txt")
    _refused(platform, src, InvalidArgument, "the symlink 'link' points outside the folder")


def test_a_dangling_symlink_is_refused(platform: Platform, tmp_path: Path) -> None:
    src = tmp_path / "src"
    write_random(src / "a.bin", 10)
    (src / "gone").symlink_to(src / "missing")
    _refused(platform, src, InvalidArgument, "the symlink 'gone' points at nothing")


def test_symlinks_inside_the_root_are_followed(platform: Platform, tmp_path: Path) -> None:
    src = tmp_path / "src"
    write_random(src / "data" / "a.bin", 10)
    (src / "alias.bin").symlink_to(src / "data" / "a.bin")
    (src / "mirror").symlink_to("data")
    version = add_dataset_version(platform, LOCAL_ADMIN, P, "ds", src)
    entries = read_manifest(platform, version).entries
    assert [e.path for e in entries] == ["alias.bin", "data/a.bin", "mirror/a.bin"]
    assert len({e.address for e in entries}) == 1


@pytest.mark.parametrize(
    ("name", "message"),
    [
        ("back\\slash.bin", "contains a backslash"),
        ("new\nline.bin", "contains control characters"),
        ("a%2Fb.bin", "contains the escape %2F"),
    ],
)
def test_unsafe_file_names_are_refused(
    platform: Platform, tmp_path: Path, name: str, message: str
) -> None:
    src = tmp_path / "src"
    write_random(src / name, 10)
    _refused(platform, src, InvalidArgument, message)


def test_a_fifo_is_refused(platform: Platform, tmp_path: Path) -> None:
    src = tmp_path / "src"
    write_random(src / "a.bin", 10)
    os.mkfifo(src / "pipe")
    _refused(platform, src, InvalidArgument, "'pipe' is a fifo, not a regular file")


def test_a_socket_is_refused(platform: Platform) -> None:
    # A short folder: socket paths are limited to ~100 bytes.
    src = Path(tempfile.mkdtemp(prefix="mls-sock-"))
    try:
        write_random(src / "a.bin", 10)
        with socket.socket(socket.AF_UNIX) as sock:
            sock.bind(str(src / "s"))
            _refused(platform, src, InvalidArgument, "'s' is a socket, not a regular file")
    finally:
        shutil.rmtree(src)


def test_a_file_growing_while_it_is_read_is_a_conflict(platform: Platform, tmp_path: Path) -> None:
    src = tmp_path / "src"
    victim = write_random(src / "big.bin", CHUNKING_THRESHOLD + 1)
    write_random(src / "small.bin", 1000)
    appended: list[int] = []

    def append_once(n: int) -> None:  # runs while big.bin is being read, after its 1st chunk
        if not appended and n >= MIN_CHUNK:  # small.bin's 1,000 bytes do not count
            appended.append(n)
            with open(victim, "ab") as handle:
                handle.write(b"more")

    _refused(
        platform, src, Conflict, "'big.bin' changed while it was being read", progress=append_once
    )
    assert appended


def test_a_small_file_changing_while_it_is_copied_is_a_conflict(
    platform: Platform, tmp_path: Path
) -> None:
    src = tmp_path / "src"
    victim = write_random(src / "small.bin", 100_000)
    changed: list[int] = []

    def rewrite_once(n: int) -> None:  # put_file reports progress while it copies
        if not changed:
            changed.append(n)
            victim.write_bytes(b"x" * 10)

    _refused(
        platform,
        src,
        Conflict,
        "'small.bin' changed while it was being read",
        progress=rewrite_once,
    )
    assert changed


def _without_file_permission_override() -> None:
    """In the child before exec: drop CAP_DAC_OVERRIDE and CAP_DAC_READ_SEARCH from the
    bounding set, so even root meets file permissions (prctl PR_CAPBSET_DROP)."""
    libc = ctypes.CDLL(None, use_errno=True)
    for capability in (1, 2):  # CAP_DAC_OVERRIDE, CAP_DAC_READ_SEARCH
        if libc.prctl(24, capability, 0, 0, 0) != 0:
            raise OSError(ctypes.get_errno(), "prctl(PR_CAPBSET_DROP) failed")


def test_an_unreadable_file_is_refused_naming_it(
    platform: Platform, settings: Settings, tmp_path: Path
) -> None:
    """chmod 000 stops everyone but root, and the tests run as root: the add runs in a child
    process (the real CLI) that gave up root's right to ignore file permissions, so the same
    code meets a real EACCES."""
    src = tmp_path / "src"
    write_random(src / "a.bin", 10)
    write_random(src / "locked.bin", 10).chmod(0)
    env = {k: v for k, v in os.environ.items() if not k.startswith("MLSTEWARD_")}
    env["MLSTEWARD_HOME"] = str(settings.home)
    result = subprocess.run(
        [sys.executable, "-m", "mlsteward.cli", "data", "add", str(src), "--name", "ds"],
        preexec_fn=_without_file_permission_override if os.geteuid() == 0 else None,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 1, result.stderr
    assert result.stderr.strip() == "error: cannot read 'locked.bin': Permission denied"
    assert written(platform) == NOTHING


def test_a_file_replaced_by_a_folder_after_the_walk_is_a_conflict(
    platform: Platform, tmp_path: Path
) -> None:
    src = tmp_path / "src"
    write_random(src / "a.bin", 10)
    found = snapshot_module.walk(src)
    (src / "a.bin").unlink()
    (src / "a.bin").mkdir()
    with pytest.raises(Conflict, match=r"'a\.bin' changed while it was being read"):
        snapshot_module.snapshot(platform.blobs, found)


def _old_files(root: Path) -> None:
    """Wait until every file's ctime is past the racy margin, so the cache keeps it."""
    del root
    time.sleep(2 * RACY_MARGIN_NS / 1e9)


@pytest.mark.parametrize("size", [1000, CHUNKING_THRESHOLD + 1])
def test_unchanged_files_are_not_read_again(
    platform: Platform, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, size: int
) -> None:
    src = tmp_path / "src"
    for i in range(3):
        write_random(src / f"f{i}.bin", size, seed=i)
    _old_files(src)
    first = add_dataset_version(platform, LOCAL_ADMIN, P, "ds", src)
    read: list[str] = []
    store_file = snapshot_module._store_file

    def spy(blobs: object, found: snapshot_module.FoundFile, progress: object) -> object:
        read.append(found.path)
        return store_file(blobs, found, progress)  # type: ignore[arg-type]

    monkeypatch.setattr(snapshot_module, "_store_file", spy)
    write_random(src / "f9.bin", 1000, seed=9)
    second = add_dataset_version(platform, LOCAL_ADMIN, P, "ds", src)
    assert read == ["f9.bin"]
    assert second.file_count == 4
    assert read_manifest(platform, second).entries[:3] == read_manifest(platform, first).entries


def test_a_cached_file_whose_blob_is_gone_is_stored_again(
    platform: Platform, tmp_path: Path
) -> None:
    src = tmp_path / "src"
    write_random(src / "a.bin", 1000)
    _old_files(src)
    first = add_dataset_version(platform, LOCAL_ADMIN, P, "ds", src)
    address = read_manifest(platform, first).entries[0].address
    assert address is not None
    platform.blobs.delete(address)
    write_random(src / "b.bin", 10, seed=4)
    add_dataset_version(platform, LOCAL_ADMIN, P, "ds", src)
    assert platform.blobs.exists(address)


def test_same_size_and_mtime_with_new_content_is_still_seen(
    platform: Platform, tmp_path: Path
) -> None:
    src = tmp_path / "src"
    target = write_random(src / "a.bin", 1000)
    _old_files(src)
    first = add_dataset_version(platform, LOCAL_ADMIN, P, "ds", src)
    info = target.stat()
    write_random(target, 1000, seed=8)
    os.utime(target, ns=(info.st_atime_ns, info.st_mtime_ns))  # ctime still moves
    second = add_dataset_version(platform, LOCAL_ADMIN, P, "ds", src)
    assert second.version == 2
    assert second.manifest_address != first.manifest_address


def test_racy_entries_are_not_cacheable_and_a_damaged_cache_is_ignored(tmp_path: Path) -> None:
    now = time.time_ns()
    key = FileKey("/x", 1, 2, 3, now - 1000, now - 1000)
    assert not is_cacheable(key, now)
    assert is_cacheable(FileKey("/x", 1, 2, 3, now - 10**9, now - 10**9), now)
    folder = tmp_path / "cache"
    folder.mkdir()
    (folder / "dataset_stat_cache.sqlite3").write_bytes(b"not a database" * 100)
    cache = StatCache(folder, "store")
    assert cache.get(key) is None
    cache.put_many([(key, "a" * 64)])  # ignored, no error
    cache.close()


def test_a_single_file_keeps_its_name(platform: Platform, tmp_path: Path) -> None:
    target = write_random(tmp_path / "weights.bin", 123)
    version = add_dataset_version(platform, LOCAL_ADMIN, P, "ds", target)
    assert [e.path for e in read_manifest(platform, version).entries] == ["weights.bin"]
    assert version.kind == "files"
