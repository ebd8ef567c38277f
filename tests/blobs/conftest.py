"""Blob store fixtures: each core test runs on a local folder and on a real S3-compatible
server (moto, started once per session as a separate process), each with and without a
master key."""

from __future__ import annotations

import contextlib
import socket
import subprocess
import sys
import time
import urllib.request
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from mlsteward.blobs import BlobStore, Keyring

from ._support import StoreSpec

BUCKET = "mlsteward-test"
STORE_KINDS = [
    "local",
    "local-encrypted",
    pytest.param("s3", marks=pytest.mark.s3),
    pytest.param("s3-encrypted", marks=pytest.mark.s3),
]


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture(scope="session")
def s3_options() -> Iterator[dict[str, object]]:
    """A moto S3 server process on a free port with one bucket; fsspec options to reach it."""
    port = _free_port()
    endpoint = f"http://127.0.0.1:{port}"
    process = subprocess.Popen(
        [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                with urllib.request.urlopen(f"{endpoint}/moto-api/", timeout=1):
                    break
            except OSError:
                if process.poll() is not None or time.monotonic() > deadline:
                    pytest.fail(f"moto server did not start on {endpoint}")
                time.sleep(0.1)
        options: dict[str, object] = {
            "key": "testing",
            "secret": "testing",
            "endpoint_url": endpoint,
            "client_kwargs": {"region_name": "us-east-1"},
        }
        import boto3

        client = boto3.client(
            "s3",
            endpoint_url=endpoint,
            aws_access_key_id="testing",
            aws_secret_access_key="testing",
            region_name="us-east-1",
        )
        client.create_bucket(Bucket=BUCKET)
        client.close()
        yield options
    finally:
        process.kill()
        with contextlib.suppress(subprocess.TimeoutExpired):
            process.wait(timeout=10)


@pytest.fixture
def make_spec(tmp_path: Path, request: pytest.FixtureRequest) -> Callable[[str], StoreSpec]:
    """Build a fresh, empty store spec of a kind (``local``, ``s3-encrypted``...)."""

    def build(kind: str) -> StoreSpec:
        name = uuid.uuid4().hex[:12]
        keyring_path = None
        if kind.endswith("-encrypted"):
            keyring_path = str(tmp_path / f"keyring-{name}.json")
            Keyring.generate(keyring_path)
        if kind.startswith("s3"):
            options = request.getfixturevalue("s3_options")
            return StoreSpec(kind, f"s3://{BUCKET}/{name}", dict(options), keyring_path)
        return StoreSpec(kind, str(tmp_path / f"store-{name}"), {}, keyring_path)

    return build


@pytest.fixture(params=STORE_KINDS)
def spec(request: pytest.FixtureRequest, make_spec: Callable[[str], StoreSpec]) -> StoreSpec:
    """One empty store of each kind."""
    return make_spec(request.param)


@pytest.fixture
def store(spec: StoreSpec) -> BlobStore:
    return spec.open()


@pytest.fixture(params=["local", "local-encrypted"])
def local_spec(request: pytest.FixtureRequest, make_spec: Callable[[str], StoreSpec]) -> StoreSpec:
    """A local store, plain and encrypted (for the slow, process-level tests)."""
    return make_spec(request.param)
