"""The monitors part of ``Client``: create, read, change and delete monitors, read their
results per window, evaluate a window now, read a monitor's report.

In-process it calls the monitor services; against a server it calls the monitors API. Either
way maintainers write and viewers read.
"""

from __future__ import annotations

import datetime as dt
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from ..monitoring import DriftOptions, Monitor, MonitoringReport, MonitorResult
    from ..platform import Platform
    from ..security import Actor
    from ._backend import Backend
    from ._remote import RemoteBackend

_UNSET: Any = object()


def _path(project: str, name: str | None = None, *parts: str) -> str:
    from ._client import _text
    from ._remote import _segment

    base = f"api/v1/projects/{_segment(_text('project', project))}/monitors"
    if name is None:
        return base
    return "/".join([base, _segment(_text("monitor name", name)), *parts])


def _monitor(data: Any) -> Monitor:
    from ..monitoring import Monitor

    return Monitor.from_json(data)


def _result(data: Any) -> MonitorResult:
    from ..monitoring import MonitorResult

    return MonitorResult.from_json(data)


def _report(data: Any) -> MonitoringReport:
    from ..monitoring import MonitoringReport

    return MonitoringReport.from_json(data)


def _wire_options(options: object) -> object:
    from ..monitoring import DriftOptions

    return options.to_json() if isinstance(options, DriftOptions) else options


def _wire_time(value: object, field: str) -> str:
    """An aware datetime as ISO 8601 text; the service's own error for anything else."""
    from ..errors import InvalidArgument

    if not isinstance(value, dt.datetime) or value.tzinfo is None:
        raise InvalidArgument(
            f"{field} must be a timezone-aware datetime (UTC)", details={"field": field}
        )
    return value.astimezone(dt.UTC).isoformat()


