"""A real model in a real signed package, for the serving tests."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from mlsteward.models._model_dir import save_model
from mlsteward.packaging import build_package, generate_signing_key, public_key_to_pem


def iris_frame() -> tuple[Any, Any]:
    from sklearn.datasets import load_iris

    x, y = load_iris(return_X_y=True, as_frame=True)
    return x, y


def save_iris_model(folder: Path) -> Any:
    """A HistGradientBoosting classifier on iris saved into ``folder``; the fitted model."""
    from sklearn.ensemble import HistGradientBoostingClassifier

    x, y = iris_frame()
    model = HistGradientBoostingClassifier(max_iter=20, random_state=0).fit(x, y)
    save_model(model, folder, input_example=x.head(5))
    return model


def iris_package(root: Path, key: Ed25519PrivateKey | None = None) -> tuple[Path, Path, Any]:
    """``(package, public key PEM file, fitted model)`` under ``root``."""
    key = key or generate_signing_key()
    source = root / "model-src"
    model = save_iris_model(source)
    package = root / "iris-1.mlsb"
    metadata = {"model": {"name": "iris", "version": 1}, "flavor": "sklearn"}
    build_package(
        source,
        metadata=metadata,
        requirements=["scikit-learn==1.0"],
        signing_key=key,
        output=package,
    )
    public = root / "signing.pub.pem"
    public.write_bytes(public_key_to_pem(key.public_key()))
    return package, public, model
