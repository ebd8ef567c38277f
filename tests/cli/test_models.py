"""``mlsteward models``: the registry from the command line, as the local operator."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from mlsteward.registry import (
    ModelFile,
    PromotionRequest,
    register_model_version,
    request_promotion,
    set_alias,
    set_alias_policy,
)
from mlsteward.security import SYSTEM, Actor, add_member, authenticate_password, create_user

from ..server._support import cheap_password_hashing
from .conftest import Cli

PASSWORD = "a-long-password-1"


def _editor(cli: Cli) -> Actor:
    platform = cli.platform()
    try:
        with cheap_password_hashing():
            create_user(platform, SYSTEM, "ed", PASSWORD)
            add_member(platform, SYSTEM, "default", "ed", "editor")
            return authenticate_password(platform, "ed", PASSWORD)
    finally:
        platform.close()


@pytest.fixture
def registry(cli: Cli) -> Cli:
    """``fraud`` with version 1 (auc 0.9, not scanned, @staging) and version 2 (auc 0.97, unsafe
    scan), registered from raw blobs with stated scans (which only an administrator may do);
    @production of fraud needs an approval, auc >= 0.95 and a clean scan. The editor ``ed``
    exists for the four-eyes tests."""
    _editor(cli)
    platform = cli.platform()
    try:
        info = platform.blobs.put_bytes(b"weights")
        files = [ModelFile("model.skops", info.address, info.size)]
        for auc, scan in ((0.9, "not_scanned"), (0.97, "unsafe")):
            register_model_version(
                platform,
                SYSTEM,
                "default",
                "fraud",
                source_uri="runs:/abc/model",
                flavor="sklearn",
                files=files,
                metrics={"auc": auc},
                scan={"status": scan, "globals": ["os.system"]},
                signature={
                    "inputs": {
                        "kind": "table",
                        "columns": [{"name": "amount", "dtype": "float64"}],
                    },
                    "outputs": None,
                },
            )
        set_alias(platform, SYSTEM, "default", "fraud", "staging", 1)
        set_alias_policy(
            platform,
            SYSTEM,
            "default",
            "production",
            [
                {"type": "approval"},
                {"type": "metric_at_least", "metric": "auc", "threshold": 0.95},
                {"type": "clean_scan"},
            ],
            model="fraud",
        )
    finally:
        platform.close()
    return cli


def _request_as_editor(cli: Cli, version: int, alias: str) -> PromotionRequest:
    platform = cli.platform()
    try:
        with cheap_password_hashing():
            ed = authenticate_password(platform, "ed", PASSWORD)
        return request_promotion(platform, ed, "default", "fraud", version, alias, "please")
    finally:
        platform.close()


def test_list_show_versions_and_version(registry: Cli) -> None:
    (listed,) = registry.json("models", "list")
    assert (listed["name"], listed["latest_version"], listed["aliases"]) == (
        "fraud",
        2,
        {"staging": 1},
    )
    assert "fraud" in registry.ok("models", "list").stdout

    shown = registry.json("models", "show", "fraud")
    assert [v["version"] for v in shown["versions"]] == [2, 1]
    assert shown["open_requests"] == []
    table = registry.ok("models", "show", "fraud")
    assert "@staging → 1" in table.stderr
    assert "no open promotion requests" in table.stderr

    assert [v["version"] for v in registry.json("models", "versions", "fraud")] == [2, 1]
    detail = registry.json("models", "version", "fraud", "2")
    assert detail["uri"] == "models:/fraud/2"
    assert detail["metrics"] == {"auc": 0.97}
    human = registry.ok("models", "version", "fraud", "2").stdout
    assert "table, 1 column(s): amount (float64)" in human
    assert "unsafe (imports os.system)" in human
    assert "auc=0.97" in human

    assert registry.json("models", "resolve", "models:/fraud@staging")["version"] == 1
    assert (
        "models:/fraud@staging → models:/fraud/1"
        in registry.ok("models", "resolve", "models:/fraud@staging").stderr
    )


def test_aliases_and_history(registry: Cli) -> None:
    moved = registry.json("models", "alias", "set", "fraud", "staging", "2")
    assert moved["aliases"] == ["staging"]
    history = registry.json("models", "alias", "history", "fraud", "--alias", "staging")
    assert [(p["version"], p["set_by"]) for p in history] == [(1, "system"), (2, "local-admin")]
    assert history[0]["valid_to"] is not None
    assert registry.json("models", "alias", "delete", "fraud", "staging") == {
        "model": "fraud",
        "alias": "staging",
        "deleted": True,
    }
    assert registry.json("models", "show", "fraud")["aliases"] == {}
    assert "now" not in registry.ok("models", "alias", "history", "fraud").stdout


def test_a_refused_alias_move_lists_every_unmet_condition(registry: Cli) -> None:
    events = registry.audit_count()
    result = registry.fails("models", "alias", "set", "fraud", "production", "1")
    lines = result.stderr.splitlines()
    assert "3 unmet condition(s)" in lines[0]
    assert [line.split(":")[0].strip() for line in lines[1:]] == [
        "- approval",
        "- metric_at_least",
        "- clean_scan",
    ]
    assert registry.audit_count() == events


def test_the_requester_cannot_approve_their_own_request(registry: Cli) -> None:
    """The CLI acts as local-admin: a request it makes, it cannot approve (four eyes)."""
    request = registry.json("models", "promote", "request", "fraud", "1", "canary")
    assert (request["requested_by"], request["status"]) == ("local-admin", "PENDING")
    result = registry.fails("models", "promote", "approve", request["id"], "--comment", "mine")
    assert "four-eyes rule: the requester cannot approve their own request" in result.stderr
    pending = registry.json("models", "promote", "list", "fraud", "--status", "pending")
    assert [r["id"] for r in pending] == [request["id"]]
    assert registry.json("models", "promote", "cancel", request["id"])["status"] == "CANCELLED"


def test_approve_apply_and_reject(registry: Cli) -> None:
    weak = _request_as_editor(registry, 2, "production")
    approved = registry.json("models", "promote", "approve", weak.id, "--comment", "reviewed")
    assert approved["status"] == "APPROVED"
    assert [u["condition"] for u in approved["unmet"]] == ["clean_scan"]  # auc 0.97 holds
    refused = registry.fails("models", "promote", "apply", weak.id)
    assert "- clean_scan: needs a clean model-file scan" in refused.stderr
    assert (
        "rejected request"
        in registry.ok("models", "promote", "reject", weak.id, "--comment", "unsafe pickle").stderr
    )

    registry.json(
        "models", "policy", "set", "production", "--model", "fraud", "--condition", "approval"
    )
    good = _request_as_editor(registry, 1, "production")
    human = registry.ok("models", "promote", "approve", good.id, "--comment", "fine")
    assert "now points at version 1" in human.stderr
    assert registry.json("models", "resolve", "models:/fraud@production")["version"] == 1
    statuses = [r["status"] for r in registry.json("models", "promote", "list", "fraud")]
    assert statuses == ["APPLIED", "REJECTED"]


def test_policies(registry: Cli, tmp_path: Path) -> None:
    got = registry.json("models", "policy", "get", "production", "--model", "fraud")
    assert [c["type"] for c in got["conditions"]] == ["approval", "metric_at_least", "clean_scan"]
    assert registry.json("models", "policy", "get", "production")["conditions"] == []
    stored = registry.json(
        "models",
        "policy",
        "set",
        "staging",
        "--condition",
        "metric_at_most:metric=loss,threshold=0.2",
        "--condition",
        "clean_scan",
    )
    assert stored == {
        "alias": "staging",
        "model": None,
        "conditions": [
            {"type": "metric_at_most", "metric": "loss", "threshold": 0.2},
            {"type": "clean_scan"},
        ],
    }
    policy = tmp_path / "policy.json"
    policy.write_text(json.dumps({"conditions": []}))
    cleared = registry.json("models", "policy", "set", "staging", "--file", str(policy))
    assert cleared["conditions"] == []
    assert "has no conditions" in registry.ok("models", "policy", "get", "staging").stderr


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["models", "show", "ghost"], "no registered model named 'ghost'"),
        (["models", "list", "--project", "nope"], "no project named 'nope'"),
        (["models", "version", "fraud", "9"], "the model has no version 9"),
        (["models", "version", "fraud", "0"], "version must be a positive integer"),
        (["models", "resolve", "fraud"], "is not a model URI"),
        (["models", "resolve", "models:/bad name/1"], "model name 'bad name' is not valid"),
        (["models", "alias", "set", "fraud", "Prod", "1"], "alias 'Prod' is not valid"),
        (["models", "alias", "set", "fraud", "staging", "9"], "the model has no version 9"),
        (["models", "alias", "delete", "fraud", "gone"], "has no alias @gone"),
        (["models", "promote", "request", "fraud", "1", "1st"], "alias '1st' is not valid"),
        (["models", "promote", "approve", "abc", "--comment", "x"], "no such promotion request"),
        (["models", "promote", "list", "fraud", "--status", "done"], "--status must be one of"),
        (["models", "policy", "set", "prod", "--condition", "magic"], "unknown condition type"),
        (["models", "policy", "set", "prod", "--condition", "metric_at_least:auc"], "key=value"),
        (["models", "policy", "set", "prod"], "give --condition (repeatable) or --file"),
        (["models", "policy", "set", "prod", "--file", "/no/such.json"], "no such file"),
        (["models", "policy", "get", "prod", "--model", "ghost"], "no registered model"),
    ],
)
def test_bad_input_fails_cleanly_and_writes_nothing(
    registry: Cli, args: list[str], message: str
) -> None:
    events = registry.audit_count()
    result = registry.fails(*args)
    assert message in result.stderr
    assert result.stdout == ""
    assert registry.audit_count() == events


def test_a_non_numeric_version_is_a_usage_error(registry: Cli) -> None:
    result = registry("models", "version", "fraud", "latest")
    assert result.exit_code == 2
    assert "Traceback" not in result.output
