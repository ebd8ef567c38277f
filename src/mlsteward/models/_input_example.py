"""Input examples: a few rows of model input, stored with the model as JSON.

Tables are stored as records (one JSON object per row, keys in column order) next to the column
dtypes; tensors as flat value lists with their dtype and shape. JSON has no NaN, infinity, bytes
or datetimes, so float columns write ``"NaN"``, ``"Infinity"`` and ``"-Infinity"``, binary
columns base64 and datetimes ISO 8601 at their unit's precision; nulls are ``null``. Every
vocabulary dtype comes back with the same values, int64 and uint64 extremes included.
"""

from __future__ import annotations

import base64
import binascii
import json
import math
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from mlsteward.errors import InvalidArgument
from mlsteward.models._dtypes import (
    DTYPES,
    INT_DTYPES,
    inspect_column,
    is_pandas_object,
    native_values,
    pandas_installed,
    rebuild,
)
from mlsteward.models._signature import (
    MAX_COLUMNS,
    MAX_DIMENSIONS,
    Signature,
    check_name,
    checked_column_names,
    checked_dtype,
    records_to_columns,
)

if TYPE_CHECKING:
    import numpy as np
    import numpy.typing as npt

__all__ = [
    "EXAMPLE_SCHEMA_VERSION",
    "EXAMPLE_TYPE",
    "MAX_EXAMPLE_BYTES",
    "MAX_EXAMPLE_ROWS",
    "InputExample",
]

EXAMPLE_TYPE = "mlsteward.input_example"
EXAMPLE_SCHEMA_VERSION = 1
MAX_EXAMPLE_ROWS = 1_000
MAX_EXAMPLE_BYTES = 1_000_000
DEFAULT_EXAMPLE_ROWS = 10
_FLOAT_WORDS = {"NaN": math.nan, "Infinity": math.inf, "-Infinity": -math.inf}


def _bad(field: str, problem: str) -> InvalidArgument:
    return InvalidArgument(f"input example {field} {problem}"[:500], details={"field": field})


def _encode_float(value: float) -> float | str:
    if math.isnan(value):
        return "NaN"
    if math.isinf(value):
        return "Infinity" if value > 0 else "-Infinity"
    return value


def _encode(values: Any, what: str) -> tuple[str, list[Any]]:
    """A column (or tensor, flattened) as its vocabulary dtype and JSON-ready values."""
    import numpy as np

    info = inspect_column(values)
    dtype = checked_dtype(info, what)
    data, mask = native_values(values, info)
    flat, nulls = data.ravel(), mask.ravel().tolist()
    if dtype.startswith("float"):
        return dtype, [_encode_float(float(v)) for v in flat.tolist()]
    if dtype.startswith("datetime64"):
        text = np.datetime_as_string(flat).tolist()
    elif dtype == "binary":
        text = [
            None if null else base64.b64encode(bytes(v)).decode()
            for v, null in zip(flat, nulls, strict=True)
        ]
    elif dtype == "string":
        text = [None if null else str(v) for v, null in zip(flat, nulls, strict=True)]
    else:
        text = flat.tolist()
    return dtype, [None if null else v for v, null in zip(text, nulls, strict=True)]


def _decode_float(value: Any) -> float:
    if value is None:
        return math.nan
    if isinstance(value, str):
        return _FLOAT_WORDS[value]
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise TypeError(f"{value!r} is not a number"[:100])
    return float(value)


