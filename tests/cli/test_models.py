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
        (["models", "webhook", "add", "ftp://93.184.216.34/"], "the scheme must be http or https"),
        (["models", "webhook", "add", "http://u:p@93.184.216.34/"], "user names and passwords"),
        (["models", "webhook", "add", "http://0x7f.1/"], "non-standard"),
        (
            ["models", "webhook", "add", "http://93.184.216.34/", "--event", "model.deleted"],
            "unknown or no events ['model.deleted']: choose from alias.deleted, alias.moved",
        ),
        (["models", "webhook", "add", "http://1.2.3.4/", "--project", "nope"], "no project"),
        (["models", "webhook", "delete", "abc"], "no such webhook in this project"),
        (["models", "webhook", "deliveries", "abc"], "no such webhook in this project"),
        (["models", "webhook", "allow-host", "bad host!"], "is not a host name or IP address"),
        (["models", "webhook", "disallow-host", "10.0.0.1"], "10.0.0.1 is not an allowed host"),
        (["models", "card", "fraud", "1", "--format", "pdf"], "--format must be json, markdown"),
        (["models", "card", "fraud", "9"], "the model has no version 9"),
        (["models", "card", "ghost", "1", "-o", "/no/such/dir/card.md"], "no registered model"),
        (
            ["models", "card-set", "fraud", "1", "--section", "license=MIT"],
            "unknown model card section(s) 'license': the sections you can write are caveats, "
            "ethical_considerations, evaluation_data, factors, intended_use, metrics_notes, "
            "training_data",
        ),
        (["models", "card-set", "fraud", "1", "--section", "caveats"], "write KEY=TEXT"),
        (
            [
                "models",
                "card-set",
                "fraud",
                "1",
                "--section",
                "factors=a",
                "--section",
                "factors=b",
            ],
            "'factors' is given more than once",
        ),
        (
            ["models", "card-set", "fraud", "1", "--section", "caveats=" + "x" * 20_001],
            "model card field 'caveats' must be at most 20000 characters",
        ),
        (["models", "card-set", "fraud", "1"], "give --section KEY=TEXT (repeatable) or --file"),
        (["models", "card-set", "fraud", "1", "--file", "/no/such.json"], "no such file"),
        (["models", "card-set", "fraud", "9", "--section", "caveats=x"], "has no version 9"),
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


def test_a_webhook_limit_out_of_range_is_a_usage_error(registry: Cli) -> None:
    result = registry("models", "webhook", "deliveries", "abc", "--limit", "0")
    assert result.exit_code == 2
    assert "Traceback" not in result.output


def test_webhooks_to_loopback_need_an_allowed_host(registry: Cli) -> None:
    url = "http://127.0.0.1:9/hook"
    events = registry.audit_count()
    refused = registry.fails("models", "webhook", "add", url)
    assert "webhook target '127.0.0.1' is refused: loopback addresses" in refused.stderr
    assert "to allow it: mlsteward models webhook allow-host 127.0.0.1" in refused.stderr
    assert refused.stdout == ""
    assert registry.audit_count() == events
    assert registry.json("models", "webhook", "list") == []

    allowed = registry.json("models", "webhook", "allow-host", "127.0.0.1")
    assert allowed == {"host": "127.0.0.1", "allowed": True}
    assert registry.json("models", "webhook", "allowed-hosts") == ["127.0.0.1"]
    assert "127.0.0.1" in registry.ok("models", "webhook", "allowed-hosts").stdout
    created = registry.json("models", "webhook", "add", url, "--event", "alias.moved")
    assert (created["url"], created["events"], created["active"]) == (url, ["alias.moved"], True)
    assert created["secret"].startswith("whsec_")

    assert registry.json("models", "webhook", "disallow-host", "127.0.0.1") == {
        "host": "127.0.0.1",
        "allowed": False,
    }
    assert registry.json("models", "webhook", "allowed-hosts") == []
    assert "no host is allowed" in registry.ok("models", "webhook", "allowed-hosts").stderr
    registry.fails("models", "webhook", "add", url)
    assert [h["id"] for h in registry.json("models", "webhook", "list")] == [created["id"]]


def test_the_webhook_secret_is_shown_once(registry: Cli) -> None:
    registry.ok("models", "webhook", "allow-host", "127.0.0.1")
    human = registry.ok("models", "webhook", "add", "http://127.0.0.1:9/a")
    secret = human.stdout.strip()
    assert human.stdout == secret + "\n"  # alone on stdout, so $(...) captures just it
    assert secret.startswith("whsec_")
    assert len(secret) > 40
    assert "shown only this once" in human.stderr
    as_json = registry("models", "webhook", "add", "http://127.0.0.1:9/b", "--json")
    assert as_json.exit_code == 0
    other = json.loads(as_json.stdout)["secret"]
    assert "shown only this once" in as_json.stderr

    raw = registry.ok("models", "webhook", "list", "--json").stdout
    listed = json.loads(raw)
    assert [h["url"] for h in listed] == ["http://127.0.0.1:9/a", "http://127.0.0.1:9/b"]
    assert all("secret" not in h for h in listed)
    table = registry.ok("models", "webhook", "list")
    for shown in (raw, table.stdout, table.stderr):
        assert secret not in shown
        assert other not in shown
    assert " all " in table.stdout  # the events column of a webhook without --event


