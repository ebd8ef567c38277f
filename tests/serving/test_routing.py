"""Routing plans and the router: weights, sticky keys, rollback plans and every bad plan."""

from __future__ import annotations

import math
import random
from collections import Counter
from dataclasses import replace
from typing import Any

import pytest

from mlsteward.errors import InvalidArgument
from mlsteward.serving._routing import (
    AutoRollbackRule,
    Route,
    Router,
    RoutingPlan,
    key_bucket,
)


def _plan(*weights: tuple[str, int], stable: str = "1", **options: Any) -> RoutingPlan:
    routes = tuple(Route(version, weight) for version, weight in weights)
    return RoutingPlan(
        model="iris", revision=options.pop("revision", 1), stable=stable, routes=routes, **options
    )


def _within_binomial(count: int, trials: int, share: float, sigmas: float = 4.5) -> bool:
    return abs(count - trials * share) <= sigmas * math.sqrt(trials * share * (1 - share))


def test_weighted_random_choice_holds_the_weights() -> None:
    router = Router(_plan(("1", 90), ("2", 10)), rng=random.Random(7))
    counts = Counter(router.choose(None) for _ in range(2000))
    assert set(counts) == {"1", "2"}
    assert _within_binomial(counts["2"], 2000, 0.10)
    # Three routes, one of weight 0: never chosen.
    router = Router(_plan(("1", 50), ("2", 30), ("3", 20), ("4", 0)), rng=random.Random(3))
    counts = Counter(router.choose(None) for _ in range(4000))
    assert set(counts) == {"1", "2", "3"}
    assert _within_binomial(counts["2"], 4000, 0.30)
    assert _within_binomial(counts["3"], 4000, 0.20)


def test_a_seeded_rng_gives_the_same_choices() -> None:
    plan = _plan(("1", 70), ("2", 30))
    again = Router(plan, rng=random.Random(11))
    same = Router(plan, rng=random.Random(11))
    choices = [again.choose(None) for _ in range(200)]
    assert choices == [same.choose(None) for _ in range(200)]
    assert set(choices) == {"1", "2"}


def test_sticky_keys_stay_on_one_version_and_split_by_weight() -> None:
    router = Router(_plan(("1", 90), ("2", 10)), rng=random.Random(1))
    keys = [f"customer-{i}" for i in range(5000)]
    chosen = {key: router.choose(key) for key in keys}
    for key in keys[:500]:
        assert {router.choose(key) for _ in range(5)} == {chosen[key]}
    # A fresh router (another process) puts every key on the same version.
    other = Router(_plan(("1", 90), ("2", 10)))
    assert all(other.choose(key) == chosen[key] for key in keys)
    canary = sum(1 for version in chosen.values() if version == "2")
    assert _within_binomial(canary, len(keys), 0.10)


def test_raising_a_canary_only_moves_keys_onto_it() -> None:
    keys = [f"user-{i}" for i in range(5000)]
    before = Router(_plan(("1", 90), ("2", 10)))
    after = Router(_plan(("1", 70), ("2", 30), revision=2))
    moved = 0
    for key in keys:
        old, new = before.choose(key), after.choose(key)
        if old == "2":
            assert new == "2", f"{key} left the canary"
        elif new != old:
            assert new == "2"
            moved += 1
    assert _within_binomial(moved, len(keys), 0.20)


def test_raising_one_of_two_canaries_keeps_its_keys() -> None:
    keys = [f"k{i}" for i in range(4000)]
    before = Router(_plan(("1", 80), ("2", 10), ("3", 10)))
    after = Router(_plan(("1", 60), ("2", 30), ("3", 10), revision=2))
    for key in keys:
        if before.choose(key) == "2":
            assert after.choose(key) == "2"


def test_key_buckets_are_stable_and_in_range() -> None:
    assert key_bucket("customer-42") == key_bucket("customer-42")
    buckets = {key_bucket(f"x{i}") for i in range(2000)}
    assert min(buckets) >= 0
    assert max(buckets) < 10_000
    assert len(buckets) > 1500  # spread, not clumped
    assert 0 <= key_bucket("\udcff surrogate and ünïcödé") < 10_000


