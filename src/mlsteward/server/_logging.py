"""Structured JSON logs, one object a line, with the request id when there is one.

The format is shared with the inference server, so it lives in ``mlsteward._http_log``.
"""

from __future__ import annotations

from .._http_log import JsonFormatter as JsonFormatter
from .._http_log import configure_logging as configure_logging

__all__ = ["JsonFormatter", "configure_logging"]
