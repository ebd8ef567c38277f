"""A monitor's report (:func:`monitor_report`): its stored results over a time range as report
windows, the distributions of its reference against the prediction windows of that range, and
the incidents its alert rules opened there. What ``mlsteward monitor report`` and
``GET /api/v1/projects/{p}/monitors/{name}/report`` serve.
"""

from __future__ import annotations

import datetime as dt
from collections import Counter
from typing import TYPE_CHECKING, Any, Final

from sqlalchemy import func, select

from .._wire import iso
from ..errors import InvalidArgument, StewardError
from ..security import Actor, Role, fetch_project, require_project_role
from ..store import utcnow
from ._alert_model import Alert
from ._alerts import MAX_LISTED, list_alert_rules, list_alerts
from ._monitor_eval import _merged, _reference, _windows
from ._monitor_model import ResultStatus, check_monitor_name
from ._monitors import fetch_monitor, monitor_from_row, result_from_row
from ._report import FeatureDistribution, MonitoringReport, ReportWindow
from ._tables import monitor_results

if TYPE_CHECKING:
    from ..platform import Platform
    from ._monitor_model import Monitor

__all__ = ["DEFAULT_REPORT_WINDOWS", "MAX_REPORT_WINDOWS", "monitor_report"]

DEFAULT_REPORT_WINDOWS: Final = 500
MAX_REPORT_WINDOWS: Final = 10_000


def _moment(value: object, field: str) -> dt.datetime | None:
    if value is None:
        return None
    if not isinstance(value, dt.datetime) or value.tzinfo is None:
        raise InvalidArgument(
            f"{field} must be a timezone-aware datetime (UTC)", details={"field": field}
        )
    return value.astimezone(dt.UTC)


def _check_max_windows(value: object) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise InvalidArgument(
            f"max_windows must be a whole number from 1 to {MAX_REPORT_WINDOWS}",
            details={"field": "max_windows"},
        )
    if not 1 <= value <= MAX_REPORT_WINDOWS:
        raise InvalidArgument(
            f"max_windows must be from 1 to {MAX_REPORT_WINDOWS}, got {value}",
            details={"field": "max_windows"},
        )
    return value


def _reference_text(reference: dict[str, Any], *, dataset: bool = False) -> str:
    """What the monitor compares with, in words (``reference`` as stored or as loaded;
    ``dataset``: the monitor watches a dataset's versions)."""
    kind = reference.get("kind")
    if kind == "dataset":
        return f"dataset {reference['name']} version {reference['version']}"
    if kind == "windows" and dataset:
        return f"table versions created from {reference['since']} to {reference['until']}"
    if kind == "windows":
        return f"prediction windows from {reference['since']} to {reference['until']}"
    if "model" in reference:
        return f"training profile of {reference['model']} version {reference['version']}"
    return "training profile of the version served"


def _stream_model(monitor: Monitor, windows: list[Any]) -> tuple[str | None, str | None]:
    """The model and version the report is about: the monitor's own, else the one that
    served most rows of the range's prediction windows."""
    if monitor.dataset is not None:  # its windows are dataset versions: no model
        return None, None
    served: Counter[tuple[str, str]] = Counter()
    for window in windows:
        served[(str(window.model_name), str(window.model_version))] += int(window.rows) or 1
    model, version = served.most_common(1)[0][0] if served else (None, None)
    if monitor.model_name is not None:
        return monitor.model_name, monitor.model_version or version
    return model, version


def _distributions(
    platform: Platform,
    monitor: Monitor,
    project_id: str,
    since: dt.datetime | None,
    until: dt.datetime | None,
) -> tuple[list[FeatureDistribution], list[Any], dict[str, Any] | None, str | None]:
    """The distributions of the reference vs the prediction windows that start in
    ``[since, until)`` merged, those windows, the reference as loaded, and why there are no
    distributions (None when there are)."""
    if since is None or until is None:
        return [], [], None, "no evaluated window in the range"
    found = _windows(platform, monitor, project_id, since, until)
    if not found:
        return [], [], None, "no prediction window in the range"
    from ._report import distributions_from_profiles

    try:
        reference, described = _reference(platform, monitor, project_id, found)
        current = _merged(platform, found)
        return distributions_from_profiles(reference, current), found, described, None
    except StewardError as exc:  # a reference deleted or without a profile: no distributions
        return [], found, None, f"not available: {exc.message}"[:500]
    except OSError as exc:  # a profile blob that cannot be read must not cost the windows
        return [], found, None, f"not available: a profile could not be read: {exc}"[:500]


