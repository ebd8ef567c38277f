"""Serving from a signed package: verified before anything loads."""

from __future__ import annotations

from pathlib import Path

import pytest

from mlsteward.errors import IntegrityError, InvalidArgument, NotFound
from mlsteward.packaging import build_package, generate_signing_key, load_public_key
from mlsteward.packaging._signing import public_key_id
from mlsteward.serving._sources import load_package_model

from ._support import iris_frame, iris_package


def _keys(pem: Path) -> dict[str, object]:
    public = load_public_key(pem.read_bytes())
    return {public_key_id(public): public}


def test_a_signed_package_loads_and_predicts_like_the_model(tmp_path: Path) -> None:
    package, pem, model = iris_package(tmp_path)
    served = load_package_model(package, trusted_keys=_keys(pem), work_dir=tmp_path / "work")
    assert (served.name, served.version, served.platform) == ("iris", "1", "sklearn")
    x, _ = iris_frame()
    assert served.loaded.predict(x.head(20)).tolist() == model.predict(x.head(20)).tolist()
    renamed = load_package_model(
        package, trusted_keys=_keys(pem), work_dir=tmp_path / "work2", name="flowers"
    )
    assert renamed.name == "flowers"


def test_a_package_signed_by_another_key_is_refused(tmp_path: Path) -> None:
    package, _, _ = iris_package(tmp_path)
    other = generate_signing_key().public_key()
    with pytest.raises(IntegrityError, match=r"signature|key"):
        load_package_model(
            package, trusted_keys={public_key_id(other): other}, work_dir=tmp_path / "w"
        )
    assert not (tmp_path / "w" / "package").exists()  # nothing unpacked from a bad package


def test_a_tampered_package_is_refused(tmp_path: Path) -> None:
    package, pem, _ = iris_package(tmp_path)
    data = bytearray(package.read_bytes())
    data[len(data) // 2] ^= 0xFF
    package.write_bytes(bytes(data))
    with pytest.raises((IntegrityError, InvalidArgument)):
        load_package_model(package, trusted_keys=_keys(pem), work_dir=tmp_path / "w")


def test_missing_packages_and_packages_without_a_model_are_clear_errors(tmp_path: Path) -> None:
    key = generate_signing_key()
    _, pem, _ = iris_package(tmp_path, key)
    with pytest.raises(NotFound):
        load_package_model(tmp_path / "nope.mlsb", trusted_keys=_keys(pem), work_dir=tmp_path)
    bare = tmp_path / "bare"
    bare.mkdir()
    (bare / "weights.bin").write_bytes(b"\0" * 10)
    empty = tmp_path / "bare.mlsb"
    build_package(bare, metadata={}, requirements=[], signing_key=key, output=empty)
    with pytest.raises(InvalidArgument, match="holds no saved model"):
        load_package_model(empty, trusted_keys=_keys(pem), work_dir=tmp_path / "w")
    with pytest.raises(InvalidArgument, match="model name"):
        load_package_model(
            tmp_path / "iris-1.mlsb", trusted_keys=_keys(pem), work_dir=tmp_path / "x", name="a b"
        )
