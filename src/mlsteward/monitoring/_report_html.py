"""The monitoring report as one self-contained HTML file: server-side SVG charts, an inline
stylesheet and script (see :mod:`._report_assets`), the report's JSON embedded, and a
Content-Security-Policy that lets the page fetch nothing. Every string from the data (column,
model and segment names, alert texts) is escaped."""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from html import escape
from typing import Any, Final

from ..errors import InvalidArgument
from ._drift import ColumnDrift
from ._quality import ClassificationQuality
from ._report import FeatureDistribution, MonitoringReport, ReportWindow
from ._report_assets import CSS, SCRIPT, csp
from ._report_svg import Series, bar_chart, cell_fill, heatmap, line_chart, short

__all__ = ["render_report_html"]

_BOUNDED: Final = frozenset({"accuracy", "precision", "recall", "f1", "roc_auc"})
_FAIRNESS: Final = (
    ("demographic_parity_ratio", "demographic parity ratio"),
    ("demographic_parity_difference", "demographic parity difference"),
    ("equalized_odds_difference", "equalized odds difference"),
)
_SUBJECT_KEYS: Final = ("monitor", "model", "version", "deployment", "reference")
_ALERT_COLUMNS: Final = 8


def _json_block(element_id: str, value: Any) -> str:
    """A JSON ``<script>`` block no text can break out of: ``<``, ``>`` and ``&`` (and the
    JavaScript line separators) are written as ``\\u`` escapes, which JSON reads back."""
    text = json.dumps(value, ensure_ascii=False, allow_nan=False, separators=(",", ":"))
    for char, code in (("<", "\\u003c"), (">", "\\u003e"), ("&", "\\u0026")):
        text = text.replace(char, code)
    text = text.replace("\u2028", "\\u2028").replace("\u2029", "\\u2029")
    return f'<script type="application/json" id="{element_id}">{text}</script>'


def _value(value: Any) -> str:
    if isinstance(value, str):
        return escape(value)
    return escape(json.dumps(value, ensure_ascii=False, sort_keys=True))


def _number(value: float | None, digits: int = 3) -> str:
    return "n/a" if value is None or not math.isfinite(value) else f"{value:.{digits}g}"


def _percent(value: float | None) -> str:
    return "n/a" if value is None else f"{value * 100:.3g} %"


# -- features ---------------------------------------------------------------------------------


def _features(report: MonitoringReport) -> list[str]:
    """Drifted-or-not columns in first-seen order, then columns that only have a distribution."""
    names: dict[str, None] = {}
    for window in report.windows:
        if window.drift is not None:
            names.update(dict.fromkeys(c.column for c in window.drift.columns))
    names.update(dict.fromkeys(d.column for d in report.distributions))
    return list(names)


def _drift_of(window: ReportWindow, name: str) -> ColumnDrift | None:
    if window.drift is None:
        return None
    for column in window.drift.columns:
        if column.column == name:
            return column
    return None


def _score(column: ColumnDrift) -> float:
    """How close a column came to its threshold: 1.0 at the threshold."""
    if column.threshold is None or column.statistic is None:
        return 0.0
    if column.p_value is not None:
        return (1.0 - column.p_value) / max(1.0 - column.threshold, 1e-12)
    if not math.isfinite(column.statistic):
        return 1.0
    return column.statistic / column.threshold if column.threshold > 0 else 0.0


def _cell(window: ReportWindow, name: str) -> tuple[str, str]:
    if window.drift is None:
        return "none", "#f0f0f0"
    column = _drift_of(window, name)
    if column is None:
        return "none", "#f0f0f0"
    if column.drifted:
        return "drifted", "#c62828"
    if not column.comparable:
        return "na", "#bdbdbd"
    return "ok", cell_fill(_score(column))


