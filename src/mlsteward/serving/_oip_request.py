"""Decoding an Open Inference Protocol infer request into model input.

The JSON document (and, with the binary tensor data extension, the raw tensors after it) is
read into typed tensors, checked against their shapes and datatypes, then turned into what the
model's signature takes: a DataFrame (table), one array (one unnamed tensor) or a dict of arrays.
Every problem is an ``InvalidArgument`` (400) naming the input.
"""

from __future__ import annotations

import itertools
import math
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt
import orjson
from starlette.requests import Request

from ..errors import InvalidArgument
from ..models import ColumnSpec, Schema
from ._core import ServedModel
from ._row_blocks import RowBlock, table_input

HEADER_LENGTH = "Inference-Header-Content-Length"
_MAX_DIMENSIONS = 32
_MAX_NAME_LENGTH = 1024
NUMERIC_DTYPES: dict[str, str] = {
    "BOOL": "bool",
    "UINT8": "uint8",
    "UINT16": "uint16",
    "UINT32": "uint32",
    "UINT64": "uint64",
    "INT8": "int8",
    "INT16": "int16",
    "INT32": "int32",
    "INT64": "int64",
    "FP16": "float16",
    "FP32": "float32",
    "FP64": "float64",
}
_DATATYPES = ", ".join([*NUMERIC_DTYPES, "BYTES"])
# Signature dtypes as OIP datatypes; datetimes travel as ISO-8601 text.
OIP_DATATYPE: dict[str, str] = {
    **{dtype: name for name, dtype in NUMERIC_DTYPES.items() if dtype != "float16"},
    "string": "BYTES",
    "binary": "BYTES",
    **{f"datetime64[{unit}]": "BYTES" for unit in ("s", "ms", "us", "ns")},
}
_OUTPUTS = ("predict", "predict_proba")
_TIME_PART = re.compile("[T ]")  # what follows the date in an ISO-8601 timestamp
_DIGITS = re.compile("[0-9]{1,19}")
_ZONE = re.compile(r"(?:Z|[+-]\d{2}(?::?\d{2})?)$")


@dataclass(frozen=True)
class Tensor:
    name: str
    datatype: str
    array: npt.NDArray[Any]  # BYTES: an object array of str (from JSON) or bytes (binary)


@dataclass(frozen=True)
class InferRequest:
    """A decoded infer request. Its inputs are ``tensors``, or, when every input was a plain
    JSON column of one numeric datatype and one length (the commonest request: features),
    ``block``: the columns side by side, read with one NumPy call."""

    id: str | None
    outputs: dict[str, bool]  # requested output name -> returned as binary
    tensors: list[Tensor] | None = None
    block: RowBlock | None = None
    block_datatype: str = ""

    @property
    def inputs(self) -> list[Tensor]:
        """The inputs as tensors, in request order."""
        if self.tensors is not None:
            return self.tensors
        assert self.block is not None
        values = self.block.values
        return [
            Tensor(name, self.block_datatype, values[:, index])
            for index, name in enumerate(self.block.names)
        ]


def _size(header: str | None) -> int | None:
    """A header holding a byte count: None when absent, -1 when not a number."""
    if header is None:
        return None
    return int(header) if _DIGITS.fullmatch(header.strip()) else -1


def split_body(request: Request, body: bytes) -> tuple[dict[str, Any], memoryview]:
    """The JSON header of the request as a dict, and the binary tensor data after it."""
    declared = request.headers.get(HEADER_LENGTH)
    length = len(body)
    if declared is not None:
        length = _size(declared) or 0
        if not 0 < length <= len(body):
            raise InvalidArgument(
                f"the {HEADER_LENGTH} header must be the length of the JSON at the start of the "
                f"body, between 1 and {len(body)}; got {declared[:40]!r}"
            )
    view = memoryview(body)
    try:
        document = orjson.loads(view[:length])
    except orjson.JSONDecodeError as exc:
        raise InvalidArgument(f"the inference request is not valid JSON: {exc}"[:300]) from None
    if not isinstance(document, dict):
        raise InvalidArgument("the inference request must be a JSON object")
    return document, view[length:]


def _field(value: Any, kind: type, expected: str, what: str, *args: Any) -> Any:
    """``value`` when it is a ``kind`` (a bool only when ``kind`` is bool); else
    InvalidArgument naming it (``what.format(*args)``: built only then, off the hot path)."""
    if not isinstance(value, kind) or isinstance(value, bool) is not (kind is bool):
        named = what.format(*args)
        raise InvalidArgument(f"{named} must be {expected}; got {type(value).__name__}")
    return value


