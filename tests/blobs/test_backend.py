"""Choosing a backend from a URL, and what happens when its driver is missing."""

from __future__ import annotations

import subprocess
import sys
import textwrap
import uuid
from pathlib import Path

import pytest

from mlsteward.blobs import BlobStore
from mlsteward.errors import ConfigurationError

ROOT = Path(__file__).resolve().parents[2]


def test_local_path_and_file_url_are_the_same_store(tmp_path: Path) -> None:
    address = BlobStore(str(tmp_path / "store")).put_bytes(b"x").address
    assert BlobStore(f"file://{tmp_path / 'store'}").get_bytes(address) == b"x"


def test_constructing_a_store_writes_nothing(tmp_path: Path) -> None:
    store = BlobStore(str(tmp_path / "store"))
    assert not (tmp_path / "store").exists()
    assert list(store.iter_addresses()) == []
    assert store.verify().ok


@pytest.mark.parametrize(
    ("url", "options", "message"),
    [
        ("", None, "URL is empty"),
        ("nosuchprotocol://bucket/x", None, "unsupported blob URL"),
        ("/some/folder", {"endpoint_url": "http://x"}, "only used with fsspec URLs"),
        ("memory://", None, "names no bucket or folder"),
    ],
)
def test_bad_configuration(url: str, options: dict[str, str] | None, message: str) -> None:
    with pytest.raises(ConfigurationError, match=message):
        BlobStore(url, storage_options=options)


def test_missing_s3fs_names_the_extra() -> None:
    script = textwrap.dedent(
        """
        import sys
        sys.modules["s3fs"] = None  # as if the [s3] extra were not installed
        from mlsteward.blobs import BlobStore
        from mlsteward.errors import MissingExtra
        try:
            BlobStore("s3://bucket/prefix")
        except MissingExtra as exc:
            print(exc.message)
        """
    )
    result = subprocess.run(
        [sys.executable, "-c", script], cwd=ROOT, capture_output=True, text=True, check=True
    )
    assert "pip install 'mlsteward[s3]'" in result.stdout


def test_memory_filesystem_round_trip() -> None:
    """Any fsspec filesystem works, not only S3."""
    store = BlobStore(f"memory://mlsteward-test-{uuid.uuid4().hex}")
    info = store.put_bytes(b"in memory" * 1000)
    assert store.get_bytes(info.address) == b"in memory" * 1000
    assert list(store.iter_addresses()) == [info.address]
    assert store.put_bytes(b"in memory" * 1000).created is False
    assert store.delete(info.address) is True