def _heatmap_section(report: MonitoringReport, features: list[str]) -> str:
    starts = [w.start for w in report.windows]
    cells = [[_cell(w, name) for w in report.windows] for name in features]
    legend = (
        '<ul class="legend"><li><span class="swatch ok0"></span>far from the threshold</li>'
        '<li><span class="swatch ok1"></span>near the threshold</li>'
        '<li><span class="swatch drifted"></span>drifted</li>'
        '<li><span class="swatch na"></span>not compared</li>'
        '<li><span class="swatch none"></span>no result</li></ul>'
    )
    return (
        '<section id="drift"><h2>Drift per feature</h2>'
        "<p>One row per feature, one column per window. Hover a cell for the test; click a "
        "row for the feature's detail and distributions.</p>"
        f'{legend}<div class="scroll">{heatmap(features, starts, cells)}</div></section>'
    )


def _detail(report: MonitoringReport, f: int, name: str) -> str:
    results = [_drift_of(w, name) for w in report.windows]
    compared = [c for c in results if c is not None and c.comparable]
    drifted = sum(1 for c in results if c is not None and c.drifted)
    hidden = "" if f == 0 else " hidden"
    head = f'<section class="detail" id="detail-{f}" data-f="{f}"{hidden}>'
    title = f"<h3>Feature <code>{escape(name)}</code></h3>"
    if not compared:
        reasons = {c.reason for c in results if c is not None and c.reason}
        why = "; ".join(sorted(r for r in reasons if r)) or "no window compared it"
        return f"{head}{title}<p>Not compared: {escape(why)}.</p></section>"
    last = compared[-1]
    tested = last.p_value is not None
    values = [
        None if c is None or not c.comparable else (c.p_value if tested else c.statistic)
        for c in results
    ]
    facts = (
        f"<dt>kind</dt><dd>{escape(str(last.kind))}</dd>"
        f"<dt>method</dt><dd>{escape(str(last.method))}</dd>"
        f"<dt>threshold</dt><dd>{_number(last.threshold)}"
        f"{' (p-value)' if tested else ''}</dd>"
        f"<dt>drifted</dt><dd>in {drifted} of {len(report.windows)} windows</dd>"
        f"<dt>latest statistic</dt><dd>{_number(last.statistic)}"
        f"{f', p-value {_number(last.p_value)}' if tested else ''}</dd>"
        f"<dt>null share</dt><dd>reference {_percent(last.reference_null_share)}, latest "
        f"{_percent(last.current_null_share)}</dd>"
    )
    label = "p-value" if tested else f"{last.method} statistic"
    chart = line_chart(
        [Series(label, values, "s0", alarms=[c is not None and c.drifted for c in results])],
        [w.start for w in report.windows],
        label=f"{label} of {name} per window",
        y_range=(0.0, 1.0) if tested else None,
        rules=[(last.threshold, "threshold")] if last.threshold is not None else [],
    )
    return (
        f'{head}{title}<dl class="facts">{facts}</dl><h3>{escape(label)} per window '
        f"(red dots: drifted)</h3>{chart}</section>"
    )


def _distribution(f: int, name: str, dist: FeatureDistribution | None) -> str:
    hidden = "" if f == 0 else " hidden"
    head = f'<figure class="dist" id="dist-{f}" data-f="{f}"{hidden}>'
    caption = f"<figcaption><code>{escape(name)}</code>"
    if dist is None:
        why = "no values of a comparable type"
        return f"{head}{caption}: no distribution ({why})</figcaption></figure>"
    chart = bar_chart(
        dist.buckets,
        dist.reference,
        dist.current,
        label=f"distribution of {name}",
        categorical=dist.kind == "categorical",
    )
    nulls = (
        f"; nulls: reference {_percent(dist.reference_null_share)}, current "
        f"{_percent(dist.current_null_share)}"
    )
    return f"{head}{chart}{caption} ({escape(dist.kind)}){nulls}</figcaption></figure>"