def _report_alert(alert: Alert, rules: dict[str, str]) -> dict[str, Any]:
    return {
        "rule": rules.get(alert.rule_id, alert.rule_id),
        "severity": alert.severity,
        "state": str(alert.state),
        "opened_window_start": iso(alert.opened_window_start),
        "last_window_start": iso(alert.last_window_start),
        "last_value": alert.last_value,
        "opened_at": iso(alert.opened_at),
        "resolved_at": iso(alert.resolved_at),
        "id": alert.id,
    }


def _alerts_in(
    platform: Platform,
    actor: Actor,
    project: str,
    monitor: Monitor,
    since: dt.datetime | None,
    until: dt.datetime | None,
) -> list[dict[str, Any]]:
    """The monitor's incidents whose windows overlap ``[since, until)``, oldest first."""
    found = list_alerts(platform, actor, project, monitor_id=monitor.id, limit=MAX_LISTED)
    rules = {
        r.id: r.name for r in list_alert_rules(platform, actor, project, monitor_id=monitor.id)
    }
    chosen = [
        a
        for a in reversed(found)
        if (since is None or a.last_window_start >= since)
        and (until is None or a.opened_window_start < until)
    ]
    return [_report_alert(a, rules) for a in chosen]


def monitor_report(
    platform: Platform,
    actor: Actor,
    project: str,
    name: str,
    *,
    since: dt.datetime | None = None,
    until: dt.datetime | None = None,
    max_windows: int = DEFAULT_REPORT_WINDOWS,
) -> MonitoringReport:
    """The report of the monitor's evaluated windows that start in ``[since, until)`` (either
    open) (viewers): each window's drift, quality, fairness and counts as stored, the
    distributions of the monitor's reference vs the prediction windows of that range merged,
    and the incidents of its alert rules there.

    At most ``max_windows`` (1 to 10,000) windows, the newest; the report's subject says
    when there were more (``note``), and why there are no distributions when there are none
    (``distributions``). ``InvalidArgument`` for a naive ``since`` / ``until``, ``since`` not
    before ``until`` or a bad ``max_windows``; ``NotFound`` for an unknown project or monitor.
    """
    check_monitor_name(name)
    since, until = _moment(since, "since"), _moment(until, "until")
    if since is not None and until is not None and since >= until:
        raise InvalidArgument(
            f"since ({since.isoformat()}) must be before until ({until.isoformat()})",
            details={"field": "since"},
        )
    limit = _check_max_windows(max_windows)
    with platform.db.read() as conn:
        project_row = fetch_project(conn, project)
        require_project_role(conn, actor, project_row.id, Role.VIEWER)
        monitor = monitor_from_row(fetch_monitor(conn, project_row, name), project_row.name)
        conditions = [
            monitor_results.c.monitor_id == monitor.id,
            monitor_results.c.status != ResultStatus.RUNNING,  # nothing to show yet
        ]
        if since is not None:
            conditions.append(monitor_results.c.window_start >= since)
        if until is not None:
            conditions.append(monitor_results.c.window_start < until)
        total = conn.execute(select(func.count()).where(*conditions)).scalar_one()
        rows = conn.execute(
            select(monitor_results)
            .where(*conditions)
            .order_by(monitor_results.c.window_start.desc())
            .limit(limit)
        ).all()
    windows = [ReportWindow.from_result(result_from_row(r, name)) for r in reversed(rows)]
    subject: dict[str, Any] = {"monitor": name}
    if total > len(windows):
        subject["note"] = (
            f"the newest {len(windows)} of the {total} evaluated windows in the range: "
            "narrow the range (since, until) or raise max_windows to see the others"
        )
    # The range the report covers: from the oldest window shown (or since) to until (or the
    # end of the newest window shown).
    low = windows[0].start if windows and (since is None or total > len(windows)) else since
    high = until if until is not None else (windows[-1].end if windows else None)
    distributions, stream, described, missing = _distributions(
        platform, monitor, project_row.id, low, high
    )
    model, version = _stream_model(monitor, stream)
    for key, value in (
        ("model", model), ("version", version), ("deployment", monitor.deployment),
        ("dataset", monitor.dataset),
    ):  # fmt: skip
        if value is not None:
            subject[key] = value
    subject["reference"] = _reference_text(
        described or monitor.reference, dataset=monitor.dataset is not None
    )
    if missing is not None:
        subject["distributions"] = missing
    return MonitoringReport(
        title=f"Monitor {name}",
        subject=subject,
        generated_at=utcnow(),
        windows=windows,
        distributions=distributions,
        alerts=_alerts_in(platform, actor, project, monitor, low, high),
    )
