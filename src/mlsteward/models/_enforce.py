"""Signature enforcement: check prediction input against a signature and make it model-ready."""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, Literal

from mlsteward.errors import InvalidArgument, SignatureViolation
from mlsteward.models._dtypes import (
    ColumnInfo,
    all_null,
    cast_column,
    inspect_column,
    is_pandas_object,
    native_values,
    pandas_installed,
    rebuild,
)
from mlsteward.models._signature import ColumnSpec, Schema, Signature, records_to_columns

if TYPE_CHECKING:
    import numpy.typing as npt

__all__ = ["enforce_signature"]

ExtraColumns = Literal["drop", "error"]


def _label(spec: ColumnSpec) -> str:
    if spec.name is None:
        return "the input tensor"
    return f"tensor {spec.name!r}" if spec.shape is not None else f"column {spec.name!r}"


def _expected(spec: ColumnSpec) -> str:
    return spec.dtype if spec.nullable else f"{spec.dtype} (not nullable)"


def _violation(spec: ColumnSpec, message: str, expected: Any, got: Any) -> SignatureViolation:
    return SignatureViolation(
        message[:1000], details={"column": spec.name, "expected": expected, "got": got}
    )


def _family(dtype: str) -> str:
    """Dtypes of one family may be cast into each other when no value is lost."""
    if dtype.startswith(("int", "uint", "float")):
        return "number"
    return "datetime" if dtype.startswith("datetime64") else dtype


def _enforce_values(spec: ColumnSpec, values: Any, pandas: bool) -> tuple[Any, bool]:
    """The column checked against ``spec``: (model-ready values, whether they differ from the
    values given)."""
    info: ColumnInfo = inspect_column(values)
    size = int(getattr(values, "size", len(values)))
    only_nulls = info.dtype is None and size > 0 and info.null_count == size
    if only_nulls:  # an object column of None says nothing about its type: only nulls count
        info = ColumnInfo(spec.dtype, info.described, info.null_count, needs_rebuild=True)
    if info.dtype is None or _family(info.dtype) != _family(spec.dtype):
        raise _violation(
            spec,
            f"{_label(spec)} expected {spec.dtype}, got {info.described}",
            spec.dtype,
            info.described,
        )
    if info.null_count and not spec.nullable:
        raise _violation(
            spec,
            f"{_label(spec)} is not nullable but has {info.null_count} null value"
            f"{'s' if info.null_count != 1 else ''}",
            "no nulls",
            f"{info.null_count} nulls",
        )
    if info.dtype == spec.dtype and not info.needs_rebuild:
        return values, False
    shape = tuple(getattr(values, "shape", (size,)))
    data, mask = all_null(shape, spec.dtype) if only_nulls else native_values(values, info)
    cast = cast_column(data, mask, info.dtype, spec.dtype)
    if cast is None:
        raise _violation(
            spec,
            f"{_label(spec)} expected {spec.dtype}, got {info.described}: the cast could lose "
            "information (float to int, float64 to float32, or values out of range), so it is "
            "refused; convert the data explicitly",
            spec.dtype,
            info.described,
        )
    return rebuild(cast, mask, spec.dtype, pandas), True


def _check_shape(spec: ColumnSpec, array: Any) -> None:
    assert spec.shape is not None
    got = tuple(int(dim) for dim in array.shape)
    fits = len(got) == len(spec.shape) and all(
        want in (-1, have) for want, have in zip(spec.shape, got, strict=True)
    )
    if not fits:
        raise _violation(
            spec,
            f"{_label(spec)} expected shape {spec.shape}, got {got} (-1 means any size)",
            list(spec.shape),
            list(got),
        )


def _missing(spec: ColumnSpec, present: list[Any]) -> SignatureViolation:
    shown = ", ".join(repr(name) for name in present[:20])
    more = f" and {len(present) - 20} more" if len(present) > 20 else ""
    return _violation(
        spec,
        f"input is missing {_label(spec)} (expected {_expected(spec)}); "
        f"it has: {shown or 'nothing'}{more}",
        spec.dtype,
        None,
    )


def _extras(schema: Schema, present: list[Any], extra_columns: ExtraColumns) -> None:
    if extra_columns not in ("drop", "error"):
        raise InvalidArgument(f"extra_columns must be 'drop' or 'error'; got {extra_columns!r}")
    if extra_columns == "drop":
        return
    wanted = set(schema.names)
    unexpected = [name for name in present if name not in wanted]
    if unexpected:
        raise SignatureViolation(
            f"input has {len(unexpected)} column(s) the signature does not name: "
            f"{', '.join(repr(name) for name in unexpected[:20])}"[:1000],
            details={"column": str(unexpected[0]), "expected": None, "got": "unexpected column"},
        )