def _distribution_section(report: MonitoringReport, features: list[str]) -> str:
    by_name = {d.column: d for d in report.distributions}
    options = "".join(
        f'<option value="{f}">{escape(short(name, 60))}</option>' for f, name in enumerate(features)
    )
    details = "".join(_detail(report, f, name) for f, name in enumerate(features))
    charts = "".join(_distribution(f, n, by_name.get(n)) for f, n in enumerate(features))
    return (
        '<section id="features"><h2>Feature detail and distributions</h2>'
        f'<label for="feature-select">Feature</label> '
        f'<select id="feature-select">{options}</select>{details}'
        '<ul class="legend"><li><span class="swatch ref"></span>reference</li>'
        '<li><span class="swatch cur"></span>current (all windows)</li></ul>'
        f"{charts}</section>"
    )


# -- quality, fairness, infrastructure --------------------------------------------------------


def _panel(title: str, chart: str) -> str:
    """A chart under its (already escaped) title, laid out side by side with others."""
    return f'<div class="panel"><h3>{title}</h3>{chart}</div>'


def _quality_section(report: MonitoringReport) -> str:
    windows = report.windows
    qualities = [w.quality.quality if w.quality is not None else None for w in windows]
    names: dict[str, None] = {}
    for q in qualities:
        if q is not None:
            names.update(dict.fromkeys(q.metrics))
    if not names:
        return (
            '<section id="quality"><h2>Quality over time</h2>'
            '<p class="no-data">No labelled windows: no quality.</p></section>'
        )
    starts = [w.start for w in windows]
    charts = []
    undefined = []
    for name in names:
        estimates = [q.metrics.get(name) if q is not None else None for q in qualities]
        if all(e is None or e.value is None for e in estimates):
            reasons = {e.reason for e in estimates if e is not None and e.reason}
            undefined.append(f"{name} ({'; '.join(sorted(r for r in reasons if r))})")
            continue
        series = Series(
            name,
            [e.value if e is not None else None for e in estimates],
            "s0",
            lower=[e.lower if e is not None else None for e in estimates],
            upper=[e.upper if e is not None else None for e in estimates],
        )
        bounded = (0.0, 1.0) if name in _BOUNDED else None
        charts.append(
            _panel(
                f'{escape(name)} <span class="axis">(band: confidence interval)</span>',
                line_chart([series], starts, label=f"{name} per window", y_range=bounded),
            )
        )
    coverage = [w.quality.coverage if w.quality is not None else None for w in windows]
    charts.append(
        _panel(
            "label coverage",
            line_chart(
                [Series("label coverage", coverage, "s3")],
                starts,
                label="label coverage",
                y_range=(0.0, 1.0),
            ),
        )
    )
    if undefined:
        charts.append(f"<p>Not defined in any window: {escape(', '.join(undefined))}.</p>")
    return (
        '<section id="quality"><h2>Quality over time</h2>'
        f'<div class="charts">{"".join(charts)}</div></section>'
    )


def _fairness_section(report: MonitoringReport) -> str:
    reports = [w.fairness for w in report.windows]
    present = [r for r in reports if r is not None]
    if not present:
        return ""
    series = [
        Series(
            text,
            [getattr(r, key) if r is not None else None for r in reports],
            f"s{i}",
            alarms=(
                [r is not None and r.four_fifths_rule is False for r in reports] if i == 0 else None
            ),
        )
        for i, (key, text) in enumerate(_FAIRNESS)
    ]
    legend = "".join(
        f'<li><span class="swatch k{i}"></span>{escape(text)}</li>'
        for i, (_, text) in enumerate(_FAIRNESS)
    )
    attributes = sorted({r.sensitive for r in present})
    chart = line_chart(
        series, [w.start for w in report.windows], label="fairness per window",
        y_range=(0.0, 1.0), rules=[(0.8, "four-fifths (ratio >= 0.8)")],
    )  # fmt: skip
    return (
        '<section id="fairness"><h2>Fairness over time</h2>'
        f"<p>Sensitive attribute: {', '.join(f'<code>{escape(a)}</code>' for a in attributes)}. "
        "Red dots: the four-fifths rule fails.</p>"
        f'<ul class="legend">{legend}</ul>{chart}</section>'
    )