class MonitorMethods:
    """Mixed into ``Client``; every method works in-process and against a server."""

    _backend: Backend

    def _remote_monitors(self) -> RemoteBackend | None:
        from ._remote import RemoteBackend

        return self._backend if isinstance(self._backend, RemoteBackend) else None

    def _local_monitors(self) -> tuple[Platform, Actor]:
        from ._local import LocalBackend

        assert isinstance(self._backend, LocalBackend)
        return self._backend._platform, self._backend._actor

    def create_monitor(
        self,
        name: str,
        *,
        project: str = "default",
        deployment: str | None = None,
        model_name: str | None = None,
        model_version: str | int | None = None,
        dataset: str | None = None,
        reference: dict[str, Any] | None = None,
        window_seconds: int = 300,
        drift_options: DriftOptions | dict[str, Any] | None = None,
        quality: dict[str, Any] | None = None,
        fairness: dict[str, Any] | None = None,
        enabled: bool = True,
    ) -> Monitor:
        """A monitor of a ``deployment``'s predictions, a registered model's or the versions
        of a table ``dataset`` (see ``mlsteward.monitoring.create_monitor``; maintainers)."""
        remote = self._remote_monitors()
        if remote is not None:
            body = {
                "name": name,
                "deployment": deployment,
                "model_name": model_name,
                "model_version": None if model_version is None else str(model_version),
                "dataset": dataset,
                "reference": reference,
                "window_seconds": window_seconds,
                "drift_options": _wire_options(drift_options),
                "quality": quality,
                "fairness": fairness,
                "enabled": enabled,
            }
            return remote._one(_monitor, "POST", _path(project), json=body)
        from ..monitoring import create_monitor

        platform, actor = self._local_monitors()
        return create_monitor(
            platform,
            actor,
            project,
            name,
            deployment=deployment,
            model_name=model_name,
            model_version=model_version,
            dataset=dataset,
            reference=reference,
            window_seconds=window_seconds,
            drift_options=drift_options,
            quality=quality,
            fairness=fairness,
            enabled=enabled,
        )

    def get_monitor(self, name: str, *, project: str = "default") -> Monitor:
        """The monitor (viewers)."""
        remote = self._remote_monitors()
        if remote is not None:
            return remote._one(_monitor, "GET", _path(project, name))
        from ..monitoring import get_monitor

        return get_monitor(*self._local_monitors(), project, name)

    def list_monitors(self, project: str = "default") -> list[Monitor]:
        """The project's monitors, by name (viewers)."""
        remote = self._remote_monitors()
        if remote is not None:
            return remote._many(_monitor, "monitors", _path(project))
        from ..monitoring import list_monitors

        return list_monitors(*self._local_monitors(), project)

    def update_monitor(
        self,
        name: str,
        *,
        project: str = "default",
        reference: dict[str, Any] = _UNSET,
        window_seconds: int = _UNSET,
        drift_options: DriftOptions | dict[str, Any] | None = _UNSET,
        quality: dict[str, Any] | None = _UNSET,
        fairness: dict[str, Any] | None = _UNSET,
        enabled: bool = _UNSET,
    ) -> Monitor:
        """Change the fields given (maintainers): ``quality`` or ``fairness`` None turns that
        part off, ``drift_options`` None restores the defaults."""
        given: dict[str, Any] = {
            key: value
            for key, value in (
                ("reference", reference),
                ("window_seconds", window_seconds),
                ("drift_options", drift_options),
                ("quality", quality),
                ("fairness", fairness),
                ("enabled", enabled),
            )
            if value is not _UNSET
        }
        remote = self._remote_monitors()
        if remote is not None:
            if "drift_options" in given:
                given["drift_options"] = _wire_options(given["drift_options"])
            return remote._one(_monitor, "PATCH", _path(project, name), json=given)
        from ..monitoring import update_monitor

        return update_monitor(*self._local_monitors(), project, name, **given)

    def delete_monitor(self, name: str, *, project: str = "default") -> None:
        """Delete the monitor and its results (maintainers)."""
        remote = self._remote_monitors()
        if remote is not None:
            remote._send("DELETE", _path(project, name))
            return
        from ..monitoring import delete_monitor

        delete_monitor(*self._local_monitors(), project, name)

    def monitor_results(
        self,
        name: str,
        *,
        project: str = "default",
        since: dt.datetime | None = None,
        until: dt.datetime | None = None,
        limit: int = 1_000,
    ) -> list[MonitorResult]:
        """The monitor's results whose window starts in ``[since, until)``, oldest first, at
        most ``limit`` (1 to 10,000: the newest) (viewers)."""
        remote = self._remote_monitors()
        if remote is not None:
            params: dict[str, Any] = {"limit": limit}
            if since is not None:
                params["since"] = _wire_time(since, "since")
            if until is not None:
                params["until"] = _wire_time(until, "until")
            return remote._many(_result, "results", _path(project, name, "results"), params=params)
        from ..monitoring import list_monitor_results

        return list_monitor_results(
            *self._local_monitors(), project, name, since=since, until=until, limit=limit
        )

    def evaluate_monitor(
        self, name: str, *, project: str = "default", at: dt.datetime | None = None
    ) -> MonitorResult:
        """Evaluate the monitor's window holding ``at`` now (default: the newest complete
        window), replacing its result (maintainers)."""
        remote = self._remote_monitors()
        if remote is not None:
            body = {"at": None if at is None else _wire_time(at, "at")}
            return remote._one(_result, "POST", _path(project, name, "evaluate"), json=body)
        from ..monitoring import evaluate_monitor

        return evaluate_monitor(*self._local_monitors(), project, name, at)

    def monitor_report(
        self,
        name: str,
        *,
        project: str = "default",
        since: dt.datetime | None = None,
        until: dt.datetime | None = None,
        max_windows: int = 500,
    ) -> MonitoringReport:
        """The monitor's report of the windows starting in ``[since, until)``: drift,
        quality, fairness and counts per window (at most ``max_windows``, the newest),
        reference-vs-current distributions and the alerts (viewers). Render it with
        ``mlsteward.monitoring.render_report_html``."""
        remote = self._remote_monitors()
        if remote is not None:
            params: dict[str, Any] = {"format": "json", "max_windows": max_windows}
            if since is not None:
                params["since"] = _wire_time(since, "since")
            if until is not None:
                params["until"] = _wire_time(until, "until")
            return remote._one(_report, "GET", _path(project, name, "report"), params=params)
        from ..monitoring import monitor_report

        return monitor_report(
            *self._local_monitors(),
            project,
            name,
            since=since,
            until=until,
            max_windows=max_windows,
        )
