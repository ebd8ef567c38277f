"""Test helpers: deterministic generated streams, store specs, raw access to storage."""

from __future__ import annotations

import io
import json
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import blake3
import fsspec

from mlsteward.blobs import BlobStore, Keyring

MiB = 1024 * 1024


class GeneratedStream(io.RawIOBase):
    """``size`` pseudo-random bytes from a seed (BLAKE3 XOF), generated on the fly.

    ``delay`` seconds are slept per MiB read, to make a writer slow enough to kill.
    """

    def __init__(self, size: int, seed: int = 0, *, delay: float = 0.0) -> None:
        super().__init__()
        self._xof = blake3.blake3(seed.to_bytes(8, "big"))
        self._size = size
        self._pos = 0
        self._delay = delay

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        view = memoryview(buffer).cast("B")
        count = min(len(view), self._size - self._pos)
        if count <= 0:
            return 0
        view[:count] = self._xof.digest(length=count, seek=self._pos)
        self._pos += count
        if self._delay:
            time.sleep(self._delay * count / MiB)
        return count


def generated_bytes(size: int, seed: int = 0) -> bytes:
    return GeneratedStream(size, seed).read()


def stream_digest(stream: Any, key: bytes | None = None) -> str:
    """BLAKE3 (keyed when ``key`` is given) of everything read from ``stream``."""
    hasher = blake3.blake3(key=key) if key is not None else blake3.blake3()
    while chunk := stream.read(8 * MiB):
        hasher.update(chunk)
    return str(hasher.hexdigest())


@dataclass
class StoreSpec:
    """How to open one store under test; picklable to JSON for subprocesses."""

    kind: str
    url: str
    storage_options: dict[str, Any] = field(default_factory=dict)
    keyring_path: str | None = None

    @property
    def encrypted(self) -> bool:
        return self.keyring_path is not None

    def keyring(self) -> Keyring | None:
        return Keyring.load(self.keyring_path) if self.keyring_path else None

    def open(self, keyring: Keyring | None = None) -> BlobStore:
        return BlobStore(
            self.url,
            storage_options=self.storage_options or None,
            keyring=keyring or self.keyring(),
        )

    def to_json(self) -> str:
        return json.dumps(
            {
                "url": self.url,
                "storage_options": self.storage_options,
                "keyring_path": self.keyring_path,
            }
        )

    def raw(self) -> RawStorage:
        return RawStorage(self)


class RawStorage:
    """Direct access to the files under a store's root, bypassing ``BlobStore``."""

    def __init__(self, spec: StoreSpec) -> None:
        if "://" in spec.url:
            protocol = spec.url.split("://", 1)[0]
            self.fs: Any = fsspec.filesystem(
                protocol, use_listings_cache=False, **spec.storage_options
            )
            self.root = self.fs._strip_protocol(spec.url).rstrip("/")
        else:
            self.fs = fsspec.filesystem("file")
            self.root = str(Path(spec.url).absolute())

    def _path(self, key: str) -> str:
        return f"{self.root}/{key}"

    def files(self) -> dict[str, bytes]:
        """Every file under the root, by key, with its content."""
        if not self.fs.exists(self.root):
            return {}
        found = self.fs.find(self.root)
        return {p[len(self.root) + 1 :]: self.fs.cat_file(p) for p in found}

    def list_keys(self, prefix: str = "") -> list[str]:
        return sorted(k for k in self.files() if k.startswith(prefix))

    def read(self, key: str) -> bytes:
        data: bytes = self.fs.cat_file(self._path(key))
        return data

    def write(self, key: str, data: bytes) -> None:
        self.fs.makedirs(self.fs._parent(self._path(key)), exist_ok=True)
        self.fs.pipe_file(self._path(key), data)

    def delete(self, key: str) -> None:
        self.fs.rm_file(self._path(key))


def object_key(address: str) -> str:
    return f"objects/{address[:2]}/{address[2:]}"


def sidecar_key(address: str) -> str:
    return f"keys/{address[:2]}/{address}.json"
