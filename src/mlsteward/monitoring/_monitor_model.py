"""What a monitor is and what one evaluation of it gives: ``Monitor``, ``MonitorResult`` and
the checks of a monitor's parts (its stream, reference, window, drift, quality and fairness
options), shared by the service functions and the evaluator.

The JSON forms are what the ``monitors`` table stores and the API sends:

* reference: ``{"kind": "training"}`` (the served model version's training profile; not
  for a dataset stream), ``{"kind": "dataset", "name": ..., "version": N}`` (a table dataset
  version's profile) or ``{"kind": "windows", "since": ISO, "until": ISO}`` (the stream's own
  prediction windows that start in ``[since, until)``, or for a dataset stream the versions
  created then);
* quality: ``{"task": "classification" | "regression", "positive_label": ...,
  "prediction_column": "prediction"}``;
* fairness: ``{"sensitive": column, "favourable": value, "min_rows": 30}``.
"""

from __future__ import annotations

import datetime as dt
import math
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Final, NewType

from .._wire import iso
from ..errors import InvalidArgument
from ._drift_options import ColumnDriftSpec, DriftOptions

__all__ = [
    "DEFAULT_WINDOW_SECONDS",
    "MIN_WINDOW_SECONDS",
    "Monitor",
    "MonitorId",
    "MonitorResult",
    "ResultStatus",
    "check_drift_options",
    "check_fairness",
    "check_monitor_name",
    "check_quality",
    "check_reference",
    "check_window_seconds",
    "drift_options_from_json",
]

MonitorId = NewType("MonitorId", str)

DEFAULT_WINDOW_SECONDS: Final = 300
MIN_WINDOW_SECONDS: Final = 60
MAX_WINDOW_SECONDS: Final = 31 * 86_400
_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,63}")
_TASKS: Final = ("classification", "regression")
_MAX_COLUMN: Final = 200
_MAX_OPTIONS_BYTES: Final = 64 * 1024


class ResultStatus:
    """The states of a ``monitor_results`` row (plain strings on the wire)."""

    RUNNING: Final = "running"  # claimed, being evaluated
    OK: Final = "ok"
    NO_DATA: Final = "no_data"  # no prediction window (or no row) in the window
    ERROR: Final = "error"  # a part could not be computed: ``report["errors"]`` says why


def _field(message: str, field: str) -> InvalidArgument:
    return InvalidArgument(message, details={"field": field})


def check_monitor_name(name: object) -> str:
    """1-64 letters, digits, ``.``, ``_`` or ``-``, starting with a letter or digit."""
    if not isinstance(name, str) or not _NAME.fullmatch(name):
        raise _field(
            f"monitor name {str(name)[:80]!r} is not valid: use 1-64 letters, digits, '.', "
            "'_' or '-', starting with a letter or digit",
            "name",
        )
    return name


def check_window_seconds(value: object) -> int:
    """Whole seconds from 60 (one minute) to 31 days."""
    if (
        isinstance(value, bool)
        or not isinstance(value, int)
        or not MIN_WINDOW_SECONDS <= value <= MAX_WINDOW_SECONDS
    ):
        raise _field(
            f"window_seconds must be a whole number from {MIN_WINDOW_SECONDS} to "
            f"{MAX_WINDOW_SECONDS} (31 days), not {str(value)[:40]}",
            "window_seconds",
        )
    return value


def _moment(value: object, field: str) -> dt.datetime:
    if isinstance(value, str):
        try:
            value = dt.datetime.fromisoformat(value[:64])
        except ValueError:
            raise _field(
                f"{field} must be an ISO 8601 time like 2026-01-01T12:00:00Z", field
            ) from None
    if not isinstance(value, dt.datetime) or value.tzinfo is None:
        raise _field(f"{field} must be a time with a UTC offset (2026-01-01T12:00:00Z)", field)
    return value.astimezone(dt.UTC)


def _exact_keys(data: Mapping[str, Any], allowed: set[str], what: str, field: str) -> None:
    unknown = sorted(str(k)[:40] for k in data if k not in allowed)
    if unknown:
        raise _field(f"{what} has unknown keys {unknown}; allowed: {sorted(allowed)}", field)


