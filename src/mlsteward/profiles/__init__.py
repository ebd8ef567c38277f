"""Mergeable column profiles on Apache DataSketches: small, mergeable, no raw rows.

Needs the ``data`` extra (datasketches, pyarrow): ``pip install 'mlsteward[data]'``;
:func:`profile_spark` also needs the ``spark`` extra.
"""

from __future__ import annotations

from ._frames import profile_frame as profile_frame
from ._frames import profile_parquet as profile_parquet
from ._profile import ColumnProfile as ColumnProfile
from ._profile import DatasetProfile as DatasetProfile
from ._profile import Histogram as Histogram
from ._spark import profile_spark as profile_spark

__all__ = [
    "ColumnProfile",
    "DatasetProfile",
    "Histogram",
    "profile_frame",
    "profile_parquet",
    "profile_spark",
]
