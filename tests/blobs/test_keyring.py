"""The keyring file: generation, loading, rotation, malformed input."""

from __future__ import annotations

import base64
import json
import logging
import os
import stat
from pathlib import Path

import pytest

from mlsteward.blobs import Keyring
from mlsteward.blobs._keyring import key_id_of
from mlsteward.errors import AlreadyExists, ConfigurationError, DecryptionFailed


def test_generate_writes_a_private_file(tmp_path: Path) -> None:
    path = tmp_path / "keys" / "keyring.json"
    keyring = Keyring.generate(path)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    doc = json.loads(path.read_text())
    assert doc["type"] == "mlsteward.keyring"
    assert doc["schema_version"] == 1
    assert doc["active"] == keyring.active_key_id
    key = base64.b64decode(doc["keys"][keyring.active_key_id])
    assert len(key) == 32
    assert key_id_of(key) == keyring.active_key_id
    assert len(base64.b64decode(doc["address_key"])) == 32
    assert len(keyring.active_key_id) == 16
    assert list(tmp_path.joinpath("keys").iterdir()) == [path]  # no temp files left
    assert "address_key" not in repr(keyring)
    assert doc["address_key"] not in repr(keyring)


def test_generate_refuses_to_overwrite(tmp_path: Path) -> None:
    path = tmp_path / "keyring.json"
    path.write_text("precious")
    with pytest.raises(AlreadyExists, match="refusing to overwrite"):
        Keyring.generate(path)
    assert path.read_text() == "precious"
    assert list(tmp_path.iterdir()) == [path]


def test_load_round_trip_and_rotate(tmp_path: Path) -> None:
    path = tmp_path / "keyring.json"
    original = Keyring.generate(path)
    loaded = Keyring.load(path)
    assert loaded.address_key == original.address_key
    assert loaded.key_ids == [original.active_key_id]
    new_id = loaded.rotate()
    again = Keyring.load(path)
    assert again.active_key_id == new_id
    assert again.key_ids == sorted([original.active_key_id, new_id])
    assert again.address_key == original.address_key  # addresses stay stable
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert again.master_key(original.active_key_id) == original.master_key(original.active_key_id)


def test_unknown_key_id_names_it(tmp_path: Path) -> None:
    keyring = Keyring.generate(tmp_path / "k.json")
    with pytest.raises(DecryptionFailed, match="'feedfacefeedface' is needed"):
        keyring.master_key("feedfacefeedface")


def test_load_missing_file(tmp_path: Path) -> None:
    with pytest.raises(ConfigurationError, match=r"does not exist.*MLSTEWARD_MASTER_KEY_FILE"):
        Keyring.load(tmp_path / "absent.json")


def test_load_unreadable_file(tmp_path: Path) -> None:
    with pytest.raises(ConfigurationError, match="cannot read keyring file"):
        Keyring.load(tmp_path)  # a folder


def _valid_doc(tmp_path: Path) -> dict[str, object]:
    Keyring.generate(tmp_path / "valid.json")
    doc: dict[str, object] = json.loads((tmp_path / "valid.json").read_text())
    return doc


MALFORMED = {
    "not-json": (b"{nope", "not valid JSON"),
    "not-an-object": (b"[1, 2]", "not an mlsteward keyring"),
    "wrong-type": ({"type": "something.else"}, "not an mlsteward keyring"),
    "newer-schema": ({"schema_version": 2}, "schema_version 2"),
    "no-keys": ({"keys": {}}, "'keys' must be a non-empty object"),
    "bad-base64": ({"address_key": "***"}, "address_key is not valid base64"),
    "short-key": ({"address_key": base64.b64encode(b"short").decode()}, "must be 32 bytes"),
    "active-missing": ({"active": "0000000000000000"}, "is not in 'keys'"),
}


@pytest.mark.parametrize(("change", "message"), MALFORMED.values(), ids=MALFORMED.keys())
def test_load_malformed(tmp_path: Path, change: object, message: str) -> None:
    path = tmp_path / "keyring.json"
    if isinstance(change, bytes):
        path.write_bytes(change)
    else:
        doc = _valid_doc(tmp_path)
        doc.update(change)  # type: ignore[call-overload]
        path.write_text(json.dumps(doc))
    os.chmod(path, 0o600)
    with pytest.raises(ConfigurationError, match=message):
        Keyring.load(path)


def test_load_key_not_matching_its_id(tmp_path: Path) -> None:
    doc = _valid_doc(tmp_path)
    keys = doc["keys"]
    assert isinstance(keys, dict)
    (key_id,) = keys
    keys[key_id] = base64.b64encode(os.urandom(32)).decode()
    path = tmp_path / "edited.json"
    path.write_text(json.dumps(doc))
    with pytest.raises(ConfigurationError, match="does not match its id"):
        Keyring.load(path)


def test_loose_permissions_warn_but_load(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    path = tmp_path / "keyring.json"
    Keyring.generate(path)
    os.chmod(path, 0o644)
    with caplog.at_level(logging.WARNING, logger="mlsteward.blobs._keyring"):
        keyring = Keyring.load(path)
    assert keyring.key_ids
    assert "chmod 600" in caplog.text