def check_reference(reference: object) -> dict[str, Any]:
    """The reference in its stored form; ``InvalidArgument`` (field ``reference``) else."""
    if not isinstance(reference, Mapping):
        raise _field(
            'reference must be an object: {"kind": "training"}, {"kind": "dataset", "name": '
            '..., "version": N} or {"kind": "windows", "since": ISO, "until": ISO}',
            "reference",
        )
    kind = reference.get("kind")
    if kind == "training":
        _exact_keys(reference, {"kind"}, "a training reference", "reference")
        return {"kind": "training"}
    if kind == "dataset":
        _exact_keys(reference, {"kind", "name", "version"}, "a dataset reference", "reference")
        from ..data._model import check_dataset_name

        name = reference.get("name")
        version = reference.get("version")
        try:
            check_dataset_name(name)
        except InvalidArgument as exc:
            raise _field(f"reference: {exc.message}", "reference") from None
        if isinstance(version, bool) or not isinstance(version, int) or not 0 < version < 2**31:
            raise _field("a dataset reference needs a version number >= 1", "reference")
        return {"kind": "dataset", "name": name, "version": version}
    if kind == "windows":
        _exact_keys(reference, {"kind", "since", "until"}, "a windows reference", "reference")
        since = _moment(reference.get("since"), "reference.since")
        until = _moment(reference.get("until"), "reference.until")
        if until <= since:
            raise _field("a windows reference must end (until) after it starts", "reference")
        return {"kind": "windows", "since": iso(since), "until": iso(until)}
    raise _field(
        f"reference kind must be training, dataset or windows, not {str(kind)[:40]!r}",
        "reference",
    )


def _column(value: object, what: str, field: str) -> str:
    if not isinstance(value, str) or not 0 < len(value) <= _MAX_COLUMN:
        raise _field(f"{what} must be a column name of 1 to {_MAX_COLUMN} characters", field)
    return value


def _scalar(value: object, what: str, field: str) -> Any:
    if (
        value is None
        or isinstance(value, bool | str)
        or (isinstance(value, int | float) and math.isfinite(value))
    ):
        if isinstance(value, str) and len(value) > _MAX_COLUMN:
            raise _field(f"{what} is too long", field)
        return value
    raise _field(f"{what} must be a string, a finite number, a boolean or null", field)


def check_quality(quality: object) -> dict[str, Any] | None:
    """The quality options in stored form (None: no quality); ``InvalidArgument`` else."""
    if quality is None:
        return None
    if not isinstance(quality, Mapping):
        raise _field('quality must be an object like {"task": "classification"}', "quality")
    _exact_keys(quality, {"task", "positive_label", "prediction_column"}, "quality", "quality")
    task = quality.get("task")
    if task not in _TASKS:
        raise _field(f"quality task must be classification or regression, not {task!r}", "quality")
    positive = _scalar(quality.get("positive_label"), "quality positive_label", "quality")
    if task == "regression" and positive is not None:
        raise _field("quality positive_label is for classification", "quality")
    column = _column(
        quality.get("prediction_column", "prediction"), "quality prediction_column", "quality"
    )
    return {"task": task, "positive_label": positive, "prediction_column": column}


def check_fairness(fairness: object) -> dict[str, Any] | None:
    """The fairness options in stored form (None: no fairness); ``InvalidArgument`` else."""
    if fairness is None:
        return None
    if not isinstance(fairness, Mapping):
        raise _field('fairness must be an object like {"sensitive": "gender"}', "fairness")
    _exact_keys(fairness, {"sensitive", "favourable", "min_rows"}, "fairness", "fairness")
    sensitive = _column(fairness.get("sensitive"), "fairness sensitive", "fairness")
    favourable = _scalar(fairness.get("favourable", 1), "fairness favourable", "fairness")
    if favourable is None:
        raise _field("fairness favourable must be the value of a favourable decision", "fairness")
    min_rows = fairness.get("min_rows", 30)
    if isinstance(min_rows, bool) or not isinstance(min_rows, int) or not 1 <= min_rows < 2**31:
        raise _field("fairness min_rows must be a whole number >= 1", "fairness")
    return {"sensitive": sensitive, "favourable": favourable, "min_rows": min_rows}


def _spec_from_json(data: object, where: str) -> ColumnDriftSpec | None:
    if data is None:
        return None
    if not isinstance(data, Mapping):
        raise InvalidArgument(f"{where} must be an object with method, threshold and kind")
    _exact_keys(data, {"method", "threshold", "kind"}, where, "drift_options")
    return ColumnDriftSpec(
        method=data.get("method"), threshold=data.get("threshold"), kind=data.get("kind")
    )


def drift_options_from_json(data: object) -> DriftOptions:
    """The ``DriftOptions`` that ``DriftOptions.to_json`` wrote (any key may be left out:
    its default applies); ``InvalidArgument`` for anything else."""
    if data is None:
        return DriftOptions()
    if not isinstance(data, Mapping):
        raise InvalidArgument("drift options must be an object (DriftOptions.to_json())")
    allowed = {
        "columns", "numeric", "categorical", "drift_share", "small_reference",
        "categorical_max_distinct", "bins", "null_share_threshold",
    }  # fmt: skip
    _exact_keys(data, allowed, "drift options", "drift_options")
    columns = data.get("columns") or {}
    if not isinstance(columns, Mapping):
        raise InvalidArgument("drift options columns must map column names to specs")
    fields: dict[str, Any] = {
        key: data[key] for key in allowed - {"columns", "numeric", "categorical"} if key in data
    }
    return DriftOptions(
        columns={
            str(name): _spec_from_json(spec, f"drift options columns[{str(name)[:40]!r}]")
            or ColumnDriftSpec()
            for name, spec in columns.items()
        },
        numeric=_spec_from_json(data.get("numeric"), "drift options numeric"),
        categorical=_spec_from_json(data.get("categorical"), "drift options categorical"),
        **fields,
    )


