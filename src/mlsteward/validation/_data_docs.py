"""HTML data docs: one self-contained page (inline CSS, no scripts, no external assets) with
every check of one or more validation results. Every value from the data or the suite is
escaped, so hostile column names and values render as text."""

from __future__ import annotations

import json
from collections.abc import Iterable
from html import escape
from typing import Any

from ._expectation import ExpectationResult, jsonable
from ._result import ValidationResult

_CSS = """
body{font-family:system-ui,-apple-system,Segoe UI,sans-serif;margin:2rem;color:#1f2328}
h1{font-size:1.5rem}h2{font-size:1.2rem;margin-top:2rem}
table{border-collapse:collapse;width:100%;margin-top:.5rem}
th,td{border:1px solid #d0d7de;padding:.4rem .6rem;text-align:left;vertical-align:top}
th{background:#f6f8fa}code{font-size:.85rem;white-space:pre-wrap;word-break:break-all}
.pass{color:#1a7f37;font-weight:600}.fail{color:#cf222e;font-weight:600}
.summary{margin:.5rem 0}.samples{font-size:.85rem;margin:0;padding-left:1rem}
"""


MAX_SHOWN_CHARS = 500


def _text(value: Any) -> str:
    """Escaped text of a value, cut at 500 characters (a reference profile is long)."""
    text = (
        value
        if isinstance(value, str)
        else json.dumps(jsonable(value), ensure_ascii=False, sort_keys=True)
    )
    if len(text) > MAX_SHOWN_CHARS:
        text = text[:MAX_SHOWN_CHARS] + f"… ({len(text)} characters)"
    return escape(text)


def _row(check: ExpectationResult) -> str:
    verdict = (
        '<span class="pass">pass</span>' if check.success else '<span class="fail">fail</span>'
    )
    unexpected = ""
    if check.unexpected_count is not None:
        percent = check.unexpected_percent
        shown = f" ({percent:.4g} %)" if isinstance(percent, int | float) else ""
        unexpected = escape(f"{check.unexpected_count}{shown}")
    samples = "".join(f"<li><code>{_text(s)}</code></li>" for s in check.samples)
    sample_list = f'<ul class="samples">{samples}</ul>' if samples else ""
    error = f"<br>{escape(check.error)}" if check.error else ""
    return (
        "<tr>"
        f"<td>{check.index}</td>"
        f"<td>{escape(check.expectation)}<br><code>{_text(check.params)}</code></td>"
        f"<td>{verdict}{error}</td>"
        f"<td><code>{_text(check.observed_value)}</code></td>"
        f"<td>{unexpected}</td>"
        f"<td>{sample_list}</td>"
        "</tr>"
    )


def _section(result: ValidationResult) -> str:
    stats = result.statistics
    verdict = "passed" if result.success else "failed"
    css = "pass" if result.success else "fail"
    rows = "".join(_row(check) for check in result.results)
    return (
        f"<section><h2>Suite {escape(result.suite_name)}: "
        f'<span class="{css}">{verdict}</span></h2>'
        f'<p class="summary">{escape(str(stats.get("successful_expectations")))} of '
        f"{escape(str(stats.get('evaluated_expectations')))} expectations met; "
        f"{escape(str(stats.get('row_count')))} rows; engine {escape(result.engine)}.</p>"
        "<table><thead><tr><th>#</th><th>Expectation</th><th>Result</th><th>Observed</th>"
        "<th>Unexpected</th><th>Failing samples</th></tr></thead>"
        f"<tbody>{rows}</tbody></table></section>"
    )


def render_data_docs(
    results: ValidationResult | Iterable[ValidationResult], *, title: str = "Data docs"
) -> str:
    """One HTML page of the results: each check with its verdict, observed value, unexpected
    count and failing samples."""
    items = [results] if isinstance(results, ValidationResult) else list(results)
    body = "".join(_section(r) for r in items) or "<p>No validation results.</p>"
    return (
        '<!DOCTYPE html><html lang="en"><head><meta charset="utf-8">'
        '<meta http-equiv="Content-Security-Policy" content="default-src \'none\'; '
        "style-src 'unsafe-inline'\">"
        f"<title>{escape(title)}</title><style>{_CSS}</style></head>"
        f"<body><h1>{escape(title)}</h1>{body}</body></html>"
    )


__all__ = ["render_data_docs"]