def test_webhook_deliveries_and_delete(registry: Cli) -> None:
    registry.ok("models", "webhook", "allow-host", "127.0.0.1")
    hook = registry.json("models", "webhook", "add", "http://127.0.0.1:9/hook")
    assert registry.json("models", "webhook", "deliveries", hook["id"]) == []
    assert (
        "has no deliveries yet" in registry.ok("models", "webhook", "deliveries", hook["id"]).stderr
    )

    registry.ok("models", "alias", "set", "fraud", "staging", "2")
    registry.ok("models", "alias", "delete", "fraud", "staging")
    found = registry.json("models", "webhook", "deliveries", hook["id"])
    assert [(d["event"], d["status"], d["attempts"]) for d in found] == [
        ("alias.deleted", "PENDING", 0),
        ("alias.moved", "PENDING", 0),
    ]
    assert all(d["webhook_id"] == hook["id"] for d in found)
    newest = registry.json("models", "webhook", "deliveries", hook["id"], "--limit", "1")
    assert [d["id"] for d in newest] == [found[0]["id"]]
    assert "alias.moved" in registry.ok("models", "webhook", "deliveries", hook["id"]).stdout

    deleted = registry.json("models", "webhook", "delete", hook["id"])
    assert deleted == {"id": hook["id"], "deleted": True}
    assert registry.json("models", "webhook", "list") == []
    assert "no webhooks in 'default'" in registry.ok("models", "webhook", "list").stderr
    gone = registry.fails("models", "webhook", "deliveries", hook["id"])
    assert "no such webhook in this project" in gone.stderr


def test_model_card_formats_and_sections(registry: Cli, tmp_path: Path) -> None:
    prefilled = json.loads(registry.ok("models", "card", "fraud", "1").stdout)
    assert (prefilled["type"], prefilled["schema_version"]) == ("mlsteward.model_card", 1)
    assert prefilled["model_details"]["name"] == "fraud"
    assert prefilled["metrics"] == {"auc": 0.9}
    assert prefilled["intended_use"] == ""

    stored = registry.json(
        "models",
        "card-set",
        "fraud",
        "1",
        "--section",
        "intended_use=Screening card payments",
        "--section",
        "caveats=Not for loans; a=b stays",
    )
    assert stored["intended_use"] == "Screening card payments"
    assert stored["caveats"] == "Not for loans; a=b stays"
    sections = tmp_path / "sections.json"
    sections.write_text(json.dumps({"factors": "Merchant country"}))
    human = registry.ok("models", "card-set", "fraud", "1", "--file", str(sections))
    assert "wrote factors in the model card of 'fraud' version 1" in human.stderr

    again = json.loads(registry.ok("models", "card", "fraud", "1", "--format", "json").stdout)
    assert (again["intended_use"], again["factors"]) == (
        "Screening card payments",
        "Merchant country",
    )
    markdown = registry.ok("models", "card", "fraud", "1", "--format", "Markdown").stdout
    assert markdown.startswith("# Model card: fraud version 1\n")
    assert "## Intended use\n\nScreening card payments\n" in markdown
    assert "| auc | 0.9 |" in markdown
    assert json.loads(registry.ok("models", "card", "fraud", "2").stdout)["intended_use"] == ""


def test_the_html_card_escapes_section_text_and_is_written_whole(
    registry: Cli, tmp_path: Path
) -> None:
    hostile = "<script>alert('x')</script>"
    registry.ok("models", "card-set", "fraud", "1", "--section", f"caveats={hostile}")
    page = registry.ok("models", "card", "fraud", "1", "--format", "html").stdout
    assert page.startswith("<!DOCTYPE html>")
    assert "<script" not in page
    assert "&lt;script&gt;alert(&#x27;x&#x27;)&lt;/script&gt;" in page

    out = tmp_path / "cards" / "fraud.html"
    out.parent.mkdir()
    out.write_text("old card")
    written = registry.ok("models", "card", "fraud", "1", "--format", "html", "-o", str(out))
    assert written.stdout == ""
    assert f"to {out}" in written.stderr
    assert out.read_text() == page
    assert [p.name for p in out.parent.iterdir()] == ["fraud.html"]  # no partial file left

    missing = tmp_path / "nowhere" / "card.md"
    failed = registry.fails("models", "card", "fraud", "1", "--output", str(missing))
    assert f"cannot write {missing}" in failed.stderr
    assert not missing.parent.exists()


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("not json", "is not JSON"),
        ('["caveats"]', "must hold a JSON object of sections to texts"),
        ("{}", "must hold a JSON object of sections to texts"),
        ('{"caveats": 3}', "section 'caveats' must be text, not int"),
        ('{"license": "MIT"}', "the sections you can write are caveats"),
        ('{"caveats": "' + "x" * 1_000_000 + '"}', "is over 1000000 bytes"),
        (b"\xff\xfe", "is not JSON"),
    ],
)
def test_a_bad_sections_file_fails_cleanly_and_writes_nothing(
    registry: Cli, tmp_path: Path, content: str | bytes, message: str
) -> None:
    path = tmp_path / "sections.json"
    if isinstance(content, bytes):
        path.write_bytes(content)
    else:
        path.write_text(content)
    events = registry.audit_count()
    result = registry.fails("models", "card-set", "fraud", "1", "--file", str(path))
    assert message in result.stderr
    assert registry.audit_count() == events
    assert json.loads(registry.ok("models", "card", "fraud", "1").stdout)["caveats"] == ""
