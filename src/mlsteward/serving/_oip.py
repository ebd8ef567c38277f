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
import zlib
from collections.abc import Awaitable, Callable
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
from ..models import ColumnSpec
from ._core import ModelRepository, Predict, ServedModel
from ._http import ANY_METHOD, read_body
from ._metrics import note_answering
from ._oip_request import (
    HEADER_LENGTH,
    NUMERIC_DTYPES,
    OIP_DATATYPE,
    InferRequest,
    model_input,
    parse_request,
    split_body,
)
from ._row_blocks import as_table

__all__ = ["oip_routes"]

_log = logging.getLogger("mlsteward.serving")

_JSON_TYPES = ("application/json", "application/octet-stream")

Endpoint = Callable[[Request], Awaitable[Response]]


class _Refused(Exception):
    """A request this module answers with a status outside the error tree (405, 415)."""

    def __init__(self, status: int, message: str, headers: dict[str, str] | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.headers = headers


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


_DATATYPE_OF = {np.dtype(dtype): datatype for datatype, dtype in NUMERIC_DTYPES.items()}
"""OIP datatype by NumPy dtype of native byte order (keyed by dtype, not by its name: reading
``dtype.name`` cost more than the rest of a one-value output's encoding)."""


def _encode_output(name: str, values: Any, binary: bool) -> tuple[dict[str, Any], bytes | None]:
    array = _as_array(values)
    shape = list(array.shape)
    kind = array.dtype.kind
    datatype = _DATATYPE_OF.get(array.dtype.newbyteorder("=")) if kind in "biuf" else None
    if datatype is not None:
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


def _infer_response(model: ServedModel, request: InferRequest, results: dict[str, Any]) -> Response:
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
    return {"name": name, "datatype": OIP_DATATYPE[spec.dtype], "shape": shape}


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
        note_answering(model)
        require_ready()
        document, binary = split_body(request, await _read_body(request, max_body_bytes))
        parsed = parse_request(document, binary)
        data = model_input(model, parsed)
        proba = getattr(model.loaded, "predict_proba", None)
        if "predict_proba" in parsed.outputs and proba is None:
            raise InvalidArgument(f"model {model.name!r} has no predict_proba output")
        results: dict[str, Any] = {}
        try:
            if "predict" in parsed.outputs:
                results["predict"] = await predict(model, data)
            if proba is not None and "predict_proba" in parsed.outputs:
                results["predict_proba"] = await anyio.to_thread.run_sync(proba, as_table(data))
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
        Route(path, _endpoint(methods, handler), methods=ANY_METHOD)
        for path, methods, handler in table
    ]
