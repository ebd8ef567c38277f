"""MLflow-compatible scoring: what ``mlflow models serve`` answers, so MLflow callers switch by
changing a URL.

``POST /invocations`` scores the single served model. It takes ``application/json`` with exactly
one of ``dataframe_split`` (``columns``, ``data``, optional ``index``), ``dataframe_records``
(a list of row objects), ``instances`` (a list of rows or of row objects) or ``inputs`` (a list
of rows, a tensor, or an object of columns or named tensors), plus optional ``params``; or
``text/csv`` with a header row. It answers ``{"predictions": ...}``: a list for array output,
a list of row objects for a DataFrame, an object for named outputs. ``GET /ping`` and
``GET /health`` answer 200 once the models are ready (503 before); ``GET /version`` gives
mlsteward's version as text.

Errors have MLflow's shape, ``{"error_code": "BAD_REQUEST", "message": "..."}``: 400 for bad
input, 413 for a body over the cap, 415 for a content type other than JSON or CSV (or a charset
other than UTF-8), 404 when no single model is served, 500 (``INTERNAL_ERROR``, no traceback)
when the model raises. Unlike MLflow, unknown top-level keys are refused rather than ignored.

The body reading, JSON decoding and output conversion here are shared with the ``/v1`` API.
"""

from __future__ import annotations

import base64
import io
import json
import logging
import math
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any

import anyio.to_thread
import orjson
from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response
from starlette.routing import BaseRoute, Route

from .. import __version__
from ..errors import (
    InvalidArgument,
    NotFound,
    PayloadTooLarge,
    PermissionDenied,
    RateLimited,
    SignatureViolation,
    StewardError,
    Unauthenticated,
    Unavailable,
)
from ..models._signature import Schema, Signature, checked_column_names, records_to_columns
from ._core import ModelRepository, Predict
from ._http import ANY_METHOD as ANY_METHOD
from ._http import read_body as read_body
from ._metrics import note_answering
from ._row_blocks import block_from_rows, table_input

if TYPE_CHECKING:
    import numpy.typing as npt

__all__ = [
    "ANY_METHOD",
    "DEFAULT_MAX_BODY_BYTES",
    "JSON_FORMATS",
    "decode_json",
    "in_thread_if_large",
    "json_response",
    "jsonable",
    "media_type",
    "mlflow_routes",
    "parse_request",
    "read_body",
    "records_input",
    "status_for",
]

log = logging.getLogger("mlsteward.serving")

DEFAULT_MAX_BODY_BYTES = 64 * 2**20
JSON_FORMATS = ("dataframe_split", "dataframe_records", "instances", "inputs")
CSV = "text/csv"
JSON = "application/json"
# Bodies above this are parsed in a worker thread, so one large request does not stall the loop.
_THREAD_PARSE_BYTES = 256 * 1024
_SPLIT_KEYS = frozenset({"columns", "data", "index"})

# The platform server's one code -> status table (``server._errors``) imports the whole platform
# app (0.7 s); the inference server runs without it, so it maps the few error families a serving
# request can meet here, most specific first. The statuses agree with that table.
_STATUS_BY_ERROR: tuple[tuple[type[StewardError], int], ...] = (
    (InvalidArgument, 400),  # SignatureViolation included
    (Unauthenticated, 401),
    (PermissionDenied, 403),
    (NotFound, 404),
    (PayloadTooLarge, 413),
    (RateLimited, 429),
    (Unavailable, 503),
)


def status_for(error: StewardError) -> int:
    """The HTTP status for an error raised while serving a request (500 for any other)."""
    for family, status in _STATUS_BY_ERROR:
        if isinstance(error, family):
            return status
    return 500


_MLFLOW_CODE_BY_STATUS = {
    401: "UNAUTHENTICATED",
    403: "PERMISSION_DENIED",
    404: "RESOURCE_DOES_NOT_EXIST",
    429: "REQUEST_LIMIT_EXCEEDED",
    500: "INTERNAL_ERROR",
    503: "TEMPORARILY_UNAVAILABLE",
}


def _orjson_default(value: Any) -> Any:
    if isinstance(value, bytes):  # MLflow writes binary output as base64
        return base64.b64encode(value).decode("ascii")
    if hasattr(value, "item") and hasattr(value, "dtype"):  # a numpy scalar
        return value.item()
    raise TypeError(f"cannot write a {type(value).__name__} as JSON")


