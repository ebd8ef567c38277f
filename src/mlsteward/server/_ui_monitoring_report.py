"""The charts of a monitor page, drawn by the standalone report's own builders.

The monitor's report (the ``monitor_report`` service: its stored results per window, and
the distributions of its reference against its prediction windows) is drawn in the
report's own sections (the drift heatmap, the per-feature detail and distributions, quality
with bands and label coverage, fairness, infrastructure), built server-side by
``monitoring._report_html`` and ``_report_svg``, so the page and the downloadable report
show the same figures. The report's script (selecting a feature, the heatmap's tooltip) is
served as ``/monitoring/report.js``: the page's Content-Security-Policy allows scripts from
the server only.
"""

from __future__ import annotations

from dataclasses import dataclass

from ..monitoring import MonitoringReport
from ..monitoring._report_html import (
    _distribution_section,
    _fairness_section,
    _features,
    _heatmap_section,
    _infra_section,
    _json_block,
    _quality_section,
    _summary,
)

__all__ = ["DashboardCharts", "dashboard_charts"]


@dataclass(frozen=True)
class DashboardCharts:
    """The report's sections as HTML a template inserts as is (``| safe``): every text
    from the data was escaped by the report's builders."""

    summary: str
    heatmap: str
    features: str
    quality: str
    fairness: str
    infra: str
    data: str
    windows: int


def dashboard_charts(report: MonitoringReport) -> DashboardCharts | None:
    """The sections of ``report``'s charts; None when it has no windows."""
    if not report.windows:
        return None
    features = _features(report)
    data = _json_block("report-data", report.to_json()) + _json_block("report-features", features)
    return DashboardCharts(
        summary=_summary(report),
        heatmap=_heatmap_section(report, features),
        features=_distribution_section(report, features),
        quality=_quality_section(report),
        fairness=_fairness_section(report),
        infra=_infra_section(report),
        data=data,
        windows=len(report.windows),
    )
