"""The registry's services on SQLite and PostgreSQL: models, versions, aliases and their
history, four-eyes promotion, alias policies, model URIs, bad input."""

from __future__ import annotations

import io
import itertools
import threading
from collections.abc import Callable

import pytest

from mlsteward.errors import (
    AlreadyExists,
    Conflict,
    InvalidArgument,
    NotFound,
    PermissionDenied,
    PolicyNotMet,
)
from mlsteward.platform import Platform
from mlsteward.registry import (
    ModelFile,
    ModelVersion,
    RequestStatus,
    alias_history_of,
    apply_promotion,
    approve_promotion,
    cancel_promotion,
    create_registered_model,
    delete_alias,
    get_alias_policy,
    get_model_version,
    get_registered_model,
    list_model_versions,
    list_promotion_requests,
    list_registered_models,
    record_package,
    register_model_version,
    reject_promotion,
    request_promotion,
    resolve_model_uri,
    set_alias,
    set_alias_policy,
    set_model_card,
    update_model_card,
    update_registered_model,
)
from mlsteward.security import (
    SYSTEM,
    Actor,
    add_member,
    authenticate_password,
    create_user,
    list_audit_events,
)

PASSWORD = "a-long-password-1"


def user(platform: Platform, name: str, role: str) -> Actor:
    create_user(platform, SYSTEM, name, PASSWORD)
    add_member(platform, SYSTEM, "default", name, role)
    return authenticate_password(platform, name, PASSWORD)


def model_files(platform: Platform, content: bytes = b"weights") -> list[ModelFile]:
    info = platform.blobs.put_bytes(content)
    return [ModelFile("model.skops", info.address, info.size)]


def add_version(
    platform: Platform,
    actor: Actor = SYSTEM,
    name: str = "fraud",
    metrics: dict[str, float] | None = None,
    scan: str = "clean",
) -> ModelVersion:
    return register_model_version(
        platform,
        actor,
        "default",
        name,
        source_uri="runs:/abc/model",
        flavor="sklearn",
        files=model_files(platform),
        metrics=metrics or {"auc": 0.93},
        scan={"status": scan},
    )


def test_versions_are_numbered_and_the_model_is_created_on_first_use(
    backend_platform: Platform,
) -> None:
    first = add_version(backend_platform)
    second = add_version(backend_platform, metrics={"auc": 0.95, "loss": float("nan")})
    assert (first.version, second.version) == (1, 2)
    assert second.metrics == {"auc": 0.95}  # non-finite values are not a comparable snapshot
    assert second.uri == "models:/fraud/2"
    model = get_registered_model(backend_platform, SYSTEM, "default", "fraud")
    assert model.latest_version == 2
    assert [
        v.version for v in list_model_versions(backend_platform, SYSTEM, "default", "fraud")
    ] == [2, 1]
    assert [m.name for m in list_registered_models(backend_platform, SYSTEM, "default")] == [
        "fraud"
    ]
    with pytest.raises(AlreadyExists):
        create_registered_model(backend_platform, SYSTEM, "default", "fraud")
    updated = update_registered_model(
        backend_platform,
        SYSTEM,
        "default",
        "fraud",
        description="card fraud",
        tags={"team": "risk"},
    )
    assert (updated.description, updated.tags) == ("card fraud", {"team": "risk"})


