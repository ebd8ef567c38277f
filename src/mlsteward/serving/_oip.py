"""The Open Inference Protocol (KServe V2) over REST, with the binary tensor data extension.

Routes: ``/v2/health/live``, ``/v2/health/ready``, ``/v2`` (server metadata), and per model
``/v2/models/{name}[/versions/{version}]`` (metadata), ``.../ready`` and ``.../infer``.

An inference request is a JSON object; with the binary tensor data extension the
``Inference-Header-Content-Length`` header gives the length of that JSON, and the raw tensors
follow it (little-endian, row-major; ``BOOL`` one byte; ``BYTES`` elements each prefixed by
their length as a 4-byte little-endian unsigned integer), in the order of the inputs that carry
``parameters.binary_data_size``. The model's predictions come back as the output ``predict``;
``predict_proba`` is computed only when a request names it. Outputs are JSON unless the request
asks for binary (``parameters.binary_data_output`` or an output's ``parameters.binary_data``).

Errors are ``{"error": "<message>"}``: 400 bad request, 404 unknown model or version, 405,
413 body over ``max_body_bytes``, 415 content type or encoding not understood, 500 the model
raised, 503 not ready. JSON has no NaN or infinity: non-finite floats in a JSON output are
``null`` (ask for binary outputs to get them exactly).
"""

from __future__ import annotations

import logging
import math
import re
import zlib
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import anyio
import numpy as np
import numpy.typing as npt
import orjson
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from .. import __version__
from ..errors import InvalidArgument, NotFound, PayloadTooLarge, StewardError, Unavailable
from ..models import ColumnSpec, Schema
from ._core import ModelRepository, Predict, ServedModel, columns_frame
from ._http import read_body

__all__ = ["oip_routes"]

_log = logging.getLogger("mlsteward.serving")

