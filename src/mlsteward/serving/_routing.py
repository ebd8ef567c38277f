"""Routing plans: which versions of a deployment's model get which share of the traffic.

A ``RoutingPlan`` is pure data that the platform owns and versions (``revision``); the
inference server applies it (``_deployment``). A ``Router`` picks the version that answers one
request. Nothing here does I/O.

Sticky routing: a request's key is hashed (BLAKE2b) to one of 10,000 buckets, and the buckets
are cut into ranges by the cumulative weights, canaries first (in the order of the routes), the
stable version last. So a key stays on one version while the plan stands, and raising a
canary's weight only moves keys onto that canary, never off it.
"""

from __future__ import annotations

import hashlib
import math
import random
import re
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from typing import Any

from ..errors import InvalidArgument

PLAN_TYPE = "mlsteward.routing_plan"
PLAN_SCHEMA_VERSION = 1
BUCKETS = 10_000
MAX_WINDOW_SECONDS = 300.0  # the per-second series the window is counted from

_VERSION = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,63}")
_HEADER = re.compile(r"[A-Za-z0-9!#$%&'*+.^_`|~-]{1,64}")
_PLAN_KEYS = frozenset(
    {
        "type",
        "schema_version",
        "model",
        "revision",
        "stable",
        "routes",
        "shadow",
        "sticky_header",
        "auto_rollback",
    }
)
_RULE_KEYS = frozenset({"max_error_rate", "max_p99_ms", "min_requests", "window_seconds"})


def _bad(field_name: str, message: str) -> InvalidArgument:
    return InvalidArgument(message, details={"field": field_name})


def _is_number(value: object) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _check_version(value: object, field_name: str) -> None:
    if not isinstance(value, str) or _VERSION.fullmatch(value) is None:
        raise _bad(
            field_name,
            f"{field_name} must be a model version: 1 to 64 of A-Z a-z 0-9 . _ - starting "
            f"with a letter or digit; got {str(value)[:80]!r}",
        )


@dataclass(frozen=True)
class Route:
    """``weight`` percent (0 to 100) of the routed requests go to ``version``."""

    version: str
    weight: int

    def __post_init__(self) -> None:
        _check_version(self.version, "routes.version")
        if not isinstance(self.weight, int) or isinstance(self.weight, bool):
            raise _bad(
                "routes.weight",
                f"a route's weight must be an integer percent, not {self.weight!r}"[:200],
            )
        if not 0 <= self.weight <= 100:
            raise _bad(
                "routes.weight",
                f"the weight of version {self.version} must be between 0 and 100, not "
                f"{self.weight}",
            )


@dataclass(frozen=True)
class AutoRollbackRule:
    """When a canary is rolled back on its own: over the last ``window_seconds``, with at least
    ``min_requests`` requests, its share of errors (5xx other than 503 load shedding) is over
    ``max_error_rate`` (0 to 1) or its p99 latency over ``max_p99_ms``."""

    max_error_rate: float = 0.05
    max_p99_ms: float | None = None
    min_requests: int = 50
    window_seconds: float = 60.0

    def __post_init__(self) -> None:
        rate = self.max_error_rate
        if not _is_number(rate) or not 0 <= rate <= 1:
            raise _bad(
                "auto_rollback.max_error_rate",
                f"max_error_rate is a share between 0 and 1 (0.05 is 5 %), not {rate!r}"[:200],
            )
        p99 = self.max_p99_ms
        if p99 is not None and (not _is_number(p99) or not math.isfinite(p99) or p99 <= 0):
            raise _bad(
                "auto_rollback.max_p99_ms",
                f"max_p99_ms must be a positive number of milliseconds, not {p99!r}"[:200],
            )
        count = self.min_requests
        if not isinstance(count, int) or isinstance(count, bool) or count < 1:
            raise _bad(
                "auto_rollback.min_requests",
                f"min_requests must be an integer of at least 1, not {count!r}"[:200],
            )
        window = self.window_seconds
        if not _is_number(window) or not 0 < window <= MAX_WINDOW_SECONDS:
            raise _bad(
                "auto_rollback.window_seconds",
                f"window_seconds must be over 0 and at most {MAX_WINDOW_SECONDS:g}, not {window!r}"[
                    :200
                ],
            )

    def to_json(self) -> dict[str, Any]:
        return {
            "max_error_rate": self.max_error_rate,
            "max_p99_ms": self.max_p99_ms,
            "min_requests": self.min_requests,
            "window_seconds": self.window_seconds,
        }