def test_concurrent_registrations_get_distinct_numbers(backend_platform: Platform) -> None:
    create_registered_model(backend_platform, SYSTEM, "default", "fraud")
    errors: list[BaseException] = []

    def register() -> None:
        try:
            for _ in range(5):
                add_version(backend_platform)
        except BaseException as exc:  # reported below
            errors.append(exc)

    threads = [threading.Thread(target=register) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    numbers = [v.version for v in list_model_versions(backend_platform, SYSTEM, "default", "fraud")]
    assert sorted(numbers) == list(range(1, 21))


def test_aliases_move_and_keep_their_history(backend_platform: Platform) -> None:
    for _ in range(3):
        add_version(backend_platform)
    set_alias(backend_platform, SYSTEM, "default", "fraud", "production", 1)
    set_alias(backend_platform, SYSTEM, "default", "fraud", "staging", 3)
    set_alias(backend_platform, SYSTEM, "default", "fraud", "production", 2)
    set_alias(backend_platform, SYSTEM, "default", "fraud", "production", 2)  # no-op
    assert (
        resolve_model_uri(backend_platform, SYSTEM, "default", "models:/fraud@production").version
        == 2
    )
    assert resolve_model_uri(backend_platform, SYSTEM, "default", "models:/fraud/3").aliases == (
        "staging",
    )
    model = get_registered_model(backend_platform, SYSTEM, "default", "fraud")
    assert model.aliases == {"production": 2, "staging": 3}
    history = alias_history_of(backend_platform, SYSTEM, "default", "fraud", "production")
    assert [(p.version, p.valid_to is None) for p in history] == [(1, False), (2, True)]
    assert history[0].valid_to == history[1].valid_from
    assert history[0].ended_by == "system"
    delete_alias(backend_platform, SYSTEM, "default", "fraud", "production")
    with pytest.raises(NotFound):
        resolve_model_uri(backend_platform, SYSTEM, "default", "models:/fraud@production")
    closed = alias_history_of(backend_platform, SYSTEM, "default", "fraud", "production")
    assert all(p.valid_to is not None for p in closed)
    with pytest.raises(NotFound):
        delete_alias(backend_platform, SYSTEM, "default", "fraud", "production")


def test_concurrent_alias_moves_leave_one_alias_and_a_complete_history(
    backend_platform: Platform,
) -> None:
    for _ in range(4):
        add_version(backend_platform)
    errors: list[BaseException] = []

    def mover(version: int) -> Callable[[], None]:
        def move() -> None:
            try:
                for _ in range(6):
                    set_alias(backend_platform, SYSTEM, "default", "fraud", "production", version)
            except BaseException as exc:  # reported below
                errors.append(exc)

        return move

    threads = [threading.Thread(target=mover(v)) for v in (1, 2, 3, 4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    current = resolve_model_uri(backend_platform, SYSTEM, "default", "models:/fraud@production")
    history = alias_history_of(backend_platform, SYSTEM, "default", "fraud", "production")
    open_periods = [p for p in history if p.valid_to is None]
    assert len(open_periods) == 1
    assert open_periods[0].version == current.version
    for before, after in itertools.pairwise(history):
        assert before.valid_to == after.valid_from  # no gap, no overlap
        assert before.version != after.version  # a no-op move leaves no period


def test_four_eyes_promotion(backend_platform: Platform) -> None:
    alice = user(backend_platform, "alice", "maintainer")
    bob = user(backend_platform, "bob", "maintainer")
    add_version(backend_platform)
    set_alias_policy(backend_platform, SYSTEM, "default", "production", [{"type": "approval"}])
    with pytest.raises(PolicyNotMet) as refused:
        set_alias(backend_platform, alice, "default", "fraud", "production", 1)
    assert [u["condition"] for u in refused.value.details["unmet"]] == ["approval"]

    request = request_promotion(
        backend_platform, alice, "default", "fraud", 1, "production", "ready"
    )
    assert request.status is RequestStatus.PENDING
    with pytest.raises(Conflict):  # one open request per version and alias
        request_promotion(backend_platform, alice, "default", "fraud", 1, "production")
    with pytest.raises(PermissionDenied, match="four-eyes"):
        approve_promotion(backend_platform, alice, "default", request.id, "looks good to me")
    with pytest.raises(InvalidArgument):
        approve_promotion(backend_platform, bob, "default", request.id, "  ")
    approved, unmet = approve_promotion(backend_platform, bob, "default", request.id, "checked")
    assert unmet == []
    assert approved.status is RequestStatus.APPLIED
    assert (approved.decided_by, approved.decision_comment) == ("bob", "checked")
    assert (
        resolve_model_uri(backend_platform, bob, "default", "models:/fraud@production").version == 1
    )
    period = alias_history_of(backend_platform, bob, "default", "fraud", "production")[-1]
    assert (period.set_by, period.request_id) == ("bob", request.id)
    actions = [e.action for e in list_audit_events(backend_platform, SYSTEM, limit=20)]
    assert {
        "registry.promotion.request",
        "registry.promotion.approve",
        "registry.alias.set",
    } <= set(actions)


def test_a_policy_with_three_unmet_conditions_lists_all_three(backend_platform: Platform) -> None:
    bob = user(backend_platform, "bob", "maintainer")
    carol = user(backend_platform, "carol", "editor")
    add_version(backend_platform, metrics={"auc": 0.81}, scan="unsafe")
    conditions = [
        {"type": "approval"},
        {"type": "clean_scan"},
        {"type": "metric_at_least", "metric": "auc", "threshold": 0.9},
        {"type": "signed_package"},
    ]
    set_alias_policy(backend_platform, bob, "default", "production", conditions, model="fraud")
    assert get_alias_policy(backend_platform, carol, "default", "production", model="fraud") == [
        {"type": "approval"},
        {"type": "clean_scan"},
        {"type": "metric_at_least", "metric": "auc", "threshold": 0.9},
        {"type": "signed_package"},
    ]
    request = request_promotion(backend_platform, carol, "default", "fraud", 1, "production")
    approved, unmet = approve_promotion(backend_platform, bob, "default", request.id, "ok by me")
    assert approved.status is RequestStatus.APPROVED  # approved, but the alias did not move
    assert [u["condition"] for u in unmet] == ["clean_scan", "metric_at_least", "signed_package"]
    assert "0.81" in unmet[1]["message"]
    with pytest.raises(PolicyNotMet) as refused:
        apply_promotion(backend_platform, bob, "default", request.id)
    assert len(refused.value.details["unmet"]) == 3
    assert "3 unmet conditions" in refused.value.message
    with pytest.raises(NotFound):
        resolve_model_uri(backend_platform, bob, "default", "models:/fraud@production")


def test_project_policy_applies_unless_the_model_has_its_own(backend_platform: Platform) -> None:
    add_version(backend_platform, metrics={"auc": 0.85})
    add_version(backend_platform, name="churn", metrics={"auc": 0.85})
    rule = [{"type": "metric_at_least", "metric": "auc", "threshold": 0.9}]
    set_alias_policy(backend_platform, SYSTEM, "default", "production", rule)
    set_alias_policy(backend_platform, SYSTEM, "default", "production", [], model="churn")
    with pytest.raises(PolicyNotMet):
        set_alias(backend_platform, SYSTEM, "default", "fraud", "production", 1)
    set_alias(backend_platform, SYSTEM, "default", "churn", "production", 1)
    set_alias(backend_platform, SYSTEM, "default", "fraud", "staging", 1)  # other alias: free


def test_reject_and_cancel(backend_platform: Platform) -> None:
    bob = user(backend_platform, "bob", "maintainer")
    carol = user(backend_platform, "carol", "editor")
    add_version(backend_platform)
    first = request_promotion(backend_platform, carol, "default", "fraud", 1, "production")
    with pytest.raises(PermissionDenied):  # editors cannot reject
        reject_promotion(backend_platform, carol, "default", first.id, "no")
    rejected = reject_promotion(backend_platform, bob, "default", first.id, "needs more data")
    assert rejected.status is RequestStatus.REJECTED
    with pytest.raises(Conflict):
        approve_promotion(backend_platform, bob, "default", first.id, "changed my mind")
    second = request_promotion(backend_platform, carol, "default", "fraud", 1, "production")
    with pytest.raises(PermissionDenied):  # only the requester cancels
        cancel_promotion(backend_platform, bob, "default", second.id)
    assert (
        cancel_promotion(backend_platform, carol, "default", second.id).status
        is RequestStatus.CANCELLED
    )
    statuses = [
        r.status for r in list_promotion_requests(backend_platform, bob, "default", "fraud")
    ]
    assert sorted(statuses) == [RequestStatus.CANCELLED, RequestStatus.REJECTED]


def test_roles(backend_platform: Platform) -> None:
    vic = user(backend_platform, "vic", "viewer")
    carol = user(backend_platform, "carol", "editor")
    add_version(backend_platform)
    assert get_model_version(backend_platform, vic, "default", "fraud", 1).version == 1
    with pytest.raises(PermissionDenied):
        add_version(backend_platform, vic)
    with pytest.raises(PermissionDenied):
        request_promotion(backend_platform, vic, "default", "fraud", 1, "production")
    with pytest.raises(PermissionDenied):  # editors request, maintainers move aliases
        set_alias(backend_platform, carol, "default", "fraud", "production", 1)
    with pytest.raises(PermissionDenied):
        set_alias_policy(backend_platform, carol, "default", "production", [], model="fraud")
    with pytest.raises(PermissionDenied):  # the project-wide policy is for owners
        set_alias_policy(
            backend_platform,
            user(backend_platform, "max", "maintainer"),
            "default",
            "production",
            [],
        )


@pytest.mark.parametrize(
    "uri",
    [
        "models:/fraud",
        "models:/fraud/0",
        "models:/fraud/-1",
        "models:/fraud/1/2",
        "models:/fraud@Production",
        "models:/fraud@1abc",
        "models:/../x/1",
        "runs:/abc/model",
        "models:/fraud@prod@x",
        "",
    ],
)
def test_malformed_model_uris(platform: Platform, uri: str) -> None:
    with pytest.raises(InvalidArgument):
        resolve_model_uri(platform, SYSTEM, "default", uri)


def test_bad_input_writes_nothing(platform: Platform) -> None:
    before = len(list_audit_events(platform, SYSTEM, limit=1000))
    files = model_files(platform)
    bad_calls: list[Callable[[], object]] = [
        lambda: create_registered_model(platform, SYSTEM, "default", "bad/name"),
        lambda: create_registered_model(platform, SYSTEM, "default", ""),
        lambda: create_registered_model(platform, SYSTEM, "default", "x" * 201),
        lambda: create_registered_model(platform, SYSTEM, "default", "ok", tags={"k": 1}),  # type: ignore[dict-item]
        lambda: register_model_version(
            platform, SYSTEM, "default", "m", source_uri="s", flavor="f", files=[]
        ),
        lambda: register_model_version(
            platform,
            SYSTEM,
            "default",
            "m",
            source_uri="s",
            flavor="f",
            files=[ModelFile("../escape", files[0].address, files[0].size)],
        ),
        lambda: register_model_version(
            platform,
            SYSTEM,
            "default",
            "m",
            source_uri="s",
            flavor="f",
            files=[*files, files[0]],
        ),
        lambda: register_model_version(
            platform,
            SYSTEM,
            "default",
            "m",
            source_uri="s",
            flavor="f",
            files=[ModelFile("w.bin", "0" * 64, 3)],  # not in the blob store
        ),
        lambda: register_model_version(
            platform,
            SYSTEM,
            "default",
            "m",
            source_uri="s",
            flavor="f",
            files=files,
            scan={"status": "fine"},
        ),
        lambda: set_alias_policy(platform, SYSTEM, "default", "production", [{"type": "vibes"}]),
        lambda: set_alias_policy(
            platform,
            SYSTEM,
            "default",
            "production",
            [{"type": "metric_at_least", "metric": "auc"}],
        ),
        lambda: set_alias_policy(
            platform,
            SYSTEM,
            "default",
            "production",
            [{"type": "metric_at_least", "metric": "auc", "threshold": float("nan")}],
        ),
        lambda: set_alias_policy(platform, SYSTEM, "default", "production", "approval"),  # type: ignore[arg-type]
        lambda: set_alias_policy(platform, SYSTEM, "default", "Prod", []),
        lambda: set_alias(platform, SYSTEM, "default", "nope", "production", 1),
        lambda: get_model_version(platform, SYSTEM, "default", "nope", True),  # type: ignore[arg-type]
        lambda: approve_promotion(platform, SYSTEM, "default", "f" * 32, "fine"),
        lambda: approve_promotion(platform, SYSTEM, "default", "../x", "fine"),
    ]
    for call in bad_calls:
        with pytest.raises((InvalidArgument, NotFound)):
            call()
    assert list_registered_models(platform, SYSTEM, "default") == []
    assert len(list_audit_events(platform, SYSTEM, limit=1000)) == before


def test_a_recorded_verified_package_meets_the_signed_package_condition(
    backend_platform: Platform,
) -> None:
    add_version(backend_platform)
    policy = [{"type": "signed_package"}]
    set_alias_policy(backend_platform, SYSTEM, "default", "production", policy, model="fraud")
    with pytest.raises(PolicyNotMet):
        set_alias(backend_platform, SYSTEM, "default", "fraud", "production", 1)
    archive = backend_platform.blobs.put_bytes(b"package bytes")
    with pytest.raises(InvalidArgument):
        record_package(
            backend_platform,
            SYSTEM,
            "default",
            "fraud",
            1,
            address="x",
            size=1,
            key_id="k",
            verified=True,
        )
    record_package(
        backend_platform,
        SYSTEM,
        "default",
        "fraud",
        1,
        address=archive.address,
        size=archive.size,
        key_id="k" * 32,
        verified=False,
    )
    with pytest.raises(PolicyNotMet):  # signed, but not verified against a trusted key
        set_alias(backend_platform, SYSTEM, "default", "fraud", "production", 1)
    version = record_package(
        backend_platform,
        SYSTEM,
        "default",
        "fraud",
        1,
        address=archive.address,
        size=archive.size,
        key_id="k" * 32,
        verified=True,
    )
    assert version.package is not None
    assert version.package["verified"] is True
    set_alias(backend_platform, SYSTEM, "default", "fraud", "production", 1)
    with pytest.raises(InvalidArgument):  # a complete card, in ModelCard.to_dict form
        set_model_card(
            backend_platform, SYSTEM, "default", "fraud", 1, {"intended_use": "payments"}
        )
    card = update_model_card(
        backend_platform, SYSTEM, "default", "fraud", 1, {"intended_use": "score card payments"}
    )
    assert card.intended_use == "score card payments"
    stored = get_model_version(backend_platform, SYSTEM, "default", "fraud", 1).model_card
    assert stored["intended_use"] == "score card payments"
    assert stored["metrics"] == {"auc": 0.93}  # prefilled from the version


def test_editors_register_their_projects_files_and_the_server_scans_them(
    backend_platform: Platform,
) -> None:
    from mlsteward.tracking import create_experiment, log_artifact, start_run

    carol = user(backend_platform, "carol", "editor")
    foreign = model_files(backend_platform, b"another project's weights")
    with pytest.raises(PermissionDenied, match="neither run artifacts"):
        register_model_version(
            backend_platform, carol, "default", "fraud", source_uri="s", flavor="f", files=foreign
        )
    with pytest.raises(PermissionDenied, match="scan"):
        register_model_version(
            backend_platform,
            carol,
            "default",
            "fraud",
            source_uri="s",
            flavor="f",
            files=foreign,
            scan={"status": "clean"},
        )
    create_experiment(backend_platform, carol, "default", "e")
    run = start_run(backend_platform, carol, "default", "e")
    info = log_artifact(backend_platform, carol, run.id, "model/weights.bin", io.BytesIO(b"w"))
    assert info.address is not None
    version = register_model_version(
        backend_platform,
        carol,
        "default",
        "fraud",
        source_uri=f"runs:/{run.id}/model",
        flavor="f",
        files=[ModelFile("weights.bin", info.address, 1)],
    )
    assert version.scan["status"] == "not_scanned"  # no mlsteward.yaml: not a saved model


def test_alias_policies_are_listed_with_the_models_own_overriding(
    backend_platform: Platform,
) -> None:
    from mlsteward.registry import list_alias_policies

    add_version(backend_platform)
    add_version(backend_platform, name="churn")
    approval = [{"type": "approval"}]
    scan = [{"type": "clean_scan"}]
    set_alias_policy(backend_platform, SYSTEM, "default", "production", approval)
    set_alias_policy(backend_platform, SYSTEM, "default", "canary", scan, model="fraud")
    set_alias_policy(backend_platform, SYSTEM, "default", "production", scan, model="fraud")
    assert list_alias_policies(backend_platform, SYSTEM, "default") == {"production": approval}
    assert list_alias_policies(backend_platform, SYSTEM, "default", model="fraud") == {
        "canary": scan,
        "production": scan,
    }
    assert list_alias_policies(backend_platform, SYSTEM, "default", model="churn") == {
        "production": approval
    }
    with pytest.raises(NotFound):
        list_alias_policies(backend_platform, SYSTEM, "default", model="nope")