def json_response(
    content: Any, status_code: int = 200, headers: Mapping[str, str] | None = None
) -> Response:
    """``content`` as JSON (orjson: NaN and infinities become null, numpy values are written)."""
    body = orjson.dumps(content, default=_orjson_default, option=orjson.OPT_SERIALIZE_NUMPY)
    return Response(body, status_code=status_code, headers=headers, media_type=JSON)


def media_type(request: Request) -> tuple[str, dict[str, str]]:
    """The request's media type (lower case) and its parameters."""
    raw = request.headers.get("content-type", "")
    kind, *parameters = (part.strip() for part in raw.split(";"))
    params: dict[str, str] = {}
    for pair in parameters:
        key, _, value = pair.partition("=")
        params[key.strip().lower()] = value.strip().strip('"')
    return kind.lower(), params


def _bad_constant(name: str) -> float:
    return {"NaN": math.nan, "Infinity": math.inf, "-Infinity": -math.inf}[name]


def decode_json(body: bytes) -> Any:
    """Parse a JSON body; ``InvalidArgument`` saying where it is malformed.

    ``NaN`` and ``Infinity`` (which Python's ``json.dumps`` writes, and MLflow accepts) are read
    as floats."""
    try:
        return orjson.loads(body)
    except orjson.JSONDecodeError as exc:
        first_error = exc
    try:  # the slow path only for what orjson refuses: NaN/Infinity literals
        return json.loads(body, parse_constant=_bad_constant)
    except (ValueError, RecursionError):
        raise InvalidArgument(f"the request body is not valid JSON: {first_error}"[:500]) from None


def _datetimes_as_text(array: npt.NDArray[Any]) -> Any:
    """ISO 8601 text at the array's unit, null for NaT, in the array's shape."""
    import numpy as np

    text = np.datetime_as_string(array).astype(object)
    text[np.isnat(array)] = None
    return text.tolist()


def jsonable(output: Any) -> Any:
    """Model output as JSON-ready values: arrays as (nested) lists, a DataFrame as a list of row
    objects, a Series as a list, a dict of arrays as an object of lists."""
    kind = type(output).__module__.split(".", 1)[0]
    if kind == "pandas" and hasattr(output, "columns"):
        frame = output.copy(deep=False)
        frame.columns = [str(name) for name in frame.columns]
        return frame.to_dict(orient="records")
    if kind == "pandas" and hasattr(output, "to_numpy"):
        return jsonable(output.to_numpy())
    if kind == "numpy" and hasattr(output, "ndim"):
        if output.dtype.kind == "M":
            return _datetimes_as_text(output)
        return output.tolist()
    if isinstance(output, Mapping):
        return {str(key): jsonable(value) for key, value in output.items()}
    if isinstance(output, list | tuple):
        return [jsonable(value) for value in output]
    return output


# Request bodies -> model input ----------------------------------------------------------------


# JSON values of one Python type that become a typed column directly (enforcing a typed column
# costs half what an object column does). Mixed ints and floats stay objects, so enforcement
# still refuses ints that a float cannot hold exactly.
_TYPED_COLUMNS = {float: "float64", int: "int64", bool: "bool"}


def _column(values: list[Any]) -> npt.NDArray[Any]:
    """A 1-D array of ``values`` as given: typed when they are all floats, all ints or all
    bools, else objects (nested lists stay single values)."""
    import numpy as np

    types = set(map(type, values))
    if len(types) == 1:
        dtype = _TYPED_COLUMNS.get(types.pop())
        if dtype is not None:
            try:
                return np.array(values, dtype=dtype)
            except OverflowError:  # ints beyond int64: enforcement decides on the objects
                pass
    array = np.empty(len(values), dtype=object)
    for index, value in enumerate(values):
        array[index] = value
    return array


def _frame(columns: Mapping[str, npt.NDArray[Any]]) -> Any:
    return table_input(columns)


def _table_rows(rows: list[Any], names: list[str], what: str) -> Any:
    """Positional rows of a table: one numeric block when they are all numbers of one type
    (the common case, read in one NumPy call), else read column by column."""
    block = block_from_rows(rows, names)
    return block if block is not None else _frame(_rows_as_columns(rows, names, what))


