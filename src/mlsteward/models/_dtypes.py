"""The closed dtype vocabulary of signatures, and how a column's values map onto it.

A column is a numpy array or a pandas Series. numpy and pandas are imported inside functions only,
and pandas only once a value is known to come from pandas (its type's module says so), so importing
this module costs nothing and works without pandas installed.

Vocabulary (``DTYPES``): ``bool``; ``int8`` ``int16`` ``int32`` ``int64``; ``uint8`` ``uint16``
``uint32`` ``uint64``; ``float32`` ``float64``; ``string`` (numpy ``str_``, pandas ``str``/
``string``, or object columns holding only ``str``); ``binary`` (numpy ``bytes_`` or object
columns holding only ``bytes``); ``datetime64[s]`` ``datetime64[ms]`` ``datetime64[us]``
``datetime64[ns]`` (naive; timezone-aware columns are refused). pandas' nullable ``Int64``,
``Float32``, ``boolean``… map to the numpy name they wrap. Nulls are ``None``, ``NaN``, ``NaT``
and ``pd.NA``; a NaN in a float column counts as a null.
"""

from __future__ import annotations

import datetime
import math
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import numpy as np
    import numpy.typing as npt

__all__ = [
    "DTYPES",
    "ColumnInfo",
    "all_null",
    "cast_column",
    "inspect_column",
    "is_pandas_object",
    "native_values",
    "pandas_installed",
    "rebuild",
]

INT_DTYPES = ("int8", "int16", "int32", "int64", "uint8", "uint16", "uint32", "uint64")
FLOAT_DTYPES = ("float32", "float64")
DATETIME_DTYPES = ("datetime64[s]", "datetime64[ms]", "datetime64[us]", "datetime64[ns]")
DTYPES: frozenset[str] = frozenset(
    ("bool", *INT_DTYPES, *FLOAT_DTYPES, "string", "binary", *DATETIME_DTYPES)
)
_NUMPY_BACKED = frozenset(("bool", *INT_DTYPES, *FLOAT_DTYPES, *DATETIME_DTYPES))
_INT64_MIN, _INT64_MAX, _UINT64_MAX = -(2**63), 2**63 - 1, 2**64 - 1

# What an object column holds, by category of its non-null values.
_OBJECT_KINDS: dict[frozenset[str], tuple[str, str]] = {
    frozenset({"str"}): ("string", "strings"),
    frozenset({"bytes"}): ("binary", "bytes"),
    frozenset({"bool"}): ("bool", "bools"),
    frozenset({"int"}): ("int64", "ints"),
    frozenset({"float"}): ("float64", "floats"),
    frozenset({"int", "float"}): ("float64", "ints and floats"),
    frozenset({"datetime"}): ("datetime64[us]", "datetimes"),
}


@dataclass(frozen=True)
class ColumnInfo:
    """What a column holds: its vocabulary dtype (None when it has none), how to name what it
    holds in an error message, and its number of nulls."""

    dtype: str | None
    described: str
    null_count: int
    # The column is not in the form a model takes (object values, pandas masked dtype with
    # numpy-native target): enforcement rebuilds it even when its dtype already matches.
    needs_rebuild: bool = False


def pandas_installed() -> bool:
    """Whether pandas can be imported (importing it if so)."""
    try:
        import pandas  # noqa: F401
    except ImportError:
        return False
    return True


def is_pandas_object(value: object) -> bool:
    """Whether ``value`` is a pandas object, decided without importing pandas."""
    return type(value).__module__.split(".", 1)[0] == "pandas"


def _is_null(value: object) -> bool:
    if value is None:
        return True
    if isinstance(value, float):
        return math.isnan(value)
    name = type(value).__name__
    if name in ("NAType", "NaTType"):
        return True
    if name in ("datetime64", "timedelta64"):
        import numpy as np

        return bool(np.isnat(value))  # type: ignore[call-overload]
    return False


def _category(value: object) -> str:
    import numpy as np

    if isinstance(value, bool | np.bool_):
        return "bool"
    if isinstance(value, int | np.integer):
        return "int"
    if isinstance(value, float | np.floating):
        return "float"
    if isinstance(value, str):
        return "str"
    if isinstance(value, bytes):
        return "bytes"
    if isinstance(value, datetime.datetime):
        return "datetime" if value.tzinfo is None else "timezone-aware datetime"
    return type(value).__name__


