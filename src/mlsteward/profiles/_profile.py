"""Mergeable column and dataset profiles.

A profile summarises a column in a fixed amount of memory and merges with another profile of the
same column, so a dataset can be profiled batch by batch, partition by partition or machine by
machine and the parts combined. Exact fields (counts, type counts, min, max) merge exactly; mean
and variance merge with the parallel algorithm of Chan et al.; quantiles, distinct counts and
frequent items come from Apache DataSketches sketches, which merge within their error bounds:

* quantiles: KLL, k=200, normalised rank error about 1.65 % (99 % confidence);
* distinct count: HyperLogLog, lg_k=12, relative error about 1.6 % (one standard deviation);
* frequent items: frequent-items sketch, lg_max_k=8, over the values cast to strings.

NaN counts as a null, as in pandas. Integers and floats both feed the numeric fields (as float64,
so integers beyond 2**53 lose precision in mean, variance and quantiles; min and max stay exact).

Columns named in ``pii_columns`` keep no raw values in the frequent-items sketch (it stays empty
and merging with a PII profile empties it) and have no string min/max (no column has one). Their
numeric min/max and the values the KLL sketch retains *are* raw values: do not mark a column as
non-PII only because it is numeric.
"""

from __future__ import annotations

import base64
import binascii
import math
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final

import numpy as np

from ..errors import InvalidArgument, MissingExtra

try:
    import datasketches as ds
    import pyarrow as pa
    import pyarrow.compute as pc
    import pyarrow.parquet as pq
except ImportError as exc:  # pragma: no cover - depends on the environment
    raise MissingExtra(
        "profiles need pyarrow and datasketches: pip install 'mlsteward[data]'"
    ) from exc

__all__ = [
    "COLUMN_PROFILE_TYPE",
    "DATASET_PROFILE_TYPE",
    "SCHEMA_VERSION",
    "ColumnProfile",
    "DatasetProfile",
    "Histogram",
    "profile_frame",
    "profile_parquet",
]

COLUMN_PROFILE_TYPE: Final = "mlsteward.column_profile"
DATASET_PROFILE_TYPE: Final = "mlsteward.dataset_profile"
SCHEMA_VERSION: Final = 1

KLL_K: Final = 200
HLL_LG_K: Final = 12
FREQUENT_LG_MAX_K: Final = 8
TYPE_NAMES: Final = ("int", "float", "string", "bool", "datetime", "other")
_NUMERIC: Final = frozenset({"int", "float"})
_DEFAULT_BATCH_ROWS: Final = 65_536
# pandas.api.types.infer_dtype results Arrow converts without coercing one type into another.
_HOMOGENEOUS: Final = frozenset(
    {"empty", "string", "integer", "floating", "boolean", "datetime", "datetime64", "date"}
)


@dataclass(frozen=True, slots=True)
class Histogram:
    """An equal-width histogram: ``len(edges) == len(counts) + 1``; counts are estimates."""

    edges: tuple[float, ...]
    counts: tuple[float, ...]


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def _unb64(text: object, field: str) -> bytes:
    if not isinstance(text, str):
        raise InvalidArgument(f"profile field {field!r} must be a base64 string")
    try:
        return base64.b64decode(text.encode("ascii"), validate=True)
    except (binascii.Error, UnicodeEncodeError) as exc:
        raise InvalidArgument(f"profile field {field!r} is not valid base64") from exc


def _deserialize(cls: Any, data: bytes, field: str) -> Any:
    try:
        return cls.deserialize(data)
    except (ValueError, IndexError, RuntimeError) as exc:
        raise InvalidArgument(
            f"profile field {field!r} is not a serialized sketch ({exc}); "
            "the profile file is corrupt or was not written by mlsteward"
        ) from exc


def _kind_of(dtype: pa.DataType) -> str:
    if pa.types.is_boolean(dtype):
        return "bool"
    if pa.types.is_integer(dtype):
        return "int"
    if pa.types.is_floating(dtype):
        return "float"
    if pa.types.is_string(dtype) or pa.types.is_large_string(dtype):
        return "string"
    if pa.types.is_temporal(dtype) and not pa.types.is_duration(dtype):
        return "datetime"
    return "other"


