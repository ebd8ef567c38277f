"""Helpers for package tests: tar surgery the way an attacker would do it."""

from __future__ import annotations

import io
import tarfile
from collections.abc import Callable
from pathlib import Path

METADATA = {
    "flavor": "sklearn",
    "signature": {"inputs": [{"name": "amount", "type": "double"}]},
    "config": {"threshold": 0.7},
    "source": {"model": "models:/fraud@production", "run_id": "r-123"},
}
REQUIREMENTS = ["numpy==2.1.0", "scikit-learn==1.5.2"]
WEIGHTS_SIZE = 3 * 1024 * 1024 + 17

Member = tuple[tarfile.TarInfo, bytes]


def read_members(path: Path) -> list[Member]:
    """Every member of a tar with its data (test packages are small)."""
    with tarfile.open(path, "r:") as tar:
        members = []
        for info in tar.getmembers():
            handle = tar.extractfile(info) if info.isreg() else None
            members.append((info, handle.read() if handle is not None else b""))
    return members


def write_members(path: Path, members: list[Member]) -> None:
    """Replace ``path`` with a tar of ``members`` (the way an attacker would rebuild it)."""
    with tarfile.open(path, "w", format=tarfile.PAX_FORMAT) as tar:
        for info, data in members:
            info.size = len(data) if info.isreg() else 0
            tar.addfile(info, io.BytesIO(data) if info.isreg() else None)


def regular(name: str, data: bytes) -> Member:
    info = tarfile.TarInfo(name)
    info.size = len(data)
    return info, data


def rewrite(path: Path, change: Callable[[list[Member]], list[Member]]) -> None:
    write_members(path, change(read_members(path)))


def listing(root: Path) -> set[str]:
    """Every path under ``root`` (to prove that nothing was written)."""
    return {str(p.relative_to(root)) for p in root.rglob("*")}
