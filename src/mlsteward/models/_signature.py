"""Model signatures: what a model takes and gives, inferred from data or written by hand.

A ``Signature`` is stored with the model as a dict (``to_dict``: type tag
``"mlsteward.signature"``, ``schema_version`` 1) and enforced at prediction by
``enforce_signature``. Dtypes come from the closed vocabulary documented in ``_dtypes``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal

from mlsteward.errors import InvalidArgument
from mlsteward.models._dtypes import DTYPES, ColumnInfo, inspect_column, is_pandas_object

if TYPE_CHECKING:
    import numpy.typing as npt

__all__ = [
    "MAX_COLUMNS",
    "MAX_NAME_LENGTH",
    "SIGNATURE_SCHEMA_VERSION",
    "SIGNATURE_TYPE",
    "ColumnSpec",
    "Schema",
    "Signature",
    "infer_signature",
    "records_to_columns",
]

SIGNATURE_TYPE = "mlsteward.signature"
SIGNATURE_SCHEMA_VERSION = 1
MAX_COLUMNS = 10_000
MAX_NAME_LENGTH = 1_024
MAX_DIMENSIONS = 32
_VOCABULARY = ", ".join(sorted(DTYPES))


@dataclass(frozen=True)
class ColumnSpec:
    """One column of a table or one tensor.

    ``name``: a non-empty string of at most ``MAX_NAME_LENGTH`` characters; None only for the
    single unnamed tensor of a tensor schema. ``dtype``: one of ``DTYPES``. ``shape``: None for
    table columns; for tensors the full shape, batch dimension included, -1 where any size is
    accepted. ``nullable``: whether nulls (None, NaN, NaT, pd.NA) are accepted.
    Raises InvalidArgument on any other value.
    """

    name: str | None
    dtype: str
    shape: tuple[int, ...] | None = None
    nullable: bool = False

    def __post_init__(self) -> None:
        if self.name is not None:
            check_name(self.name, "name")
        if self.dtype not in DTYPES:
            raise InvalidArgument(
                f"dtype must be one of {_VOCABULARY}; got {self.dtype!r}",
                details={"field": "dtype"},
            )
        if self.shape is not None:
            shape = tuple(self.shape)
            if len(shape) > MAX_DIMENSIONS or not all(
                type(dim) is int and dim >= -1 for dim in shape
            ):
                raise InvalidArgument(
                    f"shape must be at most {MAX_DIMENSIONS} integers >= -1 (-1 = any size); "
                    f"got {self.shape!r}"[:300],
                    details={"field": "shape"},
                )
            object.__setattr__(self, "shape", shape)
        if type(self.nullable) is not bool:
            raise InvalidArgument(
                f"nullable must be true or false; got {self.nullable!r}"[:200],
                details={"field": "nullable"},
            )


@dataclass(frozen=True)
class Schema:
    """The columns of a table (``kind="table"``: named, no shapes) or the tensors a model takes
    (``kind="tensor"``: shapes; either one unnamed tensor or named ones). Names are unique; there
    are 1 to ``MAX_COLUMNS`` columns. Raises InvalidArgument otherwise."""

    kind: Literal["table", "tensor"]
    columns: tuple[ColumnSpec, ...]

    def __post_init__(self) -> None:
        if self.kind not in ("table", "tensor"):
            raise InvalidArgument(
                f"schema kind must be 'table' or 'tensor'; got {self.kind!r}"[:200],
                details={"field": "kind"},
            )
        columns = tuple(self.columns)
        object.__setattr__(self, "columns", columns)
        _check_column_count(len(columns))
        seen: set[str] = set()
        for spec in columns:
            if not isinstance(spec, ColumnSpec):
                raise InvalidArgument(f"schema columns must be ColumnSpec; got {spec!r}"[:200])
            if self.kind == "table" and (spec.name is None or spec.shape is not None):
                raise InvalidArgument(
                    f"table column {spec.name!r} needs a name and no shape",
                    details={"column": spec.name},
                )
            if self.kind == "tensor" and spec.shape is None:
                raise InvalidArgument(
                    f"tensor {spec.name!r} needs a shape", details={"column": spec.name}
                )
            if spec.name is None and len(columns) > 1:
                raise InvalidArgument("only a schema with a single tensor may leave it unnamed")
            if spec.name is not None:
                if spec.name in seen:
                    raise InvalidArgument(
                        f"duplicate column name {spec.name!r}", details={"column": spec.name}
                    )
                seen.add(spec.name)

    @property
    def names(self) -> list[str | None]:
        """Column (or tensor) names in order."""
        return [spec.name for spec in self.columns]


@dataclass(frozen=True)
class Signature:
    """What a model takes (``inputs``) and, when known, what it gives (``outputs``)."""

    inputs: Schema
    outputs: Schema | None = None

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict with the type tag and ``schema_version``."""
        return {
            "type": SIGNATURE_TYPE,
            "schema_version": SIGNATURE_SCHEMA_VERSION,
            "inputs": _schema_to_dict(self.inputs),
            "outputs": None if self.outputs is None else _schema_to_dict(self.outputs),
        }

    @classmethod
    def from_dict(cls, data: Any) -> Signature:
        """Read ``to_dict``'s output. Raises InvalidArgument naming the offending field for an
        unknown type tag or ``schema_version``, a missing or unknown key, or a bad value."""
        body = _expect_mapping(data, "signature")
        _expect_keys(body, "signature", {"type", "schema_version", "inputs", "outputs"})
        if body["type"] != SIGNATURE_TYPE:
            raise _field_error("type", f"must be {SIGNATURE_TYPE!r}; got {body['type']!r}")
        version = body["schema_version"]
        if type(version) is not int or version != SIGNATURE_SCHEMA_VERSION:
            raise _field_error(
                "schema_version",
                f"{version!r} is not supported (this release reads {SIGNATURE_SCHEMA_VERSION}); "
                "upgrade mlsteward to read it",
            )
        outputs = body["outputs"]
        return cls(
            inputs=_schema_from_dict(body["inputs"], "inputs"),
            outputs=None if outputs is None else _schema_from_dict(outputs, "outputs"),
        )


