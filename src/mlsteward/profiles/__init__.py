"""Mergeable column profiles on Apache DataSketches: small, mergeable, no raw rows.

Needs the ``data`` extra (datasketches, pyarrow): ``pip install 'mlsteward[data]'``.
"""

from __future__ import annotations

from ._profile import ColumnProfile as ColumnProfile
from ._profile import DatasetProfile as DatasetProfile
from ._profile import Histogram as Histogram
from ._profile import profile_frame as profile_frame
from ._profile import profile_parquet as profile_parquet

__all__ = [
    "ColumnProfile",
    "DatasetProfile",
    "Histogram",
    "profile_frame",
    "profile_parquet",
]
