"""The deployment services on SQLite and PostgreSQL: create, rollout, promote, rollback,
auto-rollback, stop and start; history, audit events and lineage edges written in the same
transaction; every error case with nothing written."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from typing import Any

import pytest
from sqlalchemy import select, update

from mlsteward._schema import load_all_tables
from mlsteward.data._tables import lineage_edges, lineage_nodes
from mlsteward.deployments import (
    Deployment,
    DeploymentStatus,
    EventKind,
    InputRangesMode,
    create_deployment,
    deployment_history,
    get_deployment,
    list_deployments,
    promote,
    record_auto_rollback,
    rollback,
    rollout,
    set_canary_weight,
    start_deployment,
    stop_deployment,
)
from mlsteward.deployments._lifecycle import record_failure, record_restart, stored_plan
from mlsteward.errors import AlreadyExists, Conflict, InvalidArgument, NotFound, PermissionDenied
from mlsteward.platform import Platform
from mlsteward.registry import ModelFile, register_model_version, set_alias
from mlsteward.security import (
    SYSTEM,
    add_member,
    authenticate_password,
    create_user,
    list_audit_events,
)
from mlsteward.serving._routing import AutoRollbackRule, Route

load_all_tables()


def add_versions(platform: Platform, count: int, name: str = "fraud") -> None:
    info = platform.blobs.put_bytes(b"weights")
    for _ in range(count):
        register_model_version(
            platform,
            SYSTEM,
            "default",
            name,
            source_uri="runs:/abc/model",
            flavor="sklearn",
            files=[ModelFile("model.skops", info.address, info.size)],
        )


def table_rows(platform: Platform) -> dict[str, list[str]]:
    from mlsteward.store._tables import metadata

    state: dict[str, list[str]] = {}
    with platform.db.read() as conn:
        for table in metadata.sorted_tables:
            state[table.name] = sorted(repr(tuple(row)) for row in conn.execute(select(table)))
    return state


def edges(platform: Platform) -> set[tuple[str, str]]:
    from mlsteward.registry._tables import model_versions

    with platform.db.read() as conn:
        rows = conn.execute(
            select(model_versions.c.version, lineage_edges.c.target_id)
            .join(model_versions, model_versions.c.id == lineage_edges.c.source_id)
            .where(lineage_edges.c.relation == "deployed_as")
        ).all()
    return {(str(version), target) for version, target in rows}


def audit_actions(platform: Platform) -> list[str]:
    from mlsteward.store._tables import audit_events

    with platform.db.read() as conn:
        return list(
            conn.execute(
                select(audit_events.c.action)
                .where(audit_events.c.action.like("deployment.%"))
                .order_by(audit_events.c.seq)
            ).scalars()
        )


@pytest.fixture
def deployed(backend_platform: Platform) -> Platform:
    add_versions(backend_platform, 3)
    set_alias(backend_platform, SYSTEM, "default", "fraud", "production", 1)
    return backend_platform


def test_the_lifecycle_of_a_deployment(deployed: Platform) -> None:
    platform = deployed
    rule = AutoRollbackRule(max_error_rate=0.1, min_requests=20)
    created = create_deployment(
        platform,
        SYSTEM,
        "default",
        "fraud-api",
        "models:/fraud@production",
        port=18123,
        sticky_header="X-Routing-Key",
        auto_rollback=rule,
    )
    assert created.status is DeploymentStatus.RUNNING
    assert (created.model, created.revision, created.plan.stable) == ("fraud", 1, "1")
    assert created.plan.routes == (Route("1", 100),)
    assert (created.plan.sticky_header, created.plan.auto_rollback) == ("X-Routing-Key", rule)
    assert created.url == "http://127.0.0.1:18123"
    assert edges(platform) == {("1", created.id)}

    canary = rollout(platform, SYSTEM, "default", "fraud-api", 2, canary=10)
    assert canary.revision == 2
    assert canary.plan.routes == (Route("1", 90), Route("2", 10))
    assert [r.version for r in canary.plan.canaries()] == ["2"]
    assert canary.plan.sticky_header == "X-Routing-Key"  # options carry over
    heavier = set_canary_weight(platform, SYSTEM, "default", "fraud-api", 50)
    assert (heavier.revision, heavier.plan.routes) == (3, (Route("1", 50), Route("2", 50)))

    promoted = promote(platform, SYSTEM, "default", "fraud-api")
    assert (promoted.revision, promoted.plan.stable) == (4, "2")
    assert promoted.plan.routes == (Route("2", 100),)

    shadowed = rollout(platform, SYSTEM, "default", "fraud-api", 3, shadow=True)
    assert (shadowed.plan.shadow, shadowed.plan.routes) == ("3", (Route("2", 100),))
    again = rollout(platform, SYSTEM, "default", "fraud-api", 1, canary=20)
    assert again.plan.routes == (Route("2", 80), Route("1", 20))
    assert again.plan.shadow == "3"
    back = rollback(platform, SYSTEM, "default", "fraud-api")
    assert (back.revision, back.plan.routes, back.plan.shadow) == (7, (Route("2", 100),), None)

    stopped = stop_deployment(platform, SYSTEM, "default", "fraud-api")
    assert (stopped.status, stopped.revision) == (DeploymentStatus.STOPPED, 8)
    started = start_deployment(platform, SYSTEM, "default", "fraud-api")
    assert started.status is DeploymentStatus.RUNNING

    assert edges(platform) == {("1", created.id), ("2", created.id), ("3", created.id)}
    with platform.db.read() as conn:
        label = conn.execute(
            select(lineage_nodes.c.label).where(lineage_nodes.c.node_id == created.id)
        ).scalar_one()
    assert label == "deployment fraud-api"

    history = deployment_history(platform, SYSTEM, "default", "fraud-api")
    assert [(e.kind, e.revision) for e in history] == [
        (EventKind.CREATED, 1),
        (EventKind.ROLLOUT, 2),
        (EventKind.ROLLOUT, 3),
        (EventKind.PROMOTE, 4),
        (EventKind.SHADOW, 5),
        (EventKind.ROLLOUT, 6),
        (EventKind.ROLLBACK, 7),
        (EventKind.STOPPED, 8),
        (EventKind.STARTED, 9),
    ]
    assert history[1].details == {"version": 2, "weight": 10, "stable": 1}
    assert all(e.actor == "system" for e in history)
    assert [
        e.kind for e in deployment_history(platform, SYSTEM, "default", "fraud-api", limit=2)
    ] == [
        EventKind.STOPPED,
        EventKind.STARTED,
    ]
    assert audit_actions(platform) == [
        "deployment.created",
        "deployment.rollout",
        "deployment.rollout",
        "deployment.promote",
        "deployment.shadow",
        "deployment.rollout",
        "deployment.rollback",
        "deployment.stopped",
        "deployment.started",
    ]
    assert [d.name for d in list_deployments(platform, SYSTEM, "default")] == ["fraud-api"]
    assert get_deployment(platform, SYSTEM, "default", "fraud-api") == started
    assert started.to_json()["plan"] == started.plan.to_json()


def test_auto_rollback_is_recorded_only_from_the_revision_it_left(deployed: Platform) -> None:
    platform = deployed
    create_deployment(platform, SYSTEM, "default", "api", "models:/fraud/1", port=18124)
    canary = rollout(platform, SYSTEM, "default", "api", 2, canary=30)
    switched = canary.plan.rolled_back()
    assert record_auto_rollback(platform, SYSTEM, "default", "api", switched, "errors 40 %")
    now = get_deployment(platform, SYSTEM, "default", "api")
    assert now.plan == switched
    assert now.revision == 3
    last = deployment_history(platform, SYSTEM, "default", "api")[-1]
    assert (last.kind, last.details["reason"], last.details["from_revision"]) == (
        EventKind.AUTO_ROLLBACK,
        "errors 40 %",
        2,
    )
    before = table_rows(platform)
    # A second report of the same switch, or one from a stale revision, writes nothing.
    assert not record_auto_rollback(platform, SYSTEM, "default", "api", switched, "again")
    assert not record_auto_rollback(
        platform, SYSTEM, "default", "api", canary.plan.rolled_back(), "late"
    )
    assert table_rows(platform) == before
    assert audit_actions(platform)[-1] == "deployment.auto_rollback"


def test_supervisor_records_restarts_and_failures(deployed: Platform) -> None:
    platform = deployed
    create_deployment(platform, SYSTEM, "default", "api", "models:/fraud/1", port=18125)
    record_restart(platform, SYSTEM, "default", "api", {"exit_code": -9, "restarts": 1})
    failed = record_failure(platform, SYSTEM, "default", "api", "model does not load")
    assert failed.status is DeploymentStatus.FAILED
    kinds = [e.kind for e in deployment_history(platform, SYSTEM, "default", "api")]
    assert kinds == [EventKind.CREATED, EventKind.RESTARTED, EventKind.FAILED]
    with pytest.raises(Conflict, match="failed already"):
        record_failure(platform, SYSTEM, "default", "api", "twice")
    assert start_deployment(platform, SYSTEM, "default", "api").status is DeploymentStatus.RUNNING


def test_the_stored_plan_is_read_by_revision(deployed: Platform) -> None:
    platform = deployed
    created = create_deployment(platform, SYSTEM, "default", "api", "models:/fraud/1", port=18126)
    assert stored_plan(platform, created.id, 1) == ("running", None)
    status, plan = stored_plan(platform, created.id, 0)
    assert (status, plan) == ("running", created.plan)
    with pytest.raises(NotFound):
        stored_plan(platform, "0" * 32, 0)


def test_a_free_port_is_chosen_when_none_is_given(deployed: Platform) -> None:
    created = create_deployment(deployed, SYSTEM, "default", "api", "models:/fraud/1")
    assert 0 < created.port < 65536


Call = Callable[[Platform], Any]

BAD_CALLS: list[tuple[str, Call, type[Exception], str]] = [
    (
        "unknown-model",
        lambda p: create_deployment(p, SYSTEM, "default", "new", "models:/nope/1", port=18130),
        NotFound,
        "no registered model named 'nope'",
    ),
    (
        "unknown-version",
        lambda p: create_deployment(p, SYSTEM, "default", "new", "models:/fraud/9", port=18130),
        NotFound,
        "no version 9",
    ),
    (
        "unknown-alias",
        lambda p: create_deployment(p, SYSTEM, "default", "new", "models:/fraud@x", port=18130),
        NotFound,
        "no alias @x",
    ),
    (
        "bad-uri",
        lambda p: create_deployment(p, SYSTEM, "default", "new", "fraud:3", port=18130),
        InvalidArgument,
        "not a model URI",
    ),
    (
        "duplicate-name",
        lambda p: create_deployment(p, SYSTEM, "default", "api", "models:/fraud/1", port=18130),
        AlreadyExists,
        "already has a deployment named 'api'",
    ),
    (
        "port-taken",
        lambda p: create_deployment(p, SYSTEM, "default", "other", "models:/fraud/1", port=18127),
        Conflict,
        "already listens on 127.0.0.1:18127",
    ),
    (
        "bad-name",
        lambda p: create_deployment(p, SYSTEM, "default", "a/b", "models:/fraud/1", port=18130),
        InvalidArgument,
        "deployment name 'a/b' is not valid",
    ),
    (
        "bad-port",
        lambda p: create_deployment(p, SYSTEM, "default", "new", "models:/fraud/1", port=70000),
        InvalidArgument,
        "port must be 1..65535",
    ),
    (
        "public-host-without-keys",
        lambda p: create_deployment(
            p, SYSTEM, "default", "new", "models:/fraud/1", host="0.0.0.0", port=18130
        ),
        InvalidArgument,
        "refusing to deploy on 0.0.0.0 without authentication",
    ),
    (
        "relative-key-file",
        lambda p: create_deployment(
            p, SYSTEM, "default", "new", "models:/fraud/1", port=18130, api_key_file="keys.txt"
        ),
        InvalidArgument,
        "absolute path to an existing file",
    ),
    (
        "bad-sticky-header",
        lambda p: create_deployment(
            p, SYSTEM, "default", "new", "models:/fraud/1", port=18130, sticky_header="a b"
        ),
        InvalidArgument,
        "sticky_header must be an HTTP header name",
    ),
    (
        "unknown-project",
        lambda p: create_deployment(p, SYSTEM, "nope", "new", "models:/fraud/1", port=18130),
        NotFound,
        "no project named 'nope'",
    ),
    (
        "unknown-deployment",
        lambda p: rollout(p, SYSTEM, "default", "nope", 2, canary=10),
        NotFound,
        "no deployment named 'nope'",
    ),
    (
        "rollout-unknown-version",
        lambda p: rollout(p, SYSTEM, "default", "api", 9, canary=10),
        NotFound,
        "no version 9",
    ),
    (
        "weight-zero",
        lambda p: rollout(p, SYSTEM, "default", "api", 3, canary=0),
        InvalidArgument,
        "whole percentage from 1 to 99",
    ),
    (
        "weight-100",
        lambda p: set_canary_weight(p, SYSTEM, "default", "api", 100),
        InvalidArgument,
        "whole percentage from 1 to 99",
    ),
    (
        "canary-and-shadow",
        lambda p: rollout(p, SYSTEM, "default", "api", 3, canary=10, shadow=True),
        InvalidArgument,
        "either a canary weight",
    ),
    (
        "stable-as-canary",
        lambda p: rollout(p, SYSTEM, "default", "api", 1, canary=10),
        InvalidArgument,
        "is the stable version",
    ),
    (
        "second-canary",
        lambda p: rollout(p, SYSTEM, "default", "api", 3, canary=10),
        Conflict,
        "promote it or roll back first",
    ),
    (
        "act-on-stopped",
        lambda p: promote(p, SYSTEM, "default", "stopped-api"),
        Conflict,
        "is stopped: start it first",
    ),
    (
        "stop-stopped",
        lambda p: stop_deployment(p, SYSTEM, "default", "stopped-api"),
        Conflict,
        "is stopped already",
    ),
    (
        "start-running",
        lambda p: start_deployment(p, SYSTEM, "default", "api"),
        Conflict,
        "is running already",
    ),
    (
        "promote-without-canary",
        lambda p: promote(p, SYSTEM, "default", "plain"),
        Conflict,
        "no canary to promote",
    ),
    (
        "weight-without-canary",
        lambda p: set_canary_weight(p, SYSTEM, "default", "plain", 20),
        Conflict,
        "has no canary",
    ),
    (
        "rollback-nothing",
        lambda p: rollback(p, SYSTEM, "default", "plain"),
        Conflict,
        "nothing to roll back",
    ),
    (
        "history-limit",
        lambda p: deployment_history(p, SYSTEM, "default", "api", limit=0),
        InvalidArgument,
        "limit must be",
    ),
]


@pytest.mark.parametrize(
    ("call", "error", "message"),
    [pytest.param(call, error, message, id=case) for case, call, error, message in BAD_CALLS],
)
def test_bad_requests_are_refused_and_write_nothing(
    deployed: Platform, call: Call, error: type[Exception], message: str
) -> None:
    platform = deployed
    create_deployment(platform, SYSTEM, "default", "api", "models:/fraud/1", port=18127)
    rollout(platform, SYSTEM, "default", "api", 2, canary=10)
    create_deployment(platform, SYSTEM, "default", "plain", "models:/fraud/1", port=18128)
    create_deployment(platform, SYSTEM, "default", "stopped-api", "models:/fraud/1", port=18129)
    stop_deployment(platform, SYSTEM, "default", "stopped-api")
    before = table_rows(platform)
    with pytest.raises(error, match=message):
        call(platform)
    assert table_rows(platform) == before


def test_viewers_read_and_only_maintainers_change(deployed: Platform) -> None:
    platform = deployed
    create_deployment(platform, SYSTEM, "default", "api", "models:/fraud/1", port=18131)
    create_user(platform, SYSTEM, "vera", "a-long-password-1")
    add_member(platform, SYSTEM, "default", "vera", "viewer")
    viewer = authenticate_password(platform, "vera", "a-long-password-1")
    assert get_deployment(platform, viewer, "default", "api").name == "api"
    assert len(deployment_history(platform, viewer, "default", "api")) == 1
    before = table_rows(platform)
    for change in (
        lambda: rollout(platform, viewer, "default", "api", 2, canary=10),
        lambda: rollback(platform, viewer, "default", "api"),
        lambda: stop_deployment(platform, viewer, "default", "api"),
        lambda: create_deployment(platform, viewer, "default", "x", "models:/fraud/1"),
    ):
        with pytest.raises(PermissionDenied):
            change()
    assert table_rows(platform) == before


def test_a_failing_audit_write_undoes_the_change(
    deployed: Platform, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The plan, event, lineage and audit event are one transaction: no audit, no change."""
    platform = deployed
    create_deployment(platform, SYSTEM, "default", "api", "models:/fraud/1", port=18132)
    before = table_rows(platform)

    def broken(*args: Any, **kwargs: Any) -> None:
        raise RuntimeError("the audit log is unavailable")

    monkeypatch.setattr(platform.audit, "record", broken)
    with pytest.raises(RuntimeError, match="audit log is unavailable"):
        rollout(platform, SYSTEM, "default", "api", 2, canary=10)
    with pytest.raises(RuntimeError, match="audit log is unavailable"):
        create_deployment(platform, SYSTEM, "default", "other", "models:/fraud/1", port=18133)
    assert table_rows(platform) == before


