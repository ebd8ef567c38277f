"""Mergeable column and dataset profiles.

A profile summarises a column in a fixed amount of memory and merges with another profile of the
same column, so a dataset can be profiled batch by batch, partition by partition or machine by
machine and the parts combined. Exact fields (counts, type counts, min, max) merge exactly; mean
and variance merge with the parallel algorithm of Chan et al.; quantiles, distinct counts and
frequent items come from Apache DataSketches sketches, which merge within their error bounds:

* quantiles: KLL, k=200, normalised rank error about 1.65 % (99 % confidence);
* distinct count: HyperLogLog, lg_k=12, relative error about 1.6 % (one standard deviation);
* frequent items: frequent-items sketch, lg_max_k=8, over the values cast to strings, for
  integer, string, boolean and date/time values. Float values get none: the top "values" of a
  continuous column are noise, the histogram and quantiles describe it, and counting them cost
  most of a profile's time. An item's count is exact while a column has at most 192 distinct
  values per batch; beyond that it is under-estimated by at most the reported offset.

NaN counts as a null, as in pandas. Integers and floats both feed the numeric fields (as float64,
so integers beyond 2**53 lose precision in mean, variance and quantiles; min and max stay exact).

A PII column (named in ``pii_columns``) keeps no raw value and nothing computed from a few of
them: count, nulls, type counts and the distinct estimate (HyperLogLog keeps hashes only) stay;
min, max, mean, variance, quantiles, histogram and frequent items are absent, and merging a PII
profile with a non-PII one gives a PII profile.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any, Final

import numpy as np

from ..errors import InvalidArgument
from . import _format as fmt
from ._kll_batches import kll_batch_sketch
from ._sketches import (
    FREQUENT_LG_MAX_K,
    HLL_LG_K,
    arrow_view,
    feed_hll_items,
    feed_hll_numbers,
    frequent_batch_sketch,
    numeric_top_counts,
    numpy_view,
    string_top_counts,
)

try:
    import datasketches as ds
    import pyarrow as pa
    import pyarrow.compute as pc
except ImportError as exc:  # pragma: no cover - depends on the environment
    from ..errors import MissingExtra

    raise MissingExtra(
        "profiles need pyarrow and datasketches: pip install 'mlsteward[data]'"
    ) from exc

__all__ = [
    "KLL_K",
    "SUMMARY_QUANTILES",
    "TYPE_NAMES",
    "ColumnProfile",
    "DatasetProfile",
    "Histogram",
]

KLL_K: Final = 200
TYPE_NAMES: Final = ("int", "float", "string", "bool", "datetime", "other")
SUMMARY_QUANTILES: Final = (0.01, 0.05, 0.25, 0.5, 0.75, 0.95, 0.99)
_NUMERIC: Final = frozenset({"int", "float"})


@dataclass(frozen=True, slots=True)
class Histogram:
    """An equal-width histogram: ``len(edges) == len(counts) + 1``; counts are estimates."""

    edges: tuple[float, ...]
    counts: tuple[float, ...]


def _kind_of(dtype: pa.DataType) -> str:
    if pa.types.is_boolean(dtype):
        return "bool"
    if pa.types.is_integer(dtype):
        return "int"
    if pa.types.is_floating(dtype):
        return "float"
    if (
        pa.types.is_string(dtype)
        or pa.types.is_large_string(dtype)
        or pa.types.is_string_view(dtype)
    ):
        return "string"
    if pa.types.is_temporal(dtype) and not pa.types.is_duration(dtype):
        return "datetime"
    return "other"


class ColumnProfile:
    """The mergeable summary of one column.

    Build one with :func:`profile_frame`, :func:`profile_parquet` or :func:`profile_spark`, or
    start from ``ColumnProfile()`` and feed Arrow arrays with :meth:`update`. ``merge`` returns a
    new profile and leaves both inputs untouched; it is associative and commutative.
    """

    __slots__ = (
        "_freq",
        "_hll",
        "_hll_floor",
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
        self._kll: Any = None if pii else ds.kll_doubles_sketch(KLL_K)
        self._hll: Any = ds.hll_sketch(HLL_LG_K)
        self._hll_floor: np.ndarray | None = None  # see _sketches.feed_hll_numbers
        self._freq: Any = None if pii else ds.frequent_strings_sketch(FREQUENT_LG_MAX_K)

    # -- exact fields -------------------------------------------------------------------------

    @property
    def min(self) -> int | float | None:
        """Smallest numeric value, or None when the column has no numbers or is PII."""
        return self._min

    @property
    def max(self) -> int | float | None:
        """Largest numeric value, or None when the column has no numbers or is PII."""
        return self._max

    @property
    def mean(self) -> float | None:
        """Mean of the numeric values, or None when there are none or the column is PII."""
        return self._mean if self._numeric_count and not self.pii else None

    @property
    def variance(self) -> float | None:
        """Population variance (ddof=0) of the numeric values; None if none or PII."""
        return self._m2 / self._numeric_count if self._numeric_count and not self.pii else None

    @property
    def inferred_type(self) -> str | None:
        """The most common value type (see ``type_counts``), None when there are no values."""
        best = max(TYPE_NAMES, key=lambda t: self.type_counts[t])
        return best if self.type_counts[best] else None

    # -- sketch readers -----------------------------------------------------------------------

    def quantile(self, q: float) -> float | None:
        """The approximate ``q``-quantile (0 <= q <= 1) of the numeric values; None if none/PII."""
        if not 0.0 <= q <= 1.0 or math.isnan(q):
            raise InvalidArgument(f"quantile q must be between 0 and 1, got {q!r}")
        if self._kll is None or self._kll.is_empty():
            return None
        return float(self._kll.get_quantile(q))

    def distinct_estimate(self) -> float:
        """Estimated number of distinct non-null values (ints, floats and strings hash apart)."""
        return float(self._hll.get_estimate())

    def frequent(self, n: int = 10) -> list[tuple[str, int]]:
        """Up to ``n`` most frequent values (as strings) with estimated counts; [] for PII.

        Estimates never under-count (DataSketches' NO_FALSE_NEGATIVES); floats are not counted.
        """
        if n < 0:
            raise InvalidArgument(f"n must be non-negative, got {n}")
        if self._freq is None or self._freq.is_empty():
            return []
        items = self._freq.get_frequent_items(ds.frequent_items_error_type.NO_FALSE_NEGATIVES)
        ranked = sorted(((str(i[0]), int(i[1])) for i in items), key=lambda t: (-t[1], t[0]))
        return ranked[:n]

    def histogram(self, bins: int = 10) -> Histogram:
        """An equal-width histogram of the numeric values between min and max.

        Derived from the KLL sketch at read time, so it is as mergeable as the sketch; counts
        are estimates within the sketch's rank error times the count. Empty when no numbers
        and for PII columns.
        """
        if not 1 <= bins <= 10_000:
            raise InvalidArgument(f"bins must be between 1 and 10000, got {bins}")
        if self._kll is None or self._kll.is_empty() or self._min is None or self._max is None:
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

    def summary(self, *, bins: int = 10, top: int = 10) -> dict[str, Any]:
        """A JSON-ready dict of what a UI or a diff shows; see docs/data.md, "Profiles".

        Keys: ``count``, ``null_count``, ``null_fraction``, ``inferred_type``,
        ``type_counts``, ``pii``, ``min``, ``max``, ``mean``, ``stdev`` (population),
        ``distinct_estimate``, ``quantiles`` ({"p01": ...} for 1, 5, 25, 50, 75, 95, 99 %),
        ``histogram`` ({"edges", "counts"}, ``bins`` equal-width bins, or None) and
        ``frequent`` (up to ``top`` ``[value, count]`` pairs). Missing statistics (no numbers,
        PII, infinite bounds) are None.
        """
        if not 0 <= top <= 1000:
            raise InvalidArgument(f"top must be between 0 and 1000, got {top}")
        hist = self.histogram(bins)
        finite_hist = bool(hist.counts) and all(math.isfinite(e) for e in hist.edges)
        variance = self.variance
        quantiles = {
            f"p{round(q * 100):02d}": fmt.finite_or_none(self.quantile(q))
            for q in SUMMARY_QUANTILES
        }
        return {
            "count": self.count,
            "null_count": self.null_count,
            "null_fraction": self.null_count / self.count if self.count else None,
            "inferred_type": self.inferred_type,
            "type_counts": dict(self.type_counts),
            "pii": self.pii,
            "min": fmt.finite_or_none(self._min),
            "max": fmt.finite_or_none(self._max),
            "mean": fmt.finite_or_none(self.mean),
            "stdev": fmt.finite_or_none(math.sqrt(variance) if variance is not None else None),
            "distinct_estimate": self.distinct_estimate(),
            "quantiles": quantiles if self.quantile(0.5) is not None else None,
            "histogram": (
                {"edges": list(hist.edges), "counts": list(hist.counts)} if finite_hist else None
            ),
            "frequent": [[value, n] for value, n in self.frequent(top)],
        }

    # -- building -----------------------------------------------------------------------------

    def update(self, values: pa.Array | pa.ChunkedArray) -> None:
        """Add a batch of values; vectorised through Arrow and numpy."""
        chunks = values.chunks if isinstance(values, pa.ChunkedArray) else [values]
        for chunk in chunks:
            self._update_array(chunk)

    def _update_array(self, arr: pa.Array) -> None:
        if pa.types.is_dictionary(arr.type):
            arr = arr.dictionary_decode()
        if pa.types.is_string_view(arr.type) and arr.null_count:
            arr = arr.cast(pa.large_string())  # Arrow's filter (drop_null) takes no views
        total = len(arr)
        values = pc.drop_null(arr) if arr.null_count else arr
        kind = _kind_of(arr.type)
        numbers: np.ndarray | None = None
        if kind in _NUMERIC:
            numbers = numpy_view(values)
            if kind == "float":
                nan = np.isnan(numbers)
                if nan.any():
                    numbers = numbers[~nan]
        valid = len(numbers) if numbers is not None else len(values)
        self.count += total
        self.null_count += total - valid
        self.type_counts[kind] += valid
        if valid == 0 or kind == "other":
            return
        if numbers is not None:
            self._add_numbers(numbers, kind)
        elif kind == "string":
            top, counts, offset, distinct = string_top_counts(values)
            feed_hll_items(self._hll, distinct)
            self._add_frequent(top, counts, valid, offset)
        elif kind == "bool":
            flags = numpy_view(pc.cast(values, pa.int8()))
            top_flags, counts, offset = numeric_top_counts(flags)
            feed_hll_items(self._hll, sorted(top_flags.tolist()))
            self._add_frequent(["true" if f else "false" for f in top_flags], counts, valid, offset)
        else:  # datetime: counted on the integer representation, named by Arrow's string cast
            width = pa.int32() if arr.type.bit_width == 32 else pa.int64()
            raw = numpy_view(values.view(width))
            feed_hll_items(self._hll, pc.cast(pc.unique(values), pa.string()).to_pylist())
            top_raw, counts, offset = numeric_top_counts(raw)
            names = pc.cast(arrow_view(top_raw).view(arr.type), pa.string())
            self._add_frequent(names.to_pylist(), counts, valid, offset)

    def _add_numbers(self, x: np.ndarray, kind: str) -> None:
        n_b = len(x)
        as_float = x.astype(np.float64, copy=False)  # read only: a view where x is float64
        if not self.pii:
            lo, hi = x.min(), x.max()
            lo_v, hi_v = (int(lo), int(hi)) if kind == "int" else (float(lo), float(hi))
            self._min = lo_v if self._min is None else min(self._min, lo_v)
            self._max = hi_v if self._max is None else max(self._max, hi_v)
            with np.errstate(invalid="ignore", over="ignore"):  # infinities give inf/NaN here
                mean_b = float(as_float.mean())
                centred = as_float - mean_b
                # einsum, not np.dot: a BLAS dot of a long vector wakes OpenBLAS's threads,
                # which then spin for a while and take the core the other columns need.
                m2_b = float(np.einsum("i,i->", centred, centred))
            self._numeric_count, self._mean, self._m2 = _chan(
                self._numeric_count, self._mean, self._m2, n_b, mean_b, m2_b
            )
            # Sorted and compacted in NumPy, then merged: the binding's per-value update holds
            # the GIL the other columns' threads need (see _kll_batches).
            self._kll.merge(kll_batch_sketch(as_float, KLL_K))
        else:
            self._numeric_count += n_b
        if kind == "int":
            # uint64 goes in by its int64 bit pattern: the binding takes no larger integers,
            # and within one unsigned column the patterns are as distinct as the values.
            hashable = x.view(np.int64) if x.dtype == np.uint64 else x.astype(np.int64, copy=False)
            self._hll_floor = feed_hll_numbers(self._hll, hashable, self._hll_floor)
            if self._freq is not None:
                top, counts, offset = numeric_top_counts(x)
                self._add_frequent([str(v) for v in top.tolist()], counts, n_b, offset)
        else:
            self._hll_floor = feed_hll_numbers(self._hll, as_float, self._hll_floor)

    def _add_frequent(self, items: list[str], counts: np.ndarray, total: int, offset: int) -> None:
        if self._freq is not None:
            self._freq.merge(frequent_batch_sketch(items, counts, total, offset))

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
        union = ds.hll_union(HLL_LG_K)
        union.update(self._hll)
        union.update(other._hll)
        out._hll = union.get_result(ds.tgt_hll_type.HLL_8)
        if out.pii:
            out._numeric_count = self._numeric_count + other._numeric_count
            return out
        out._min = _pick(min, self._min, other._min)
        out._max = _pick(max, self._max, other._max)
        out._numeric_count, out._mean, out._m2 = _chan(
            self._numeric_count, self._mean, self._m2,
            other._numeric_count, other._mean, other._m2,
        )  # fmt: skip
        out._kll.merge(self._kll)
        out._kll.merge(other._kll)
        out._freq.merge(self._freq)
        out._freq.merge(other._freq)
        return out

    def to_dict(self) -> dict[str, Any]:
        """A JSON-serialisable dict; sketches are base64 of their native serialization.

        A PII column writes null for ``min``, ``max``, ``mean``, ``m2``, ``kll`` and
        ``frequent``: nothing derived from a handful of raw values leaves the process.
        """
        raw = not self.pii
        return {
            "type": fmt.COLUMN_PROFILE_TYPE,
            "schema_version": fmt.SCHEMA_VERSION,
            "pii": self.pii,
            "count": self.count,
            "null_count": self.null_count,
            "type_counts": dict(self.type_counts),
            "min": self._min if raw else None,
            "max": self._max if raw else None,
            "numeric_count": self._numeric_count,
            "mean": self._mean if raw else None,
            "m2": self._m2 if raw else None,
            "kll": fmt.b64(self._kll.serialize()) if raw else None,
            "hll": fmt.b64(self._hll.serialize_compact()),
            "frequent": fmt.b64(self._freq.serialize()) if raw else None,
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> ColumnProfile:
        """Read :meth:`to_dict` output (schema version 1 or 2); InvalidArgument if malformed.

        Raw-value fields of a PII column (present in version 1 files) are dropped.
        """
        fmt.check_version(data, fmt.COLUMN_PROFILE_TYPE)
        try:
            pii = data["pii"]
            if not isinstance(pii, bool):
                raise InvalidArgument("profile field 'pii' must be a boolean")
            out = cls(pii=pii)
            out.count = fmt.count(data["count"], "count")
            out.null_count = fmt.count(data["null_count"], "null_count")
            type_counts = data["type_counts"]
            if not isinstance(type_counts, Mapping) or set(type_counts) != set(TYPE_NAMES):
                raise InvalidArgument(f"profile field 'type_counts' must have keys {TYPE_NAMES}")
            out.type_counts = {t: fmt.count(type_counts[t], f"type_counts.{t}") for t in TYPE_NAMES}
            out._numeric_count = fmt.count(data["numeric_count"], "numeric_count")
            hll = fmt.unb64(data["hll"], "hll")
            out._hll = fmt.deserialize_sketch(ds.hll_sketch, hll, "hll")
            if not pii:
                out._min = fmt.number(data["min"], "min", allow_none=True)
                out._max = fmt.number(data["max"], "max", allow_none=True)
                out._mean = float(fmt.number(data["mean"], "mean"))
                out._m2 = float(fmt.number(data["m2"], "m2"))
                kll = fmt.unb64(data["kll"], "kll")
                out._kll = fmt.deserialize_sketch(ds.kll_doubles_sketch, kll, "kll")
                freq = fmt.unb64(data["frequent"], "frequent")
                out._freq = fmt.deserialize_sketch(ds.frequent_strings_sketch, freq, "frequent")
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

    def summary(self, *, bins: int = 10, top: int = 10) -> dict[str, Any]:
        """``{"row_count": n, "columns": {name: ColumnProfile.summary()}}``, JSON-ready."""
        return {
            "row_count": self.row_count,
            "columns": {
                name: col.summary(bins=bins, top=top) for name, col in self.columns.items()
            },
        }

    def to_dict(self) -> dict[str, Any]:
        """A JSON-serialisable dict with type tag and schema_version."""
        return {
            "type": fmt.DATASET_PROFILE_TYPE,
            "schema_version": fmt.SCHEMA_VERSION,
            "row_count": self.row_count,
            "columns": {name: col.to_dict() for name, col in self.columns.items()},
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> DatasetProfile:
        """Read :meth:`to_dict` output; raises InvalidArgument on anything malformed."""
        fmt.check_version(data, fmt.DATASET_PROFILE_TYPE)
        columns = data.get("columns")
        if not isinstance(columns, Mapping) or not all(isinstance(k, str) for k in columns):
            raise InvalidArgument("dataset profile 'columns' must map column names to profiles")
        return cls(
            {name: ColumnProfile.from_dict(col) for name, col in columns.items()},
            fmt.count(data.get("row_count"), "row_count"),
        )

    def __repr__(self) -> str:
        return f"DatasetProfile(row_count={self.row_count}, columns={list(self.columns)})"
