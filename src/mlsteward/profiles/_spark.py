"""Profiling a Spark DataFrame: one profile per partition on the executors, merged on the driver.

PySpark is imported when :func:`profile_spark` is called, never at import time.
"""

from __future__ import annotations

import json
import warnings
from collections.abc import Iterable, Iterator
from typing import Any

from ..errors import InvalidArgument, MissingExtra
from ._frames import DEFAULT_BATCH_ROWS, _check_names, _check_pii
from ._profile import ColumnProfile, DatasetProfile

__all__ = ["profile_spark"]

_OUTPUT_SCHEMA = "profile binary"


def _partition_profiler(names: list[str], pii: frozenset[str], batch_rows: int) -> Any:
    """The function ``mapInArrow`` runs on each partition: Arrow batches in, one profile out."""

    def profile_partition(batches: Iterator[Any]) -> Iterator[Any]:
        import pyarrow as pa

        from mlsteward.profiles._frames import profile_batches

        def regrouped() -> Iterator[Any]:
            # Spark hands over batches of spark.sql.execution.arrow.maxRecordsPerBatch rows
            # (10,000 by default); profiling fewer, larger ones costs less per row.
            pending: list[Any] = []
            rows = 0
            for batch in batches:
                pending.append(batch)
                rows += batch.num_rows
                if rows >= batch_rows:
                    yield pa.Table.from_batches(pending).combine_chunks()
                    pending, rows = [], 0
            if pending:
                yield pa.Table.from_batches(pending).combine_chunks()

        profile = profile_batches(regrouped(), names, pii)
        payload = json.dumps(profile.to_dict()).encode("utf-8")
        yield pa.RecordBatch.from_pydict(
            {"profile": [payload]}, pa.schema([("profile", pa.binary())])
        )

    return profile_partition


def profile_spark(
    df: object, *, pii_columns: Iterable[str] = (), batch_rows: int = DEFAULT_BATCH_ROWS
) -> DatasetProfile:
    """Profile a Spark DataFrame in one Spark job; equal to ``profile_frame`` on the same rows.

    Each partition is profiled on its executor (``mapInArrow``) and only the serialized
    profiles, a few kilobytes per column, travel to the driver, which merges them. Exact fields
    match a local profile exactly; sketch fields agree within their error bounds (partition
    profiles merge). Executors need mlsteward with the ``data`` extra installed.

    Raises MissingExtra naming the ``spark`` extra when pyspark is not installed, and
    InvalidArgument for anything that is not a Spark DataFrame, duplicate column names or
    ``pii_columns`` not in the data.
    """
    try:
        from pyspark.sql import DataFrame
    except ImportError as exc:
        raise MissingExtra("profile_spark needs pyspark: pip install 'mlsteward[spark]'") from exc
    if not isinstance(df, DataFrame):
        raise InvalidArgument(
            f"profile_spark takes a pyspark.sql.DataFrame, got {type(df).__name__}; "
            "for pandas, Polars or Arrow data use profile_frame"
        )
    if isinstance(batch_rows, bool) or not isinstance(batch_rows, int) or batch_rows < 1:
        raise InvalidArgument(f"batch_rows must be a positive integer, got {batch_rows!r}")
    names = [str(n) for n in df.columns]
    _check_names(names)
    pii = _check_pii(pii_columns, names)
    with warnings.catch_warnings():
        # mapInArrow checks the pandas version although this path never touches pandas.
        warnings.filterwarnings(
            "ignore", "PySpark does not yet fully support pandas", category=FutureWarning
        )
        mapped = df.mapInArrow(_partition_profiler(names, pii, batch_rows), _OUTPUT_SCHEMA)
    rows = mapped.collect()
    profile = DatasetProfile({n: ColumnProfile(pii=n in pii) for n in names})
    for row in rows:
        profile = profile.merge(DatasetProfile.from_dict(json.loads(bytes(row["profile"]))))
    return profile