def check_name(name: object, field: str) -> None:
    if not isinstance(name, str):
        raise InvalidArgument(
            f"{field} must be a string; got {name!r} ({type(name).__name__})"[:300],
            details={"field": field},
        )
    if not name or len(name) > MAX_NAME_LENGTH:
        raise InvalidArgument(
            f"{field} must be 1 to {MAX_NAME_LENGTH} characters; got {len(name)}",
            details={"field": field},
        )


def _check_column_count(count: int) -> None:
    if count == 0:
        raise InvalidArgument("a schema needs at least one column")
    if count > MAX_COLUMNS:
        raise InvalidArgument(
            f"{count} columns is more than the limit of {MAX_COLUMNS}",
            details={"limit": MAX_COLUMNS, "got": count},
        )


def _schema_to_dict(schema: Schema) -> dict[str, Any]:
    return {
        "kind": schema.kind,
        "columns": [
            {
                "name": spec.name,
                "dtype": spec.dtype,
                "shape": None if spec.shape is None else list(spec.shape),
                "nullable": spec.nullable,
            }
            for spec in schema.columns
        ],
    }


def _field_error(field: str, problem: str) -> InvalidArgument:
    return InvalidArgument(f"signature field {field!r} {problem}"[:500], details={"field": field})


def _expect_mapping(value: Any, field: str) -> Mapping[str, Any]:
    if not isinstance(value, Mapping):
        raise _field_error(field, f"must be an object; got {type(value).__name__}")
    return value


def _expect_keys(body: Mapping[str, Any], field: str, keys: set[str]) -> None:
    unknown = sorted(str(key) for key in body if key not in keys)
    if unknown:
        raise _field_error(f"{field}.{unknown[0]}", "is not a known field")
    missing = sorted(keys - set(body))
    if missing:
        raise _field_error(f"{field}.{missing[0]}", "is missing")


def _schema_from_dict(value: Any, field: str) -> Schema:
    body = _expect_mapping(value, field)
    _expect_keys(body, field, {"kind", "columns"})
    kind = body["kind"]
    if kind not in ("table", "tensor"):
        raise _field_error(f"{field}.kind", f"must be 'table' or 'tensor'; got {kind!r}")
    columns = body["columns"]
    if not isinstance(columns, list):
        raise _field_error(f"{field}.columns", "must be a list")
    if len(columns) > MAX_COLUMNS:
        raise _field_error(
            f"{field}.columns", f"has {len(columns)} entries, more than the limit of {MAX_COLUMNS}"
        )
    specs = [_column_from_dict(item, f"{field}.columns[{i}]") for i, item in enumerate(columns)]
    try:
        return Schema(kind=kind, columns=tuple(specs))
    except InvalidArgument as exc:
        raise _field_error(f"{field}.columns", f"is invalid: {exc.message}") from None


def _column_from_dict(value: Any, field: str) -> ColumnSpec:
    body = _expect_mapping(value, field)
    _expect_keys(body, field, {"name", "dtype", "shape", "nullable"})
    shape = body["shape"]
    if shape is not None and not isinstance(shape, list):
        raise _field_error(f"{field}.shape", "must be a list of integers or null")
    try:
        return ColumnSpec(
            name=body["name"],
            dtype=body["dtype"],
            shape=None if shape is None else tuple(shape),
            nullable=body["nullable"],
        )
    except InvalidArgument as exc:
        sub = exc.details.get("field", "")
        raise _field_error(
            f"{field}.{sub}" if sub else field, f"is invalid: {exc.message}"
        ) from None


def checked_dtype(info: ColumnInfo, what: str) -> str:
    if info.dtype is None:
        raise InvalidArgument(
            f"cannot infer a signature dtype for {what}: got {info.described}; "
            f"convert it to one of {_VOCABULARY}",
            details={"column": what, "got": info.described},
        )
    return info.dtype


