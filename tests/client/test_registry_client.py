"""The model registry through ``Client``, in-process and over HTTP: the same calls give the
same results, and the same errors with the same details."""

from __future__ import annotations

import io
import itertools
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from mlsteward.client import Client
from mlsteward.errors import (
    AlreadyExists,
    Conflict,
    InvalidArgument,
    NotFound,
    PermissionDenied,
    PolicyNotMet,
    StewardError,
)
from mlsteward.registry import (
    AliasPeriod,
    ModelFile,
    ModelVersion,
    PromotionRequest,
    RegisteredModel,
    RequestStatus,
)

from ..server._support import assert_error_shape, bearer
from .conftest import World

_PROJECTS = itertools.count()
WEIGHTS = b"\x00weights\xff" * 1000
PARAMS = b'{"C": 0.5}'


@dataclass
class Team:
    """A project with an owner, two maintainers (alice, bob) and an editor (ed)."""

    project: str
    owner: Client
    alice: Client
    bob: Client
    ed: Client
    files: list[ModelFile]
    admin: Client  # uploads the raw blobs and records their scan (administrators only)


def _team(world: World) -> Team:
    n = next(_PROJECTS)
    project = f"reg{n}"
    names = {role: f"{role}{n}" for role in ("owner", "alice", "bob", "ed")}
    owner = world.user(names["owner"])
    owner.create_project(project)
    for role in ("alice", "bob"):
        world.user(names[role])
        owner.add_member(project, names[role], "maintainer")
    world.user(names["ed"])
    owner.add_member(project, names["ed"], "editor")
    admin = world.admin()
    files = []
    for path, content in (("model.skops", WEIGHTS), ("conf/params.json", PARAMS)):
        info = admin.put_blob(io.BytesIO(content))
        files.append(ModelFile(path, info.address, info.size))
    return Team(
        project,
        owner,
        world.user(names["alice"]),
        world.user(names["bob"]),
        world.user(names["ed"]),
        files,
        admin,
    )


def _register(team: Team, auc: float, scan: str = "clean", name: str = "fraud") -> ModelVersion:
    # Raw blobs and a stated scan result: only an administrator may register those (an
    # editor registers files logged to the project's runs, scanned by the server).
    return team.admin.register_model_version(
        team.project,
        name,
        source_uri="runs:/abc/model",
        flavor="sklearn",
        files=team.files,
        metrics={"auc": auc, "loss": float("nan")},
        scan={"status": scan},
        signature={"inputs": {"kind": "table", "columns": []}},
        tags={"team": "risk"},
    )


PRODUCTION_POLICY: list[dict[str, Any]] = [
    {"type": "approval"},
    {"type": "metric_at_least", "metric": "auc", "threshold": 0.95},
    {"type": "clean_scan"},
]


def test_models_and_versions(world: World) -> None:
    team = _team(world)
    created = team.ed.create_registered_model(
        team.project, "churn", description="churn", tags={"a": "b"}
    )
    assert isinstance(created, RegisteredModel)
    assert (created.name, created.description, created.tags) == ("churn", "churn", {"a": "b"})
    with pytest.raises(AlreadyExists):
        team.ed.create_registered_model(team.project, "churn")

    first = _register(team, 0.9)
    second = _register(team, 0.93, scan="unsafe")
    assert isinstance(first, ModelVersion)
    assert (first.version, second.version) == (1, 2)
    assert second.metrics == {"auc": 0.93}  # NaN is no comparable snapshot
    assert second.files == tuple(sorted(team.files, key=lambda f: f.path))
    assert second.uri == "models:/fraud/2"
    assert second.created_by == "admin"
    assert team.alice.get_model_version(team.project, "fraud", 2) == second
    assert team.alice.list_model_versions(team.project, "fraud") == [second, first]

    model = team.alice.get_registered_model(team.project, "fraud")
    assert model.latest_version == 2
    assert [m.name for m in team.alice.list_registered_models(team.project)] == ["churn", "fraud"]
    updated = team.ed.update_registered_model(team.project, "fraud", description="card fraud")
    assert (updated.description, updated.tags) == ("card fraud", {})
    assert team.ed.resolve_model_uri(team.project, "models:/fraud/1") == first


def test_aliases_and_their_history(world: World) -> None:
    team = _team(world)
    _register(team, 0.9)
    _register(team, 0.91)
    moved = team.alice.set_alias(team.project, "fraud", "staging", 1)
    assert moved.aliases == ("staging",)
    team.bob.set_alias(team.project, "fraud", "staging", 2)
    assert team.ed.resolve_model_uri(team.project, "models:/fraud@staging").version == 2
    assert team.ed.get_registered_model(team.project, "fraud").aliases == {"staging": 2}

    history = team.ed.alias_history(team.project, "fraud", "staging")
    assert all(isinstance(p, AliasPeriod) for p in history)
    assert [(p.version, p.set_by, p.ended_by) for p in history] == [
        (1, f"alice{team.project[3:]}", f"bob{team.project[3:]}"),
        (2, f"bob{team.project[3:]}", None),
    ]
    assert history[0].valid_to == history[1].valid_from

    team.alice.delete_alias(team.project, "fraud", "staging")
    with pytest.raises(NotFound, match="no alias @staging"):
        team.ed.resolve_model_uri(team.project, "models:/fraud@staging")
    assert team.ed.alias_history(team.project, "fraud")[-1].valid_to is not None
    with pytest.raises(PermissionDenied):  # editors request; maintainers move aliases
        team.ed.set_alias(team.project, "fraud", "staging", 1)


