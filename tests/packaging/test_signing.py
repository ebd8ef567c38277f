"""Package signing keys: ids, PEM round trips, refusals of wrong keys and passwords."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

from mlsteward.errors import InvalidArgument, NotFound
from mlsteward.packaging._signing import (
    generate_signing_key,
    load_private_key,
    load_public_key,
    private_key_from_pem,
    public_key_bytes,
    public_key_id,
    public_key_to_pem,
    save_private_key,
)


def test_key_id_is_a_sha256_prefix_of_the_raw_key() -> None:
    key = generate_signing_key().public_key()
    assert public_key_id(key) == hashlib.sha256(public_key_bytes(key)).hexdigest()[:32]
    assert public_key_id(generate_signing_key().public_key()) != public_key_id(key)


def test_private_key_round_trip_with_password(tmp_path: Path) -> None:
    key = generate_signing_key()
    path = tmp_path / "signing.pem"
    save_private_key(key, path, password=b"hunter22")
    assert path.stat().st_mode & 0o777 == 0o600
    loaded = load_private_key(path, password=b"hunter22")
    assert public_key_id(loaded.public_key()) == public_key_id(key.public_key())
    with pytest.raises(InvalidArgument, match="password"):
        load_private_key(path, password=b"wrong")
    with pytest.raises(InvalidArgument, match="password"):
        load_private_key(path)
    with pytest.raises(FileExistsError):
        save_private_key(key, path)
    with pytest.raises(NotFound):
        load_private_key(tmp_path / "missing.pem")


def test_public_key_from_pem_or_raw() -> None:
    key = generate_signing_key().public_key()
    for data in (public_key_to_pem(key), public_key_bytes(key)):
        assert public_key_id(load_public_key(data)) == public_key_id(key)
    with pytest.raises(InvalidArgument, match="PEM or 32 raw bytes"):
        load_public_key(b"junk")


def test_keys_of_other_types_are_refused() -> None:
    other = ec.generate_private_key(ec.SECP256R1())
    pem = other.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    with pytest.raises(InvalidArgument, match="not Ed25519"):
        private_key_from_pem(pem)
    public_pem = other.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    with pytest.raises(InvalidArgument, match="not Ed25519"):
        load_public_key(public_pem)