_LATENCY: Final = (("latency_p50_ms", "p50"), ("latency_p95_ms", "p95"), ("latency_p99_ms", "p99"))
_HEALTH: Final = (
    ("requests_per_second", "requests/s", "{:.4g}"),
    ("error_rate", "error rate (5xx)", "{:.2%}"),
    ("client_errors", "client errors (4xx)", "{:.0f}"),
)


def _health_charts(report: MonitoringReport) -> tuple[list[str], set[str]]:
    """The serving health panels (latency p50/p95/p99 together, requests per second, error
    rate) and a table of the latest window that has them; the figures they show."""
    windows = report.windows
    if not any(key in w.infra for w in windows for key, _ in _LATENCY):
        return [], set()
    starts = [w.start for w in windows]
    legend = "".join(
        f'<li><span class="swatch k{i}"></span>{text}</li>' for i, (_, text) in enumerate(_LATENCY)
    )
    latency = [
        Series(text, [w.infra.get(key) for w in windows], f"s{i}")
        for i, (key, text) in enumerate(_LATENCY)
    ]
    charts = [
        _panel(
            f'latency (ms) <ul class="legend">{legend}</ul>',
            line_chart(latency, starts, label="latency percentiles per window (ms)"),
        )
    ]
    for key, title, label, css in (
        ("requests_per_second", "requests per second", "requests per second per window", "s3"),
        ("error_rate", "error rate (5xx / requests)", "error rate per window", "s1"),
    ):
        if any(key in w.infra for w in windows):
            series = Series(title, [w.infra.get(key) for w in windows], css)
            charts.append(_panel(title, line_chart([series], starts, label=label)))
    latest = next(
        (w for w in reversed(windows) if any(w.infra.get(key) is not None for key, _ in _LATENCY)),
        None,
    )
    shown = {key for key, _ in _LATENCY} | {"requests_per_second", "error_rate"}
    if latest is None:
        return charts, shown
    cells = [
        (f"latency {text}", _figure(latest.infra.get(key), "{:.4g} ms")) for key, text in _LATENCY
    ]
    cells += [(text, _figure(latest.infra.get(key), shape)) for key, text, shape in _HEALTH]
    table = (
        '<table class="table" id="infra-latest">'
        f"<caption>Latest window ({escape(latest.start.isoformat())})</caption><tbody>"
        + "".join(f'<tr><th scope="row">{text}</th><td>{value}</td></tr>' for text, value in cells)
        + "</tbody></table>"
    )
    return [table, *charts], shown


def _figure(value: float | None, shape: str) -> str:
    return "n/a" if value is None or not math.isfinite(value) else shape.format(value)


def _infra_section(report: MonitoringReport) -> str:
    windows = report.windows
    health, shown = _health_charts(report)
    keys: dict[str, None] = {}
    for window in windows:
        keys.update(dict.fromkeys(k for k in window.infra if k not in shown))
    starts = [w.start for w in windows]
    rows = [float(w.rows) for w in windows]
    charts = [
        *health,
        _panel("rows", line_chart([Series("rows", rows, "s5")], starts, label="rows")),
    ]
    for key in keys:
        values = [w.infra.get(key) for w in windows]
        charts.append(
            _panel(
                escape(key),
                line_chart([Series(key, values, "s5")], starts, label=f"{key} per window"),
            )
        )
    return (
        '<section id="infra"><h2>Infrastructure</h2>'
        f'<div class="charts">{"".join(charts)}</div></section>'
    )


def _alerts_section(alerts: Sequence[dict[str, Any]]) -> str:
    if not alerts:
        return ""
    columns: dict[str, None] = {}
    for alert in alerts:
        columns.update(dict.fromkeys(alert))
    shown = list(columns)[:_ALERT_COLUMNS]
    head = "".join(f"<th>{escape(c)}</th>" for c in shown)
    rows = "".join(
        "<tr>" + "".join(f"<td>{_value(a.get(c, ''))}</td>" for c in shown) + "</tr>"
        for a in alerts
    )
    return f'<section id="alerts"><h2>Alerts</h2><table><tr>{head}</tr>{rows}</table></section>'