def check_drift_options(options: object) -> dict[str, Any]:
    """Drift options (a ``DriftOptions``, its JSON form or None: the defaults) in stored
    form; ``InvalidArgument`` (field ``drift_options``) for anything else."""
    from .._wire import canonical_size

    if isinstance(options, DriftOptions):
        parsed = options
    else:
        try:
            parsed = drift_options_from_json(options)
        except InvalidArgument as exc:
            raise _field(exc.message, "drift_options") from None
    stored = parsed.to_json()
    if canonical_size(stored) > _MAX_OPTIONS_BYTES:
        raise _field("drift options are larger than 64 KB", "drift_options")
    return stored


@dataclass(frozen=True)
class Monitor:
    """A monitor: what it watches (a ``deployment``'s prediction windows, a registered
    model's, ``model_version`` optional, or the versions of the table ``dataset``), what they
    are compared with (``reference``), per window of ``window_seconds`` (aligned on the Unix
    epoch, like prediction-log windows)."""

    id: MonitorId
    project: str
    name: str
    deployment: str | None
    model_name: str | None
    model_version: str | None
    dataset: str | None
    reference: dict[str, Any]
    window_seconds: int
    drift_options: dict[str, Any]
    quality: dict[str, Any] | None
    fairness: dict[str, Any] | None
    enabled: bool
    created_at: dt.datetime
    created_by: str
    updated_at: dt.datetime
    updated_by: str

    def window_of(self, moment: dt.datetime) -> tuple[dt.datetime, dt.datetime]:
        """The (start, end) of the evaluation window holding ``moment``."""
        seconds = int(moment.timestamp() // self.window_seconds) * self.window_seconds
        start = dt.datetime.fromtimestamp(seconds, dt.UTC)
        return start, start + dt.timedelta(seconds=self.window_seconds)

    def to_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "project": self.project,
            "name": self.name,
            "deployment": self.deployment,
            "model_name": self.model_name,
            "model_version": self.model_version,
            "dataset": self.dataset,
            "reference": self.reference,
            "window_seconds": self.window_seconds,
            "drift_options": self.drift_options,
            "quality": self.quality,
            "fairness": self.fairness,
            "enabled": self.enabled,
            "created_at": iso(self.created_at),
            "created_by": self.created_by,
            "updated_at": iso(self.updated_at),
            "updated_by": self.updated_by,
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Monitor:
        """The monitor ``to_json`` wrote (``KeyError``/``ValueError``/``TypeError`` else)."""
        return cls(
            id=MonitorId(str(data["id"])),
            project=str(data["project"]),
            name=str(data["name"]),
            deployment=data["deployment"],
            model_name=data["model_name"],
            model_version=data["model_version"],
            dataset=data.get("dataset"),
            reference=dict(data["reference"]),
            window_seconds=int(data["window_seconds"]),
            drift_options=dict(data["drift_options"]),
            quality=None if data["quality"] is None else dict(data["quality"]),
            fairness=None if data["fairness"] is None else dict(data["fairness"]),
            enabled=bool(data["enabled"]),
            created_at=dt.datetime.fromisoformat(data["created_at"]),
            created_by=str(data["created_by"]),
            updated_at=dt.datetime.fromisoformat(data["updated_at"]),
            updated_by=str(data["updated_by"]),
        )


@dataclass(frozen=True)
class MonitorResult:
    """One evaluated window of a monitor.

    ``metrics``: a flat dict of finite numbers under stable keys (``drift.share_drifted``,
    ``quality.accuracy``, ``infra.rows``... listed in ``docs/monitoring.md``), what alert
    rules read; ``report``: the full drift, quality and fairness results and what the window
    was compared with. ``evaluated_at`` is None while the window is being evaluated.
    """

    id: str
    monitor: str
    window_start: dt.datetime
    window_end: dt.datetime
    status: str
    evaluated_at: dt.datetime | None
    metrics: dict[str, float]
    report: dict[str, Any]

    def to_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "monitor": self.monitor,
            "window_start": iso(self.window_start),
            "window_end": iso(self.window_end),
            "status": self.status,
            "evaluated_at": iso(self.evaluated_at),
            "metrics": self.metrics,
            "report": self.report,
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> MonitorResult:
        """The result ``to_json`` wrote (``KeyError``/``ValueError``/``TypeError`` else)."""
        evaluated = data["evaluated_at"]
        return cls(
            id=str(data["id"]),
            monitor=str(data["monitor"]),
            window_start=dt.datetime.fromisoformat(data["window_start"]),
            window_end=dt.datetime.fromisoformat(data["window_end"]),
            status=str(data["status"]),
            evaluated_at=None if evaluated is None else dt.datetime.fromisoformat(evaluated),
            metrics={str(k): float(v) for k, v in data["metrics"].items()},
            report=dict(data["report"]),
        )
