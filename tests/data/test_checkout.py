"""Checkout: every byte and the executable bit, into a new or empty folder only."""

from __future__ import annotations

import hashlib
import os
import stat
from pathlib import Path

import pytest

from mlsteward.data import add_dataset_version, checkout_dataset_version
from mlsteward.data._chunking import CHUNKING_THRESHOLD
from mlsteward.errors import InvalidArgument, NotFound
from mlsteward.platform import Platform
from mlsteward.security import LOCAL_ADMIN

from ._dataset_support import write_random

P = "default"


def _digests(root: Path) -> dict[str, tuple[str, bool]]:
    found = {}
    for folder, _, names in os.walk(root):
        for name in names:
            path = Path(folder) / name
            executable = bool(path.stat().st_mode & stat.S_IXUSR)
            digest = hashlib.sha256(path.read_bytes()).hexdigest()
            found[path.relative_to(root).as_posix()] = (digest, executable)
    return found


@pytest.fixture
def source(tmp_path: Path) -> Path:
    src = tmp_path / "src"
    write_random(src / "small.bin", 1000)
    (src / "empty.txt").write_bytes(b"")
    write_random(src / "deep" / "er" / "big.bin", CHUNKING_THRESHOLD + 777, seed=3)
    tool = src / "bin" / "run.sh"
    tool.parent.mkdir()
    tool.write_bytes(b"#!/bin/sh\necho hi\n")
    tool.chmod(0o755)
    return src


@pytest.mark.parametrize("link", ["auto", "copy"])
def test_checkout_reproduces_every_byte_and_the_executable_bit(
    platform: Platform, tmp_path: Path, source: Path, link: str
) -> None:
    version = add_dataset_version(platform, LOCAL_ADMIN, P, "ds", source)
    dest = tmp_path / "out"
    done = checkout_dataset_version(platform, LOCAL_ADMIN, P, "ds", 1, dest, link=link)
    assert (done.file_count, done.total_bytes) == (4, version.total_bytes)
    assert _digests(dest) == _digests(source)
    assert _digests(dest)["bin/run.sh"][1]
    assert not _digests(dest)["small.bin"][1]
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".")] == []


def test_checkout_into_an_empty_folder_and_of_the_latest(
    platform: Platform, tmp_path: Path, source: Path
) -> None:
    add_dataset_version(platform, LOCAL_ADMIN, P, "ds", source)
    (source / "small.bin").unlink()
    add_dataset_version(platform, LOCAL_ADMIN, P, "ds", source)
    dest = tmp_path / "out"
    dest.mkdir()
    done = checkout_dataset_version(platform, LOCAL_ADMIN, P, "ds", None, dest)
    assert done.version == 2
    assert _digests(dest) == _digests(source)


def test_checkout_into_a_non_empty_folder_writes_nothing(
    platform: Platform, tmp_path: Path, source: Path
) -> None:
    add_dataset_version(platform, LOCAL_ADMIN, P, "ds", source)
    dest = tmp_path / "out"
    dest.mkdir()
    (dest / "mine.txt").write_text("keep")
    with pytest.raises(InvalidArgument, match="is not empty: check out into a new or empty"):
        checkout_dataset_version(platform, LOCAL_ADMIN, P, "ds", 1, dest)
    assert [p.name for p in dest.iterdir()] == ["mine.txt"]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["home", "out", "src"]
    target = tmp_path / "file"
    target.write_text("x")
    with pytest.raises(InvalidArgument, match="exists and is not a folder"):
        checkout_dataset_version(platform, LOCAL_ADMIN, P, "ds", 1, target)
    assert target.read_text() == "x"


def test_bad_checkout_arguments(platform: Platform, tmp_path: Path, source: Path) -> None:
    add_dataset_version(platform, LOCAL_ADMIN, P, "ds", source)
    with pytest.raises(InvalidArgument, match="link must be one of"):
        checkout_dataset_version(platform, LOCAL_ADMIN, P, "ds", 1, tmp_path / "o", link="hard")
    with pytest.raises(NotFound, match="has no version 2"):
        checkout_dataset_version(platform, LOCAL_ADMIN, P, "ds", 2, tmp_path / "o")
    with pytest.raises(NotFound, match="no dataset named 'nope'"):
        checkout_dataset_version(platform, LOCAL_ADMIN, P, "nope", 1, tmp_path / "o")
    assert not (tmp_path / "o").exists()


def test_a_damaged_blob_fails_the_checkout_and_leaves_no_folder(
    platform: Platform, tmp_path: Path, source: Path
) -> None:
    from mlsteward.data import read_manifest
    from mlsteward.errors import IntegrityError

    version = add_dataset_version(platform, LOCAL_ADMIN, P, "ds", source)
    entry = next(e for e in read_manifest(platform, version).entries if e.path == "small.bin")
    assert entry.address is not None
    object_path = Path(platform.settings.resolved_blob_url) / "objects"
    damaged = object_path / entry.address[:2] / entry.address[2:]
    damaged.chmod(0o644)
    damaged.write_bytes(b"\0" * 1000)
    with pytest.raises(IntegrityError):
        checkout_dataset_version(platform, LOCAL_ADMIN, P, "ds", 1, tmp_path / "out")
    assert not (tmp_path / "out").exists()
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".")] == []
