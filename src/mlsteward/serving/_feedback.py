"""Delayed labels: ``POST /v1/models/{name}/feedback``.

The body is ``{"labels": [{"prediction_id": "...", "label": <string, number or boolean>},
...]}`` (1 to 10,000 labels, at most 4 MiB); the answer is 202 ``{"accepted": N}``. The labels
go to the prediction log's current window of the model, which ships them with its
``feedback.parquet``; monitoring joins them to the sampled rows and outputs by prediction id.

Errors have the platform's JSON shape: 400 for a body that is not a JSON object of that shape
(ids that are not non-empty strings of at most 200 characters, labels that are null, objects,
lists or not finite), 404 for a model not served here or a server without prediction logging,
413 for more than 10,000 labels or a larger body, 415 for a body that is not JSON, 503 when the
log is too far behind to take them. Nothing is recorded unless every label is valid.
"""

from __future__ import annotations

import json
import math
from typing import TYPE_CHECKING, Any, Final

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from ..errors import InvalidArgument, NotFound, PayloadTooLarge, StewardError
from ._core import ModelRepository
from ._http import ANY_METHOD, read_body
from ._mlflow_protocol import (
    JSON,
    decode_json,
    json_response,
    media_type,
    retry_headers,
    status_for,
)

if TYPE_CHECKING:
    from ._prediction_log import PredictionLogger

__all__ = ["MAX_FEEDBACK_BYTES", "MAX_FEEDBACK_LABELS", "feedback_routes", "parse_feedback"]

MAX_FEEDBACK_LABELS: Final = 10_000
MAX_FEEDBACK_BYTES: Final = 4 * 1024 * 1024
MAX_PREDICTION_ID_CHARS: Final = 200


def _error(error: StewardError, status_code: int | None = None) -> Response:
    status = status_code or status_for(error)
    return json_response(error.to_payload(), status, retry_headers(error))


def _label(value: Any, position: int) -> str:
    """The label as JSON text; ``InvalidArgument`` unless it is a string, number or boolean."""
    if isinstance(value, float) and not math.isfinite(value):
        raise InvalidArgument(
            f"labels[{position}].label is not a finite number",
            details={"field": f"labels[{position}].label"},
        )
    if not isinstance(value, str | int | float | bool):
        raise InvalidArgument(
            f"labels[{position}].label must be a string, a number or a boolean, not "
            f"{'null' if value is None else type(value).__name__}",
            details={"field": f"labels[{position}].label"},
        )
    return json.dumps(value)


def parse_feedback(body: bytes) -> list[tuple[str, str]]:
    """``(prediction_id, label as JSON text)`` pairs from a feedback body; ``InvalidArgument``
    or ``PayloadTooLarge`` naming the first thing wrong."""
    payload = decode_json(body)
    if not isinstance(payload, dict) or "labels" not in payload:
        raise InvalidArgument(
            'the body must be a JSON object {"labels": [{"prediction_id": ..., "label": ...}]}'
        )
    unknown = sorted(str(key)[:100] for key in payload if key != "labels")
    if unknown:
        raise InvalidArgument(
            f"unknown key {unknown[0]!r}: the body takes only labels",
            details={"field": unknown[0]},
        )
    labels = payload["labels"]
    if not isinstance(labels, list) or not labels:
        raise InvalidArgument("labels must be a non-empty list of {prediction_id, label} objects")
    if len(labels) > MAX_FEEDBACK_LABELS:
        raise PayloadTooLarge(
            f"{len(labels)} labels is more than the limit of {MAX_FEEDBACK_LABELS} per request; "
            "split them into several requests",
            details={"limit": MAX_FEEDBACK_LABELS, "got": len(labels)},
        )
    pairs = []
    for position, entry in enumerate(labels):
        if not isinstance(entry, dict) or set(entry) != {"prediction_id", "label"}:
            raise InvalidArgument(
                f"labels[{position}] must be an object with exactly prediction_id and label",
                details={"field": f"labels[{position}]"},
            )
        prediction_id = entry["prediction_id"]
        if (
            not isinstance(prediction_id, str)
            or not prediction_id
            or len(prediction_id) > MAX_PREDICTION_ID_CHARS
        ):
            raise InvalidArgument(
                f"labels[{position}].prediction_id must be the prediction's id: a non-empty "
                f"string of at most {MAX_PREDICTION_ID_CHARS} characters",
                details={"field": f"labels[{position}].prediction_id"},
            )
        pairs.append((prediction_id, _label(entry["label"], position)))
    return pairs


def feedback_routes(
    repository: ModelRepository, logger: PredictionLogger | None
) -> list[BaseRoute]:
    """The ``POST /v1/models/{name}/feedback`` route (see the module docstring)."""

    async def feedback(request: Request) -> Response:
        if request.method != "POST":
            response = _error(InvalidArgument("this endpoint takes POST requests"), 405)
            response.headers["Allow"] = "POST"
            return response
        if media_type(request)[0] != JSON:
            given = request.headers.get("content-type", "none")[:100]
            return _error(InvalidArgument(f"the body must be {JSON}; got {given!r}"), 415)
        try:
            model = repository.get(request.path_params["name"])
            if logger is None:
                raise NotFound(
                    "this server does not log predictions, so it takes no feedback: start it "
                    "with --prediction-log"
                )
            labels = parse_feedback(await read_body(request, MAX_FEEDBACK_BYTES))
            logger.submit_feedback(model, labels)
        except StewardError as exc:
            return _error(exc)
        return json_response({"accepted": len(labels)}, 202)

    return [Route("/v1/models/{name}/feedback", feedback, methods=ANY_METHOD)]
