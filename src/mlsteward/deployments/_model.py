"""The deployment value types, their wire shapes and name rules."""

from __future__ import annotations

import contextlib
import datetime as dt
import enum
import math
import re
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Final, NewType

from .._wire import iso
from ..errors import InvalidArgument

if TYPE_CHECKING:
    from ..serving._routing import RoutingPlan

DeploymentId = NewType("DeploymentId", str)

_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,63}")
MAX_HOST_LENGTH = 253

# The defaults of ``mlsteward serve`` (serving._prediction_log, serving._input_ranges), kept
# here so reading a deployment imports neither; a test pins that they agree.
DEFAULT_LOG_SAMPLE_RATE: Final = 0.01
DEFAULT_LOG_WINDOW_SECONDS: Final = 60.0
MIN_LOG_WINDOW_SECONDS: Final = 0.1
MAX_LOG_WINDOW_SECONDS: Final = 86_400.0
DEFAULT_RANGE_TOLERANCE: Final = 0.1
MAX_RANGE_TOLERANCE: Final = 100.0


class InputRangesMode(enum.StrEnum):
    """Whether a deployment refuses inputs outside its versions' training data ranges."""

    REJECT = "reject"
    OFF = "off"


class DeploymentStatus(enum.StrEnum):
    """What the platform wants of a deployment's server process (the supervisor follows it):
    ``running`` and ``stopped`` are asked for; ``failed`` means the server cannot start (its
    model does not load, its options are refused) and waits for ``start`` after a fix."""

    RUNNING = "running"
    STOPPED = "stopped"
    FAILED = "failed"


class EventKind(enum.StrEnum):
    """What one entry of a deployment's history records."""

    CREATED = "created"
    ROLLOUT = "rollout"
    PROMOTE = "promote"
    ROLLBACK = "rollback"
    AUTO_ROLLBACK = "auto_rollback"
    SHADOW = "shadow"
    STOPPED = "stopped"
    STARTED = "started"
    RESTARTED = "restarted"
    FAILED = "failed"


def check_deployment_name(name: object) -> str:
    """1-64 letters, digits, ``.``, ``_`` or ``-``, starting with a letter or digit (the name
    is a URL segment and a folder name)."""
    if not isinstance(name, str) or not _NAME.fullmatch(name):
        raise InvalidArgument(
            f"deployment name {str(name)[:80]!r} is not valid: use 1-64 letters, digits, '.', "
            "'_' or '-', starting with a letter or digit",
            details={"field": "name"},
        )
    return name


def check_weight(weight: object) -> int:
    """A canary's share of the traffic in percent: 1..99."""
    if isinstance(weight, bool) or not isinstance(weight, int) or not 1 <= weight <= 99:
        raise InvalidArgument(
            f"a canary weight is a whole percentage from 1 to 99, not {weight!r}: promote to "
            "send it everything, roll back to send it nothing",
            details={"field": "weight"},
        )
    return weight


def check_port(port: object) -> int:
    if isinstance(port, bool) or not isinstance(port, int) or not 1 <= port <= 65535:
        raise InvalidArgument(f"port must be 1..65535, not {port!r}", details={"field": "port"})
    return port


def check_host(host: object) -> str:
    if (
        not isinstance(host, str)
        or not 0 < len(host) <= MAX_HOST_LENGTH
        or not host.isascii()
        or any(c.isspace() or c in "/\\@#?" for c in host)
    ):
        raise InvalidArgument(
            f"host {str(host)[:80]!r} is not an address to listen on: use e.g. 127.0.0.1",
            details={"field": "host"},
        )
    return host


def _number(value: object, field: str, low: float, high: float, what: str) -> float:
    if (
        isinstance(value, bool)
        or not isinstance(value, int | float)
        or not math.isfinite(value)
        or not low <= value <= high
    ):
        raise InvalidArgument(
            f"{field} must be {what}, not {str(value)[:40]!r}", details={"field": field}
        )
    return float(value)


def check_log_sample_rate(rate: object) -> float:
    """The share of predicted rows kept in the sampled row log: 0..1."""
    return _number(rate, "log_sample_rate", 0.0, 1.0, "a share from 0 to 1 (0.01 keeps 1 %)")


def check_log_window(seconds: object) -> float:
    """Seconds per prediction-log window: 0.1..86400."""
    return _number(
        seconds,
        "log_window",
        MIN_LOG_WINDOW_SECONDS,
        MAX_LOG_WINDOW_SECONDS,
        "a number of seconds from 0.1 to 86400 (60: one window a minute)",
    )


def check_range_tolerance(tolerance: object) -> float:
    """How far past the training min..max an input may go, as a share of the span: 0..100."""
    return _number(
        tolerance,
        "range_tolerance",
        0.0,
        MAX_RANGE_TOLERANCE,
        "a share of the training range's span from 0 to 100 (0.1 widens it by 10 % each side)",
    )