def _inspect_objects(values: npt.NDArray[Any]) -> ColumnInfo:
    flat = values.ravel()
    types = set(map(type, flat))
    # Fast path for the common object column: text (or bytes) with None for nulls.
    for text_type, dtype, held in ((str, "string", "strings"), (bytes, "binary", "bytes")):
        if text_type in types and types <= {text_type, type(None)}:
            nulls = flat.tolist().count(None) if len(types) > 1 else 0
            return ColumnInfo(dtype, f"object ({held})", nulls)
    nulls = 0
    kinds: set[str] = set()
    low, high = 0, 0
    for value in flat:
        if _is_null(value):
            nulls += 1
            continue
        kind = _category(value)
        kinds.add(kind)
        if kind == "int":
            low, high = min(low, int(value)), max(high, int(value))
    if not kinds:
        return ColumnInfo(None, "object (no non-null values)", nulls)
    found = _OBJECT_KINDS.get(frozenset(kinds))
    if found is None:
        return ColumnInfo(None, f"object ({', '.join(sorted(kinds))})", nulls)
    dtype, held = found
    if dtype == "int64" and high > _INT64_MAX:
        dtype = "uint64"
    if low < _INT64_MIN or high > _UINT64_MAX or (dtype == "uint64" and low < 0):
        return ColumnInfo(None, "object (ints beyond 64 bits)", nulls)
    return ColumnInfo(dtype, f"object ({held})", nulls, needs_rebuild=dtype in _NUMPY_BACKED)


def _numpy_dtype_name(dtype: np.dtype[Any]) -> str | None:
    import numpy as np

    if dtype.kind in "biuf":
        return dtype.name if dtype.name in DTYPES else None
    if dtype.kind == "M":
        unit, count = np.datetime_data(dtype)
        name = f"datetime64[{unit}]"
        return name if count == 1 and name in DTYPES else None
    if dtype.kind == "U":
        return "string"
    if dtype.kind == "S":
        return "binary"
    return None


def _numpy_null_count(values: npt.NDArray[Any]) -> int:
    import numpy as np

    if values.dtype.kind == "f":
        return int(np.isnan(values).sum())
    if values.dtype.kind in "mM":
        return int(np.isnat(values).sum())
    return 0


def inspect_column(values: Any) -> ColumnInfo:
    """Classify a numpy array (any number of dimensions) or a pandas Series."""
    import numpy as np

    if is_pandas_object(values):
        dtype = values.dtype
        if isinstance(dtype, np.dtype):
            if dtype.kind == "O":
                return _inspect_objects(values.to_numpy())
            name = _numpy_dtype_name(dtype)
            return ColumnInfo(name, str(dtype), int(values.isna().sum()))
        import pandas as pd

        nulls = int(values.isna().sum())
        if isinstance(dtype, pd.StringDtype):
            return ColumnInfo("string", f"{dtype} (strings)", nulls)
        wrapped = getattr(dtype, "numpy_dtype", None)
        if isinstance(wrapped, np.dtype) and wrapped.kind in "biuf":
            name = _numpy_dtype_name(wrapped)
            return ColumnInfo(name, str(dtype), nulls, needs_rebuild=nulls == 0)
        return ColumnInfo(None, str(dtype), nulls)
    array = np.asarray(values)
    if array.dtype.kind == "O":
        return _inspect_objects(array)
    return ColumnInfo(_numpy_dtype_name(array.dtype), str(array.dtype), _numpy_null_count(array))


def _fill_value(dtype: str) -> Any:
    if dtype.startswith("datetime64"):
        return "NaT"
    if dtype.startswith("float"):
        return math.nan
    if dtype == "bool":
        return False
    return 0