def _decode(
    values: list[Any], dtype: str, field: str
) -> tuple[npt.NDArray[Any], npt.NDArray[np.bool_]]:
    """JSON values back to a numpy array of ``dtype`` (nulls filled) and the null mask."""
    import numpy as np

    mask = np.fromiter((v is None for v in values), bool, len(values))
    try:
        if dtype.startswith("float"):
            return np.array([_decode_float(v) for v in values], dtype=dtype), mask
        if dtype in INT_DTYPES or dtype == "bool":
            kind = bool if dtype == "bool" else int
            if not all(v is None or type(v) is kind for v in values):
                raise TypeError(f"not {'a bool' if kind is bool else 'an integer'}")
            fill = False if kind is bool else 0
            return np.array([fill if v is None else v for v in values], dtype=dtype), mask
        if not all(v is None or isinstance(v, str) for v in values):
            raise TypeError("not a string")
        if dtype.startswith("datetime64"):
            return np.array(["NaT" if v is None else v for v in values], dtype=dtype), mask
        out = np.empty(len(values), dtype=object)
        if dtype == "binary":
            out[:] = [None if v is None else base64.b64decode(v, validate=True) for v in values]
        else:
            out[:] = values
        return out, mask
    except (KeyError, TypeError, ValueError, OverflowError, binascii.Error) as exc:
        raise _bad(field, f"holds a value that is not a valid {dtype}: {exc}") from None


def _json_list(body: Mapping[str, Any], key: str, field: str) -> list[Any]:
    value = body.get(key)
    if not isinstance(value, list):
        raise _bad(f"{field}.{key}", "must be a list")
    return value


def _expect_keys(body: Any, field: str, keys: set[str]) -> Mapping[str, Any]:
    if not isinstance(body, Mapping):
        raise _bad(field, f"must be an object; got {type(body).__name__}")
    if set(body) != keys:
        odd = sorted(set(map(str, body)) ^ keys)[0]
        raise _bad(f"{field}.{odd}", "is missing" if odd in keys else "is not a known field")
    return body


def _column_head(field: str, body: Mapping[str, Any], named: bool) -> tuple[str | None, str]:
    name, dtype = body["name"], body["dtype"]
    if name is not None or named:
        try:
            check_name(name, "name")
        except InvalidArgument as exc:
            raise _bad(f"{field}.name", exc.message) from None
    if dtype not in DTYPES:
        raise _bad(f"{field}.dtype", f"must be one of the signature dtypes; got {dtype!r}")
    return name, dtype