def _check_version(data: Mapping[str, Any], type_tag: str) -> None:
    if not isinstance(data, Mapping):
        raise InvalidArgument(f"a {type_tag} must be a mapping, got {type(data).__name__}")
    if data.get("type") != type_tag:
        raise InvalidArgument(f"expected type {type_tag!r}, got {data.get('type')!r}")
    if data.get("schema_version") != SCHEMA_VERSION:
        raise InvalidArgument(
            f"{type_tag} schema_version {data.get('schema_version')!r} is not supported "
            f"(this release reads {SCHEMA_VERSION}); upgrade mlsteward to read it"
        )


def _number(value: object, field: str, *, allow_none: bool = False) -> Any:
    if value is None and allow_none:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise InvalidArgument(f"profile field {field!r} must be a number, got {value!r}")
    return value


def _count(value: object, field: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise InvalidArgument(f"profile field {field!r} must be a non-negative integer")
    return value


class ColumnProfile:
    """The mergeable summary of one column.

    Build one with :func:`profile_frame` or :func:`profile_parquet`, or start from
    ``ColumnProfile()`` and feed Arrow arrays with :meth:`update`. ``merge`` returns a new
    profile and leaves both inputs untouched; it is associative and commutative.
    """

    __slots__ = (
        "_freq",
        "_hll",
        "_kll",
        "_m2",
        "_max",
        "_mean",
        "_min",
        "_numeric_count",
        "count",
        "null_count",
        "pii",
        "type_counts",
    )

    def __init__(self, *, pii: bool = False) -> None:
        self.pii = pii
        self.count = 0
        self.null_count = 0
        self.type_counts: dict[str, int] = dict.fromkeys(TYPE_NAMES, 0)
        self._min: int | float | None = None
        self._max: int | float | None = None
        self._numeric_count = 0
        self._mean = 0.0
        self._m2 = 0.0
        self._kll: Any = ds.kll_doubles_sketch(KLL_K)
        self._hll: Any = ds.hll_sketch(HLL_LG_K)
        self._freq: Any = ds.frequent_strings_sketch(FREQUENT_LG_MAX_K)

    # -- exact fields -------------------------------------------------------------------------

    @property
    def min(self) -> int | float | None:
        """Smallest numeric value, or None when the column has no numbers."""
        return self._min

    @property
    def max(self) -> int | float | None:
        """Largest numeric value, or None when the column has no numbers."""
        return self._max

    @property
    def mean(self) -> float | None:
        """Mean of the numeric values, or None when there are none."""
        return self._mean if self._numeric_count else None

    @property
    def variance(self) -> float | None:
        """Population variance (ddof=0) of the numeric values, or None when there are none."""
        return self._m2 / self._numeric_count if self._numeric_count else None

    # -- sketch readers -----------------------------------------------------------------------

    def quantile(self, q: float) -> float | None:
        """The approximate ``q``-quantile (0 <= q <= 1) of the numeric values, None if none."""
        if not 0.0 <= q <= 1.0 or math.isnan(q):
            raise InvalidArgument(f"quantile q must be between 0 and 1, got {q!r}")
        if self._kll.is_empty():
            return None
        return float(self._kll.get_quantile(q))

    def distinct_estimate(self) -> float:
        """Estimated number of distinct non-null values (ints, floats and strings hash apart)."""
        return float(self._hll.get_estimate())

    def frequent(self, n: int = 10) -> list[tuple[str, int]]:
        """Up to ``n`` most frequent values (as strings) with estimated counts; [] for PII."""
        if n < 0:
            raise InvalidArgument(f"n must be non-negative, got {n}")
        if self.pii or self._freq.is_empty():
            return []
        items = self._freq.get_frequent_items(ds.frequent_items_error_type.NO_FALSE_NEGATIVES)
        ranked = sorted(((str(i[0]), int(i[1])) for i in items), key=lambda t: (-t[1], t[0]))
        return ranked[:n]

    def histogram(self, bins: int = 10) -> Histogram:
        """An equal-width histogram of the numeric values between min and max.

        Derived from the KLL sketch at read time, so it is as mergeable as the sketch; counts
        are estimates within the sketch's rank error times the count. Empty when no numbers.
        """
        if not 1 <= bins <= 10_000:
            raise InvalidArgument(f"bins must be between 1 and 10000, got {bins}")
        if self._kll.is_empty() or self._min is None or self._max is None:
            return Histogram(edges=(), counts=())
        lo, hi = float(self._min), float(self._max)
        n = float(self._kll.n)
        if not (math.isfinite(lo) and math.isfinite(hi)) or lo == hi:
            return Histogram(edges=(lo, hi), counts=(n,))
        edges = np.linspace(lo, hi, bins + 1)
        interior = sorted(set(edges[1:-1].tolist()))
        pmf = self._kll.get_pmf(interior) if interior else [1.0]
        return Histogram(
            edges=tuple(float(e) for e in edges), counts=tuple(float(p) * n for p in pmf)
        )

    # -- building -----------------------------------------------------------------------------

    def update(self, values: pa.Array | pa.ChunkedArray) -> None:
        """Add a batch of values; vectorised through Arrow and numpy."""
        chunks = values.chunks if isinstance(values, pa.ChunkedArray) else [values]
        for chunk in chunks:
            self._update_array(chunk)

    def _update_array(self, arr: pa.Array) -> None:
        if pa.types.is_dictionary(arr.type):
            arr = arr.dictionary_decode()
        total = len(arr)
        values = pc.drop_null(arr)
        kind = _kind_of(arr.type)
        if kind == "float":
            values = values.filter(pc.invert(pc.is_nan(values)))
        self.count += total
        self.null_count += total - len(values)
        self.type_counts[kind] += len(values)
        if len(values) == 0 or kind == "other":
            return
        if kind in _NUMERIC:
            self._add_numeric(values)
        if kind == "datetime":
            keys = pc.unique(pc.cast(values, pa.string())).to_pylist()
        elif kind == "bool":
            keys = pc.unique(pc.cast(values, pa.int8())).to_numpy().tolist()
        elif kind == "string":
            keys = pc.unique(values).to_pylist()
        else:
            keys = pc.unique(values).to_numpy().tolist()
        for key in keys:  # one call per distinct value in the batch: the binding has no array form
            self._hll.update(key)
        if not self.pii:
            counts = pc.value_counts(pc.cast(values, pa.string()))
            items = counts.field("values").to_pylist()
            weights = counts.field("counts").to_numpy().tolist()
            for item, weight in zip(items, weights, strict=True):
                self._freq.update(item, weight)

    def _add_numeric(self, values: pa.Array) -> None:
        # The binding's array overload only accepts writable, C-contiguous float64 arrays.
        x = np.require(values.to_numpy(zero_copy_only=False), np.float64, ["C", "W"])
        bounds = pc.min_max(values)
        lo, hi = bounds["min"].as_py(), bounds["max"].as_py()
        self._min = lo if self._min is None else min(self._min, lo)
        self._max = hi if self._max is None else max(self._max, hi)
        n_b = len(x)
        mean_b = float(x.mean())
        m2_b = float(np.square(x - mean_b).sum())
        self._numeric_count, self._mean, self._m2 = _chan(
            self._numeric_count, self._mean, self._m2, n_b, mean_b, m2_b
        )
        self._kll.update(x)

    def _add_python_values(self, values: Iterable[object]) -> None:
        """Add values of mixed Python types (an object column Arrow cannot type)."""
        by_kind: dict[str, list[object]] = {}
        nulls = 0
        for value in values:
            kind = _python_kind(value)
            if kind is None:
                nulls += 1
            else:
                by_kind.setdefault(kind, []).append(value)
        self.count += nulls
        self.null_count += nulls
        arrow_types = {"string": pa.string(), "float": pa.float64(), "bool": pa.bool_()}
        for kind, items in by_kind.items():
            try:
                if kind == "other":
                    raise pa.ArrowInvalid("not typed")
                self._update_array(pa.array(items, type=arrow_types.get(kind), from_pandas=True))
            except (pa.ArrowInvalid, pa.ArrowTypeError, OverflowError):
                self.count += len(items)
                self.type_counts["other"] += len(items)

    # -- merging and persistence --------------------------------------------------------------

    def merge(self, other: ColumnProfile) -> ColumnProfile:
        """A new profile of both inputs' values; a PII input makes the result PII."""
        if not isinstance(other, ColumnProfile):
            raise InvalidArgument(f"can only merge a ColumnProfile, got {type(other).__name__}")
        out = ColumnProfile(pii=self.pii or other.pii)
        out.count = self.count + other.count
        out.null_count = self.null_count + other.null_count
        out.type_counts = {t: self.type_counts[t] + other.type_counts[t] for t in TYPE_NAMES}
        out._min = _pick(min, self._min, other._min)
        out._max = _pick(max, self._max, other._max)
        out._numeric_count, out._mean, out._m2 = _chan(
            self._numeric_count, self._mean, self._m2,
            other._numeric_count, other._mean, other._m2,
        )  # fmt: skip
        out._kll.merge(self._kll)
        out._kll.merge(other._kll)
        union = ds.hll_union(HLL_LG_K)
        union.update(self._hll)
        union.update(other._hll)
        out._hll = union.get_result(ds.tgt_hll_type.HLL_8)
        if not out.pii:
            out._freq.merge(self._freq)
            out._freq.merge(other._freq)
        return out

    def to_dict(self) -> dict[str, Any]:
        """A JSON-serialisable dict; sketches are base64 of their native serialization."""
        return {
            "type": COLUMN_PROFILE_TYPE,
            "schema_version": SCHEMA_VERSION,
            "pii": self.pii,
            "count": self.count,
            "null_count": self.null_count,
            "type_counts": dict(self.type_counts),
            "min": self._min,
            "max": self._max,
            "numeric_count": self._numeric_count,
            "mean": self._mean,
            "m2": self._m2,
            "kll": _b64(self._kll.serialize()),
            "hll": _b64(self._hll.serialize_compact()),
            "frequent": None if self.pii else _b64(self._freq.serialize()),
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> ColumnProfile:
        """Read :meth:`to_dict` output; raises InvalidArgument on anything malformed."""
        _check_version(data, COLUMN_PROFILE_TYPE)
        try:
            pii = data["pii"]
            if not isinstance(pii, bool):
                raise InvalidArgument("profile field 'pii' must be a boolean")
            out = cls(pii=pii)
            out.count = _count(data["count"], "count")
            out.null_count = _count(data["null_count"], "null_count")
            type_counts = data["type_counts"]
            if not isinstance(type_counts, Mapping) or set(type_counts) != set(TYPE_NAMES):
                raise InvalidArgument(f"profile field 'type_counts' must have keys {TYPE_NAMES}")
            out.type_counts = {t: _count(type_counts[t], f"type_counts.{t}") for t in TYPE_NAMES}
            out._min = _number(data["min"], "min", allow_none=True)
            out._max = _number(data["max"], "max", allow_none=True)
            out._numeric_count = _count(data["numeric_count"], "numeric_count")
            out._mean = float(_number(data["mean"], "mean"))
            out._m2 = float(_number(data["m2"], "m2"))
            kll_cls, hll_cls = ds.kll_doubles_sketch, ds.hll_sketch
            out._kll = _deserialize(kll_cls, _unb64(data["kll"], "kll"), "kll")
            out._hll = _deserialize(hll_cls, _unb64(data["hll"], "hll"), "hll")
            if not pii:
                freq_cls = ds.frequent_strings_sketch
                out._freq = _deserialize(freq_cls, _unb64(data["frequent"], "frequent"), "frequent")
        except KeyError as exc:
            raise InvalidArgument(f"column profile is missing field {exc.args[0]!r}") from None
        if (
            out.null_count > out.count
            or sum(out.type_counts.values()) + out.null_count != out.count
        ):
            raise InvalidArgument("column profile counts are inconsistent; the file is corrupt")
        return out

    def __repr__(self) -> str:
        return f"ColumnProfile(count={self.count}, null_count={self.null_count}, pii={self.pii})"


def _pick(
    fn: Any, a: int | float | None, b: int | float | None
) -> int | float | None:  # min/max that skip None
    if a is None:
        return b
    if b is None:
        return a
    result: int | float = fn(a, b)
    return result


def _chan(
    n_a: int, mean_a: float, m2_a: float, n_b: int, mean_b: float, m2_b: float
) -> tuple[int, float, float]:
    """Chan et al.'s pairwise update of count, mean and sum of squared deviations.

    Written symmetrically (weighted mean, squared delta) so merge(a, b) == merge(b, a) bitwise.
    """
    n = n_a + n_b
    if n_a == 0:
        return n_b, mean_b, m2_b
    if n_b == 0:
        return n_a, mean_a, m2_a
    delta = mean_b - mean_a
    mean = (n_a * mean_a + n_b * mean_b) / n
    m2 = m2_a + m2_b + delta * delta * (n_a * n_b / n)
    return n, mean, m2


def _python_kind(value: object) -> str | None:
    import datetime as dt

    if value is None or type(value).__name__ in {"NAType", "NaTType"}:  # pandas missing markers
        return None
    if isinstance(value, bool | np.bool_):
        return "bool"
    if isinstance(value, int | np.integer):
        return "int"
    if isinstance(value, float | np.floating):
        return None if math.isnan(value) else "float"
    if isinstance(value, str):
        return "string"
    if isinstance(value, dt.date | dt.time | np.datetime64):
        return None if isinstance(value, np.datetime64) and np.isnat(value) else "datetime"
    return "other"


class DatasetProfile:
    """Profiles of a dataset's columns, by name, and its row count. Mergeable like a column."""

    __slots__ = ("columns", "row_count")

    def __init__(self, columns: Mapping[str, ColumnProfile] | None = None, row_count: int = 0):
        self.columns: dict[str, ColumnProfile] = dict(columns or {})
        self.row_count = row_count

    def merge(self, other: DatasetProfile) -> DatasetProfile:
        """A new profile of both datasets; a column missing on one side keeps the other's."""
        if not isinstance(other, DatasetProfile):
            raise InvalidArgument(f"can only merge a DatasetProfile, got {type(other).__name__}")
        columns = dict(self.columns)
        for name, column in other.columns.items():
            columns[name] = columns[name].merge(column) if name in columns else column
        return DatasetProfile(columns, self.row_count + other.row_count)

    def to_dict(self) -> dict[str, Any]:
        """A JSON-serialisable dict with type tag and schema_version."""
        return {
            "type": DATASET_PROFILE_TYPE,
            "schema_version": SCHEMA_VERSION,
            "row_count": self.row_count,
            "columns": {name: col.to_dict() for name, col in self.columns.items()},
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> DatasetProfile:
        """Read :meth:`to_dict` output; raises InvalidArgument on anything malformed."""
        _check_version(data, DATASET_PROFILE_TYPE)
        columns = data.get("columns")
        if not isinstance(columns, Mapping) or not all(isinstance(k, str) for k in columns):
            raise InvalidArgument("dataset profile 'columns' must map column names to profiles")
        return cls(
            {name: ColumnProfile.from_dict(col) for name, col in columns.items()},
            _count(data.get("row_count"), "row_count"),
        )

    def __repr__(self) -> str:
        return f"DatasetProfile(row_count={self.row_count}, columns={list(self.columns)})"


def _profile_batches(
    batches: Iterable[Mapping[str, Any]], names: list[str], pii: frozenset[str]
) -> DatasetProfile:
    profile = DatasetProfile({n: ColumnProfile(pii=n in pii) for n in names})
    for batch in batches:
        rows = -1
        for name in names:
            column = batch[name]
            profile.columns[name].update(column)
            rows = len(column)
        profile.row_count += max(rows, 0)
    return profile


def _check_pii(pii_columns: Iterable[str], names: list[str]) -> frozenset[str]:
    if isinstance(pii_columns, str):
        raise InvalidArgument("pii_columns must be a collection of names, not one string")
    pii = frozenset(pii_columns)
    unknown = sorted(pii - set(names))
    if unknown:
        raise InvalidArgument(f"pii_columns names columns not in the data: {unknown}")
    return pii


def profile_frame(data: object, *, pii_columns: Iterable[str] = ()) -> DatasetProfile:
    """Profile a pandas DataFrame or a pyarrow Table / RecordBatch.

    Object columns Arrow cannot type (mixed Python types) are classified value by value.
    Raises InvalidArgument for any other input or for ``pii_columns`` not in the data.
    """
    if isinstance(data, pa.Table | pa.RecordBatch):
        names = [str(n) for n in data.column_names]
        if len(set(names)) != len(names):
            raise InvalidArgument("column names must be unique to profile a table")
        pii = _check_pii(pii_columns, names)
        return _profile_batches([{n: data.column(i) for i, n in enumerate(names)}], names, pii)
    if type(data).__module__.startswith("pandas") and type(data).__name__ == "DataFrame":
        return _profile_pandas(data, pii_columns)
    raise InvalidArgument(
        f"profile_frame takes a pandas DataFrame or a pyarrow Table, got {type(data).__name__}"
    )


def _profile_pandas(frame: Any, pii_columns: Iterable[str]) -> DatasetProfile:
    from pandas.api.types import infer_dtype

    names = [str(c) for c in frame.columns]
    if len(set(names)) != len(names):
        raise InvalidArgument("column names must be unique (as strings) to profile a DataFrame")
    pii = _check_pii(pii_columns, names)
    profile = DatasetProfile(row_count=len(frame))
    for position, name in enumerate(names):
        column = ColumnProfile(pii=name in pii)
        series = frame.iloc[:, position]
        # Arrow coerces a mixed object column to one type (0 and 0.0 both become float), which
        # would make type counts depend on how the data was split; classify those per value.
        homogeneous = series.dtype != object or infer_dtype(series) in _HOMOGENEOUS
        try:
            if not homogeneous:
                raise pa.ArrowInvalid("mixed object column")
            column.update(pa.array(series, from_pandas=True))
        except (pa.ArrowInvalid, pa.ArrowTypeError, pa.ArrowNotImplementedError, OverflowError):
            column = ColumnProfile(pii=name in pii)
            column._add_python_values(series.tolist())
        profile.columns[name] = column
    return profile


def profile_parquet(
    path: str | Path, *, pii_columns: Iterable[str] = (), batch_rows: int = _DEFAULT_BATCH_ROWS
) -> DatasetProfile:
    """Profile a Parquet file batch by batch; memory is bounded by ``batch_rows`` rows.

    Raises InvalidArgument if the file is not Parquet or ``pii_columns`` names unknown columns.
    """
    if batch_rows < 1:
        raise InvalidArgument(f"batch_rows must be positive, got {batch_rows}")
    try:
        parquet = pq.ParquetFile(path)
    except (pa.ArrowInvalid, OSError) as exc:
        raise InvalidArgument(f"cannot read {str(path)!r} as Parquet: {exc}") from exc
    names = [str(n) for n in parquet.schema_arrow.names]
    pii = _check_pii(pii_columns, names)

    def batches() -> Iterator[Mapping[str, Any]]:
        for batch in parquet.iter_batches(batch_size=batch_rows):
            yield {n: batch.column(i) for i, n in enumerate(names)}

    try:
        return _profile_batches(batches(), names, pii)
    finally:
        parquet.close()