def _parameters(body: dict[str, Any], what: str, *args: Any) -> dict[str, Any]:
    value = body.get("parameters")
    return {} if value is None else _field(value, dict, "an object", what + ".parameters", *args)


def _shape(value: Any, name: str) -> tuple[int, ...]:
    if not isinstance(value, list) or len(value) > _MAX_DIMENSIONS:
        problem = f".shape must be a list of at most {_MAX_DIMENSIONS} sizes"
    elif not all(type(dim) is int and 0 <= dim < 2**63 for dim in value):
        problem = f".shape must hold non-negative integers; got {value}"[:200]
    elif math.prod(value) == 0:
        problem = f" has shape {value}, which holds no values"
    else:
        return tuple(value)
    raise InvalidArgument(f"input {name!r}{problem}")


def parse_request(document: dict[str, Any], binary: memoryview) -> InferRequest:
    request_id = document.get("id")
    if request_id is not None:
        _field(request_id, str, "a string", "id")
    inputs = document.get("inputs")
    if not isinstance(inputs, list) or not inputs:
        raise InvalidArgument("inputs must be a non-empty list of tensors")
    if not binary:
        plain = _plain_block(inputs)
        if plain is not None:
            outputs = _requested_outputs(document)
            return InferRequest(
                request_id, outputs, block=plain, block_datatype=inputs[0]["datatype"]
            )
    tensors: list[Tensor] = []
    offset = 0
    for index, item in enumerate(inputs):
        if type(item) is dict:  # the commonest input first, with its checks inline
            name, datatype = item.get("name"), item.get("datatype")
            if type(name) is str and 0 < len(name) <= _MAX_NAME_LENGTH:
                array = _plain_json_column(item, datatype)
                if array is not None:
                    tensors.append(Tensor(name, str(datatype), array))
                    continue
        _field(item, dict, "an object", "inputs[{}]", index)
        name = _field(item.get("name"), str, "a string", "inputs[{}].name", index)
        if not 0 < len(name) <= _MAX_NAME_LENGTH:
            raise InvalidArgument(
                f"inputs[{index}].name must be 1 to {_MAX_NAME_LENGTH} characters"
            )
        datatype = item.get("datatype")
        if datatype not in NUMERIC_DTYPES and datatype != "BYTES":
            raise InvalidArgument(
                f"input {name!r} has datatype {str(datatype)[:40]!r}; use one of {_DATATYPES}"
            )
        shape = _shape(item.get("shape"), name)
        parameters = _parameters(item, "input {!r}", name)
        if parameters and any(key.startswith("shared_memory") for key in parameters):
            raise InvalidArgument("shared memory is not supported: send the data in the request")
        size = parameters.get("binary_data_size")
        if size is None:
            if "data" not in item:
                raise InvalidArgument(f"input {name!r} has neither data nor binary_data_size")
            array = _from_json(item["data"], datatype, shape, name)
        else:
            _field(size, int, "an integer", "input {!r} binary_data_size", name)
            if "data" in item:
                raise InvalidArgument(f"input {name!r} has both data and binary_data_size")
            if size < 0 or offset + size > len(binary):
                raise InvalidArgument(
                    f"input {name!r} says it has {size} bytes of binary data but only "
                    f"{len(binary) - offset} bytes follow the JSON at that point"
                )
            array = _from_binary(binary[offset : offset + size], datatype, shape, name)
            offset += size
        tensors.append(Tensor(name, datatype, array))
    if offset != len(binary):
        raise InvalidArgument(
            f"{len(binary)} bytes follow the JSON but the inputs' binary_data_size add up to "
            f"{offset}"
        )
    names = [tensor.name for tensor in tensors]
    if len(set(names)) != len(names):
        raise InvalidArgument(f"input {_first_duplicate(names)!r} is given more than once")
    return InferRequest(request_id, _requested_outputs(document), tensors)