def check_input_ranges(mode: object) -> InputRangesMode:
    if isinstance(mode, str):
        with contextlib.suppress(ValueError):
            return InputRangesMode(mode)
    raise InvalidArgument(
        f"input_ranges must be 'reject' (refuse values outside the training data's ranges) or "
        f"'off', not {str(mode)[:40]!r}",
        details={"field": "input_ranges"},
    )


def check_flag(value: object, field: str) -> bool:
    if not isinstance(value, bool):
        raise InvalidArgument(
            f"{field} is true or false, not {str(value)[:40]!r}", details={"field": field}
        )
    return value


@dataclass(frozen=True)
class Deployment:
    """A named endpoint serving one registered model under one or more versions.

    ``plan`` is the routing the server follows (``revision`` grows with every change);
    ``status`` is what the platform asks of its server process; ``platform_tokens``: requests
    may present platform tokens with the ``predict`` scope; ``api_key_file``: keys the server
    accepts (a file on the machine that runs it). A non-loopback server needs one of them.

    ``prediction_log``: the server logs its predictions to the platform (per-window profiles
    every ``log_window`` seconds, a ``log_sample_rate`` share of the rows, feedback labels);
    ``input_ranges``: ``reject`` refuses values outside the training data's ranges widened by
    ``range_tolerance`` times their span (for versions saved with their training profile)."""

    id: DeploymentId
    project: str
    name: str
    model: str
    status: DeploymentStatus
    plan: RoutingPlan
    host: str
    port: int
    api_key_file: str | None
    platform_tokens: bool
    created_at: dt.datetime
    created_by: str
    updated_at: dt.datetime
    updated_by: str
    prediction_log: bool = True
    log_sample_rate: float = DEFAULT_LOG_SAMPLE_RATE
    log_window: float = DEFAULT_LOG_WINDOW_SECONDS
    input_ranges: InputRangesMode = InputRangesMode.REJECT
    range_tolerance: float = DEFAULT_RANGE_TOLERANCE

    @property
    def revision(self) -> int:
        return self.plan.revision

    @property
    def url(self) -> str:
        shown = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{shown}:{self.port}"

    def to_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "project": self.project,
            "name": self.name,
            "model": self.model,
            "status": self.status.value,
            "revision": self.revision,
            "plan": self.plan.to_json(),
            "host": self.host,
            "port": self.port,
            "url": self.url,
            "api_key_file": self.api_key_file,
            "platform_tokens": self.platform_tokens,
            "prediction_log": self.prediction_log,
            "log_sample_rate": self.log_sample_rate,
            "log_window": self.log_window,
            "input_ranges": self.input_ranges.value,
            "range_tolerance": self.range_tolerance,
            "created_at": iso(self.created_at),
            "created_by": self.created_by,
            "updated_at": iso(self.updated_at),
            "updated_by": self.updated_by,
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Deployment:
        from ..serving._routing import RoutingPlan

        key_file = data["api_key_file"]
        return cls(
            id=DeploymentId(str(data["id"])),
            project=str(data["project"]),
            name=str(data["name"]),
            model=str(data["model"]),
            status=DeploymentStatus(data["status"]),
            plan=RoutingPlan.from_json(data["plan"]),
            host=str(data["host"]),
            port=int(data["port"]),
            api_key_file=None if key_file is None else str(key_file),
            platform_tokens=bool(data["platform_tokens"]),
            created_at=dt.datetime.fromisoformat(data["created_at"]),
            created_by=str(data["created_by"]),
            updated_at=dt.datetime.fromisoformat(data["updated_at"]),
            updated_by=str(data["updated_by"]),
            # An answer without them (an older server) reads like a stored row without them.
            prediction_log=bool(data.get("prediction_log", True)),
            log_sample_rate=float(data.get("log_sample_rate", DEFAULT_LOG_SAMPLE_RATE)),
            log_window=float(data.get("log_window", DEFAULT_LOG_WINDOW_SECONDS)),
            input_ranges=InputRangesMode(data.get("input_ranges", InputRangesMode.REJECT)),
            range_tolerance=float(data.get("range_tolerance", DEFAULT_RANGE_TOLERANCE)),
        )


@dataclass(frozen=True)
class DeploymentEvent:
    """One entry of a deployment's history: what changed, at which plan revision, by whom."""

    id: int
    revision: int
    kind: EventKind
    details: dict[str, Any]
    actor: str
    at: dt.datetime

    def to_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "revision": self.revision,
            "kind": self.kind.value,
            "details": self.details,
            "actor": self.actor,
            "at": iso(self.at),
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> DeploymentEvent:
        return cls(
            id=int(data["id"]),
            revision=int(data["revision"]),
            kind=EventKind(data["kind"]),
            details=dict(data["details"]),
            actor=str(data["actor"]),
            at=dt.datetime.fromisoformat(data["at"]),
        )
