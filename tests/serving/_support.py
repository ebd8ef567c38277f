"""A real model in a real signed package, and a real server for an app, for the serving
tests."""

from __future__ import annotations

import contextlib
import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import uvicorn
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


def free_port() -> int:
    """A TCP port free on 127.0.0.1 now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@contextlib.contextmanager
def ready_server(app: Any) -> Iterator[str]:
    """``app`` under uvicorn on 127.0.0.1 in a thread, once ``/v2/health/ready`` answers 200;
    its base URL. Stopped when the block ends."""
    port = free_port()
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 30
    while True:
        with contextlib.suppress(httpx.TransportError):
            if httpx.get(f"{url}/v2/health/ready", timeout=2).status_code == 200:
                break
        assert time.monotonic() < deadline, "the server never became ready"
        time.sleep(0.05)
    try:
        yield url
    finally:
        server.should_exit = True
        thread.join(timeout=30)