# -- header and summary -----------------------------------------------------------------------


def _latest_quality(report: MonitoringReport) -> str:
    for window in reversed(report.windows):
        q = window.quality.quality if window.quality is not None else None
        if q is None:
            continue
        name = "accuracy" if isinstance(q, ClassificationQuality) else "mae"
        e = q.metrics[name]
        interval = (
            f" [{_number(e.lower)}, {_number(e.upper)}]"
            if e.lower is not None and e.upper is not None
            else ""
        )
        return f"{name} {_number(e.value)}{interval}"
    return "n/a"


def _summary(report: MonitoringReport) -> str:
    with_drift = [w.drift for w in report.windows if w.drift is not None]
    drifted = sum(1 for d in with_drift if d.drifted)
    share = f"{drifted} of {len(with_drift)}" if with_drift else "n/a"
    if with_drift:
        last = with_drift[-1]
        css = "bad" if last.drifted else "good"
        verdict = (
            f'<span class="{css}">{"drifted" if last.drifted else "no drift"}</span> '
            f"({last.drifted_columns} of {last.compared} columns)"
        )
    else:
        verdict = "n/a"
    cards = (
        ("windows", str(len(report.windows))),
        ("windows with dataset drift", share),
        ("latest dataset drift", verdict),
        ("latest quality", escape(_latest_quality(report))),
    )
    body = "".join(
        f'<div class="card"><div class="label">{label}</div><div class="value">{value}</div></div>'
        for label, value in cards
    )
    return f'<section class="summary" id="summary">{body}</section>'


def _header(report: MonitoringReport) -> str:
    subject = dict(report.subject)
    keys = [k for k in _SUBJECT_KEYS if k in subject] + [
        k for k in subject if k not in _SUBJECT_KEYS
    ]
    facts = "".join(f"<dt>{escape(k)}</dt><dd>{_value(subject[k])}</dd>" for k in keys)
    if report.windows:
        span = f"{report.windows[0].start.isoformat()} to {report.windows[-1].end.isoformat()}"
    else:
        span = "no windows"
    facts += f"<dt>time range</dt><dd>{escape(span)}</dd>"
    facts += f"<dt>generated at</dt><dd>{escape(report.generated_at.isoformat())}</dd>"
    return f'<header><h1>{escape(report.title)}</h1><dl class="facts">{facts}</dl></header>'


def render_report_html(report: MonitoringReport) -> str:
    """The report as one self-contained HTML page (UTF-8 text): nothing is fetched to view it.

    ``InvalidArgument`` when ``report`` is not a :class:`MonitoringReport`.
    """
    if not isinstance(report, MonitoringReport):
        raise InvalidArgument(f"report must be a MonitoringReport, got {type(report).__name__}")
    features = _features(report)
    if report.windows:
        body = (
            _summary(report)
            + _heatmap_section(report, features)
            + _distribution_section(report, features)
            + _quality_section(report)
            + _fairness_section(report)
            + _infra_section(report)
        )
    else:
        body = (
            '<section class="no-data" id="no-data"><h2>No data</h2><p>This report has no '
            "windows: nothing was measured in its time range.</p></section>"
        )
    body += _alerts_section(report.alerts)
    return (
        "<!DOCTYPE html>\n"
        '<html lang="en"><head><meta charset="utf-8">'
        f'<meta http-equiv="Content-Security-Policy" content="{escape(csp())}">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<title>{escape(report.title)}</title><style>{CSS}</style></head><body>"
        f"{_header(report)}<main>{body}</main>"
        '<div id="tooltip" role="tooltip" hidden></div>'
        f"{_json_block('report-data', report.to_json())}"
        f"{_json_block('report-features', features)}"
        f"<script>{SCRIPT}</script></body></html>\n"
    )