OPTION_KEYS = ("prediction_log", "log_sample_rate", "log_window", "input_ranges", "range_tolerance")


def test_serving_options_are_stored_returned_and_audited(deployed: Platform) -> None:
    platform = deployed
    plain = create_deployment(platform, SYSTEM, "default", "plain", "models:/fraud/1", port=18140)
    assert (plain.prediction_log, plain.log_sample_rate, plain.log_window) == (True, 0.01, 60.0)
    assert (plain.input_ranges, plain.range_tolerance) == (InputRangesMode.REJECT, 0.1)
    tuned = create_deployment(
        platform, SYSTEM, "default", "tuned", "models:/fraud/1", port=18141,
        prediction_log=False, log_sample_rate=1, log_window=0.5, input_ranges="off",
        range_tolerance=2.5,
    )  # fmt: skip
    assert (tuned.prediction_log, tuned.log_sample_rate, tuned.log_window) == (False, 1.0, 0.5)
    assert (tuned.input_ranges, tuned.range_tolerance) == (InputRangesMode.OFF, 2.5)
    assert get_deployment(platform, SYSTEM, "default", "tuned") == tuned
    assert [d for d in list_deployments(platform, SYSTEM, "default") if d.name == "tuned"] == [
        tuned
    ]
    shown = tuned.to_json()
    assert {key: shown[key] for key in OPTION_KEYS} == {
        "prediction_log": False,
        "log_sample_rate": 1.0,
        "log_window": 0.5,
        "input_ranges": "off",
        "range_tolerance": 2.5,
    }
    assert Deployment.from_json(shown) == tuned
    # Changes keep the options: they live beside the plan, not in it.
    canary = rollout(platform, SYSTEM, "default", "tuned", 2, canary=10)
    assert (canary.prediction_log, canary.input_ranges, canary.log_window) == (
        False,
        InputRangesMode.OFF,
        0.5,
    )
    (created,) = list_audit_events(platform, SYSTEM, action="deployment.created", target_id="tuned")
    assert {key: created.details[key] for key in OPTION_KEYS} == {
        "prediction_log": False,
        "log_sample_rate": 1.0,
        "log_window": 0.5,
        "input_ranges": "off",
        "range_tolerance": 2.5,
    }


