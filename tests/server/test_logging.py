"""Structured logs: one JSON object a line, access lines carry the request id."""

from __future__ import annotations

import io
import json
import logging

from fastapi.testclient import TestClient

from mlsteward.platform import Platform
from mlsteward.server import create_app
from mlsteward.server._logging import JsonFormatter


def test_access_log_lines_are_json_with_request_ids(platform: Platform) -> None:
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(JsonFormatter())
    logger = logging.getLogger("mlsteward.access")
    logger.addHandler(handler)
    old_level = logger.level
    logger.setLevel(logging.INFO)
    try:
        client = TestClient(create_app(platform), base_url="http://localhost")
        client.get("/healthz", headers={"X-Request-ID": "req-123"})
    finally:
        logger.removeHandler(handler)
        logger.setLevel(old_level)
    lines = [json.loads(line) for line in stream.getvalue().splitlines()]
    access = [line for line in lines if line.get("path") == "/healthz"]
    assert len(access) == 1
    entry = access[0]
    assert entry["request_id"] == "req-123"
    assert entry["status"] == 200
    assert entry["route"] == "/healthz"
    assert entry["level"] == "info"
    assert isinstance(entry["duration_ms"], float)


def test_formatter_drops_colour_codes_and_keeps_exceptions() -> None:
    record = logging.LogRecord("x", logging.ERROR, __file__, 1, "boom %s", ("now",), None)
    record.color_message = "\x1b[31mboom\x1b[0m"
    try:
        raise RuntimeError("inner")
    except RuntimeError:
        import sys

        record.exc_info = sys.exc_info()
    data = json.loads(JsonFormatter().format(record))
    assert data["message"] == "boom now"
    assert "color_message" not in data
    assert "RuntimeError: inner" in data["exception"]
