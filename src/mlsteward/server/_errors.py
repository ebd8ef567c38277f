"""The one table from error codes to HTTP statuses, and the handlers that use it."""

from __future__ import annotations

import logging
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from .. import errors

log = logging.getLogger("mlsteward.server")

HTTP_STATUS_BY_CODE: dict[str, int] = {
    errors.InvalidArgument.code: 400,
    errors.SignatureViolation.code: 400,
    errors.Unauthenticated.code: 401,
    errors.PermissionDenied.code: 403,
    errors.PolicyNotMet.code: 403,
    errors.NotFound.code: 404,
    errors.AlreadyExists.code: 409,
    errors.Conflict.code: 409,
    errors.PayloadTooLarge.code: 413,
    errors.IntegrityError.code: 422,
    errors.DecryptionFailed.code: 422,
    errors.UnsafeModelFile.code: 422,
    errors.RateLimited.code: 429,
    errors.ConfigurationError.code: 500,
    errors.MissingExtra.code: 501,
    errors.SchemaOutOfDate.code: 503,
    errors.Unavailable.code: 503,
    errors.StewardError.code: 500,
}

_CODE_BY_HTTP_STATUS = {
    400: "invalid_argument",
    404: "not_found",
    405: "method_not_allowed",
    413: "payload_too_large",
}


def error_response(
    status: int, code: str, message: str, details: dict[str, Any] | None = None
) -> JSONResponse:
    headers = {}
    if status == 401:
        headers["WWW-Authenticate"] = "Bearer"
    if details and "retry_after" in details:
        headers["Retry-After"] = str(details["retry_after"])
    return JSONResponse(
        {"error": {"code": code, "message": message, "details": details or {}}},
        status_code=status,
        headers=headers,
    )


def response_for(exc: errors.StewardError) -> JSONResponse:
    status = HTTP_STATUS_BY_CODE.get(exc.code, 500)
    return error_response(status, exc.code, exc.message, exc.details)


def install_error_handlers(app: FastAPI) -> None:
    @app.exception_handler(errors.StewardError)
    async def _steward(request: Request, exc: errors.StewardError) -> JSONResponse:
        return response_for(exc)

    @app.exception_handler(RequestValidationError)
    async def _validation(request: Request, exc: RequestValidationError) -> JSONResponse:
        problems = [
            {
                "location": ".".join(str(p) for p in err.get("loc", ())),
                "message": err.get("msg", ""),
                "type": err.get("type", ""),
            }
            for err in exc.errors()
        ]
        summary = "; ".join(f"{p['location']}: {p['message']}" for p in problems[:5])
        return error_response(
            400, "invalid_argument", f"invalid request: {summary}", {"errors": problems}
        )

    @app.exception_handler(StarletteHTTPException)
    async def _http(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        code = _CODE_BY_HTTP_STATUS.get(exc.status_code, "http_error")
        return error_response(exc.status_code, code, str(exc.detail))

    @app.exception_handler(Exception)
    async def _unexpected(request: Request, exc: Exception) -> JSONResponse:
        log.exception("unhandled error", extra={"request_id": request.state.__dict__.get("id")})
        return error_response(500, "internal", "internal server error; see the server log")