def test_rows_and_answers_without_the_options_read_as_the_defaults(deployed: Platform) -> None:
    """Rows written before the options existed (and an older server's JSON) lack the keys."""
    from mlsteward.deployments._tables import deployments

    platform = deployed
    created = create_deployment(
        platform, SYSTEM, "default", "old", "models:/fraud/1", port=18142,
        prediction_log=False, input_ranges="off", log_window=5,
    )  # fmt: skip
    with platform.db.write() as conn:
        conn.execute(
            update(deployments)
            .where(deployments.c.id == created.id)
            .values(options={"api_key_file": None, "platform_tokens": False})
        )
    old = get_deployment(platform, SYSTEM, "default", "old")
    assert (old.prediction_log, old.log_sample_rate, old.log_window) == (True, 0.01, 60.0)
    assert (old.input_ranges, old.range_tolerance) == (InputRangesMode.REJECT, 0.1)
    answer = {k: v for k, v in created.to_json().items() if k not in OPTION_KEYS}
    assert Deployment.from_json(answer) == dataclasses.replace(
        created, prediction_log=True, log_window=60.0, input_ranges=InputRangesMode.REJECT
    )


def test_the_option_defaults_are_those_of_mlsteward_serve() -> None:
    import inspect

    from mlsteward.cli._serve import serve
    from mlsteward.deployments import _model
    from mlsteward.serving import _input_ranges, _prediction_log

    assert _model.DEFAULT_LOG_SAMPLE_RATE == _prediction_log.DEFAULT_SAMPLE_RATE
    assert _model.DEFAULT_LOG_WINDOW_SECONDS == _prediction_log.DEFAULT_LOG_WINDOW_SECONDS
    assert _model.DEFAULT_RANGE_TOLERANCE == _input_ranges.DEFAULT_RANGE_TOLERANCE
    assert _model.MAX_RANGE_TOLERANCE == _input_ranges.MAX_RANGE_TOLERANCE
    defaults = {
        name: parameter.default for name, parameter in inspect.signature(serve).parameters.items()
    }
    assert defaults["log_sample_rate"] == _model.DEFAULT_LOG_SAMPLE_RATE
    assert defaults["log_window"] == _model.DEFAULT_LOG_WINDOW_SECONDS
    assert defaults["range_tolerance"] == _model.DEFAULT_RANGE_TOLERANCE