class InputExample:
    """A few rows of model input, kept in a JSON-ready form. Build one with ``from_data`` or
    ``from_json_bytes``; two examples are equal when their JSON is."""

    __slots__ = ("_columns", "_payload")

    def __init__(self, payload: dict[str, Any]) -> None:
        self._columns = _decode_payload(payload)
        self._payload = payload

    @classmethod
    def from_data(cls, data: Any, *, max_rows: int = DEFAULT_EXAMPLE_ROWS) -> InputExample:
        """The first ``max_rows`` (1 to ``MAX_EXAMPLE_ROWS``) rows of ``data``: a pandas
        DataFrame or a list of dicts (a table), a numpy array or a dict of numpy arrays
        (tensors, cut along the first axis). Raises InvalidArgument for other kinds, empty
        data, dtypes outside the vocabulary, or JSON larger than ``MAX_EXAMPLE_BYTES``."""
        if type(max_rows) is not int or not 1 <= max_rows <= MAX_EXAMPLE_ROWS:
            raise InvalidArgument(f"max_rows must be 1 to {MAX_EXAMPLE_ROWS}; got {max_rows!r}")
        head: dict[str, Any] = {"type": EXAMPLE_TYPE, "schema_version": EXAMPLE_SCHEMA_VERSION}
        if (is_pandas_object(data) and hasattr(data, "columns")) or isinstance(data, list):
            if isinstance(data, list):
                columns: Mapping[str, Any] = records_to_columns(data[:max_rows])
            else:
                names = checked_column_names(list(data.columns))
                columns = {name: data[name].iloc[:max_rows] for name in names}
            encoded = {
                name: _encode(values, f"column {name!r}") for name, values in columns.items()
            }
            rows = len(next(iter(encoded.values()))[1])
            if rows == 0:
                raise InvalidArgument("an input example needs at least one row")
            payload = head | {
                "kind": "table",
                "columns": [{"name": n, "dtype": d} for n, (d, _) in encoded.items()],
                "records": [{n: v[i] for n, (_, v) in encoded.items()} for i in range(rows)],
            }
        elif type(data).__module__ == "numpy" or isinstance(data, Mapping):
            arrays = {None: data} if type(data).__module__ == "numpy" else data
            if isinstance(data, Mapping):
                checked_column_names(list(data))
            tensors = []
            for name, array in arrays.items():
                if type(array).__module__ != "numpy" or getattr(array, "ndim", 0) == 0:
                    raise InvalidArgument(f"tensor {name!r} must be a numpy array of rank >= 1")
                if array.shape[0] == 0:
                    raise InvalidArgument("an input example needs at least one row")
                what = "the tensor" if name is None else f"tensor {name!r}"
                dtype, values = _encode(array[:max_rows], what)
                shape = [min(array.shape[0], max_rows), *array.shape[1:]]
                tensors.append({"name": name, "dtype": dtype, "shape": shape, "values": values})
            payload = head | {"kind": "tensor", "tensors": tensors}
        else:
            raise InvalidArgument(
                f"cannot make an input example from {type(data).__name__}; pass a pandas "
                "DataFrame, a list of dicts, a numpy array or a dict of numpy arrays"
            )
        example = cls(payload)
        example.to_json_bytes()  # refuses an example over the size limit now, not at save time
        return example

    @classmethod
    def from_json_bytes(cls, raw: bytes) -> InputExample:
        """Read ``to_json_bytes``'s output. Raises InvalidArgument naming the field for input
        over ``MAX_EXAMPLE_BYTES``, invalid JSON, an unknown type tag or ``schema_version``, or
        values that do not fit their dtype."""
        if not isinstance(raw, bytes | bytearray):
            raise InvalidArgument(f"input example JSON must be bytes; got {type(raw).__name__}")
        if len(raw) > MAX_EXAMPLE_BYTES:
            raise InvalidArgument(
                f"input example is {len(raw)} bytes, over the limit of {MAX_EXAMPLE_BYTES}",
                details={"limit": MAX_EXAMPLE_BYTES, "got": len(raw)},
            )

        def no_constants(word: str) -> Any:
            raise ValueError(f"bare {word} is not JSON")

        try:
            payload = json.loads(raw, parse_constant=no_constants)
        except (ValueError, RecursionError) as exc:
            raise InvalidArgument(f"input example is not valid JSON: {exc}"[:300]) from None
        return cls(payload)

    def to_json_bytes(self) -> bytes:
        """UTF-8 JSON. Raises InvalidArgument when it would exceed ``MAX_EXAMPLE_BYTES``."""
        raw = json.dumps(
            self._payload, ensure_ascii=False, allow_nan=False, separators=(",", ":")
        ).encode()
        if len(raw) > MAX_EXAMPLE_BYTES:
            raise InvalidArgument(
                f"input example is {len(raw)} bytes of JSON, over the limit of "
                f"{MAX_EXAMPLE_BYTES}; pass fewer rows (max_rows) or smaller values",
                details={"limit": MAX_EXAMPLE_BYTES, "got": len(raw)},
            )
        return raw

    @property
    def kind(self) -> str:
        """``"table"`` or ``"tensor"``."""
        return str(self._payload["kind"])

    def as_model_input(self, signature: Signature | None = None) -> Any:
        """The example as model input: a DataFrame for a table (a dict of numpy arrays without
        pandas), a numpy array for an unnamed tensor, a dict of them for named tensors. With
        ``signature``, the result is passed through ``enforce_signature`` (which may raise
        SignatureViolation)."""
        pandas = self.kind == "table" and pandas_installed()
        out: dict[str | None, Any] = {
            name: rebuild(data, mask, dtype, pandas)
            for name, (dtype, data, mask) in self._columns.items()
        }
        result: Any
        if pandas:
            import pandas as pd

            result = pd.DataFrame(out)
        elif list(out) == [None]:
            result = out[None]
        else:
            result = out
        if signature is not None:
            from mlsteward.models._enforce import enforce_signature

            result = enforce_signature(signature, result)
        return result

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, InputExample):
            return NotImplemented
        return self._payload == other._payload

    __hash__ = None  # type: ignore[assignment]

    def __repr__(self) -> str:
        return f"InputExample(kind={self.kind!r}, columns={list(self._columns)!r})"