def _plain_block(inputs: list[Any]) -> RowBlock | None:
    """The inputs as one block when each is a plain JSON column (``data`` a flat list of
    ``shape[0]`` values, no parameters), all of datatype FP64 with float values or all INT64
    with int values, all of one length, with distinct valid names. None for anything else: the
    general reading then checks each input, with its precise errors."""
    first = inputs[0]
    datatype = first.get("datatype") if type(first) is dict else None
    kind = _PLAIN_KINDS.get(datatype)  # type: ignore[arg-type]
    if kind is None:
        return None
    names: list[str] = []
    columns: list[list[Any]] = []
    rows = -1
    for item in inputs:
        if type(item) is not dict or item.get("datatype") != datatype or "parameters" in item:
            return None
        name, data, shape = item.get("name"), item.get("data"), item.get("shape")
        if (
            type(name) is not str
            or not 0 < len(name) <= _MAX_NAME_LENGTH
            or type(data) is not list
            or type(shape) is not list
            or len(shape) != 1
            or type(shape[0]) is not int
            or shape[0] != len(data)
            or not data
            or (rows >= 0 and len(data) != rows)
        ):
            return None
        rows = len(data)
        names.append(name)
        columns.append(data)
    if len(set(names)) != len(names) or {*map(type, itertools.chain.from_iterable(columns))} != {
        kind
    }:
        return None
    dtype = _PLAIN_DTYPES[datatype]  # type: ignore[index]
    try:
        flat = np.fromiter(itertools.chain.from_iterable(columns), dtype, rows * len(columns))
    except OverflowError:  # an int beyond int64: the general reading says so
        return None
    return RowBlock(tuple(names), flat.reshape(len(columns), rows).T)


_PLAIN_KINDS: dict[str, type] = {"FP64": float, "INT64": int}


def _plain_json_column(item: dict[str, Any], datatype: Any) -> npt.NDArray[Any] | None:
    """The values of the commonest input, read at once: FP64 or INT64 JSON data, a flat list
    of floats (FP64) or ints (INT64) whose shape is ``[its length]``, without parameters.
    None for anything else (the general reading then checks it, with its precise errors)."""
    data = item.get("data")
    shape = item.get("shape")
    if (
        type(data) is not list
        or type(shape) is not list
        or len(shape) != 1
        or type(shape[0]) is not int
        or shape[0] != len(data)
        or not data
        or "parameters" in item
    ):
        return None
    if datatype == "FP64":
        kind: type = float
    elif datatype == "INT64":
        kind = int
    else:
        return None
    if not all(type(value) is kind for value in data):
        return None
    try:
        return np.array(data, dtype=_PLAIN_DTYPES[datatype])
    except OverflowError:  # an int beyond int64: the general reading says so
        return None


_PLAIN_DTYPES = {"FP64": np.dtype(np.float64), "INT64": np.dtype(np.int64)}


def _first_duplicate(names: list[str]) -> str:
    return next(name for name in names if names.count(name) > 1)


def _requested_outputs(document: dict[str, Any]) -> dict[str, bool]:
    default = _parameters(document, "request").get("binary_data_output", False)
    _field(default, bool, "true or false", "parameters.binary_data_output")
    outputs = document.get("outputs")
    if outputs is None:
        return {"predict": default}
    _field(outputs, list, "a list", "outputs")
    requested: dict[str, bool] = {}
    for index, item in enumerate(outputs):
        _field(item, dict, "an object", "outputs[{}]", index)
        name = _field(item.get("name"), str, "a string", "outputs[{}].name", index)
        if name not in _OUTPUTS:
            raise InvalidArgument(
                f"there is no output {name[:100]!r}: ask for predict or predict_proba"
            )
        if name in requested:
            raise InvalidArgument(f"output {name!r} is asked for more than once")
        parameters = _parameters(item, "output {!r}", name)
        if parameters.get("classification") or parameters.get("class_count"):
            raise InvalidArgument("the classification extension is not supported")
        binary = parameters.get("binary_data", default)
        requested[name] = _field(binary, bool, "true or false", "output {!r} binary_data", name)
    return requested or {"predict": default}


def _flat(data: Any, shape: tuple[int, ...], name: str) -> list[Any]:
    """``data`` as a flat list: given flat, or nested exactly as ``shape`` says."""
    if not isinstance(data, list):
        raise InvalidArgument(f"input {name!r} data must be a list")
    if not data or not isinstance(data[0], list):
        return data
    out: list[Any] = []

    def walk(node: Any, depth: int) -> None:
        if depth == len(shape):
            if isinstance(node, list):
                raise InvalidArgument(
                    f"input {name!r} data is nested deeper than shape {list(shape)}"
                )
            out.append(node)
            return
        if not isinstance(node, list) or len(node) != shape[depth]:
            raise InvalidArgument(f"input {name!r} data is not nested as shape {list(shape)}")
        for child in node:
            walk(child, depth + 1)

    walk(data, 0)
    return out


