"""Dataset versions over HTTP: hash and chunk locally, send only what the project lacks.

The local snapshot code does the walking, chunking and change detection; here it writes into
two stand-ins for a blob store. ``_DigestSink`` only hashes (the first pass names every chunk);
the server then says which addresses the project lacks, and ``_UploadSink`` re-reads just the
files that need sending and uploads the chunks the server lacks. A file that changes between
the passes gets its new content sent and recorded (the server checks every address it is
given). Checkout reads the manifest and fetches each blob the version references.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any, BinaryIO

import blake3

from ..blobs import BlobInfo
from ..errors import IntegrityError

if TYPE_CHECKING:
    from ..data import Dataset, DatasetDiff, DatasetVersion, Manifest, ManifestEntry
    from ..data._lineage import LineageGraph
    from ._remote import RemoteBackend

ProgressCallback = Callable[[int], None]
_READ = 1024 * 1024


def _hash_file(path: str, progress: ProgressCallback | None) -> tuple[str, int]:
    hasher = blake3.blake3()
    size = 0
    with open(path, "rb", buffering=0) as handle:
        while block := handle.read(_READ):
            hasher.update(block)
            size += len(block)
            if progress is not None:
                progress(len(block))
    return hasher.hexdigest(), size


class _DigestSink:
    """Hashes what a snapshot would store; stores nothing."""

    encrypted = False

    def put_file(self, path: str, *, progress: ProgressCallback | None = None) -> BlobInfo:
        address, size = _hash_file(path, progress)
        return BlobInfo(address, size, False)

    def put_bytes(self, data: bytes | bytearray | memoryview) -> BlobInfo:
        return BlobInfo(blake3.blake3(data).hexdigest(), len(data), False)

    def exists(self, address: str) -> bool:
        return True


class _UploadSink:
    """Uploads each chunk or small file whose address the project does not hold; remembers
    the address the server stored it under (a keyed one when its store is encrypted)."""

    def __init__(self, remote: RemoteData, project: str, present: set[str]) -> None:
        self._remote = remote
        self._project = project
        self._present = present
        self._lock = threading.Lock()
        self.server_address: dict[str, str] = {}
        self.sent_bytes = 0

    def _upload(self, digest: str, body: Any, size: int) -> BlobInfo:
        with self._lock:
            if digest in self._present or digest in self.server_address:
                return BlobInfo(digest, size, False)
        info = self._remote.upload_dataset_blob(self._project, digest, body)
        with self._lock:
            self.server_address[digest] = info["address"]
            self.sent_bytes += size
        return BlobInfo(digest, size, True)

    def put_file(self, path: str, *, progress: ProgressCallback | None = None) -> BlobInfo:
        digest, size = _hash_file(path, None)
        with open(path, "rb") as handle:
            info = self._upload(digest, handle, size)
        if progress is not None:
            progress(size)
        return info

    def put_bytes(self, data: bytes | bytearray | memoryview) -> BlobInfo:
        digest = blake3.blake3(data).hexdigest()
        return self._upload(digest, bytes(data), len(data))

    def exists(self, address: str) -> bool:
        return address in self._present


def _renamed(entry: ManifestEntry, names: dict[str, str]) -> ManifestEntry:
    from ..data import ManifestEntry

    if entry.address is not None:
        return ManifestEntry(entry.path, entry.size, entry.mode, address=names[entry.address])
    chunks = tuple((names[a], s) for a, s in entry.chunks or ())
    return ManifestEntry(entry.path, entry.size, entry.mode, chunks=chunks)


def add_dataset_remotely(
    remote: RemoteData,
    project: str,
    name: str,
    path: str | os.PathLike[str],
    *,
    message: str,
    source: str,
    progress: ProgressCallback | None = None,
) -> DatasetVersion:
    """Snapshot ``path`` into a server's dataset ``name``, sending only missing blobs."""
    from ..data import Manifest
    from ..data._model import check_dataset_name
    from ..data._snapshot import snapshot, walk

    check_dataset_name(name)
    files = walk(path)
    first = snapshot(_DigestSink(), files, cache=None)  # type: ignore[arg-type]
    addresses = sorted(first.manifest.addresses())
    answer = remote.missing_dataset_blobs(project, addresses)
    missing = set(answer["missing"])
    present = set(addresses) - missing
    sink = _UploadSink(remote, project, present)
    entries = {entry.path: entry for entry in first.manifest.entries}
    needing = [f for f in files if any(a in missing for a in entries[f.path].addresses)]
    if needing:
        second = snapshot(sink, needing, cache=None, progress=progress)  # type: ignore[arg-type]
        entries.update({entry.path: entry for entry in second.manifest.entries})
    names = {a: a for a in present} | sink.server_address
    try:
        final = Manifest(tuple(_renamed(entries[p], names) for p in sorted(entries)))
    except KeyError as exc:  # pragma: no cover - every address is present or sent
        raise IntegrityError(f"blob {exc.args[0]} was neither on the server nor sent") from None
    return remote.commit_dataset_upload(project, name, final.to_json(), message, source)