@dataclass(frozen=True)
class RoutingPlan:
    """How one deployment routes its traffic (see the module docstring).

    ``model``: the served name (in URLs); ``revision``: grows with every change (the platform
    owns it; a server ignores a plan whose revision is not higher than the one it serves);
    ``stable``: the version a rollback returns to (always loaded, weight 0 when it is not in
    ``routes``); ``routes``: the weights, summing to 100; ``shadow``: a version that gets a copy
    of every routed request, its answers compared and discarded; ``sticky_header``: the request
    header whose value keeps a caller on one version. ``InvalidArgument`` naming the field for a
    plan that cannot be served.
    """

    model: str
    revision: int
    stable: str
    routes: tuple[Route, ...]
    shadow: str | None = None
    sticky_header: str | None = None
    auto_rollback: AutoRollbackRule | None = field(default=None)

    def __post_init__(self) -> None:
        if not isinstance(self.model, str) or not 0 < len(self.model) <= 200 or "/" in self.model:
            raise _bad("model", f"model must be the served model name, not {self.model!r}"[:200])
        revision = self.revision
        if not isinstance(revision, int) or isinstance(revision, bool) or revision < 0:
            raise _bad("revision", f"revision must be an integer of at least 0, not {revision!r}")
        _check_version(self.stable, "stable")
        if not isinstance(self.routes, tuple) or not self.routes:
            raise _bad("routes", "routes must list at least one version with its weight")
        if not all(isinstance(route, Route) for route in self.routes):
            raise _bad("routes", "routes must hold Route(version, weight) items")
        seen: set[str] = set()
        for route in self.routes:
            if route.version in seen:
                raise _bad("routes", f"version {route.version} is listed twice in routes")
            seen.add(route.version)
        total = sum(route.weight for route in self.routes)
        if total != 100:
            raise _bad("routes", f"the weights of the routes must sum to 100, not {total}")
        if self.shadow is not None:
            _check_version(self.shadow, "shadow")
        header = self.sticky_header
        if header is not None and (not isinstance(header, str) or not _HEADER.fullmatch(header)):
            raise _bad(
                "sticky_header",
                f"sticky_header must be an HTTP header name, e.g. X-Routing-Key, not {header!r}"[
                    :200
                ],
            )
        rule = self.auto_rollback
        if rule is not None and not isinstance(rule, AutoRollbackRule):
            raise _bad("auto_rollback", "auto_rollback must be an AutoRollbackRule or None")

    def versions(self) -> frozenset[str]:
        """Every version the server keeps loaded: the stable one, the routed ones (weight 0
        included, so raising it is instant) and the shadow."""
        found = {self.stable, *(route.version for route in self.routes)}
        if self.shadow is not None:
            found.add(self.shadow)
        return frozenset(found)

    def canaries(self) -> tuple[Route, ...]:
        """The routes other than the stable version that get traffic."""
        return tuple(r for r in self.routes if r.version != self.stable and r.weight > 0)

    def weight_of(self, version: str) -> int:
        """The share of the routed requests ``version`` gets (0 when it has no route)."""
        return next((r.weight for r in self.routes if r.version == version), 0)

    def rolled_back(self) -> RoutingPlan:
        """This plan with every request on the stable version, the canaries removed (the shadow
        and the other settings stay) and the revision one higher."""
        return replace(self, revision=self.revision + 1, routes=(Route(self.stable, 100),))

    def to_json(self) -> dict[str, Any]:
        """The plan as JSON (type tag ``mlsteward.routing_plan``, ``schema_version`` 1)."""
        rule = self.auto_rollback
        return {
            "type": PLAN_TYPE,
            "schema_version": PLAN_SCHEMA_VERSION,
            "model": self.model,
            "revision": self.revision,
            "stable": self.stable,
            "routes": [{"version": r.version, "weight": r.weight} for r in self.routes],
            "shadow": self.shadow,
            "sticky_header": self.sticky_header,
            "auto_rollback": None if rule is None else rule.to_json(),
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> RoutingPlan:
        """The plan ``to_json`` wrote; ``InvalidArgument`` naming the field for anything else."""
        if not isinstance(data, Mapping):
            raise _bad("plan", f"a routing plan is a JSON object, not {type(data).__name__}")
        if data.get("type") != PLAN_TYPE:
            raise _bad("type", f"not a routing plan: type must be {PLAN_TYPE!r}")
        schema = data.get("schema_version")
        if not isinstance(schema, int) or isinstance(schema, bool) or schema < 1:
            raise _bad("schema_version", "schema_version must be a positive integer")
        if schema > PLAN_SCHEMA_VERSION:
            raise _bad(
                "schema_version",
                f"this routing plan has schema version {schema}, newer than this server reads "
                f"({PLAN_SCHEMA_VERSION}): upgrade mlsteward on the server",
            )
        unknown = sorted(str(key) for key in data if key not in _PLAN_KEYS)
        if unknown:
            raise _bad(unknown[0][:100], f"unknown key {unknown[0][:100]!r} in the routing plan")
        for required in ("model", "revision", "stable", "routes"):
            if required not in data:
                raise _bad(required, f"the routing plan has no {required}")
        routes = data["routes"]
        if not isinstance(routes, list):
            raise _bad("routes", "routes must be a list of {version, weight} objects")
        parsed: list[Route] = []
        for item in routes:
            if not isinstance(item, Mapping) or set(item) != {"version", "weight"}:
                raise _bad("routes", "each route is an object with exactly version and weight")
            parsed.append(Route(item["version"], item["weight"]))
        return cls(
            model=data["model"],
            revision=data["revision"],
            stable=data["stable"],
            routes=tuple(parsed),
            shadow=data.get("shadow"),
            sticky_header=data.get("sticky_header"),
            auto_rollback=_rule_from_json(data.get("auto_rollback")),
        )


def _rule_from_json(data: Any) -> AutoRollbackRule | None:
    if data is None:
        return None
    if not isinstance(data, Mapping):
        raise _bad("auto_rollback", "auto_rollback must be an object or null")
    unknown = sorted(str(key) for key in data if key not in _RULE_KEYS)
    if unknown:
        raise _bad(
            f"auto_rollback.{unknown[0][:100]}",
            f"unknown key {unknown[0][:100]!r} in auto_rollback",
        )
    return AutoRollbackRule(**data)


def key_bucket(key: str) -> int:
    """The bucket (0 to 9,999) a sticky routing key falls into, the same in every process."""
    digest = hashlib.blake2b(key.encode("utf-8", "surrogatepass"), digest_size=8).digest()
    return int.from_bytes(digest, "big") % BUCKETS


class Router:
    """Picks the version that answers one request under ``plan``.

    ``rng``: the source of randomness for requests without a key (seed it in tests).
    """

    def __init__(self, plan: RoutingPlan, *, rng: random.Random | None = None) -> None:
        if not isinstance(plan, RoutingPlan):
            raise InvalidArgument("a Router needs a RoutingPlan")
        self.plan = plan
        self._rng = rng or random.Random()  # noqa: S311 - traffic split, not a secret
        ordered = [*plan.canaries(), *(r for r in plan.routes if r.version == plan.stable)]
        bounds: list[tuple[int, str]] = []
        upper = 0
        for route in ordered:
            if route.weight > 0:
                upper += route.weight * (BUCKETS // 100)
                bounds.append((upper, route.version))
        self._bounds = tuple(bounds)

    def choose(self, key: str | None) -> str:
        """The version for a request with sticky ``key`` (None: weighted random)."""
        bucket = int(self._rng.random() * BUCKETS) if key is None else key_bucket(key)
        for upper, version in self._bounds:
            if bucket < upper:
                return version
        return self._bounds[-1][1]
