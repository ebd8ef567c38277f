"""Validation: expectation suites evaluated in one pass, stored results, HTML data docs."""

from __future__ import annotations

__all__: list[str] = []
