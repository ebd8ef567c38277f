"""Blobs through the client, in-process and over HTTP: paths or files, streamed, verified."""

from __future__ import annotations

import io
import os
from pathlib import Path

import pytest

from mlsteward.blobs import BlobInfo
from mlsteward.blobs._streams import IO_CHUNK_SIZE
from mlsteward.errors import (
    IntegrityError,
    InvalidArgument,
    NotFound,
    PermissionDenied,
    Unavailable,
)

from .conftest import World

MiB = 1024 * 1024


def test_put_and_get_with_paths_and_files(world: World, tmp_path: Path) -> None:
    admin = world.admin()
    data = os.urandom(3 * MiB + 17)
    source = tmp_path / "weights.bin"
    source.write_bytes(data)
    info = admin.put_blob(source)
    assert isinstance(info, BlobInfo)
    assert (info.size, info.created) == (len(data), True)
    assert admin.put_blob(io.BytesIO(data)) == BlobInfo(info.address, len(data), False)
    assert admin.blob_size(info.address) == len(data)

    dest = tmp_path / "copy.bin"
    assert admin.get_blob(info.address, dest) == len(data)
    assert dest.read_bytes() == data
    sink = io.BytesIO()
    assert admin.get_blob(info.address, sink) == len(data)
    assert sink.getvalue() == data
    assert sorted(p.name for p in tmp_path.iterdir()) == ["copy.bin", "weights.bin"]


def test_missing_blobs_leave_the_destination_alone(world: World, tmp_path: Path) -> None:
    admin = world.admin()
    dest = tmp_path / "keep.txt"
    dest.write_text("keep me")
    with pytest.raises(NotFound):
        admin.get_blob("0" * 64, dest)
    assert dest.read_text() == "keep me"
    assert [p.name for p in tmp_path.iterdir()] == ["keep.txt"]
    with pytest.raises(NotFound):
        admin.blob_size("0" * 64)


def test_bad_sources(world: World, tmp_path: Path) -> None:
    admin = world.admin()
    with pytest.raises(NotFound, match="no such file"):
        admin.put_blob(tmp_path / "absent.bin")
    with pytest.raises(InvalidArgument, match="is a folder"):
        admin.put_blob(tmp_path)


def test_blobs_are_for_administrators(world: World) -> None:
    user = world.user("yuri")
    with pytest.raises(PermissionDenied):
        user.put_blob(io.BytesIO(b"from a user"))
    info = world.admin().put_blob(io.BytesIO(b"for administrators"))
    with pytest.raises(PermissionDenied):
        user.get_blob(info.address, io.BytesIO())
    with pytest.raises(PermissionDenied):
        user.blob_size(info.address)


def _corrupt(world: World, address: str) -> None:
    stored = world.blob_root / "objects" / address[:2] / address[2:]
    stored.chmod(0o644)
    raw = bytearray(stored.read_bytes())
    raw[-1] ^= 0xFF
    stored.write_bytes(bytes(raw))


def test_a_small_corrupt_blob_is_an_integrity_error(world: World, tmp_path: Path) -> None:
    """The server reads a first chunk before it answers, so the error is the store's own."""
    admin = world.admin()
    info = admin.put_blob(io.BytesIO(b"small and soon corrupt " + world.kind.encode()))
    _corrupt(world, info.address)
    with pytest.raises(IntegrityError, match="corrupt"):
        admin.get_blob(info.address, tmp_path / "out.bin")
    assert list(tmp_path.iterdir()) == []


def test_a_large_corrupt_blob_never_arrives_complete(world: World, tmp_path: Path) -> None:
    """Big enough that the server starts sending before the store has read the end."""
    size = IO_CHUNK_SIZE + 2 * MiB
    admin = world.admin()
    info = admin.put_blob(io.BytesIO(os.urandom(size)))
    _corrupt(world, info.address)
    # In-process the store says what is wrong; over HTTP the status line went out before
    # the end was checked, so the server cuts the body short and the client says so.
    expected = IntegrityError if world.kind == "local" else Unavailable
    with pytest.raises(expected, match="corrupt"):
        admin.get_blob(info.address, tmp_path / "out.bin")
    assert list(tmp_path.iterdir()) == []
    sink = io.BytesIO()
    with pytest.raises(expected):
        admin.get_blob(info.address, sink)
    assert len(sink.getvalue()) < size