class _VersionBlobs:
    """The two reads checkout needs, over HTTP, limited to one version's blobs."""

    def __init__(self, remote: RemoteData, project: str, name: str, version: int) -> None:
        self._remote = remote
        self._where = (project, name, version)

    def open(self, address: str) -> BinaryIO:
        import io

        return io.BytesIO(self._remote.dataset_blob(*self._where, address))

    def get_file(self, address: str, dest_path: str | os.PathLike[str]) -> int:
        # The server streams only blobs it verified against their address.
        data = self._remote.dataset_blob(*self._where, address)
        Path(dest_path).write_bytes(data)
        return len(data)


def _segment(value: str) -> str:
    from ._remote import _segment as segment

    return segment(value)


class RemoteData:
    """The data endpoints of a server, through a ``RemoteBackend``'s connection."""

    def __init__(self, backend: RemoteBackend) -> None:
        self._backend = backend

    def _datasets(self, project: str) -> str:
        return f"api/v1/projects/{_segment(project)}/datasets"

    def missing_dataset_blobs(self, project: str, addresses: list[str]) -> dict[str, Any]:
        path = f"api/v1/projects/{_segment(project)}/dataset-uploads/missing"
        answer: dict[str, Any] = self._backend._get_json(
            "POST", path, json={"addresses": addresses}
        )
        return answer

    def upload_dataset_blob(self, project: str, digest: str, body: Any) -> dict[str, Any]:
        path = f"api/v1/projects/{_segment(project)}/dataset-uploads"
        content = body if isinstance(body, bytes) else body.read()
        answer: dict[str, Any] = self._backend._get_json(
            "PUT",
            path,
            params={"address": digest},
            content=content,
            headers={"Content-Type": "application/octet-stream"},
        )
        return answer

    def commit_dataset_upload(
        self, project: str, name: str, manifest: dict[str, Any], message: str, source: str
    ) -> DatasetVersion:
        from ._data_wire import dataset_version_from_json

        body = {"manifest": manifest, "message": message, "source": source}
        path = f"{self._datasets(project)}/{_segment(name)}/versions"
        return self._backend._one(dataset_version_from_json, "POST", path, json=body)

    def dataset_blob(self, project: str, name: str, version: int, address: str) -> bytes:
        path = f"{self._datasets(project)}/{_segment(name)}/versions/{version}/blobs/{address}"
        return self._backend._send("GET", path).content

    def list_datasets(self, project: str) -> list[Dataset]:
        from ._data_wire import dataset_from_json

        return self._backend._many(dataset_from_json, "datasets", self._datasets(project))

    def list_dataset_versions(self, project: str, name: str) -> list[DatasetVersion]:
        from ._data_wire import dataset_version_from_json

        path = f"{self._datasets(project)}/{_segment(name)}/versions"
        return self._backend._many(dataset_version_from_json, "versions", path)

    def get_dataset_version(self, project: str, name: str, version: int | None) -> DatasetVersion:
        from ._data_wire import dataset_version_from_json

        number = "latest" if version is None else str(version)
        path = f"{self._datasets(project)}/{_segment(name)}/versions/{number}"
        return self._backend._one(dataset_version_from_json, "GET", path)

    def manifest(self, project: str, name: str, version: int) -> Manifest:
        from ..data import Manifest

        path = f"{self._datasets(project)}/{_segment(name)}/versions/{version}/manifest"
        response = self._backend._send("GET", path)
        return Manifest.from_bytes(response.content)

    def diff(self, project: str, name: str, a: int, b: int) -> DatasetDiff:
        from ._data_wire import dataset_diff_from_json

        path = f"{self._datasets(project)}/{_segment(name)}/diff"
        return self._backend._one(dataset_diff_from_json, "GET", path, params={"a": a, "b": b})

    def version_blobs(self, project: str, name: str, version: int) -> _VersionBlobs:
        return _VersionBlobs(self, project, name, version)

    def record_dataset_input(self, run_id: str, dataset_version_id: str) -> None:
        path = f"api/v1/runs/{_segment(run_id)}/dataset-inputs"
        self._backend._send("POST", path, json={"dataset_version_id": dataset_version_id})

    def lineage(self, project: str, node: str, direction: str, depth: int) -> LineageGraph:
        from ._data_wire import lineage_graph_from_json

        path = f"api/v1/projects/{_segment(project)}/lineage"
        params: dict[str, Any] = {"node": node, "direction": direction, "depth": depth}
        return self._backend._one(lineage_graph_from_json, "GET", path, params=params)
