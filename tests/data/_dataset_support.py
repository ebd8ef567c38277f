"""Helpers for dataset version tests: random files and counting what was written."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
from sqlalchemy import func, select

from mlsteward.data._tables import dataset_versions, datasets
from mlsteward.platform import Platform
from mlsteward.store._tables import blob_refs


def random_bytes(size: int, seed: int = 0) -> bytes:
    return np.random.default_rng(seed).bytes(size)


def write_random(path: Path, size: int, seed: int = 0) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(random_bytes(size, seed))
    return path


@dataclass(frozen=True)
class Written:
    datasets: int
    versions: int
    refs: int


def written(platform: Platform) -> Written:
    """How many datasets, versions and dataset-version blob references exist."""
    with platform.db.read() as conn:
        return Written(
            conn.execute(select(func.count()).select_from(datasets)).scalar_one(),
            conn.execute(select(func.count()).select_from(dataset_versions)).scalar_one(),
            conn.execute(
                select(func.count())
                .select_from(blob_refs)
                .where(blob_refs.c.owner_type == "dataset_version")
            ).scalar_one(),
        )


NOTHING = Written(0, 0, 0)


def stored_sizes(platform: Platform) -> dict[str, int]:
    """Every blob in the store with its size."""
    return {a: platform.blobs.size(a) for a in platform.blobs.iter_addresses()}