Decoded = dict[str | None, tuple[str, Any, Any]]


def _decode_payload(payload: Any) -> Decoded:
    """Validate a payload and decode its columns: name -> (dtype, data, null mask)."""
    if not isinstance(payload, Mapping):
        raise _bad("", f"must be a JSON object; got {type(payload).__name__}")
    if payload.get("type") != EXAMPLE_TYPE:
        raise _bad("type", f"must be {EXAMPLE_TYPE!r}; got {payload.get('type')!r}"[:200])
    version = payload.get("schema_version")
    if type(version) is not int or version != EXAMPLE_SCHEMA_VERSION:
        raise _bad("schema_version", f"{version!r} is not supported; upgrade mlsteward"[:200])
    kind = payload.get("kind")
    if kind == "table":
        return _decode_table(payload)
    if kind == "tensor":
        return _decode_tensors(payload)
    raise _bad("kind", f"must be 'table' or 'tensor'; got {kind!r}"[:200])


_TABLE_KEYS = {"type", "schema_version", "kind", "columns", "records"}
_TENSOR_KEYS = {"type", "schema_version", "kind", "tensors"}


def _decode_table(payload: Mapping[str, Any]) -> Decoded:
    _expect_keys(payload, "", _TABLE_KEYS)
    columns = _json_list(payload, "columns", "")
    records = _json_list(payload, "records", "")
    if not 1 <= len(columns) <= MAX_COLUMNS:
        raise _bad(".columns", f"must hold 1 to {MAX_COLUMNS} columns; got {len(columns)}")
    if not 1 <= len(records) <= MAX_EXAMPLE_ROWS:
        raise _bad(".records", f"must hold 1 to {MAX_EXAMPLE_ROWS} rows; got {len(records)}")
    heads = [
        _column_head(f".columns[{i}]", _expect_keys(c, f".columns[{i}]", {"name", "dtype"}), True)
        for i, c in enumerate(columns)
    ]
    names = [name for name, _ in heads]
    if len(set(names)) != len(names):
        raise _bad(".columns", "names a column more than once")
    known = set(names)
    for i, record in enumerate(records):
        if not isinstance(record, Mapping) or not set(record) <= known:
            raise _bad(f".records[{i}]", "must be an object whose keys are column names")
    return {
        name: (dtype, *_decode([r.get(name) for r in records], dtype, f"column {name!r}"))
        for name, dtype in heads
    }


def _decode_tensors(payload: Mapping[str, Any]) -> Decoded:
    _expect_keys(payload, "", _TENSOR_KEYS)
    tensors = _json_list(payload, "tensors", "")
    if not 1 <= len(tensors) <= MAX_COLUMNS:
        raise _bad(".tensors", f"must hold 1 to {MAX_COLUMNS} tensors; got {len(tensors)}")
    out: Decoded = {}
    for i, item in enumerate(tensors):
        field = f".tensors[{i}]"
        body = _expect_keys(item, field, {"name", "dtype", "shape", "values"})
        name, dtype = _column_head(field, body, len(tensors) > 1)
        shape = body["shape"]
        if (
            not isinstance(shape, list)
            or not 1 <= len(shape) <= MAX_DIMENSIONS
            or not all(type(d) is int and d >= 0 for d in shape)
        ):
            raise _bad(f"{field}.shape", "must be a list of 1 to 32 sizes >= 0")
        values = _json_list(body, "values", field)
        if math.prod(shape) != len(values):
            raise _bad(
                f"{field}.values",
                f"holds {len(values)} values; shape {shape} needs {math.prod(shape)}",
            )
        if name in out:
            raise _bad(f"{field}.name", "repeats an earlier tensor name")
        data, mask = _decode(values, dtype, f"tensor {name!r}")
        out[name] = (dtype, data.reshape(shape), mask.reshape(shape))
    return out