def test_four_eyes_promotion_under_a_policy(world: World) -> None:
    team = _team(world)
    _register(team, 0.9)
    assert team.alice.get_alias_policy(team.project, "production", model="fraud") == []
    stored = team.alice.set_alias_policy(team.project, "production", PRODUCTION_POLICY, "fraud")
    assert stored == [
        {"type": "approval"},
        {"type": "metric_at_least", "metric": "auc", "threshold": 0.95},
        {"type": "clean_scan"},
    ]
    assert team.ed.get_alias_policy(team.project, "production", "fraud") == stored
    assert team.ed.get_alias_policy(team.project, "production") == []  # no project default

    weak = _register(team, 0.93, scan="unsafe")
    request = team.alice.request_promotion(
        team.project, "fraud", weak.version, "production", comment="ship it"
    )
    assert isinstance(request, PromotionRequest)
    assert (request.status, request.comment) == (RequestStatus.PENDING, "ship it")
    with pytest.raises(Conflict, match="already has an open request"):
        team.ed.request_promotion(team.project, "fraud", weak.version, "production")

    with pytest.raises(PermissionDenied, match="four-eyes") as own:
        team.alice.approve_promotion(team.project, request.id, "looks fine to me")
    assert type(own.value) is PermissionDenied
    with pytest.raises(InvalidArgument, match="needs a comment"):
        team.bob.approve_promotion(team.project, request.id, "  ")

    approved, unmet = team.bob.approve_promotion(team.project, request.id, "reviewed")
    assert approved.status is RequestStatus.APPROVED
    assert approved.decided_by == f"bob{team.project[3:]}"
    assert [u["condition"] for u in unmet] == ["metric_at_least", "clean_scan"]
    with pytest.raises(PolicyNotMet) as refused:
        team.bob.apply_promotion(team.project, request.id)
    assert [u["condition"] for u in refused.value.details["unmet"]] == [
        "metric_at_least",
        "clean_scan",
    ]
    assert "2 unmet conditions" in refused.value.message

    good = _register(team, 0.97)
    second = team.ed.request_promotion(team.project, "fraud", good.version, "production")
    applied, unmet = team.bob.approve_promotion(team.project, second.id, "auc 0.97, clean")
    assert (applied.status, unmet) == (RequestStatus.APPLIED, [])
    now = team.ed.resolve_model_uri(team.project, "models:/fraud@production")
    assert now.version == good.version
    (period,) = team.ed.alias_history(team.project, "fraud", "production")
    assert (period.version, period.request_id) == (good.version, second.id)

    rejected = team.alice.reject_promotion(team.project, request.id, "superseded")
    assert (rejected.status, rejected.decision_comment) == (RequestStatus.REJECTED, "superseded")
    third = team.ed.request_promotion(team.project, "fraud", 1, "production")
    with pytest.raises(PermissionDenied, match="only the requester"):
        team.alice.cancel_promotion(team.project, third.id)
    assert team.ed.cancel_promotion(team.project, third.id).status is RequestStatus.CANCELLED

    listed = team.ed.list_promotion_requests(team.project, "fraud")
    assert [r.id for r in listed] == [third.id, second.id, request.id]
    assert team.ed.list_promotion_requests(team.project, "fraud", status="applied") == [applied]
    assert team.ed.list_promotion_requests(
        team.project, "fraud", status=RequestStatus.REJECTED
    ) == [rejected]
    with pytest.raises(InvalidArgument, match="status must be one of"):
        team.ed.list_promotion_requests(team.project, "fraud", status="done")


def test_download_model_version_writes_the_exact_bytes(world: World, tmp_path: Path) -> None:
    team = _team(world)
    version = _register(team, 0.9)
    team.alice.set_alias(team.project, "fraud", "staging", version.version)
    dest = tmp_path / "out"
    got = team.ed.download_model_version(team.project, "models:/fraud@staging", dest)
    assert got == team.ed.get_model_version(team.project, "fraud", version.version)
    assert (dest / "model.skops").read_bytes() == WEIGHTS
    assert (dest / "conf" / "params.json").read_bytes() == PARAMS
    assert sorted(p.relative_to(dest).as_posix() for p in dest.rglob("*")) == [
        "conf",
        "conf/params.json",
        "model.skops",
    ]  # no temporary files left behind

    one = team.ed.download_model_file(team.project, "models:/fraud/1", "conf/params.json", dest)
    assert one == dest / "params.json"
    assert one.read_bytes() == PARAMS


