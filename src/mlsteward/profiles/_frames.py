"""Profiling in-process data: pandas, Polars and Arrow frames, and Parquet files.

Columns are profiled in parallel threads (numpy and Arrow release the GIL for most of the work);
each column's profile is touched by one thread at a time, so the result does not depend on the
thread count.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, Final

from ..errors import InvalidArgument
from ._profile import ColumnProfile, DatasetProfile

try:
    import pyarrow as pa
    import pyarrow.parquet as pq
except ImportError as exc:  # pragma: no cover - depends on the environment
    from ..errors import MissingExtra

    raise MissingExtra(
        "profiles need pyarrow and datasketches: pip install 'mlsteward[data]'"
    ) from exc

__all__ = ["profile_batches", "profile_frame", "profile_parquet"]

DEFAULT_BATCH_ROWS: Final = 262_144  # 20 float columns: ~40 MB a batch, ~450 MB peak RSS
# pandas.api.types.infer_dtype results Arrow converts without coercing one type into another.
_HOMOGENEOUS: Final = frozenset(
    {"empty", "string", "integer", "floating", "boolean", "datetime", "datetime64", "date"}
)
_ACCEPTED = "a pandas DataFrame, a Polars DataFrame or LazyFrame, or a pyarrow Table or RecordBatch"


def _workers(columns: int) -> int:
    return max(1, min(columns, os.cpu_count() or 1, 8))


def _each_column(pool: ThreadPoolExecutor, work: Callable[[int], None], columns: int) -> None:
    for future in [pool.submit(work, i) for i in range(columns)]:
        future.result()  # re-raises a worker's exception here


def profile_batches(
    batches: Iterable[pa.RecordBatch | pa.Table], names: list[str], pii: frozenset[str]
) -> DatasetProfile:
    """Profile Arrow batches whose columns are ``names``, in that order."""
    profile = DatasetProfile({n: ColumnProfile(pii=n in pii) for n in names})
    columns = [profile.columns[n] for n in names]
    with ThreadPoolExecutor(_workers(len(names))) as pool:
        for batch in batches:
            arrays = batch.columns
            _each_column(pool, lambda i: columns[i].update(arrays[i]), len(names))  # noqa: B023
            profile.row_count += batch.num_rows
    return profile


def _check_pii(pii_columns: Iterable[str], names: list[str]) -> frozenset[str]:
    if isinstance(pii_columns, str):
        raise InvalidArgument("pii_columns must be a collection of names, not one string")
    pii = frozenset(pii_columns)
    unknown = sorted(pii - set(names))
    if unknown:
        raise InvalidArgument(f"pii_columns names columns not in the data: {unknown}")
    return pii


def _check_names(names: list[str]) -> None:
    if len(set(names)) != len(names):
        raise InvalidArgument("column names must be unique (as strings) to profile a table")


def profile_frame(data: object, *, pii_columns: Iterable[str] = ()) -> DatasetProfile:
    """Profile a pandas DataFrame, a Polars DataFrame or LazyFrame, or an Arrow Table/RecordBatch.

    The same data gives the same exact fields and distinct estimates whatever the input type.
    A LazyFrame is collected first. pandas object columns Arrow cannot type (mixed Python types)
    are classified value by value. Columns in ``pii_columns`` keep no raw values (see the
    module docs). Raises InvalidArgument for any other input, duplicate column names or
    ``pii_columns`` not in the data.
    """
    module = type(data).__module__.split(".")[0]
    kind = type(data).__name__
    if module == "polars" and kind in {"DataFrame", "LazyFrame"}:
        frame: Any = data.collect() if kind == "LazyFrame" else data  # type: ignore[attr-defined]
        data = _polars_to_arrow(frame)
    if isinstance(data, pa.Table | pa.RecordBatch):
        names = [str(n) for n in data.column_names]
        _check_names(names)
        pii = _check_pii(pii_columns, names)
        return profile_batches([data], names, pii)
    if module == "pandas" and kind == "DataFrame":
        return _profile_pandas(data, pii_columns)
    raise InvalidArgument(f"profile_frame takes {_ACCEPTED}, got {type(data).__name__}")


def _polars_to_arrow(frame: Any) -> pa.Table:
    """A Polars DataFrame as an Arrow table; string columns stay Arrow string views.

    Polars' default export copies every string column into a new large_string array, on one
    thread, before any profiling starts. Views are handed over without a copy; only plain
    string columns take them, since Arrow has no kernels for views nested in other types.
    """
    import polars as pl

    strings = {name for name, dtype in frame.schema.items() if dtype == pl.String}
    if not strings:
        return frame.to_arrow()
    views = frame.select(sorted(strings)).to_arrow(compat_level=pl.CompatLevel.newest())
    rest = frame.drop(sorted(strings)).to_arrow()
    names = frame.columns
    return pa.table([(views if n in strings else rest).column(n) for n in names], names=names)


def _profile_pandas(frame: Any, pii_columns: Iterable[str]) -> DatasetProfile:
    from pandas.api.types import infer_dtype

    names = [str(c) for c in frame.columns]
    _check_names(names)
    pii = _check_pii(pii_columns, names)
    profile = DatasetProfile({n: ColumnProfile(pii=n in pii) for n in names}, len(frame))

    def one(position: int) -> None:
        name = names[position]
        series = frame.iloc[:, position]
        # Arrow coerces a mixed object column to one type (0 and 0.0 both become float), which
        # would make type counts depend on how the data was split; classify those per value.
        homogeneous = series.dtype != object or infer_dtype(series) in _HOMOGENEOUS
        column = _profile_in_slices(series, pii=name in pii) if homogeneous else None
        if column is None:  # mixed, or a slice Arrow cannot type: the column value by value
            profile.columns[name]._add_python_values(series.tolist())
        else:
            profile.columns[name] = column

    with ThreadPoolExecutor(_workers(len(names))) as pool:
        _each_column(pool, one, len(names))
    return profile


def _profile_in_slices(series: Any, *, pii: bool) -> ColumnProfile | None:
    """A pandas column profiled through Arrow slice by slice, so its Arrow copy and
    temporaries stay a slice's size (a whole 1,000,000-row column at a time cost 150 MB more
    peak memory); None when Arrow cannot type one of the slices."""
    column = ColumnProfile(pii=pii)
    try:
        for start in range(0, len(series), DEFAULT_BATCH_ROWS) or range(1):
            part = series.iloc[start : start + DEFAULT_BATCH_ROWS]
            column.update(pa.array(part, from_pandas=True))
    except (pa.ArrowInvalid, pa.ArrowTypeError, pa.ArrowNotImplementedError, OverflowError):
        return None
    return column


def profile_parquet(
    path: str | Path, *, pii_columns: Iterable[str] = (), batch_rows: int = DEFAULT_BATCH_ROWS
) -> DatasetProfile:
    """Profile a Parquet file batch by batch; memory is bounded by ``batch_rows`` rows.

    Raises InvalidArgument if the file is not Parquet or ``pii_columns`` names unknown columns.
    """
    if batch_rows < 1:
        raise InvalidArgument(f"batch_rows must be positive, got {batch_rows}")
    try:
        parquet = pq.ParquetFile(path, pre_buffer=False)  # pre-buffering holds the whole file
    except (pa.ArrowInvalid, OSError) as exc:
        raise InvalidArgument(f"cannot read {str(path)!r} as Parquet: {exc}") from exc
    names = [str(n) for n in parquet.schema_arrow.names]
    try:
        _check_names(names)
        pii = _check_pii(pii_columns, names)

        def batches() -> Iterator[pa.RecordBatch]:
            yield from parquet.iter_batches(batch_size=batch_rows)

        return profile_batches(batches(), names, pii)
    finally:
        parquet.close()