def _from_json(data: Any, datatype: str, shape: tuple[int, ...], name: str) -> npt.NDArray[Any]:
    values = _flat(data, shape, name)
    count = math.prod(shape)
    if len(values) != count:
        raise InvalidArgument(
            f"input {name!r} has {len(values)} values but shape {list(shape)} needs {count}"
        )
    if datatype == "BYTES":
        if not all(isinstance(value, str) for value in values):
            raise InvalidArgument(f"input {name!r} is BYTES: its JSON data must be strings")
        array = np.empty(count, dtype=object)
        array[:] = values
        return array.reshape(shape)
    try:
        raw = np.array(values)
    except (ValueError, TypeError, OverflowError):
        raw = np.empty(0, dtype=object)
    target = np.dtype(NUMERIC_DTYPES[datatype])
    if target.kind in "iu" and raw.dtype.kind not in "iu" and all(type(v) is int for v in values):
        # ints past int64 made numpy pick float64 or object: only the target type decides
        try:
            raw = np.array(values, dtype=target)
        except OverflowError:
            raise InvalidArgument(
                f"input {name!r} has a value outside {datatype}'s range"
            ) from None
    kinds = {"BOOL": "b", "FP16": "iuf", "FP32": "iuf", "FP64": "iuf"}.get(datatype, "iu")
    if raw.ndim != 1 or raw.dtype.kind not in kinds:
        expected = {"b": "true or false", "iu": "integers"}.get(kinds, "numbers")
        raise InvalidArgument(f"input {name!r} is {datatype}: its values must be {expected}")
    if target.kind in "iu":
        info = np.iinfo(target)
        if int(raw.min()) < info.min or int(raw.max()) > info.max:
            raise InvalidArgument(
                f"input {name!r} has a value outside {datatype}'s range {info.min}..{info.max}"
            )
    elif target.itemsize < 8 and raw.dtype.kind == "f":  # FP16, FP32: JSON numbers are FP64
        biggest = float(np.abs(raw[np.isfinite(raw)]).max(initial=0))
        if biggest > float(np.finfo(target).max):
            raise InvalidArgument(f"input {name!r} has a value too large for {datatype}")
    return raw.astype(target, copy=False).reshape(shape)


def _from_binary(
    chunk: memoryview, datatype: str, shape: tuple[int, ...], name: str
) -> npt.NDArray[Any]:
    count = math.prod(shape)
    if datatype == "BYTES":
        elements: list[bytes] = []
        position = 0
        while position < len(chunk) and len(elements) < count:
            end = position + 4 + int.from_bytes(chunk[position : position + 4], "little")
            if position + 4 > len(chunk) or end > len(chunk):
                raise InvalidArgument(f"input {name!r}: a BYTES element runs past its data")
            elements.append(bytes(chunk[position + 4 : end]))
            position = end
        if len(elements) != count or position != len(chunk):
            raise InvalidArgument(
                f"input {name!r}: its binary data does not hold exactly the {count} BYTES "
                f"elements shape {list(shape)} needs"
            )
        array = np.empty(count, dtype=object)
        array[:] = elements
        return array.reshape(shape)
    dtype = np.dtype(NUMERIC_DTYPES[datatype]).newbyteorder("<")
    if len(chunk) != count * dtype.itemsize:
        raise InvalidArgument(
            f"input {name!r} has {len(chunk)} bytes of binary data but shape {list(shape)} of "
            f"{datatype} needs {count * dtype.itemsize}"
        )
    if datatype == "BOOL" and np.frombuffer(chunk, dtype=np.uint8).max() > 1:
        raise InvalidArgument(f"input {name!r} is BOOL: each byte must be 0 or 1")
    return (
        np.frombuffer(chunk, dtype=dtype).astype(dtype.newbyteorder("="), copy=False).reshape(shape)
    )


# -- model input --------------------------------------------------------------------------------


