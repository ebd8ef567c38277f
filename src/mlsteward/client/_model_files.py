"""Where a model version's files land on the local disk.

File paths come from the registry (or a server), so each is checked again before it is joined
onto a local folder: a hostile path can never make a download write outside ``dest``.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from ..errors import InvalidArgument
from ..tracking._artifacts import check_artifact_path

if TYPE_CHECKING:
    from ..registry import ModelVersion


def check_file_path(path: object) -> str:
    """``path`` if it is a plain relative POSIX path (no ``..``, no absolute path, no
    backslash or control character), else ``InvalidArgument``."""
    return check_artifact_path(path, "model file path")


def _inside(root: Path, path: str) -> Path:
    target = root / check_file_path(path)
    # Belt and braces: the checked path has no '..', but a symlinked folder inside dest could
    # still point elsewhere; resolve both and compare.
    resolved_root = root.resolve()
    if not target.resolve().is_relative_to(resolved_root):
        raise InvalidArgument(
            f"model file {path!r} would be written outside {root}",
            details={"path": path},
        )
    return target


def version_destinations(version: ModelVersion, root: Path) -> list[tuple[str, Path]]:
    """Each file of the version and the local path it goes to under ``root``; every path is
    checked before the caller writes anything."""
    if root.exists() and not root.is_dir():
        raise InvalidArgument(f"{root} is a file: give a folder to download the version into")
    return [(f.path, _inside(root, f.path)) for f in version.files]


def file_destination(path: str, dest: Path) -> Path:
    """Where one file goes: ``dest``, or inside it when it is an existing folder."""
    return dest / Path(path).name if dest.is_dir() else dest