def test_download_refuses_unlisted_and_hostile_paths(world: World, tmp_path: Path) -> None:
    team = _team(world)
    _register(team, 0.9)
    with pytest.raises(NotFound, match=r"has no file 'weights\.bin'"):
        team.ed.download_model_file(team.project, "models:/fraud/1", "weights.bin", tmp_path)
    for hostile in ("../../etc/passwd", "/etc/passwd", "conf/../model.skops", "a\\..\\b"):
        with pytest.raises(InvalidArgument, match="model file path"):
            team.ed.download_model_file(team.project, "models:/fraud/1", hostile, tmp_path)
    file = tmp_path / "file"
    file.write_bytes(b"")
    with pytest.raises(InvalidArgument, match="is a file"):
        team.ed.download_model_version(team.project, "models:/fraud/1", file)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["file"]  # nothing written
    with pytest.raises(PermissionDenied):
        world.client(world.people.outsider_token).download_model_version(
            team.project, "models:/fraud/1", tmp_path / "x"
        )
    assert not (tmp_path / "x").exists()


def test_the_file_route_streams_only_listed_files(remote_world: World) -> None:
    team = _team(remote_world)
    _register(team, 0.9)
    models = f"{remote_world.url}/api/v1/projects/{team.project}/models/fraud"
    url = f"{models}/versions/1/files/content"
    headers = bearer(remote_world.people.token_for(f"ed{team.project[3:]}"))
    with httpx.Client(headers=headers) as http:
        response = http.get(url, params={"path": "conf/params.json"})
        assert response.status_code == 200
        assert response.content == PARAMS
        assert response.headers["etag"] == f'"{team.files[1].address}"'
        assert response.headers["content-length"] == str(len(PARAMS))
        assert_error_shape(http.get(url, params={"path": "weights.bin"}), 404, "not_found")
        for hostile in ("../../etc/passwd", "/etc/passwd", "conf/%2E%2E/model.skops"):
            error = assert_error_shape(http.get(url, params={"path": hostile}), 400)
            assert "model file path" in error["message"]
        missing = f"{models}/versions/9/files/content"
        assert_error_shape(http.get(missing, params={"path": "model.skops"}), 404)
    outsider = bearer(remote_world.people.outsider_token)
    assert_error_shape(httpx.get(url, params={"path": "model.skops"}, headers=outsider), 403)


@pytest.mark.parametrize(
    ("call", "error", "message"),
    [
        (lambda c, p: c.get_registered_model(p, "nope"), NotFound, "no registered model"),
        (lambda c, p: c.create_registered_model(p, "bad name!"), InvalidArgument, "model name"),
        (lambda c, p: c.get_registered_model(p, "a/b"), InvalidArgument, "contains '/'"),
        (lambda c, p: c.get_model_version(p, "fraud", 9), NotFound, "has no version 9"),
        (lambda c, p: c.get_model_version(p, "fraud", 0), InvalidArgument, "positive integer"),
        (lambda c, p: c.set_alias(p, "fraud", "Prod", 1), InvalidArgument, "alias 'Prod'"),
        (lambda c, p: c.set_alias(p, "fraud", "7", 1), InvalidArgument, "is not valid"),
        (lambda c, p: c.resolve_model_uri(p, "runs:/x"), InvalidArgument, "not a model URI"),
        (lambda c, p: c.resolve_model_uri(p, "models:/fraud@gone"), NotFound, "no alias @gone"),
        (lambda c, p: c.approve_promotion(p, "0" * 32, "ok"), NotFound, "no such promotion"),
        (
            lambda c, p: c.set_alias_policy(p, "prod", [{"type": "magic"}], "fraud"),
            InvalidArgument,
            "unknown condition type 'magic'",
        ),
        (
            lambda c, p: c.register_model_version(
                p, "fraud", source_uri="x", flavor="sklearn", files=[ModelFile("m", "0" * 64, 1)]
            ),
            NotFound,
            "not in the blob store",
        ),
    ],
)
def test_bad_input_is_refused_alike(
    call: Any, error: type[StewardError], message: str, local_world: World, remote_world: World
) -> None:
    raised = []
    for world in (local_world, remote_world):
        team = _team(world)
        _register(team, 0.9)
        with pytest.raises(StewardError) as caught:
            call(team.alice, team.project)
        raised.append((type(caught.value), caught.value.message, caught.value.details))
        assert message in caught.value.message
    assert raised[0][0] is error
    assert raised[0] == raised[1]


def test_policy_refusals_are_identical_on_both_backends(
    local_world: World, remote_world: World
) -> None:
    """``PolicyNotMet`` crosses HTTP as itself, with every unmet condition in its details."""
    raised = []
    for world in (local_world, remote_world):
        team = _team(world)
        _register(team, 0.5, scan="unsafe")
        team.alice.set_alias_policy(team.project, "production", PRODUCTION_POLICY, "fraud")
        with pytest.raises(PolicyNotMet) as caught:
            team.alice.set_alias(team.project, "fraud", "production", 1)
        raised.append((type(caught.value), caught.value.message, caught.value.details))
    assert raised[0] == raised[1]
    assert raised[0][0] is PolicyNotMet
    assert [u["condition"] for u in raised[0][2]["unmet"]] == [
        "approval",
        "metric_at_least",
        "clean_scan",
    ]
    assert raised[0][2]["alias"] == "production"
