"""The Polars engine: every aggregate of every check in ONE ``select`` over a LazyFrame,
collected once: with the streaming engine for file scans and LazyFrames (so a Parquet scan
never holds the whole table), with the in-memory engine for data already in memory.

Failing-row samples take one more, bounded pass (``collect_all`` of one ``filter(...).head(n)``
per failed row-level check), and only when a row-level check failed.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..errors import InvalidArgument, MissingExtra
from ._result import ValidationResult, assemble, check_sample_size, failed_row_checks, plan
from ._suite import ExpectationSuite

if TYPE_CHECKING:
    pass

ROW_COUNT = "__mlsteward_row_count"
_PARQUET = (".parquet", ".pq", ".parq")
_CSV = (".csv", ".tsv")


def _polars() -> Any:
    try:
        import polars as pl
    except ImportError as exc:  # pragma: no cover - depends on the environment
        raise MissingExtra("data validation needs Polars: pip install 'mlsteward[data]'") from exc
    return pl


def canonical_type(dtype: Any) -> str:
    """A Polars dtype as the canonical type name the expectations use (``int64``...)."""
    pl = _polars()
    if dtype == pl.String or dtype == pl.Categorical or dtype == pl.Enum:
        return "string"
    if dtype == pl.Boolean:
        return "bool"
    if dtype == pl.Datetime:
        return "datetime"
    if dtype == pl.Date:
        return "date"
    if dtype == pl.Decimal:
        return "decimal"
    name = type(dtype).__name__ if not isinstance(dtype, type) else dtype.__name__
    return str(name).lower()


def _scan_path(path: Path) -> Any:
    pl = _polars()
    if not path.exists():
        raise InvalidArgument(f"{str(path)!r} does not exist")
    if path.is_dir() or path.suffix.lower() in _PARQUET:
        return pl.scan_parquet(path)
    if path.suffix.lower() in _CSV:
        separator = "\t" if path.suffix.lower() == ".tsv" else ","
        return pl.scan_csv(path, separator=separator)
    raise InvalidArgument(
        f"cannot tell the format of {str(path)!r}: use a .parquet or .csv file (or a folder of "
        "Parquet files)"
    )


def to_lazyframe(data: object) -> Any:
    """A LazyFrame over pandas, Polars, Arrow, or Parquet/CSV path(s); ``InvalidArgument``
    for anything else."""
    return _lazyframe(data)[0]


def _lazyframe(data: object) -> tuple[Any, str]:
    """The LazyFrame and the Polars engine for it: streaming for file scans (bounded
    memory), in-memory for data already in memory (faster for medians and regexes)."""
    pl = _polars()
    if isinstance(data, pl.LazyFrame):
        return data, "streaming"  # it may scan files: keep memory bounded
    elif isinstance(data, pl.DataFrame):
        lf = data.lazy()
    elif isinstance(data, str | Path):
        return _scan_path(Path(data)), "streaming"
    elif isinstance(data, Sequence) and data and all(isinstance(p, str | Path) for p in data):
        paths = [Path(p) for p in data]
        for path in paths:
            if not path.exists():
                raise InvalidArgument(f"{str(path)!r} does not exist")
        if all(p.suffix.lower() in _PARQUET for p in paths):
            return pl.scan_parquet(paths), "streaming"
        if all(p.suffix.lower() in _CSV for p in paths):
            return pl.concat([_scan_path(p) for p in paths], how="vertical"), "streaming"
        raise InvalidArgument("several paths must all be Parquet files or all be CSV files")
    elif type(data).__module__.startswith("pandas") and type(data).__name__ == "DataFrame":
        names = [str(c) for c in data.columns]  # type: ignore[attr-defined]
        if len(set(names)) != len(names):
            raise InvalidArgument("column names must be unique (as strings) to validate")
        frame = data.set_axis(names, axis=1)  # type: ignore[attr-defined]
        lf = pl.from_pandas(frame, include_index=False).lazy()
    elif type(data).__module__.startswith("pyarrow") and type(data).__name__ in {
        "Table",
        "RecordBatch",
    }:
        lf = pl.from_arrow(data).lazy()
    else:
        raise InvalidArgument(
            "validate takes a pandas or Polars DataFrame, a Polars LazyFrame, an Arrow table, "
            f"a Spark DataFrame or Parquet/CSV path(s), got {type(data).__name__}"
        )
    return lf, "auto"


def validate_polars(
    suite: ExpectationSuite, data: object, *, sample_size: int = 20
) -> ValidationResult:
    """Validate with Polars: one collect for the checks, one more bounded pass for samples."""
    pl = _polars()
    check_sample_size(sample_size)
    lf, engine = _lazyframe(data)
    try:
        schema = lf.collect_schema()
    except (pl.exceptions.PolarsError, OSError) as exc:
        raise InvalidArgument(f"cannot read the data: {_first_line(exc)}") from exc
    categorical = [n for n, t in schema.items() if t == pl.Categorical or t == pl.Enum]
    if categorical:
        lf = lf.with_columns(pl.col(categorical).cast(pl.String))
    types = {name: canonical_type(dtype) for name, dtype in schema.items()}
    planned = plan(suite, types)
    expressions = [pl.len().alias(ROW_COUNT)]
    for item in planned:
        if item.decided is None:
            aggregates = suite.expectations[item.index].polars_aggregates(types)
            expressions.extend(e.alias(item.aggregate_prefix + k) for k, e in aggregates.items())
    try:
        row = lf.select(expressions).collect(engine=engine).row(0, named=True)
    except (pl.exceptions.PolarsError, OSError) as exc:
        raise InvalidArgument(f"cannot validate the data: {_first_line(exc)}") from exc
    row_count = int(row[ROW_COUNT])
    samples: dict[int, list[Any]] = {}
    failed = failed_row_checks(suite, planned, row, row_count) if sample_size else []
    if failed:
        queries = []
        for index in failed:
            expectation = suite.expectations[index]
            column = expectation.sample_column()
            condition = expectation.polars_unexpected(types)
            assert condition is not None  # failed_row_checks keeps row-level checks only
            queries.append(lf.filter(condition).select(pl.col(column)).head(sample_size))
        frames = pl.collect_all(queries, engine=engine)
        samples = {i: f.to_series().to_list() for i, f in zip(failed, frames, strict=True)}
    return assemble(suite, planned, row, row_count, "polars", samples)


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return (text.splitlines()[0] if text else type(exc).__name__)[:300]


__all__ = ["canonical_type", "to_lazyframe", "validate_polars"]
