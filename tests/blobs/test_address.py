"""Hostile addresses are refused before any storage access, and nothing is written."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from mlsteward.blobs import BlobStore
from mlsteward.blobs._address import check_address
from mlsteward.errors import InvalidArgument

from ._support import StoreSpec

VALID = "0123456789abcdef" * 4
HOSTILE: dict[str, Any] = {
    "parent-dir": "../x",
    "parent-dir-padded-to-64": "../" + "a" * 61,
    "absolute": "/etc/passwd",
    "absolute-padded-to-64": "/" + "a" * 63,
    "percent-encoded-dotdot": "%2e%2e%2f" * 7 + "a",
    "double-encoded-dotdot": "%252e%252e%252f" + "a" * 49,
    "nul-byte": "a" * 63 + "\x00",
    "backslash": "ab\\" + "c" * 61,
    "slash-in-the-middle": "ab/" + "c" * 61,
    "uppercase": VALID.upper(),
    "too-long": VALID + "0",
    "far-too-long": "a" * 100_000,
    "too-short": VALID[:-1],
    "empty": "",
    "trailing-newline": VALID[:-1] + "\n",
    "leading-space": " " + VALID[1:],
    "non-ascii-digits": "\u0660" * 64,
    "fullwidth-letters": "\uff41" * 64,
    "not-a-string": b"a" * 64,
    "none": None,
}


@pytest.mark.parametrize("address", HOSTILE.values(), ids=HOSTILE.keys())
def test_check_address_refuses(address: Any) -> None:
    with pytest.raises(InvalidArgument, match="64 lowercase hex characters"):
        check_address(address)


def test_check_address_accepts_a_digest() -> None:
    assert check_address(VALID) == VALID


def test_message_of_a_huge_address_is_bounded() -> None:
    with pytest.raises(InvalidArgument) as caught:
        check_address("a" * 100_000)
    assert len(caught.value.message) < 300


@pytest.mark.parametrize("address", HOSTILE.values(), ids=HOSTILE.keys())
def test_store_refuses_hostile_address_and_writes_nothing(
    spec: StoreSpec, store: BlobStore, address: Any, tmp_path: Path
) -> None:
    store.put_bytes(b"something already stored")
    raw = spec.raw()
    before = raw.files()
    dest = tmp_path / "dest.bin"
    calls = [
        lambda: store.open(address),
        lambda: store.get_bytes(address),
        lambda: store.get_file(address, dest),
        lambda: store.exists(address),
        lambda: store.size(address),
        lambda: store.delete(address),
        lambda: store.verify(expected=[address]),
    ]
    for call in calls:
        with pytest.raises(InvalidArgument, match=r"invalid blob address|must be a string"):
            call()
    assert raw.files() == before
    assert not dest.exists()
    assert [p.name for p in tmp_path.iterdir() if p.name.endswith(".part")] == []