BAD_OPTIONS: list[tuple[str, dict[str, Any], str]] = [
    ("log-flag-text", {"prediction_log": "yes"}, "prediction_log is true or false"),
    ("log-flag-number", {"prediction_log": 1}, "prediction_log is true or false"),
    ("rate-above-1", {"log_sample_rate": 1.5}, "log_sample_rate must be a share from 0 to 1"),
    ("rate-negative", {"log_sample_rate": -0.01}, "log_sample_rate must be a share from 0 to 1"),
    ("rate-nan", {"log_sample_rate": float("nan")}, "log_sample_rate must be a share"),
    ("rate-bool", {"log_sample_rate": True}, "log_sample_rate must be a share"),
    ("rate-text", {"log_sample_rate": "0.1"}, "log_sample_rate must be a share"),
    ("window-zero", {"log_window": 0}, "log_window must be a number of seconds from 0.1"),
    ("window-tiny", {"log_window": 0.05}, "log_window must be a number of seconds from 0.1"),
    ("window-over-a-day", {"log_window": 86_401}, "log_window must be a number of seconds"),
    ("window-infinite", {"log_window": float("inf")}, "log_window must be a number of seconds"),
    ("ranges-unknown", {"input_ranges": "warn"}, "input_ranges must be 'reject'"),
    ("ranges-none", {"input_ranges": None}, "input_ranges must be 'reject'"),
    ("ranges-upper-case", {"input_ranges": "OFF"}, "input_ranges must be 'reject'"),
    ("tolerance-negative", {"range_tolerance": -0.1}, "range_tolerance must be a share"),
    ("tolerance-too-big", {"range_tolerance": 101}, "range_tolerance must be a share"),
    ("tolerance-nan", {"range_tolerance": float("nan")}, "range_tolerance must be a share"),
]


@pytest.mark.parametrize(
    ("options", "message"),
    [pytest.param(options, message, id=case) for case, options, message in BAD_OPTIONS],
)
def test_bad_serving_options_are_refused_naming_the_field_and_write_nothing(
    deployed: Platform, options: dict[str, Any], message: str
) -> None:
    platform = deployed
    before = table_rows(platform)
    with pytest.raises(InvalidArgument) as raised:
        create_deployment(
            platform, SYSTEM, "default", "new", "models:/fraud/1", port=18143, **options
        )
    assert message in raised.value.message
    assert raised.value.details == {"field": next(iter(options))}
    assert table_rows(platform) == before
