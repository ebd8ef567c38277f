"""The monitoring part of ``Client``: store a prediction window's files, record the window,
list a project's windows.

In-process it calls the monitoring services; against a server it calls the monitoring API.
Either way the files and the record need the editor role in the project, not an
administrator.
"""

from __future__ import annotations

import datetime as dt
import io
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from ..blobs import BlobInfo
    from ..monitoring import PredictionWindow
    from ..monitoring._serving_stats import ServingStats
    from ..platform import Platform
    from ..security import Actor
    from ._backend import Backend
    from ._remote import RemoteBackend


def _project(project: str) -> str:
    from ._client import _text

    return _text("project", project)


def _path(project: str, *parts: str) -> str:
    from ._remote import _segment

    return "/".join([f"api/v1/projects/{_segment(project)}/prediction-windows", *parts])


def _window(data: Any) -> PredictionWindow:
    from ..monitoring import PredictionWindow

    return PredictionWindow.from_json(data)


def _wire_time(value: object, field: str) -> str:
    """An aware datetime as ISO 8601 text; the service's own error for anything else (so
    both worlds refuse the same values the same way)."""
    from ..errors import InvalidArgument

    if not isinstance(value, dt.datetime) or value.tzinfo is None:
        raise InvalidArgument(
            f"{field} must be a timezone-aware datetime (UTC)", details={"field": field}
        )
    return value.astimezone(dt.UTC).isoformat()


class MonitoringMethods:
    """Mixed into ``Client``; every method works in-process and against a server."""

    _backend: Backend

    def _remote_monitoring(self) -> RemoteBackend | None:
        from ._remote import RemoteBackend

        return self._backend if isinstance(self._backend, RemoteBackend) else None

    def put_prediction_file(self, project: str, data: bytes) -> BlobInfo:
        """Store one file of a coming prediction window (project editors) and return its
        address for ``record_prediction_window``. Storing the same bytes again is harmless
        (``created`` False). ``PayloadTooLarge`` past the platform's ``max_upload_bytes``."""
        from ..errors import InvalidArgument

        if not isinstance(data, bytes | bytearray | memoryview):
            raise InvalidArgument(f"data must be bytes, not {type(data).__name__}")
        project = _project(project)
        remote = self._remote_monitoring()
        if remote is not None:
            from ._wire import blob_info_from_json

            return remote._one(
                blob_info_from_json,
                "PUT",
                _path(project, "files"),
                content=bytes(data),
                headers={"Content-Type": "application/octet-stream"},
            )
        from ..monitoring._windows import store_prediction_file

        platform, actor = self._local_monitoring()
        return store_prediction_file(platform, actor, project, io.BytesIO(data))

    def record_prediction_window(
        self,
        project: str,
        *,
        model_name: str,
        model_version: str,
        start: dt.datetime,
        end: dt.datetime,
        rows: int,
        sampled_rows: int,
        feedback_labels: int,
        profile_address: str,
        rows_address: str,
        feedback_address: str,
        output_columns: Sequence[str] = (),
        source: str = "unknown",
        deployment: str | None = None,
        serving: ServingStats | None = None,
    ) -> PredictionWindow:
        """Record a window of predictions whose three files are stored (project editors;
        see ``mlsteward.monitoring.record_prediction_window``; ``serving``: the window's
        serving statistics). ``InvalidArgument`` for a malformed field, an end not after the
        start or an address the platform lacks."""
        project = _project(project)
        remote = self._remote_monitoring()
        if remote is not None:
            body = {
                "model_name": model_name,
                "model_version": model_version,
                "start": _wire_time(start, "start"),
                "end": _wire_time(end, "end"),
                "rows": rows,
                "sampled_rows": sampled_rows,
                "feedback_labels": feedback_labels,
                "profile_address": profile_address,
                "rows_address": rows_address,
                "feedback_address": feedback_address,
                "output_columns": (
                    output_columns if isinstance(output_columns, str) else list(output_columns)
                ),
                "source": source,
                "deployment": deployment,
            }
            if serving is not None:
                body["serving"] = serving.to_json()
            return remote._one(_window, "POST", _path(project), json=body)
        from ..monitoring import record_prediction_window

        platform, actor = self._local_monitoring()
        return record_prediction_window(
            platform,
            actor,
            project,
            model_name=model_name,
            model_version=model_version,
            start=start,
            end=end,
            rows=rows,
            sampled_rows=sampled_rows,
            feedback_labels=feedback_labels,
            profile_address=profile_address,
            rows_address=rows_address,
            feedback_address=feedback_address,
            output_columns=output_columns,
            source=source,
            deployment=deployment,
            serving=serving,
        )

    def list_prediction_windows(
        self,
        project: str = "default",
        *,
        model_name: str | None = None,
        model_version: str | None = None,
        deployment: str | None = None,
        since: dt.datetime | None = None,
        until: dt.datetime | None = None,
        limit: int = 1_000,
    ) -> list[PredictionWindow]:
        """The project's recorded windows (project viewers), oldest first, optionally of one
        model, version or deployment and starting in ``[since, until)``; at most ``limit``
        (1 to 10,000)."""
        project = _project(project)
        remote = self._remote_monitoring()
        if remote is not None:
            params: dict[str, Any] = {
                "model_name": model_name,
                "model_version": model_version,
                "deployment": deployment,
                "since": None if since is None else _wire_time(since, "since"),
                "until": None if until is None else _wire_time(until, "until"),
                "limit": limit,
            }
            params = {key: value for key, value in params.items() if value is not None}
            return remote._many(_window, "prediction_windows", _path(project), params=params)
        from ..monitoring import list_prediction_windows

        platform, actor = self._local_monitoring()
        return list_prediction_windows(
            platform,
            actor,
            project,
            model_name=model_name,
            model_version=model_version,
            deployment=deployment,
            since=since,
            until=until,
            limit=limit,
        )

    def training_pii_columns(
        self, project: str, model_name: str, version: int | str
    ) -> dict[str, str]:
        """Column name -> PII class, for the columns the catalog marks as PII in the training
        data of a model version (project viewers; see
        ``mlsteward.monitoring.training_pii_columns``): what a prediction log masks. {} when
        the platform knows none."""
        from ..errors import InvalidArgument

        project = _project(project)
        remote = self._remote_monitoring()
        if remote is not None:
            from ._client import _text
            from ._remote import _segment

            if isinstance(version, bool) or not isinstance(version, int | str):
                raise InvalidArgument("model version must be a number")
            path = (
                f"api/v1/projects/{_segment(project)}/models/"
                f"{_segment(_text('model name', model_name))}/versions/"
                f"{_segment(str(version))}/training-pii"
            )
            data = remote._get_json("GET", path)
            columns = data.get("columns") if isinstance(data, dict) else None
            if not isinstance(columns, dict):
                raise InvalidArgument("the platform's training-pii answer has no columns")
            return {str(name): str(kind) for name, kind in columns.items()}
        from ..monitoring import training_pii_columns

        platform, actor = self._local_monitoring()
        return training_pii_columns(platform, actor, project, model_name, version)

    def _local_monitoring(self) -> tuple[Platform, Actor]:
        from ._local import LocalBackend

        assert isinstance(self._backend, LocalBackend)
        return self._backend._platform, self._backend._actor