def test_a_stable_version_outside_the_routes_gets_no_traffic_but_stays_loaded() -> None:
    plan = _plan(("2", 100), stable="1", shadow="3")
    assert plan.versions() == frozenset({"1", "2", "3"})
    assert plan.canaries() == (Route("2", 100),)
    assert plan.weight_of("1") == 0
    router = Router(plan, rng=random.Random(0))
    assert {router.choose(None) for _ in range(100)} == {"2"}
    assert {router.choose(f"k{i}") for i in range(100)} == {"2"}


def test_rolled_back_sends_everything_to_stable() -> None:
    rule = AutoRollbackRule(max_error_rate=0.1, min_requests=10)
    plan = _plan(
        ("1", 80), ("2", 20), revision=7, shadow="3", sticky_header="X-Key", auto_rollback=rule
    )
    back = plan.rolled_back()
    assert back.revision == 8
    assert back.routes == (Route("1", 100),)
    assert back.canaries() == ()
    assert (back.shadow, back.sticky_header, back.auto_rollback) == ("3", "X-Key", rule)
    assert back.versions() == frozenset({"1", "3"})
    assert plan.revision == 7  # frozen: the original is unchanged
    assert {Router(back).choose(f"k{i}") for i in range(200)} == {"1"}


def test_json_round_trip() -> None:
    plan = _plan(
        ("1", 90),
        ("2", 10),
        revision=3,
        shadow="4",
        sticky_header="X-Routing-Key",
        auto_rollback=AutoRollbackRule(max_error_rate=0.02, max_p99_ms=250.0, min_requests=20),
    )
    data = plan.to_json()
    assert data["type"] == "mlsteward.routing_plan"
    assert data["schema_version"] == 1
    assert data["routes"] == [{"version": "1", "weight": 90}, {"version": "2", "weight": 10}]
    assert RoutingPlan.from_json(data) == plan
    bare = _plan(("1", 100))
    assert RoutingPlan.from_json(bare.to_json()) == bare
    assert bare.to_json()["auto_rollback"] is None


BAD_PLANS: list[tuple[str, dict[str, Any], str, str]] = [
    ("sum-under", {"routes": (Route("1", 60), Route("2", 30))}, "routes", "sum to 100, not 90"),
    ("sum-over", {"routes": (Route("1", 90), Route("2", 20))}, "routes", "sum to 100, not 110"),
    ("empty", {"routes": ()}, "routes", "at least one version"),
    ("list", {"routes": [Route("1", 100)]}, "routes", "at least one version"),
    ("not-route", {"routes": (("1", 100),)}, "routes", "Route(version, weight)"),
    ("duplicate", {"routes": (Route("1", 50), Route("1", 50))}, "routes", "listed twice"),
    ("model-empty", {"model": ""}, "model", "served model name"),
    ("model-slash", {"model": "a/b"}, "model", "served model name"),
    ("revision-negative", {"revision": -1}, "revision", "at least 0"),
    ("revision-bool", {"revision": True}, "revision", "at least 0"),
    ("stable-empty", {"stable": ""}, "stable", "model version"),
    ("stable-path", {"stable": "../1"}, "stable", "model version"),
    ("shadow-bad", {"shadow": "a b"}, "shadow", "model version"),
    ("header-bad", {"sticky_header": "X Key"}, "sticky_header", "HTTP header name"),
    ("rule-bad", {"auto_rollback": {"max_error_rate": 0.1}}, "auto_rollback", "AutoRollbackRule"),
]


@pytest.mark.parametrize(
    ("changes", "field", "message"),
    [case[1:] for case in BAD_PLANS],
    ids=[case[0] for case in BAD_PLANS],
)
def test_bad_plans_are_refused_naming_the_field(
    changes: dict[str, Any], field: str, message: str
) -> None:
    base = {"model": "iris", "revision": 1, "stable": "1", "routes": (Route("1", 100),)}
    with pytest.raises(InvalidArgument) as caught:
        RoutingPlan(**{**base, **changes})
    assert caught.value.details["field"] == field
    assert message in caught.value.message


