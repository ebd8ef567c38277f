"""The plain prediction API: ``POST /v1/models/{name}/predict``.

The body is ``{"records": [{column: value, ...}, ...]}``; the answer is ``{"model", "version",
"predictions": [{"id", "prediction"}, ...]}``, one prediction per record in order, each with a
fresh prediction id (32 hex digits, a UUID4) that labels sent later refer to. A prediction is
a value for a 1-D output, a list for a row of a 2-D output and an object for a row of a
DataFrame or of named outputs.

Errors have the platform's one JSON shape (``StewardError.to_payload()``): 400 for bad input
(malformed JSON, unknown keys, values that do not fit the signature), 404 for a model not served
here, 413 for a body over ``max_body_bytes`` or more than ``max_rows`` records, 415 for a body
that is not JSON, 500 when the model raises.
"""

from __future__ import annotations

import logging
import uuid
from typing import Any

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from ..errors import InvalidArgument, PayloadTooLarge, StewardError
from ..models._signature import Signature
from ._core import ModelRepository, Predict
from ._metrics import note_answering
from ._mlflow_protocol import (
    ANY_METHOD,
    DEFAULT_MAX_BODY_BYTES,
    JSON,
    decode_json,
    in_thread_if_large,
    json_response,
    jsonable,
    media_type,
    read_body,
    records_input,
    retry_headers,
    status_for,
)
from ._prediction_log import PREDICTION_IDS

__all__ = ["DEFAULT_MAX_ROWS", "v1_routes"]

log = logging.getLogger("mlsteward.serving")

DEFAULT_MAX_ROWS = 10_000


def _error(error: StewardError, status_code: int | None = None) -> Response:
    status = status_code or status_for(error)
    return json_response(error.to_payload(), status, retry_headers(error))


def _records(body: bytes, max_rows: int) -> list[Any]:
    payload = decode_json(body)
    if not isinstance(payload, dict) or "records" not in payload:
        raise InvalidArgument('the body must be a JSON object {"records": [{column: value}, ...]}')
    unknown = sorted(str(key) for key in payload if key != "records")
    if unknown:
        raise InvalidArgument(
            f"unknown key {unknown[0][:100]!r}: the body takes only records",
            details={"field": unknown[0][:100]},
        )
    records = payload["records"]
    if not isinstance(records, list):
        raise InvalidArgument("records must be a list of objects, one per row")
    if not records:
        raise InvalidArgument("records is empty: send at least one row")
    if len(records) > max_rows:
        raise PayloadTooLarge(
            f"{len(records)} records is more than the limit of {max_rows} per request; split "
            "them into several requests",
            details={"limit": max_rows, "got": len(records)},
        )
    return records


def _model_input(records: list[Any], signature: Signature | None) -> Any:
    if signature is not None and signature.inputs.columns[0].name is None:
        raise InvalidArgument(
            "this model takes one unnamed tensor, which records cannot name; call "
            "/invocations with inputs or the /v2 infer endpoint"
        )
    try:
        return records_input(records, signature, "records")
    except StewardError:
        raise
    except (ValueError, TypeError) as exc:  # pandas or numpy refusing a value
        raise InvalidArgument(f"the records cannot be read: {exc}"[:500]) from None


def _per_row(output: Any, rows: int) -> list[Any]:
    """The model's output split into one JSON value per input row."""
    values = jsonable(output)
    if isinstance(values, dict):
        columns = {key: value for key, value in values.items() if isinstance(value, list)}
        if len(columns) == len(values) and all(len(v) == rows for v in columns.values()):
            return [{key: column[i] for key, column in columns.items()} for i in range(rows)]
    elif isinstance(values, list) and len(values) == rows:
        return values
    got = len(values) if isinstance(values, list | dict) else type(output).__name__
    raise StewardError(
        f"the model gave output that does not fit the {rows} input rows (got {got}); check that "
        "its predict returns one prediction per row",
        details={"rows": rows},
    )


def v1_routes(
    repository: ModelRepository,
    predict: Predict,
    *,
    max_body_bytes: int = DEFAULT_MAX_BODY_BYTES,
    max_rows: int = DEFAULT_MAX_ROWS,
) -> list[BaseRoute]:
    """The ``POST /v1/models/{name}/predict`` route (see the module docstring).

    ``max_body_bytes`` caps the body and ``max_rows`` the number of records (413 above either).
    """

    async def predict_route(request: Request) -> Response:
        if request.method != "POST":
            response = _error(InvalidArgument("this endpoint takes POST requests"), 405)
            response.headers["Allow"] = "POST"
            return response
        if media_type(request)[0] != JSON:
            given = request.headers.get("content-type", "none")[:100]
            return _error(InvalidArgument(f"the body must be {JSON}; got {given!r}"), 415)
        try:
            model = repository.get(request.path_params["name"])
            note_answering(model)
            body = await read_body(request, max_body_bytes)

            def parse() -> tuple[int, Any]:
                records = _records(body, max_rows)
                return len(records), _model_input(records, model.signature)

            rows, data = await in_thread_if_large(body, parse)
            ids = [uuid.uuid4().hex for _ in range(rows)]
            PREDICTION_IDS.set(ids)  # the prediction log keeps these ids
            output = await predict(model, data)
            predictions = [
                {"id": id_, "prediction": value}
                for id_, value in zip(ids, _per_row(output, rows), strict=True)
            ]
        except StewardError as exc:
            if status_for(exc) == 500:
                log.error("prediction on /v1 failed: %s", exc.message)
            return _error(exc)
        except Exception as exc:
            log.exception("the model raised while predicting on /v1")
            return _error(
                StewardError(
                    f"the model raised {type(exc).__name__} while predicting; the server log "
                    "has the details"
                )
            )
        return json_response(
            {"model": model.name, "version": model.version, "predictions": predictions}
        )

    return [Route("/v1/models/{name}/predict", predict_route, methods=ANY_METHOD)]
