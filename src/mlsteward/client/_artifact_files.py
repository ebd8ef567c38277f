"""Moving run artifacts between local files and folders and a backend.

Artifact paths that come back from a backend are checked again before they are joined onto a
local folder, so a hostile server cannot make a download write outside ``dest``.
"""

from __future__ import annotations

import contextlib
import os
import secrets
from pathlib import Path
from typing import TYPE_CHECKING

from ..errors import InvalidArgument, NotFound, StewardError
from ..tracking._artifacts import artifact_destination, check_artifact_path

if TYPE_CHECKING:
    from ..tracking import ArtifactInfo
    from ._backend import Backend


def upload_file(
    backend: Backend, run_id: str, local_path: str | os.PathLike[str], folder: str | None
) -> ArtifactInfo:
    destination = artifact_destination(local_path, folder)
    try:
        handle = open(local_path, "rb")  # noqa: SIM115 - closed below
    except FileNotFoundError:
        raise NotFound(f"no such file: {os.fspath(local_path)}") from None
    except IsADirectoryError:
        raise InvalidArgument(
            f"{os.fspath(local_path)} is a folder: use log_artifacts for folders"
        ) from None
    with handle:
        return backend.log_artifact(run_id, destination, handle)


def upload_folder(
    backend: Backend, run_id: str, local_dir: str | os.PathLike[str], folder: str | None
) -> list[ArtifactInfo]:
    root = Path(local_dir)
    if not root.is_dir():
        raise NotFound(f"no such folder: {os.fspath(local_dir)}")
    if folder:
        check_artifact_path(folder)
    files: list[tuple[Path, str]] = []
    for current, dirs, names in os.walk(root):
        dirs.sort()
        for name in sorted(names):
            local = Path(current) / name
            relative = local.relative_to(root).as_posix()
            # Every path is checked before the first upload: all or nothing on bad names.
            path = f"{folder}/{relative}" if folder else relative
            files.append((local, check_artifact_path(path)))
    stored = []
    for local, path in files:
        with open(local, "rb") as handle:
            stored.append(backend.log_artifact(run_id, path, handle))
    return stored


def download(backend: Backend, run_id: str, path: str, dest: str | os.PathLike[str]) -> Path:
    """Write artifact file ``path`` to ``dest`` (into it, when ``dest`` is a folder), or
    folder ``path`` recursively into folder ``dest``; return what was written."""
    check_artifact_path(path)
    entries = backend.list_artifacts(run_id, path)
    target = Path(dest)
    if len(entries) == 1 and entries[0].path == path and not entries[0].is_dir:
        if target.is_dir():
            target = target / Path(path).name
        _download_file(backend, run_id, path, target)
        return target
    if not entries:
        raise NotFound(
            f"run {run_id} has no artifact {path!r}; `mlsteward artifacts ls {run_id}` lists them",
            details={"run_id": run_id, "path": path},
        )
    _download_folder(backend, run_id, path, target, entries)
    return target


def _download_folder(
    backend: Backend, run_id: str, folder: str, target: Path, entries: list[ArtifactInfo]
) -> None:
    target.mkdir(parents=True, exist_ok=True)
    for entry in entries:
        check_artifact_path(entry.path)
        if not entry.path.startswith(f"{folder}/") or "/" in entry.path[len(folder) + 1 :]:
            raise StewardError(f"the backend listed {entry.path!r} inside {folder!r}")
        local = target / entry.path[len(folder) + 1 :]
        if entry.is_dir:
            children = backend.list_artifacts(run_id, entry.path)
            _download_folder(backend, run_id, entry.path, local, children)
        else:
            _download_file(backend, run_id, entry.path, local)


def _download_file(backend: Backend, run_id: str, path: str, target: Path) -> None:
    """Through a temporary file renamed on success: on any error ``target`` is untouched."""
    temp = target.with_name(f".{target.name}.{secrets.token_hex(8)}.part")
    try:
        with open(temp, "xb") as sink:
            backend.copy_artifact(run_id, path, sink)
        os.replace(temp, target)
    finally:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(temp)