def native_values(values: Any, info: ColumnInfo) -> tuple[npt.NDArray[Any], npt.NDArray[np.bool_]]:
    """The column as a numpy array of its vocabulary dtype (nulls filled: NaN, NaT, 0, False)
    and a mask that is True where a value is null. ``string`` and ``binary`` give object arrays
    with the nulls left in place. Requires ``info.dtype`` to be set."""
    import numpy as np

    assert info.dtype is not None
    dtype = info.dtype
    if is_pandas_object(values):
        mask = values.isna().to_numpy(dtype=bool)
        if dtype in _NUMPY_BACKED and values.dtype.kind != "O":
            data = values.to_numpy(dtype=np.dtype(dtype), na_value=_fill_value(dtype))
            return data, mask
        array = values.to_numpy(dtype=object)
    else:
        array = np.asarray(values)
        if array.dtype.kind != "O":
            if array.dtype.kind in "fM":
                return array, np.isnan(array) if array.dtype.kind == "f" else np.isnat(array)
            return array, np.zeros(array.shape, dtype=bool)
        mask = np.fromiter((_is_null(v) for v in array.ravel()), bool, array.size)
        mask = mask.reshape(array.shape)
    if dtype not in _NUMPY_BACKED:
        return array, mask
    fill = _fill_value(dtype)
    flat = [
        fill if null else value for value, null in zip(array.ravel(), mask.ravel(), strict=True)
    ]
    return np.array(flat, dtype=np.dtype(dtype)).reshape(array.shape), mask


def _lossless(data: npt.NDArray[Any], cast: npt.NDArray[Any], mask: npt.NDArray[np.bool_]) -> bool:
    import numpy as np

    keep = ~mask
    with np.errstate(all="ignore"):
        back = cast[keep].astype(data.dtype)
    return bool(np.array_equal(back, data[keep]))


def cast_column(
    data: npt.NDArray[Any], mask: npt.NDArray[np.bool_], source: str, target: str
) -> npt.NDArray[Any] | None:
    """``data`` (vocabulary dtype ``source``, as from ``native_values``) cast to ``target``, or
    None when the cast is not allowed or would lose information.

    Allowed: any cast numpy calls safe (int32 -> int64, uint8 -> int16, float32 -> float64,
    int16 -> float32); int -> narrower int or int -> float when every value survives the round
    trip; datetime unit changes when every value survives. Refused: bool <-> numbers, float ->
    int, float64 -> float32, strings and bytes to anything else.
    """
    import numpy as np

    if source == target:
        return data
    numeric = (*INT_DTYPES, *FLOAT_DTYPES)
    target_dtype = np.dtype(target) if target in _NUMPY_BACKED else None
    if source in numeric and target in numeric and target_dtype is not None:
        # numpy calls int64 -> float64 safe although 2**53 + 1 does not survive it.
        int_to_float = source in INT_DTYPES and target in FLOAT_DTYPES
        if np.can_cast(np.dtype(source), target_dtype, "safe") and not int_to_float:
            return data.astype(target_dtype)
        if source in INT_DTYPES:
            with np.errstate(all="ignore"):
                cast = data.astype(target_dtype)
            return cast if _lossless(data, cast, mask) else None
        return None
    if source in DATETIME_DTYPES and target in DATETIME_DTYPES and target_dtype is not None:
        cast = data.astype(target_dtype)
        return cast if _lossless(data, cast, mask) else None
    return None


def all_null(shape: tuple[int, ...], target: str) -> tuple[npt.NDArray[Any], npt.NDArray[np.bool_]]:
    """A column of ``target`` dtype holding only nulls, as ``native_values`` would give it."""
    import numpy as np

    if target in _NUMPY_BACKED:
        data = np.full(shape, _fill_value(target), dtype=np.dtype(target))
    else:
        data = np.full(shape, None, dtype=object)
    return data, np.ones(shape, dtype=bool)


def rebuild(cast: npt.NDArray[Any], mask: npt.NDArray[np.bool_], target: str, pandas: bool) -> Any:
    """The cast column ready for a model: nulls put back as NaN or NaT; int and bool columns
    with nulls become pandas masked arrays (``Int64``, ``boolean``) when ``pandas`` is true,
    else object arrays holding ``None``."""
    import numpy as np

    if not mask.any() or target not in _NUMPY_BACKED:
        return cast
    if target.startswith("float"):
        out = cast.copy()
        out[mask] = np.nan
        return out
    if target.startswith("datetime64"):
        out = cast.copy()
        out[mask] = np.datetime64("NaT")
        return out
    if pandas:
        import pandas as pd

        if target == "bool":
            return pd.arrays.BooleanArray(cast, mask)
        return pd.arrays.IntegerArray(cast, mask)
    out = cast.astype(object)
    out[mask] = None
    return out