def checked_column_names(names: Sequence[object]) -> list[str]:
    _check_column_count(len(names))
    seen: set[str] = set()
    for name in names:
        if not isinstance(name, str):
            raise InvalidArgument(
                f"column names must be strings; got {name!r} ({type(name).__name__}); "
                "rename the columns (for a DataFrame: df.columns = df.columns.astype(str))"[:300],
                details={"column": repr(name)[:100]},
            )
        check_name(name, "column name")
        if name in seen:
            raise InvalidArgument(f"duplicate column name {name!r}", details={"column": name})
        seen.add(name)
    return [str(name) for name in names]


def records_to_columns(records: Sequence[Any]) -> dict[str, npt.NDArray[Any]]:
    """A list of dicts as columns: object arrays in first-seen key order, ``None`` where a record
    lacks a key. Raises InvalidArgument for an empty list, a non-dict record or too many keys."""
    import numpy as np

    if not records:
        raise InvalidArgument("a list of records needs at least one record")
    names: dict[Any, None] = {}
    for index, record in enumerate(records):
        if not isinstance(record, Mapping):
            raise InvalidArgument(
                f"record {index} is a {type(record).__name__}, not a dict",
                details={"got": type(record).__name__},
            )
        for key in record:
            names.setdefault(key, None)
        if len(names) > MAX_COLUMNS:
            _check_column_count(len(names))
    columns = checked_column_names(list(names))
    out: dict[str, npt.NDArray[Any]] = {}
    for name in columns:
        array = np.empty(len(records), dtype=object)
        array[:] = [record.get(name) for record in records]
        out[name] = array
    return out


def _table_schema(columns: Mapping[str, Any], frame: bool) -> Schema:
    specs = []
    for name, values in columns.items():
        info = inspect_column(values)
        what = f"column {name!r}"
        if not frame and getattr(values, "ndim", 1) != 1:
            raise InvalidArgument(f"{what} must be one-dimensional", details={"column": name})
        specs.append(ColumnSpec(name, checked_dtype(info, what), None, info.null_count > 0))
    return Schema("table", tuple(specs))


def _tensor_spec(name: str | None, array: Any) -> ColumnSpec:
    what = "the tensor" if name is None else f"tensor {name!r}"
    if type(array).__module__ != "numpy" or not hasattr(array, "ndim"):
        raise InvalidArgument(
            f"{what} must be a numpy array; got {type(array).__name__}", details={"column": name}
        )
    if array.ndim == 0:
        raise InvalidArgument(
            f"{what} is a scalar; a model input needs a batch dimension", details={"column": name}
        )
    if array.ndim > MAX_DIMENSIONS:
        raise InvalidArgument(f"{what} has more than {MAX_DIMENSIONS} dimensions")
    info = inspect_column(array)
    dtype = checked_dtype(info, what)
    return ColumnSpec(name, dtype, (-1, *array.shape[1:]), info.null_count > 0)


def _infer_schema(data: Any) -> Schema:
    if is_pandas_object(data) and hasattr(data, "columns"):
        names = checked_column_names(list(data.columns))
        return _table_schema({name: data[name] for name in names}, frame=True)
    if is_pandas_object(data) and hasattr(data, "dtype") and hasattr(data, "name"):
        if isinstance(data.name, str):
            return _table_schema({checked_column_names([data.name])[0]: data}, frame=True)
        return Schema("tensor", (_tensor_spec(None, data.to_numpy()),))
    if type(data).__module__ == "numpy" and hasattr(data, "ndim"):
        return Schema("tensor", (_tensor_spec(None, data),))
    if isinstance(data, Mapping):
        names = checked_column_names(list(data))
        return Schema("tensor", tuple(_tensor_spec(name, data[name]) for name in names))
    if isinstance(data, list):
        return _table_schema(records_to_columns(data), frame=False)
    raise InvalidArgument(
        f"cannot infer a signature from {type(data).__name__}; pass a pandas DataFrame, a numpy "
        "array, a dict of numpy arrays or a list of dicts",
        details={"got": type(data).__name__},
    )


def infer_signature(model_input: Any, model_output: Any = None) -> Signature:
    """The signature of a model, inferred from example data.

    ``model_input`` (and ``model_output`` when given) is one of: a pandas DataFrame (a table:
    column names, dtypes, nullable when the column holds a null), a numpy array (one unnamed
    tensor: dtype and shape with the batch dimension -1), a dict of numpy arrays (named tensors)
    or a list of dicts (records: a table). ``model_output`` may also be a pandas Series.
    Raises InvalidArgument for anything else, for columns whose dtype has no place in the
    vocabulary (mixed or all-null object columns, float16, timezone-aware datetimes…),
    non-string or duplicate names, no columns, or more than ``MAX_COLUMNS`` of them.
    """
    inputs = _infer_schema(model_input)
    outputs = None if model_output is None else _infer_schema(model_output)
    return Signature(inputs=inputs, outputs=outputs)