def _rows_as_columns(rows: list[Any], names: list[str], what: str) -> dict[str, Any]:
    """Positional rows (lists) as named columns; each row must have one value per name."""
    width = len(names)
    for index, row in enumerate(rows):
        if isinstance(row, Mapping):
            raise InvalidArgument(f"{what}: row {index} is an object; mix no objects with lists")
        values = row if isinstance(row, list) else [row]
        if len(values) != width:
            raise InvalidArgument(
                f"{what}: row {index} has {len(values)} values, but there are {width} columns "
                f"({', '.join(map(repr, names[:20]))})"[:500],
                details={"row": index, "expected": width, "got": len(values)},
            )
    return {
        name: _column([row[i] if isinstance(row, list) else row for row in rows])
        for i, name in enumerate(names)
    }


def _non_empty_list(value: Any, what: str) -> list[Any]:
    if not isinstance(value, list):
        raise InvalidArgument(f"{what} must be a list; got {_json_type(value)}")
    if not value:
        raise InvalidArgument(f"{what} is empty: send at least one row")
    return value


def _json_type(value: Any) -> str:
    names = {dict: "an object", list: "a list", str: "a string", bool: "a boolean"}
    if value is None:
        return "null"
    if isinstance(value, int | float) and not isinstance(value, bool):
        return "a number"
    return names.get(type(value), type(value).__name__)


def _tensor(values: Any, what: str) -> Any:
    import numpy as np

    try:
        array = np.asarray(values)
    except (ValueError, TypeError):
        raise InvalidArgument(
            f"{what} is not a regular tensor (rows of different lengths or nesting)"
        ) from None
    if array.ndim == 0:
        raise InvalidArgument(f"{what} must be a list of values (one per row); got a scalar")
    return array


def _columns_input(columns: Any, signature: Signature | None, what: str) -> Any:
    """An object of columns (table) or named tensors."""
    if not isinstance(columns, dict) or not columns:
        raise InvalidArgument(f"{what} must be a non-empty object")
    if signature is not None and signature.inputs.kind == "tensor":
        return {str(name): _tensor(values, f"{what}[{name!r}]") for name, values in columns.items()}
    names = checked_column_names(list(columns))
    lengths = set()
    for name in names:
        _non_empty_list(columns[name], f"{what}[{name!r}]")
        lengths.add(len(columns[name]))
    if len(lengths) > 1:
        raise InvalidArgument(
            f"{what}: the columns have different lengths ({sorted(lengths)[:5]})",
            details={"lengths": sorted(lengths)[:20]},
        )
    return _frame({name: _column(columns[name]) for name in names})


def records_input(records: list[Any], signature: Signature | None, what: str) -> Any:
    """Row objects as model input: a DataFrame, or named tensors for a tensor signature."""
    columns = {name: values.tolist() for name, values in records_to_columns(records).items()}
    if signature is not None and signature.inputs.kind == "tensor":
        return {name: _tensor(values, f"{what} {name!r}") for name, values in columns.items()}
    return _frame({name: _column(values) for name, values in columns.items()})


def _rows_input(rows: list[Any], signature: Signature | None, what: str) -> Any:
    """A list of rows: a tensor, or positional rows of a table."""
    schema: Schema | None = None if signature is None else signature.inputs
    if schema is not None and schema.kind == "table":
        names = [str(name) for name in schema.names]
        return _table_rows(rows, names, what)
    if schema is not None and schema.columns[0].name is not None:
        raise InvalidArgument(
            f"{what}: the model takes named tensors "
            f"({', '.join(repr(name) for name in schema.names[:20])}); send an object of them "
            "as `inputs`"[:500]
        )
    return _tensor(rows, what)


def _split_input(value: Any, signature: Signature | None) -> Any:
    what = "dataframe_split"
    if not isinstance(value, dict):
        raise InvalidArgument(f"{what} must be an object with columns and data")
    unknown = sorted(set(value) - _SPLIT_KEYS)
    if unknown:
        raise InvalidArgument(
            f"{what} has unknown key {unknown[0]!r}; it takes columns, data and index",
            details={"field": f"{what}.{unknown[0]}"},
        )
    rows = _non_empty_list(value.get("data"), f"{what}.data")
    columns = value.get("columns")
    if columns is None:
        return _rows_input(rows, signature, f"{what}.data")
    if not isinstance(columns, list):
        raise InvalidArgument(f"{what}.columns must be a list of names")
    names = checked_column_names(columns)
    if signature is not None and signature.inputs.kind == "tensor":
        return records_input([dict(zip(names, row, strict=False)) for row in rows], signature, what)
    return _table_rows(rows, names, f"{what}.data")