@pytest.mark.parametrize(
    ("version", "weight", "message"),
    [
        ("1", -1, "between 0 and 100"),
        ("1", 101, "between 0 and 100"),
        ("1", 10.5, "integer"),
        ("1", True, "integer"),
        ("", 10, "model version"),
        ("x" * 65, 10, "model version"),
        (3, 10, "model version"),
    ],
    ids=["negative", "over-100", "float", "bool", "empty-version", "long-version", "int-version"],
)
def test_bad_routes_are_refused(version: Any, weight: Any, message: str) -> None:
    with pytest.raises(InvalidArgument) as caught:
        Route(version, weight)
    assert message in caught.value.message
    assert caught.value.details["field"].startswith("routes.")


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        ({"max_error_rate": 1.5}, "max_error_rate"),
        ({"max_error_rate": -0.1}, "max_error_rate"),
        ({"max_error_rate": "0.1"}, "max_error_rate"),
        ({"max_p99_ms": 0}, "max_p99_ms"),
        ({"max_p99_ms": math.inf}, "max_p99_ms"),
        ({"min_requests": 0}, "min_requests"),
        ({"min_requests": 2.5}, "min_requests"),
        ({"window_seconds": 0}, "window_seconds"),
        ({"window_seconds": 301}, "window_seconds"),
    ],
    ids=[
        "rate-over-1",
        "rate-negative",
        "rate-text",
        "p99-zero",
        "p99-inf",
        "min-zero",
        "min-float",
        "window-zero",
        "window-too-long",
    ],
)
def test_bad_rollback_rules_are_refused(changes: dict[str, Any], field: str) -> None:
    with pytest.raises(InvalidArgument) as caught:
        AutoRollbackRule(**changes)
    assert caught.value.details["field"] == f"auto_rollback.{field}"
    assert field in caught.value.message


def _json(**changes: Any) -> dict[str, Any]:
    data = _plan(("1", 90), ("2", 10)).to_json()
    data.update(changes)
    return {key: value for key, value in data.items() if value is not _DROP}


_DROP = object()

BAD_JSON: list[tuple[str, Any, str, str]] = [
    ("not-object", [1, 2], "plan", "JSON object"),
    ("no-type", _json(type=_DROP), "type", "not a routing plan"),
    ("wrong-type", _json(type="mlsteward.bundle"), "type", "not a routing plan"),
    ("schema-text", _json(schema_version="1"), "schema_version", "positive integer"),
    ("schema-newer", _json(schema_version=2), "schema_version", "upgrade mlsteward"),
    ("unknown-key", _json(owner="me"), "owner", "unknown key 'owner'"),
    ("no-routes", _json(routes=_DROP), "routes", "has no routes"),
    ("no-model", _json(model=_DROP), "model", "has no model"),
    ("routes-object", _json(routes={"1": 100}), "routes", "must be a list"),
    (
        "route-extra",
        _json(routes=[{"version": "1", "weight": 100, "x": 1}]),
        "routes",
        "exactly version and weight",
    ),
    ("route-string", _json(routes=["1"]), "routes", "exactly version and weight"),
    ("weights", _json(routes=[{"version": "1", "weight": 99}]), "routes", "sum to 100"),
    (
        "weight-text",
        _json(routes=[{"version": "1", "weight": "100"}]),
        "routes.weight",
        "integer",
    ),
    ("revision-text", _json(revision="3"), "revision", "integer"),
    ("rule-list", _json(auto_rollback=[0.1]), "auto_rollback", "object or null"),
    (
        "rule-unknown",
        _json(auto_rollback={"max_errors": 3}),
        "auto_rollback.max_errors",
        "unknown key",
    ),
    (
        "rule-bad",
        _json(auto_rollback={"min_requests": -5}),
        "auto_rollback.min_requests",
        "at least 1",
    ),
    ("header-number", _json(sticky_header=5), "sticky_header", "HTTP header name"),
]


@pytest.mark.parametrize(
    ("data", "field", "message"), [c[1:] for c in BAD_JSON], ids=[c[0] for c in BAD_JSON]
)
def test_bad_json_is_refused_naming_the_field(data: Any, field: str, message: str) -> None:
    with pytest.raises(InvalidArgument) as caught:
        RoutingPlan.from_json(data)
    assert caught.value.details["field"] == field
    assert message in caught.value.message


def test_a_router_needs_a_plan() -> None:
    with pytest.raises(InvalidArgument, match="needs a RoutingPlan"):
        Router({"model": "iris"})  # type: ignore[arg-type]


def test_replace_is_validated_too() -> None:
    plan = _plan(("1", 100))
    with pytest.raises(InvalidArgument, match="sum to 100"):
        replace(plan, routes=(Route("1", 50),))
