"""What the platform server and the inference server log alike: request ids, the access-log
line and JSON log lines (one object a line).

Kept free of web frameworks so the inference server can use it without importing the
platform server (FastAPI and the whole platform app).
"""

from __future__ import annotations

import datetime as dt
import logging
import re
import uuid
from typing import Any

import orjson

REQUEST_ID_HEADER = b"x-request-id"
_REQUEST_ID_RE = re.compile(r"^[A-Za-z0-9._-]{1,64}$")
_STANDARD = set(vars(logging.LogRecord("", 0, "", 0, "", (), None))) | {
    "message",
    "asctime",
    "color_message",  # uvicorn's copy of the message with terminal colour codes
}


def accept_request_id(supplied: str | None) -> str:
    """``supplied`` (a client's ``X-Request-ID``) when it is safe to echo and log: 1 to 64
    characters of ``A-Z a-z 0-9 . _ -``; else a new uuid4 in hex."""
    if supplied is not None and _REQUEST_ID_RE.fullmatch(supplied):
        return supplied
    return uuid.uuid4().hex


def log_access(
    logger: logging.Logger,
    *,
    request_id: str,
    method: str,
    path: str,
    status: int,
    seconds: float,
    client: tuple[str, int] | list[Any] | None,
    level: int = logging.INFO,
    **fields: Any,
) -> None:
    """Write the access-log record of one request on ``logger`` (``level``, INFO unless said;
    message ``request``).

    ``client`` is the ASGI scope's ``client`` (only its address is logged); ``fields`` adds
    server-specific fields. Never pass bodies, headers or query strings: they can hold secrets.

    The record is handed to the logger's handlers directly: ``logger.info`` would first walk
    the stack to find the caller's source line, which no access-log line shows and which cost
    a fifth of the line's time under load.
    """
    if not logger.isEnabledFor(level):
        return
    extra = {
        "request_id": request_id,
        "method": method,
        "path": path,
        "status": status,
        "duration_ms": round(seconds * 1000, 3),
        "client": client[0] if client else None,
        **fields,
    }
    record = logger.makeRecord(
        logger.name, level, __file__, 0, "request", (), None, log_access.__name__, extra
    )
    logger.handle(record)


class JsonFormatter(logging.Formatter):
    """A record as one JSON object: ``ts`` (UTC, ISO 8601), ``level``, ``logger``,
    ``message``, every ``extra`` field, and ``exception`` when there is one."""

    def format(self, record: logging.LogRecord) -> str:
        data: dict[str, Any] = {
            "ts": dt.datetime.fromtimestamp(record.created, dt.UTC).isoformat(),
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": record.getMessage(),
        }
        for key, value in vars(record).items():
            if key not in _STANDARD and not key.startswith("_"):
                data[key] = value
        if record.exc_info:
            data["exception"] = self.formatException(record.exc_info)
        return orjson.dumps(data, default=str).decode()


def configure_logging(level: str = "INFO") -> None:
    """Send mlsteward's and uvicorn's logs to stderr as JSON lines (``level``: a name such as
    ``INFO``, any case). Run uvicorn with ``log_config=None`` so that it keeps these handlers."""
    handler = logging.StreamHandler()
    handler.setFormatter(JsonFormatter())
    for name in ("mlsteward", "uvicorn", "uvicorn.error"):
        logger = logging.getLogger(name)
        logger.handlers[:] = [handler]
        logger.setLevel(level.upper())
        logger.propagate = False
    # mlsteward writes its own access log with request ids.
    logging.getLogger("uvicorn.access").disabled = True