def _json_input(payload: Any, signature: Signature | None) -> Any:
    if not isinstance(payload, dict):
        raise InvalidArgument(
            f"the body must be a JSON object with exactly one of {', '.join(JSON_FORMATS)}; got "
            f"{_json_type(payload)}"
        )
    unknown = sorted(str(key) for key in payload if key not in JSON_FORMATS and key != "params")
    if unknown:
        raise InvalidArgument(
            f"unknown key {unknown[0]!r}: the body takes exactly one of "
            f"{', '.join(JSON_FORMATS)}, and optionally params"[:500],
            details={"field": unknown[0][:100]},
        )
    formats = [key for key in JSON_FORMATS if key in payload]
    if len(formats) != 1:
        raise InvalidArgument(
            f"the body must have exactly one of {', '.join(JSON_FORMATS)}; got "
            f"{', '.join(formats) if formats else 'none'}"
        )
    params = payload.get("params")
    if params is not None and not isinstance(params, dict):
        raise InvalidArgument(f"params must be an object; got {_json_type(params)}")
    (key,) = formats
    value = payload[key]
    if key == "dataframe_split":
        return _split_input(value, signature)
    if key == "dataframe_records":
        return records_input(_non_empty_list(value, key), signature, key)
    if key == "inputs" and isinstance(value, dict):
        return _columns_input(value, signature, key)
    rows = _non_empty_list(value, key)
    if key == "instances" and isinstance(rows[0], dict):
        return records_input(rows, signature, key)
    return _rows_input(rows, signature, key)


def _coerce_csv_column(series: Any, dtype: str, name: str) -> Any:
    """A CSV column brought to the signature's dtype where the text means it (ints or numeric
    text for a float column, whole floats with gaps for an int column, dates as text)."""
    import pandas as pd

    numeric = dtype.startswith(("int", "uint", "float"))
    if numeric and not (pd.api.types.is_numeric_dtype(series) and series.dtype != bool):
        if pd.api.types.is_bool_dtype(series):
            return series  # enforcement names the mismatch
        converted = pd.to_numeric(series, errors="coerce")
        bad = converted.isna() & series.notna()
        if bad.any():
            example = series[bad].iloc[0]
            raise SignatureViolation(
                f"column {name!r} expected {dtype}, but the CSV has {str(example)[:50]!r}",
                details={"column": name, "expected": dtype, "got": str(example)[:50]},
            )
        series = converted
    if dtype.startswith("float") and pd.api.types.is_integer_dtype(series):
        return series.astype(dtype)
    if dtype.startswith(("int", "uint")) and pd.api.types.is_float_dtype(series):
        values = series.dropna()
        if bool((values == values.round()).all()):
            return series.astype("Int64")  # whole numbers with gaps: nulls, not floats
    if dtype.startswith("datetime64") and not pd.api.types.is_datetime64_any_dtype(series):
        try:
            return pd.to_datetime(series)
        except (ValueError, TypeError):
            raise SignatureViolation(
                f"column {name!r} expected {dtype}, but the CSV has values that are not dates",
                details={"column": name, "expected": dtype, "got": "text"},
            ) from None
    return series


def _csv_input(body: bytes, signature: Signature | None) -> Any:
    import pandas as pd

    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError:
        raise InvalidArgument("the CSV body is not UTF-8 text") from None
    schema = None if signature is None else signature.inputs
    table = schema is not None and schema.kind == "table"
    text_columns = (
        {str(spec.name): str for spec in schema.columns if spec.dtype in ("string", "binary")}
        if schema is not None and table
        else {}
    )
    try:
        frame = pd.read_csv(io.StringIO(text), dtype=text_columns or None)
    except (pd.errors.ParserError, pd.errors.EmptyDataError, ValueError) as exc:
        raise InvalidArgument(
            f"the body is not CSV with a header row: {str(exc).strip()[:300]}"
        ) from None
    if not isinstance(frame.index, pd.RangeIndex):  # pandas read the extra fields as an index
        raise InvalidArgument(
            "the body is not CSV with a header row: the rows have more values than the header "
            "has names"
        )
    if frame.empty:
        raise InvalidArgument("the CSV has no rows: send a header row and at least one row")
    checked_column_names([str(name) for name in frame.columns])
    if schema is None:
        return frame
    if schema.kind == "tensor":
        if schema.columns[0].name is None:
            return frame.to_numpy()
        return {str(name): frame[name].to_numpy() for name in frame.columns}
    for spec in schema.columns:
        if spec.name in frame.columns and spec.dtype not in ("string", "binary", "bool"):
            frame[spec.name] = _coerce_csv_column(frame[spec.name], spec.dtype, str(spec.name))
    return frame