def _values_for(tensor: Tensor, dtype: str | None) -> npt.NDArray[Any]:
    """The tensor's values as a column of signature ``dtype`` takes them (None: no signature)."""
    array = tensor.array
    if tensor.datatype == "FP16":  # no float16 in signatures: widen, losing nothing
        return array.astype(np.float32)
    if tensor.datatype != "BYTES" or dtype is None:
        return array
    try:
        if dtype == "string":
            return _map_objects(array, lambda v: v.decode() if isinstance(v, bytes) else v)
        if dtype == "binary":
            return _map_objects(array, lambda v: v.encode() if isinstance(v, str) else v)
        if dtype.startswith("datetime64"):
            text = _map_objects(array, lambda v: v.decode() if isinstance(v, bytes) else v)
            zoned = next((v for v in text.ravel() if _has_zone(v)), None)
            if zoned is not None:
                raise ValueError(f"{zoned[:40]!r} has a time zone; send naive (UTC) times")
            return text.astype(str).astype(np.dtype(dtype))
    except UnicodeDecodeError:
        raise InvalidArgument(f"input {tensor.name!r} holds bytes that are not UTF-8") from None
    except ValueError as exc:
        raise InvalidArgument(
            f"input {tensor.name!r} must hold ISO-8601 dates and times ({dtype}): {exc}"[:300]
        ) from None
    return array


def _has_zone(text: str) -> bool:
    parts = _TIME_PART.split(text, maxsplit=1)
    return len(parts) == 2 and _ZONE.search(parts[1]) is not None


def _map_objects(array: npt.NDArray[Any], convert: Callable[[Any], Any]) -> npt.NDArray[Any]:
    out = np.empty(array.size, dtype=object)
    out[:] = [convert(value) for value in array.ravel()]
    return out.reshape(array.shape)


def _column(tensor: Tensor, rows: int | None, dtype: str | None) -> npt.NDArray[Any]:
    shape = tensor.array.shape
    if len(shape) not in (1, 2) or (len(shape) == 2 and shape[1] != 1):
        raise InvalidArgument(
            f"input {tensor.name!r} is a table column: give it shape [N] or [N, 1], not "
            f"{list(shape)}"
        )
    if rows is not None and shape[0] != rows:
        raise InvalidArgument(
            f"input {tensor.name!r} has {shape[0]} rows but the inputs before it have {rows}"
        )
    return _values_for(tensor, dtype).reshape(shape[0])


def _frame(columns: dict[str, npt.NDArray[Any]]) -> Any:
    try:
        import pandas  # noqa: F401
    except ImportError:  # signature enforcement takes a dict of columns too
        return columns
    return table_input(columns)


def _known(schema: Schema, tensors: list[Tensor]) -> dict[str, ColumnSpec]:
    specs = {str(spec.name): spec for spec in schema.columns}
    _known_names(schema, tuple(tensor.name for tensor in tensors))
    return specs


def _known_names(schema: Schema, names: tuple[str, ...]) -> None:
    """InvalidArgument naming the first of ``names`` the table ``schema`` has no column for."""
    known = {str(spec.name) for spec in schema.columns}
    if known.issuperset(names):
        return
    unknown = next(name for name in names if name not in known)
    listed = ", ".join(str(spec.name) for spec in schema.columns[:20])
    raise InvalidArgument(f"the model has no input {unknown!r}; its inputs: {listed}")


def model_input(model: ServedModel, request: InferRequest) -> Any:
    """What the model's signature takes from the request's inputs: a table (a ``RowBlock`` or
    a DataFrame), one array, or a dict of arrays."""
    signature = model.signature
    block = request.block
    if block is not None and (signature is None or signature.inputs.kind == "table"):
        if signature is not None:
            _known_names(signature.inputs, block.names)
        return block  # the batcher checks its columns against the signature, per batch
    tensors = request.inputs
    if signature is None:
        if len(tensors) == 1:
            return tensors[0].array
        rows = tensors[0].array.shape[0]
        return _frame({t.name: _column(t, rows, None) for t in tensors})
    schema = signature.inputs
    if schema.kind == "table":
        specs = _known(schema, tensors)
        first = tensors[0].array.shape[0]
        return _frame({t.name: _column(t, first, specs[t.name].dtype) for t in tensors})
    if schema.columns[0].name is None:
        if len(tensors) != 1:
            raise InvalidArgument(f"the model takes one tensor; got {len(tensors)} inputs")
        return _values_for(tensors[0], schema.columns[0].dtype)
    specs = _known(schema, tensors)
    return {t.name: _values_for(t, specs[t.name].dtype) for t in tensors}