def _enforce_frame(schema: Schema, frame: Any, extra_columns: ExtraColumns) -> Any:
    present = list(frame.columns)
    if len(set(present)) != len(present):
        duplicate = next(name for name in present if present.count(name) > 1)
        raise SignatureViolation(
            f"input has column {duplicate!r} more than once",
            details={"column": str(duplicate), "expected": "unique names", "got": "duplicate"},
        )
    _extras(schema, present, extra_columns)
    for spec in schema.columns:
        if spec.name not in frame.columns:
            raise _missing(spec, present)
    out = frame[list(schema.names)]
    for spec in schema.columns:
        values, changed = _enforce_values(spec, frame[spec.name], pandas=True)
        if changed:
            out[spec.name] = values
    return out


def _enforce_columns(
    schema: Schema, columns: Mapping[Any, Any], extra_columns: ExtraColumns, pandas: bool
) -> dict[str, npt.NDArray[Any]]:
    import numpy as np

    present = list(columns)
    _extras(schema, present, extra_columns)
    out: dict[str, npt.NDArray[Any]] = {}
    length: int | None = None
    for spec in schema.columns:
        if spec.name not in columns:
            raise _missing(spec, present)
        raw = columns[spec.name]
        if is_pandas_object(raw) and hasattr(raw, "to_numpy"):
            raw = raw.to_numpy()
        # Lists become object arrays so that their values, not numpy's coercion, decide.
        array = raw if type(raw).__module__ == "numpy" else np.asarray(raw, dtype=object)
        if getattr(array, "ndim", 0) != 1:
            raise _violation(
                spec,
                f"{_label(spec)} must be a one-dimensional array; got shape "
                f"{getattr(array, 'shape', None)}",
                "1-D array",
                str(getattr(array, "shape", type(raw).__name__)),
            )
        if length is not None and len(array) != length:
            raise _violation(
                spec,
                f"{_label(spec)} has {len(array)} values but earlier columns have {length}",
                length,
                len(array),
            )
        length = len(array)
        out[str(spec.name)] = _enforce_values(spec, array, pandas)[0]
    return out


def _enforce_table(schema: Schema, data: Any, extra_columns: ExtraColumns) -> Any:
    if is_pandas_object(data) and hasattr(data, "columns"):
        return _enforce_frame(schema, data, extra_columns)
    if isinstance(data, list):
        columns = records_to_columns(data)
        if pandas_installed():
            import pandas as pd

            return _enforce_frame(schema, pd.DataFrame(columns), extra_columns)
        return _enforce_columns(schema, columns, extra_columns, pandas=False)
    if isinstance(data, Mapping):
        return _enforce_columns(schema, data, extra_columns, pandas=False)
    raise SignatureViolation(
        f"the signature expects a table with columns {', '.join(map(repr, schema.names[:20]))}; "
        f"got {type(data).__name__}: pass a pandas DataFrame, a dict of 1-D arrays or a list of "
        "dicts",
        details={"column": None, "expected": "table", "got": type(data).__name__},
    )


def _enforce_tensor(spec: ColumnSpec, array: Any) -> Any:
    if type(array).__module__ != "numpy" or not hasattr(array, "shape"):
        raise _violation(
            spec,
            f"{_label(spec)} must be a numpy array; got {type(array).__name__}",
            "numpy array",
            type(array).__name__,
        )
    _check_shape(spec, array)
    return _enforce_values(spec, array, pandas=False)[0]


def _enforce_tensors(schema: Schema, data: Any, extra_columns: ExtraColumns) -> Any:
    if schema.columns[0].name is None:
        return _enforce_tensor(schema.columns[0], data)
    if not isinstance(data, Mapping):
        raise SignatureViolation(
            f"the signature expects named tensors {', '.join(map(repr, schema.names[:20]))}; "
            f"got {type(data).__name__}: pass a dict of numpy arrays",
            details={"column": None, "expected": "dict of arrays", "got": type(data).__name__},
        )
    present = list(data)
    _extras(schema, present, extra_columns)
    out: dict[str, Any] = {}
    for spec in schema.columns:
        if spec.name not in data:
            raise _missing(spec, present)
        out[str(spec.name)] = _enforce_tensor(spec, data[spec.name])
    return out


def enforce_signature(
    signature: Signature, data: Any, *, extra_columns: ExtraColumns = "drop"
) -> Any:
    """Check ``data`` against ``signature.inputs`` and return it ready for the model.

    Tables accept a pandas DataFrame (returns a DataFrame), a dict of 1-D arrays (returns a dict
    of numpy arrays) or a list of dicts (returns a DataFrame when pandas is installed, else a
    dict of numpy arrays). An unnamed tensor accepts a numpy array; named tensors a dict of them.
    Columns come back in the signature's order. Extra columns are dropped, or refused with
    ``extra_columns="error"``. Safe casts are applied (see ``_dtypes.cast_column``); int and bool
    columns with nulls come back as pandas ``Int64``/``boolean`` (or object arrays without
    pandas).

    Raises SignatureViolation (``details``: ``column``, ``expected``, ``got``) for a missing
    column, a dtype that cannot be converted without loss, nulls in a non-nullable column, a
    tensor shape that does not fit, or data of the wrong kind.
    """
    schema = signature.inputs
    if schema.kind == "table":
        return _enforce_table(schema, data, extra_columns)
    return _enforce_tensors(schema, data, extra_columns)
