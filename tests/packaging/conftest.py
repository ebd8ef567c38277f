"""Fixtures for package tests: a model folder, a signing key, a built package."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from mlsteward.packaging._build import build_package
from mlsteward.packaging._signing import generate_signing_key

from ._support import METADATA, REQUIREMENTS, WEIGHTS_SIZE


@pytest.fixture
def key() -> Ed25519PrivateKey:
    return generate_signing_key()


@pytest.fixture
def model_dir(tmp_path: Path) -> Path:
    root = tmp_path / "model-src"
    (root / "sub").mkdir(parents=True)
    (root / "weights.bin").write_bytes(os.urandom(WEIGHTS_SIZE))
    (root / "sub" / "config.json").write_text('{"layers": 3}')
    (root / "empty.txt").write_bytes(b"")
    return root


@pytest.fixture
def package(tmp_path: Path, model_dir: Path, key: Ed25519PrivateKey) -> Path:
    output = tmp_path / "out" / "fraud-3.mlsb"
    output.parent.mkdir()
    build_package(
        model_dir, metadata=METADATA, requirements=REQUIREMENTS, signing_key=key, output=output
    )
    return output