HEADER_LENGTH = "Inference-Header-Content-Length"
_MAX_DIMENSIONS = 32
_MAX_NAME_LENGTH = 1024
_NUMERIC: dict[str, str] = {
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
_DATATYPES = ", ".join([*_NUMERIC, "BYTES"])
# Signature dtypes as OIP datatypes; datetimes travel as ISO-8601 text.
_OIP_DATATYPE: dict[str, str] = {
    **{dtype: name for name, dtype in _NUMERIC.items() if dtype != "float16"},
    "string": "BYTES",
    "binary": "BYTES",
    **{f"datetime64[{unit}]": "BYTES" for unit in ("s", "ms", "us", "ns")},
}
_OUTPUTS = ("predict", "predict_proba")
_TIME_PART = re.compile("[T ]")  # what follows the date in an ISO-8601 timestamp
_DIGITS = re.compile("[0-9]{1,19}")
_ZONE = re.compile(r"(?:Z|[+-]\d{2}(?::?\d{2})?)$")
_JSON_TYPES = ("application/json", "application/octet-stream")
# Routes take every method so that a wrong one gets a JSON 405, not Starlette's plain text.
_ANY_METHOD = ("GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS")

Endpoint = Callable[[Request], Awaitable[Response]]


class _Refused(Exception):
    """A request this module answers with a status outside the error tree (405, 415)."""

    def __init__(self, status: int, message: str, headers: dict[str, str] | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.headers = headers


@dataclass(frozen=True)
class _Tensor:
    name: str
    datatype: str
    array: npt.NDArray[Any]  # BYTES: an object array of str (from JSON) or bytes (binary)


@dataclass(frozen=True)
class _InferRequest:
    id: str | None
    inputs: list[_Tensor]
    outputs: dict[str, bool]  # requested output name -> returned as binary


def _error(status: int, message: str, headers: dict[str, str] | None = None) -> Response:
    body = orjson.dumps({"error": message})
    return Response(body, status, headers=headers, media_type="application/json")


def _json(document: Any, status: int = 200) -> Response:
    return Response(orjson.dumps(document), status, media_type="application/json")


def _status(exc: StewardError) -> int:
    if isinstance(exc, InvalidArgument):
        return 400
    if isinstance(exc, NotFound):
        return 404
    if isinstance(exc, PayloadTooLarge):
        return 413
    if isinstance(exc, Unavailable):
        return 503
    return 500


def _endpoint(methods: tuple[str, ...], handler: Endpoint) -> Endpoint:
    """``handler`` answering every method (405 as JSON) and rendering errors as OIP does."""

    async def endpoint(request: Request) -> Response:
        try:
            if request.method not in methods:
                allow = ", ".join(methods)
                raise _Refused(405, f"use {allow} here", {"Allow": allow})
            return await handler(request)
        except _Refused as exc:
            return _error(exc.status, exc.message, exc.headers)
        except StewardError as exc:
            retry = exc.details.get("retry_after")
            headers = None
            if isinstance(retry, int | float) and not isinstance(retry, bool):
                headers = {"Retry-After": str(math.ceil(retry))}
            return _error(_status(exc), exc.message, headers)

    return endpoint


# -- request body -------------------------------------------------------------------------------


async def _read_body(request: Request, limit: int) -> bytes:
    """The body, decompressed, refused once it is larger than ``limit`` bytes."""
    media = request.headers.get("content-type", "").split(";", 1)[0].strip().lower()
    if media and media not in _JSON_TYPES and not media.endswith("+json"):
        raise _Refused(
            415,
            f"content type {media[:100]!r} is not accepted: send application/json (or "
            "application/octet-stream with the binary tensor data extension)",
        )
    body = await read_body(request, limit)
    encoding = request.headers.get("content-encoding", "").strip().lower()
    if encoding in ("", "identity"):
        return body
    wbits = {"gzip": 31, "deflate": 15}.get(encoding)
    if wbits is None:
        raise _Refused(415, f"content encoding {encoding[:50]!r} is not supported: use gzip")
    inflater = zlib.decompressobj(wbits)
    try:
        out = inflater.decompress(body, limit + 1)
    except zlib.error as exc:
        raise InvalidArgument(f"the {encoding} body cannot be decompressed: {exc}") from None
    if len(out) > limit or inflater.unconsumed_tail:
        raise PayloadTooLarge(
            f"the decompressed request body is larger than the limit of {limit} bytes: send "
            "fewer rows per request",
            details={"limit": limit},
        )
    if not inflater.eof:
        raise InvalidArgument(f"the {encoding} body is truncated")
    return out


def _size(header: str | None) -> int | None:
    """A header holding a byte count: None when absent, -1 when not a number."""
    if header is None:
        return None
    return int(header) if _DIGITS.fullmatch(header.strip()) else -1


def _split_body(request: Request, body: bytes) -> tuple[dict[str, Any], memoryview]:
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


def _parse_request(document: dict[str, Any], binary: memoryview) -> _InferRequest:
    request_id = document.get("id")
    if request_id is not None:
        _field(request_id, str, "a string", "id")
    inputs = document.get("inputs")
    if not isinstance(inputs, list) or not inputs:
        raise InvalidArgument("inputs must be a non-empty list of tensors")
    tensors: list[_Tensor] = []
    offset = 0
    for index, item in enumerate(inputs):
        _field(item, dict, "an object", "inputs[{}]", index)
        name = _field(item.get("name"), str, "a string", "inputs[{}].name", index)
        if not 0 < len(name) <= _MAX_NAME_LENGTH:
            raise InvalidArgument(
                f"inputs[{index}].name must be 1 to {_MAX_NAME_LENGTH} characters"
            )
        datatype = item.get("datatype")
        if datatype not in _NUMERIC and datatype != "BYTES":
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
        tensors.append(_Tensor(name, datatype, array))
    if offset != len(binary):
        raise InvalidArgument(
            f"{len(binary)} bytes follow the JSON but the inputs' binary_data_size add up to "
            f"{offset}"
        )
    names = [tensor.name for tensor in tensors]
    if len(set(names)) != len(names):
        raise InvalidArgument(f"input {_first_duplicate(names)!r} is given more than once")
    return _InferRequest(request_id, tensors, _requested_outputs(document))


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
    target = np.dtype(_NUMERIC[datatype])
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
    dtype = np.dtype(_NUMERIC[datatype]).newbyteorder("<")
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


def _values_for(tensor: _Tensor, dtype: str | None) -> npt.NDArray[Any]:
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


def _column(tensor: _Tensor, rows: int | None, dtype: str | None) -> npt.NDArray[Any]:
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
    return columns_frame(columns)


def _known(schema: Schema, tensors: list[_Tensor]) -> dict[str, ColumnSpec]:
    specs = {str(spec.name): spec for spec in schema.columns}
    for tensor in tensors:
        if tensor.name not in specs:
            names = ", ".join(list(specs)[:20])
            raise InvalidArgument(f"the model has no input {tensor.name!r}; its inputs: {names}")
    return specs


def _model_input(model: ServedModel, tensors: list[_Tensor]) -> Any:
    signature = model.signature
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


# -- response -----------------------------------------------------------------------------------


def _as_array(values: Any) -> npt.NDArray[Any]:
    if hasattr(values, "to_numpy"):  # pandas
        values = values.to_numpy()
    array = np.asarray(values)
    first = array.flat[0] if array.size else ""
    if array.dtype.kind == "O" and not isinstance(first, str | bytes):
        # e.g. a pandas nullable column: let numpy find the type
        inferred = np.asarray(array.tolist())
        if inferred.dtype.kind in "biuf":
            array = inferred
    return array.reshape(1) if array.ndim == 0 else array


def _encode_output(name: str, values: Any, binary: bool) -> tuple[dict[str, Any], bytes | None]:
    array = _as_array(values)
    shape = list(array.shape)
    kind = array.dtype.kind
    if kind in "biuf" and array.dtype.name in _NUMERIC.values():
        datatype = next(key for key, value in _NUMERIC.items() if value == array.dtype.name)
        flat = np.ascontiguousarray(array.ravel(), dtype=array.dtype.newbyteorder("="))
        if binary:
            data = flat.astype(flat.dtype.newbyteorder("<"), copy=False).tobytes()
            return _binary_output(name, datatype, shape, data)
        return {"name": name, "datatype": datatype, "shape": shape, "data": flat}, None
    if kind == "f":  # float128 and the like
        return _encode_output(name, array.astype(np.float64), binary)
    if kind == "M":
        elements: list[Any] = np.datetime_as_string(array.ravel()).tolist()
    else:
        elements = [v if isinstance(v, str | bytes) else str(v) for v in array.ravel().tolist()]
    if binary:
        parts = [v.encode() if isinstance(v, str) else v for v in elements]
        data = b"".join(len(part).to_bytes(4, "little") + part for part in parts)
        return _binary_output(name, "BYTES", shape, data)
    try:
        text = [v.decode() if isinstance(v, bytes) else v for v in elements]
    except UnicodeDecodeError:
        raise InvalidArgument(
            f"output {name!r} holds bytes that are not UTF-8: ask for it as binary data"
        ) from None
    return {"name": name, "datatype": "BYTES", "shape": shape, "data": text}, None


def _binary_output(
    name: str, datatype: str, shape: list[int], data: bytes
) -> tuple[dict[str, Any], bytes]:
    header = {"name": name, "datatype": datatype, "shape": shape}
    return {**header, "parameters": {"binary_data_size": len(data)}}, data


def _infer_response(
    model: ServedModel, request: _InferRequest, results: dict[str, Any]
) -> Response:
    outputs: list[dict[str, Any]] = []
    blobs: list[bytes] = []
    for name, binary in request.outputs.items():
        output, blob = _encode_output(name, results[name], binary)
        outputs.append(output)
        if blob is not None:
            blobs.append(blob)
    document: dict[str, Any] = {"model_name": model.name, "model_version": model.version}
    if request.id is not None:
        document["id"] = request.id
    document["outputs"] = outputs
    header = orjson.dumps(document, option=orjson.OPT_SERIALIZE_NUMPY)
    if not blobs:
        return Response(header, media_type="application/json")
    return Response(
        b"".join([header, *blobs]),
        headers={HEADER_LENGTH: str(len(header))},
        media_type="application/octet-stream",
    )


# -- metadata -----------------------------------------------------------------------------------


def _tensor_metadata(name: str, spec: ColumnSpec) -> dict[str, Any]:
    shape = [-1] if spec.shape is None else list(spec.shape)
    return {"name": name, "datatype": _OIP_DATATYPE[spec.dtype], "shape": shape}


def _model_metadata(model: ServedModel) -> dict[str, Any]:
    signature = model.signature
    inputs: list[dict[str, Any]] = []
    outputs: list[dict[str, Any]] = []
    if signature is not None:
        inputs = [_tensor_metadata(spec.name or "input", spec) for spec in signature.inputs.columns]
        schema = signature.outputs
        dtypes = set() if schema is None else {spec.dtype for spec in schema.columns}
        if schema is not None and len(dtypes) == 1:
            output = _tensor_metadata("predict", schema.columns[0])
            if schema.kind == "table" and len(schema.columns) > 1:
                output["shape"] = [-1, len(schema.columns)]
            outputs.append(output)
    if hasattr(model.loaded, "predict_proba"):
        outputs.append({"name": "predict_proba", "datatype": "FP64", "shape": [-1, -1]})
    return {
        "name": model.name,
        "versions": [model.version],
        "platform": model.platform,
        "inputs": inputs,
        "outputs": outputs,
    }


# -- routes -------------------------------------------------------------------------------------


def oip_routes(
    repository: ModelRepository, predict: Predict, *, max_body_bytes: int = 64 * 2**20
) -> list[BaseRoute]:
    """The Open Inference Protocol's REST routes over ``repository``.

    ``predict`` computes ``predict`` outputs; ``predict_proba`` (only when asked for) runs in a
    worker thread. Request bodies over ``max_body_bytes`` (after decompression) get 413.
    """

    def model_of(request: Request) -> ServedModel:
        params = request.path_params
        return repository.get(params["name"], params.get("version"))

    def require_ready() -> None:
        if not repository.ready:
            raise Unavailable("the server is not ready: its models are still loading")

    async def live(request: Request) -> Response:
        return _json({"live": True})

    async def ready(request: Request) -> Response:
        require_ready()
        return _json({"ready": True})

    async def server_metadata(request: Request) -> Response:
        return _json(
            {"name": "mlsteward", "version": __version__, "extensions": ["binary_tensor_data"]}
        )

    async def model_metadata(request: Request) -> Response:
        return _json(_model_metadata(model_of(request)))

    async def model_ready(request: Request) -> Response:
        model = model_of(request)
        require_ready()
        return _json({"name": model.name, "ready": True})

    async def infer(request: Request) -> Response:
        model = model_of(request)
        require_ready()
        document, binary = _split_body(request, await _read_body(request, max_body_bytes))
        parsed = _parse_request(document, binary)
        data = _model_input(model, parsed.inputs)
        proba = getattr(model.loaded, "predict_proba", None)
        if "predict_proba" in parsed.outputs and proba is None:
            raise InvalidArgument(f"model {model.name!r} has no predict_proba output")
        results: dict[str, Any] = {}
        try:
            if "predict" in parsed.outputs:
                results["predict"] = await predict(model, data)
            if proba is not None and "predict_proba" in parsed.outputs:
                results["predict_proba"] = await anyio.to_thread.run_sync(proba, data)
        except StewardError:
            raise
        except Exception as exc:
            _log.exception("model %s version %s raised", model.name, model.version)
            # The exception's text can hold paths and internals: it goes to the log only.
            return _error(500, f"the model failed on this input ({type(exc).__name__})")
        return _infer_response(model, parsed, results)

    get = ("GET", "HEAD")
    table: list[tuple[str, tuple[str, ...], Endpoint]] = [
        ("/v2/health/live", get, live),
        ("/v2/health/ready", get, ready),
        ("/v2", get, server_metadata),
        ("/v2/models/{name}", get, model_metadata),
        ("/v2/models/{name}/versions/{version}", get, model_metadata),
        ("/v2/models/{name}/ready", get, model_ready),
        ("/v2/models/{name}/versions/{version}/ready", get, model_ready),
        ("/v2/models/{name}/infer", ("POST",), infer),
        ("/v2/models/{name}/versions/{version}/infer", ("POST",), infer),
    ]
    return [
        Route(path, _endpoint(methods, handler), methods=_ANY_METHOD)
        for path, methods, handler in table
    ]