def parse_request(kind: str, body: bytes, signature: Signature | None) -> Any:
    """The model input an ``/invocations`` body holds (``kind``: JSON or CSV)."""
    try:
        if kind == CSV:
            return _csv_input(body, signature)
        return _json_input(decode_json(body), signature)
    except StewardError:
        raise
    except (ValueError, TypeError, RecursionError) as exc:  # pandas or numpy refusing a value
        raise InvalidArgument(f"the input cannot be read: {exc}"[:500]) from None


async def in_thread_if_large(body: bytes, parse: Callable[[], Any]) -> Any:
    """``parse()``, in a worker thread when ``body`` is large enough to stall the loop."""
    if len(body) > _THREAD_PARSE_BYTES:
        return await anyio.to_thread.run_sync(parse)
    return parse()


# Routes -----------------------------------------------------------------------------------------


def retry_headers(error: StewardError) -> dict[str, str] | None:
    """``Retry-After`` for an ``Unavailable`` that says when to retry (load shedding)."""
    retry = error.details.get("retry_after")
    if isinstance(error, Unavailable) and isinstance(retry, int | float) and retry > 0:
        return {"Retry-After": str(math.ceil(retry))}
    return None


def _error(status_code: int, message: str, headers: dict[str, str] | None = None) -> Response:
    code = _MLFLOW_CODE_BY_STATUS.get(status_code, "BAD_REQUEST")
    return json_response({"error_code": code, "message": message}, status_code, headers)


def _method_not_allowed(allowed: str) -> Response:
    response = _error(405, f"this endpoint takes {allowed} requests")
    response.headers["Allow"] = allowed
    return response


def _unsupported_type(kind: str, params: dict[str, str], request: Request) -> Response | None:
    given = request.headers.get("content-type", "none")[:100]
    if kind not in (JSON, CSV):
        return _error(
            415,
            f"this predictor takes only {JSON} or {CSV} bodies; got content type {given!r}",
        )
    unknown = sorted(set(params) - {"charset"})
    if unknown:
        return _error(415, f"unrecognised content type parameter {unknown[0][:50]!r}")
    if params.get("charset", "utf-8").lower() not in ("utf-8", "utf8"):
        return _error(415, "the scoring server takes only UTF-8 bodies")
    return None


def mlflow_routes(
    repository: ModelRepository,
    predict: Predict,
    *,
    max_body_bytes: int = DEFAULT_MAX_BODY_BYTES,
) -> list[BaseRoute]:
    """Routes for ``/invocations``, ``/ping``, ``/health`` and ``/version`` (see the module
    docstring for formats and errors). ``max_body_bytes`` caps request bodies (413 above)."""

    async def invocations(request: Request) -> Response:
        if request.method != "POST":
            return _method_not_allowed("POST")
        kind, params = media_type(request)
        refused = _unsupported_type(kind, params, request)
        if refused is not None:
            return refused
        try:
            model = repository.only()
            note_answering(model)
            body = await read_body(request, max_body_bytes)
            data = await in_thread_if_large(
                body, lambda: parse_request(kind, body, model.signature)
            )
            output = await predict(model, data)
            return json_response({"predictions": jsonable(output)})
        except StewardError as exc:
            status = status_for(exc)
            if status == 500:
                log.error("prediction on /invocations failed: %s", exc.message)
            return _error(status, exc.message, retry_headers(exc))
        except Exception as exc:
            log.exception("the model raised while predicting on /invocations")
            return _error(
                500,
                f"the model raised {type(exc).__name__} while predicting; the server log has "
                "the details",
            )

    async def ping(request: Request) -> Response:
        if not repository.ready:
            return _error(503, "the models are still loading")
        return json_response({"status": "ok"})

    async def version(request: Request) -> Response:
        return PlainTextResponse(__version__)

    return [
        Route("/invocations", invocations, methods=ANY_METHOD),
        Route("/ping", ping, methods=["GET"]),
        Route("/health", ping, methods=["GET"]),
        Route("/version", version, methods=["GET"]),
    ]
