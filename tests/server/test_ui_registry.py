"""The registry pages of the web UI: models, a model, a version, and the promotion forms.

HTTP-level tests drive the app in process; the last test requests a promotion as one user and
approves it as another in real Chromium (the harness of ``test_ui_browser``).
"""

from __future__ import annotations

import html
import re
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import update

from mlsteward.platform import Platform
from mlsteward.registry import (
    ModelFile,
    ModelVersion,
    RequestStatus,
    alias_history_of,
    get_alias_policy,
    get_model_version,
    get_registered_model,
    list_promotion_requests,
    register_model_version,
    request_promotion,
    set_alias,
    set_alias_policy,
    set_model_card,
)
from mlsteward.registry._model_card import EDITABLE_SECTIONS
from mlsteward.registry._tables import model_versions
from mlsteward.security import SYSTEM, add_member, authenticate_password, create_user
from mlsteward.security import create_admin as create_admin_user
from mlsteward.server import create_app
from mlsteward.settings import Settings
from mlsteward.tracking import create_experiment, start_run

from . import test_ui_browser as harness
from ._live_server import serve
from ._support import cheap_password_hashing

if TYPE_CHECKING:
    from playwright.sync_api import Page

PASSWORD = "registry-ui-password-1"
CSRF_RE = re.compile(r'name="csrf_token" value="([^"]*)"')
MODEL = "/projects/default/models/fraud"
SIGNATURE = {
    "type": "mlsteward.signature",
    "schema_version": 1,
    "inputs": {
        "kind": "table",
        "columns": [
            {"name": "amount", "dtype": "float64", "shape": None, "nullable": False},
            {
                "name": "<script>merchant</script>",
                "dtype": "string",
                "shape": None,
                "nullable": True,
            },
        ],
    },
    "outputs": None,
}


@pytest.fixture(autouse=True)
def _cheap_hashing() -> Iterator[None]:
    with cheap_password_hashing():
        yield


@pytest.fixture
def settings(make_settings: Callable[..., Settings]) -> Settings:
    return make_settings(auth_mode="required")


def people(platform: Platform) -> None:
    """alice and bob maintain ``default``; ed edits it; vic views it; eve is no member."""
    create_admin_user(platform, "admin", PASSWORD)
    for name, role in [("alice", "maintainer"), ("bob", "maintainer"), ("ed", "editor")]:
        create_user(platform, SYSTEM, name, PASSWORD)
        add_member(platform, SYSTEM, "default", name, role)
    create_user(platform, SYSTEM, "vic", PASSWORD)
    add_member(platform, SYSTEM, "default", "vic", "viewer")
    create_user(platform, SYSTEM, "eve", PASSWORD)


def add_version(
    platform: Platform,
    *,
    run_id: str | None = None,
    scan: dict[str, object] | None = None,
    metrics: dict[str, float] | None = None,
) -> ModelVersion:
    info = platform.blobs.put_bytes(b"weights of a fraud model")
    return register_model_version(
        platform,
        SYSTEM,
        "default",
        "fraud",
        source_uri="runs:/abc/model",
        source_run_id=run_id,
        flavor="sklearn",
        files=[ModelFile("model.skops", info.address, info.size)],
        signature=SIGNATURE,
        metrics=metrics if metrics is not None else {"auc": 0.93},
        datasets=[{"name": "transactions", "version": "v3", "digest": "blake3:abcd"}],
        scan=scan or {"status": "clean"},
    )


@pytest.fixture
def seeded(platform: Platform) -> Platform:
    people(platform)
    create_experiment(platform, SYSTEM, "default", "train")
    run_id = start_run(platform, SYSTEM, "default", "train", name="nightly-train").id
    add_version(platform, run_id=run_id)
    add_version(
        platform,
        scan={"status": "unsafe", "globals": ["os.system", "builtins.eval"]},
        metrics={"auc": 0.8},
    )
    return platform


@pytest.fixture
def app(seeded: Platform) -> Iterator[TestClient]:
    with TestClient(create_app(seeded)) as client:
        yield client


def log_in(app: TestClient, username: str) -> TestClient:
    """A new client on ``app`` logged in as ``username``."""
    client = TestClient(app.app)
    form = client.get("/login")
    response = client.post(
        "/login",
        data={"username": username, "password": PASSWORD, "csrf_token": csrf_of(form.text)},
        follow_redirects=False,
    )
    assert response.status_code == 303, response.text
    return client


def csrf_of(page: str) -> str:
    match = CSRF_RE.search(page)
    assert match is not None, "no form with a CSRF token"
    return match.group(1)


def table(page: str, table_id: str) -> str:
    match = re.search(rf'<table class="table" id="{table_id}">(.*?)</table>', page, re.S)
    assert match is not None, f"no table #{table_id}"
    return match.group(1)


def text_of(fragment: str) -> str:
    return html.unescape(re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", fragment))).strip()


def card_of(page: str) -> str:
    match = re.search(r'<div id="model-card">(.*?)\n</div>', page, re.S)
    assert match is not None, "no model card"
    return match.group(1)


def card_section(card: str, key: str) -> str:
    match = re.search(rf'<section class="card" id="card-{key}">(.*?)</section>', card, re.S)
    assert match is not None, f"no card section {key}"
    return match.group(1)


def editor_of(page: str, alias: str) -> str:
    match = re.search(rf'<details [^>]*id="{alias}"[^>]*>(.*?)</details>', page, re.S)
    assert match is not None, f"no policy editor #{alias}"
    return match.group(0)


def pending_request(platform: Platform, by: str = "alice", alias: str = "production") -> str:
    actor = authenticate_password(platform, by, PASSWORD)
    return request_promotion(platform, actor, "default", "fraud", 1, alias, "ship it").id


# -- pages ------------------------------------------------------------------------------------


def test_viewer_sees_the_models_list(app: TestClient, seeded: Platform) -> None:
    vic = log_in(app, "vic")
    assert vic.get("/models", follow_redirects=False).headers["location"] == (
        "/projects/default/models"
    )
    page = vic.get("/projects/default/models")
    assert page.status_code == 200
    rows = text_of(table(page.text, "models"))
    assert "fraud" in rows
    assert 'href="/projects/default/models/fraud/versions/2"' in page.text
    assert 'aria-current="page"' in page.text


def test_viewer_sees_the_model_page_without_forms(app: TestClient, seeded: Platform) -> None:
    pending_request(seeded)
    page = log_in(app, "vic").get(MODEL)
    assert page.status_code == 200
    versions = table(page.text, "versions")
    assert "/runs/" in versions  # version 1 links to its source run
    assert "unsafe" in text_of(versions)
    assert "ship it" in text_of(table(page.text, "open-requests"))
    assert "transactions" in text_of(table(page.text, "lineage"))
    assert "@production" in text_of(table(page.text, "policies"))
    assert "Request promotion" not in page.text
    assert "Approve" not in page.text
    assert "Editors request promotions" in page.text


def test_version_page_shows_signature_metrics_scan_package_and_card(
    app: TestClient, seeded: Platform
) -> None:
    vic = log_in(app, "vic")
    first = vic.get(f"{MODEL}/versions/1")
    assert first.status_code == 200
    assert "amount" in first.text
    assert "float64" in first.text
    assert "&lt;script&gt;merchant&lt;/script&gt;" in first.text  # escaped, never markup
    assert "<script>merchant" not in first.text
    assert "0.93" in text_of(table(first.text, "metrics"))
    assert "nightly-train" in first.text  # lineage: the run by name
    assert "transactions" in first.text
    assert "blake3:abcd" in first.text
    assert "No package built yet." in first.text
    assert re.search(r'<p class="version">mlsteward [0-9][^<]*</p>', first.text)  # the frame's
    assert "Prefilled from tracked facts: no card is stored yet." in text_of(first.text)
    prefilled = card_of(first.text)
    assert "0.93" in text_of(card_section(prefilled, "metrics_notes"))
    assert "Not documented yet." in text_of(card_section(prefilled, "intended_use"))
    assert "transactions" in text_of(card_section(prefilled, "training_data"))

    second = vic.get(f"{MODEL}/versions/2")
    assert 'id="scan-status">unsafe<' in second.text
    assert "<code>os.system</code>" in second.text
    assert "<code>builtins.eval</code>" in second.text

    card = {
        "type": "mlsteward.model_card",
        "schema_version": 1,
        "model_details": {"name": "fraud", "version": 2, "flavor": "sklearn"},
        "intended_use": "Score <b>card</b> payments\n\nNot for loans.",
        "factors": "",
        "caveats": "Not for loans.",
    }
    set_model_card(seeded, SYSTEM, "default", "fraud", 2, card)
    carded = vic.get(f"{MODEL}/versions/2").text
    assert "The card stored with this version." in carded
    stored = card_of(carded)
    assert re.findall(r"<h3>([^<]+)</h3>", stored) == [
        "Model details",
        "Intended use",
        "Factors",
        "Metrics",
        "Evaluation data",
        "Training data",
        "Training configuration",
        "Ethical considerations",
        "Caveats and recommendations",
    ]
    intended = card_section(stored, "intended_use")
    assert re.findall(r'<p class="notes">([^<]*)</p>', intended) == [
        "Score &lt;b&gt;card&lt;/b&gt; payments",
        "Not for loans.",
    ]
    assert "<tr><td>Flavor</td><td>sklearn</td></tr>" in stored
    assert "Not documented yet." in text_of(card_section(stored, "factors"))
    assert 'id="edit-model-card"' not in carded  # viewers read the card, editors write it


@pytest.mark.parametrize(
    ("path", "status", "message"),
    [
        (f"{MODEL}/versions/9", 404, "the model has no version 9"),
        (f"{MODEL}/versions/0", 400, "version must be a positive integer"),
        (f"{MODEL}/versions/abc", 400, "malformed"),
        ("/projects/default/models/nope", 404, "no registered model named"),
        ("/projects/missing/models", 404, "no project named"),
    ],
)
def test_missing_or_malformed_pages_are_html_errors(
    app: TestClient, path: str, status: int, message: str
) -> None:
    response = log_in(app, "vic").get(path)
    assert response.status_code == status
    assert "text/html" in response.headers["content-type"]
    assert message in html.unescape(response.text)


def test_outsiders_and_anonymous_visitors_see_nothing(app: TestClient) -> None:
    anonymous = app.get(MODEL, follow_redirects=False)
    assert anonymous.status_code == 303
    assert anonymous.headers["location"].startswith("/login?next=")
    refused = log_in(app, "eve").get(MODEL)
    assert refused.status_code == 403
    assert "this needs the viewer role in the project" in refused.text
    assert 'id="versions"' not in refused.text


# -- forms ------------------------------------------------------------------------------------


def test_request_promotion_form(app: TestClient, seeded: Platform) -> None:
    ed = log_in(app, "ed")
    page = ed.get(MODEL).text
    assert 'id="request-promotion"' in page
    assert "Approve" not in page  # editors request; maintainers decide
    response = ed.post(
        f"{MODEL}/promotions",
        data={
            "csrf_token": csrf_of(page),
            "version": "2",
            "alias": "staging",
            "comment": "<i>try</i> it",
        },
        follow_redirects=False,
    )
    assert response.status_code == 303
    assert response.headers["location"] == MODEL
    after = ed.get(MODEL).text
    assert "Requested promotion of version 2 to @staging" in after
    assert "&lt;i&gt;try&lt;/i&gt; it" in after
    [request] = list_promotion_requests(seeded, SYSTEM, "default", "fraud")
    assert (request.version, request.alias, request.requested_by) == (2, "staging", "ed")


def test_forms_without_the_csrf_token_are_refused_and_change_nothing(
    app: TestClient, seeded: Platform
) -> None:
    request_id = pending_request(seeded)
    bob = log_in(app, "bob")
    for action, data in [
        (f"{MODEL}/promotions", {"version": "1", "alias": "staging", "comment": "x"}),
        (f"{MODEL}/promotions/{request_id}/approve", {"comment": "fine"}),
        (f"{MODEL}/promotions/{request_id}/reject", {"comment": "no"}),
        (f"{MODEL}/promotions/{request_id}/apply", {}),
    ]:
        for token in ({}, {"csrf_token": "forged-token-" + "x" * 30}):
            response = bob.post(action, data={**data, **token}, follow_redirects=False)
            assert response.status_code == 403, action
            assert "reload the page" in html.unescape(response.text)
    [request] = list_promotion_requests(seeded, SYSTEM, "default", "fraud")
    assert request.status is RequestStatus.PENDING
    assert get_registered_model(seeded, SYSTEM, "default", "fraud").aliases == {}


def test_requester_cannot_approve_their_own_request(app: TestClient, seeded: Platform) -> None:
    request_id = pending_request(seeded, by="alice")
    alice = log_in(app, "alice")
    page = alice.get(MODEL).text
    assert "You requested this" in page
    response = alice.post(
        f"{MODEL}/promotions/{request_id}/approve",
        data={"csrf_token": csrf_of(page), "comment": "looks good to me"},
    )
    assert response.status_code == 403
    shown = html.unescape(response.text)
    assert "four-eyes rule: the requester cannot approve their own request" in shown
    assert "looks good to me" in shown  # the comment is kept in the form
    [request] = list_promotion_requests(seeded, SYSTEM, "default", "fraud")
    assert request.status is RequestStatus.PENDING


def test_approval_needs_a_comment(app: TestClient, seeded: Platform) -> None:
    request_id = pending_request(seeded)
    bob = log_in(app, "bob")
    response = bob.post(
        f"{MODEL}/promotions/{request_id}/approve",
        data={"csrf_token": csrf_of(bob.get(MODEL).text), "comment": "   "},
    )
    assert response.status_code == 400
    assert "an approval needs a comment saying why" in response.text
    [request] = list_promotion_requests(seeded, SYSTEM, "default", "fraud")
    assert request.status is RequestStatus.PENDING


def test_policy_refusal_lists_every_unmet_condition(app: TestClient, seeded: Platform) -> None:
    conditions: list[dict[str, object]] = [
        {"type": "approval"},
        {"type": "metric_at_least", "metric": "auc", "threshold": 0.95},
        {"type": "clean_scan"},
        {"type": "signed_package"},
    ]
    set_alias_policy(seeded, SYSTEM, "default", "production", conditions, model="fraud")
    alice = authenticate_password(seeded, "alice", PASSWORD)
    request_id = request_promotion(seeded, alice, "default", "fraud", 2, "production", "go").id
    bob = log_in(app, "bob")
    page = bob.get(MODEL).text
    policies = text_of(table(page, "policies"))
    assert "metric 'auc' >= 0.95" in policies
    assert "signed by a trusted key" in policies

    approved = bob.post(
        f"{MODEL}/promotions/{request_id}/approve",
        data={"csrf_token": csrf_of(page), "comment": "approved, pending the checks"},
        follow_redirects=False,
    )
    assert approved.status_code == 303
    notice = html.unescape(bob.get(MODEL).text)
    assert "has not moved: 3 unmet conditions (metric_at_least, clean_scan, signed_package)" in (
        notice
    )
    refused = bob.post(f"{MODEL}/promotions/{request_id}/apply", data={"csrf_token": csrf_of(page)})
    assert refused.status_code == 403
    listed = re.search(
        r'<ul class="flash flash-error" id="unmet-conditions"[^>]*>(.*?)</ul>', refused.text, re.S
    )
    assert listed is not None
    items = re.findall(r"<li><strong>([^<]+)</strong>: ([^<]+)</li>", listed.group(1))
    assert [name for name, _ in items] == ["metric_at_least", "clean_scan", "signed_package"]
    assert "the version has 0.8" in html.unescape(listed.group(1))
    assert get_registered_model(seeded, SYSTEM, "default", "fraud").aliases == {}


def test_a_duplicate_request_is_a_conflict_on_the_page(app: TestClient, seeded: Platform) -> None:
    pending_request(seeded, by="ed")
    ed = log_in(app, "ed")
    response = ed.post(
        f"{MODEL}/promotions",
        data={"csrf_token": csrf_of(ed.get(MODEL).text), "version": "1", "alias": "production"},
    )
    assert response.status_code == 409
    assert "already has an open request for @production" in response.text
    assert len(list_promotion_requests(seeded, SYSTEM, "default", "fraud")) == 1


@pytest.mark.parametrize(
    ("version", "alias", "message"),
    [
        ("one", "production", "version must be a version number"),
        ("7", "production", "the model has no version 7"),
        ("1", "Prod uction", "is not valid: use 1-64 lowercase letters"),
        ("1", "x" * 200, "is not valid"),
    ],
)
def test_bad_request_input_is_shown_and_nothing_is_written(
    app: TestClient, seeded: Platform, version: str, alias: str, message: str
) -> None:
    ed = log_in(app, "ed")
    response = ed.post(
        f"{MODEL}/promotions",
        data={"csrf_token": csrf_of(ed.get(MODEL).text), "version": version, "alias": alias},
    )
    assert response.status_code in {400, 404}
    assert message in html.unescape(response.text)
    assert list_promotion_requests(seeded, SYSTEM, "default", "fraud") == []


def test_viewers_cannot_request_and_editors_cannot_decide(
    app: TestClient, seeded: Platform
) -> None:
    request_id = pending_request(seeded)
    vic = log_in(app, "vic")
    refused = vic.post(
        f"{MODEL}/promotions",
        data={"csrf_token": csrf_of(vic.get(MODEL).text), "version": "1", "alias": "staging"},
    )
    assert refused.status_code == 403
    assert "this needs the editor role" in refused.text
    ed = log_in(app, "ed")
    refused = ed.post(
        f"{MODEL}/promotions/{request_id}/approve",
        data={"csrf_token": csrf_of(ed.get(MODEL).text), "comment": "sure"},
    )
    assert refused.status_code == 403
    assert "this needs the maintainer role" in refused.text
    [request] = list_promotion_requests(seeded, SYSTEM, "default", "fraud")
    assert request.status is RequestStatus.PENDING


def test_a_request_of_another_model_is_not_found_here(app: TestClient, seeded: Platform) -> None:
    info = seeded.blobs.put_bytes(b"other")
    register_model_version(
        seeded,
        SYSTEM,
        "default",
        "churn",
        source_uri="runs:/x/model",
        flavor="sklearn",
        files=[ModelFile("m.skops", info.address, info.size)],
    )
    alice = authenticate_password(seeded, "alice", PASSWORD)
    other = request_promotion(seeded, alice, "default", "churn", 1, "production").id
    bob = log_in(app, "bob")
    response = bob.post(
        f"{MODEL}/promotions/{other}/approve",
        data={"csrf_token": csrf_of(bob.get(MODEL).text), "comment": "wrong page"},
    )
    assert response.status_code == 404
    assert list_promotion_requests(seeded, SYSTEM, "default", "churn")[0].status is (
        RequestStatus.PENDING
    )


def test_reject_and_withdraw(app: TestClient, seeded: Platform) -> None:
    rejected_id = pending_request(seeded, by="alice", alias="production")
    withdrawn_id = pending_request(seeded, by="alice", alias="staging")
    bob = log_in(app, "bob")
    response = bob.post(
        f"{MODEL}/promotions/{rejected_id}/reject",
        data={"csrf_token": csrf_of(bob.get(MODEL).text), "comment": "auc too low"},
        follow_redirects=False,
    )
    assert response.status_code == 303
    alice = log_in(app, "alice")
    response = alice.post(
        f"{MODEL}/promotions/{withdrawn_id}/cancel",
        data={"csrf_token": csrf_of(alice.get(MODEL).text)},
        follow_redirects=False,
    )
    assert response.status_code == 303
    page = alice.get(MODEL).text
    decided = text_of(table(page, "closed-requests"))
    assert "rejected" in decided
    assert "auc too low" in decided
    assert "cancelled" in decided
    assert "No open requests." in page


# -- aliases ----------------------------------------------------------------------------------


def test_a_maintainer_sets_an_alias_directly_and_removes_it(
    app: TestClient, seeded: Platform
) -> None:
    alice = log_in(app, "alice")
    page = alice.get(MODEL).text
    assert 'id="set-alias"' in page
    response = alice.post(
        f"{MODEL}/aliases",
        data={"csrf_token": csrf_of(page), "alias": "staging", "version": "2"},
        follow_redirects=False,
    )
    assert response.status_code == 303
    assert response.headers["location"] == MODEL
    after = alice.get(MODEL).text
    assert "@staging now points at version 2." in html.unescape(after)
    assert get_registered_model(seeded, SYSTEM, "default", "fraud").aliases == {"staging": 2}
    history = text_of(table(after, "alias-history"))
    assert "@staging 2" in history
    assert "set directly" in history
    aliases = table(after, "aliases")
    assert f'action="{MODEL}/aliases/staging/delete"' in aliases

    again = alice.post(
        f"{MODEL}/aliases",
        data={"csrf_token": csrf_of(after), "alias": "staging", "version": "2"},
    )
    assert "@staging already points at version 2." in html.unescape(again.text)
    assert len(alias_history_of(seeded, SYSTEM, "default", "fraud")) == 1

    removed = alice.post(
        f"{MODEL}/aliases/staging/delete",
        data={"csrf_token": csrf_of(after)},
        follow_redirects=False,
    )
    assert removed.status_code == 303
    page = alice.get(MODEL).text
    assert "Removed @staging" in html.unescape(page)
    assert "No aliases yet." in text_of(table(page, "aliases"))
    [period] = alias_history_of(seeded, SYSTEM, "default", "fraud")
    assert (period.alias, period.ended_by) == ("staging", "alice")
    assert period.valid_to is not None


def test_setting_an_alias_against_its_policy_lists_every_unmet_condition(
    app: TestClient, seeded: Platform
) -> None:
    conditions: list[dict[str, object]] = [
        {"type": "metric_at_least", "metric": "auc", "threshold": 0.95},
        {"type": "clean_scan"},
    ]
    set_alias_policy(seeded, SYSTEM, "default", "production", conditions, model="fraud")
    bob = log_in(app, "bob")
    refused = bob.post(
        f"{MODEL}/aliases",
        data={"csrf_token": csrf_of(bob.get(MODEL).text), "alias": "production", "version": "2"},
    )
    assert refused.status_code == 403
    listed = re.search(
        r'<ul class="flash flash-error" id="unmet-conditions"[^>]*>(.*?)</ul>', refused.text, re.S
    )
    assert listed is not None
    items = re.findall(r"<li><strong>([^<]+)</strong>: ([^<]+)</li>", listed.group(1))
    assert [name for name, _ in items] == ["metric_at_least", "clean_scan"]
    shown = html.unescape(listed.group(1))
    assert "metric 'auc' >= 0.95 needed; the version has 0.8" in shown
    assert "the scan is unsafe (imports os.system, builtins.eval)" in shown
    form = re.search(r'<form [^>]*id="set-alias">(.*?)</form>', refused.text, re.S)
    assert form is not None
    assert 'value="production"' in form.group(1)  # the form keeps what was sent
    assert '<option value="2" selected>' in form.group(1)
    assert get_registered_model(seeded, SYSTEM, "default", "fraud").aliases == {}
    assert alias_history_of(seeded, SYSTEM, "default", "fraud") == []


@pytest.mark.parametrize(
    ("alias", "version", "status", "message"),
    [
        ("production", "two", 400, "version must be a version number"),
        ("production", "9", 404, "the model has no version 9"),
        ("<b>Prod</b>", "1", 400, "alias '<b>Prod</b>' is not valid"),
    ],
)
def test_bad_alias_input_is_shown_and_nothing_is_written(
    app: TestClient, seeded: Platform, alias: str, version: str, status: int, message: str
) -> None:
    alice = log_in(app, "alice")
    response = alice.post(
        f"{MODEL}/aliases",
        data={"csrf_token": csrf_of(alice.get(MODEL).text), "alias": alias, "version": version},
    )
    assert response.status_code == status
    assert message in html.unescape(response.text)
    assert "<b>Prod</b>" not in response.text
    assert get_registered_model(seeded, SYSTEM, "default", "fraud").aliases == {}


def test_removing_an_alias_the_model_does_not_have_is_not_found(
    app: TestClient, seeded: Platform
) -> None:
    alice = log_in(app, "alice")
    response = alice.post(
        f"{MODEL}/aliases/production/delete", data={"csrf_token": csrf_of(alice.get(MODEL).text)}
    )
    assert response.status_code == 404
    assert "model 'fraud' has no alias @production" in html.unescape(response.text)


def test_only_maintainers_see_and_use_the_alias_and_policy_forms(
    app: TestClient, seeded: Platform
) -> None:
    set_alias(seeded, SYSTEM, "default", "fraud", "staging", 1)
    for user in ("vic", "ed"):
        client = log_in(app, user)
        page = client.get(MODEL).text
        assert 'id="set-alias"' not in page
        assert "/aliases/staging/delete" not in page
        assert 'id="policy-editors"' not in page
        token = csrf_of(page)  # the logout form's: the session's one token
        for action, data in [
            (f"{MODEL}/aliases", {"alias": "production", "version": "1"}),
            (f"{MODEL}/aliases/staging/delete", {}),
            (f"{MODEL}/policies", {"alias": "staging", "condition": "clean_scan"}),
        ]:
            response = client.post(action, data={**data, "csrf_token": token})
            assert response.status_code == 403, (user, action)
            assert "this needs the maintainer role" in response.text
    assert get_registered_model(seeded, SYSTEM, "default", "fraud").aliases == {"staging": 1}
    assert get_alias_policy(seeded, SYSTEM, "default", "staging", model="fraud") == []


def test_new_forms_without_the_csrf_token_are_refused_and_change_nothing(
    app: TestClient, seeded: Platform
) -> None:
    set_alias(seeded, SYSTEM, "default", "fraud", "staging", 1)
    alice = log_in(app, "alice")
    for action, data in [
        (f"{MODEL}/aliases", {"alias": "production", "version": "1"}),
        (f"{MODEL}/aliases/staging/delete", {}),
        (f"{MODEL}/policies", {"alias": "production", "condition": "clean_scan"}),
        (f"{MODEL}/versions/1/model-card", {"intended_use": "forged"}),
    ]:
        for token in ({}, {"csrf_token": "forged-token-" + "x" * 30}):
            response = alice.post(action, data={**data, **token}, follow_redirects=False)
            assert response.status_code == 403, action
            assert "reload the page" in html.unescape(response.text)
    assert get_registered_model(seeded, SYSTEM, "default", "fraud").aliases == {"staging": 1}
    assert get_alias_policy(seeded, SYSTEM, "default", "production", model="fraud") == []
    assert get_model_version(seeded, SYSTEM, "default", "fraud", 1).model_card == {}


# -- policies ---------------------------------------------------------------------------------


def test_the_policy_editor_shows_the_current_conditions(app: TestClient, seeded: Platform) -> None:
    conditions: list[dict[str, object]] = [
        {"type": "approval"},
        {"type": "metric_at_most", "metric": "latency_ms", "threshold": 250},
    ]
    set_alias_policy(seeded, SYSTEM, "default", "production", conditions, model="fraud")
    page = log_in(app, "alice").get(MODEL).text
    editor = editor_of(page, "policy-of-production")
    ticked = re.findall(r'name="condition" value="([^"]+)" checked', editor)
    offered = re.findall(r'name="condition" value="([^"]+)"', editor)
    assert ticked == ["approval"]
    assert offered == [  # parameterless types, plugins included
        "approval",
        "clean_scan",
        "signed_package",
        "training_data_validated",
    ]
    assert re.findall(r'name="metric_name" value="([^"]*)"', editor) == ["latency_ms", "", ""]
    assert re.findall(r'name="metric_threshold" value="([^"]*)"', editor) == ["250", "", ""]
    assert '<option value="metric_at_most" selected>' in editor
    assert " open" not in editor.split(">", 1)[0]  # closed until a save fails
    assert 'id="policy-for-new-alias"' in page
    staging = editor_of(page, "policy-of-staging")
    assert "checked" not in staging


def test_saving_a_policy_sets_the_models_own_conditions(app: TestClient, seeded: Platform) -> None:
    alice = log_in(app, "alice")
    response = alice.post(
        f"{MODEL}/policies",
        data={
            "csrf_token": csrf_of(alice.get(MODEL).text),
            "alias": "production",
            "condition": ["clean_scan", "approval", "clean_scan"],
            "metric_kind": ["metric_at_least", "metric_at_most", "metric_at_least"],
            "metric_name": ["auc", "", " latency_ms "],
            "metric_threshold": ["0.9", "", "1e3"],
        },
        follow_redirects=False,
    )
    assert response.status_code == 303
    assert get_alias_policy(seeded, SYSTEM, "default", "production", model="fraud") == [
        {"type": "clean_scan"},
        {"type": "approval"},
        {"type": "metric_at_least", "metric": "auc", "threshold": 0.9},
        {"type": "metric_at_least", "metric": "latency_ms", "threshold": 1000.0},
    ]
    page = alice.get(MODEL).text
    assert "Saved the policy of @production: the model files passed the scan;" in (
        html.unescape(page)
    )
    assert "metric 'auc' >= 0.9" in text_of(table(page, "policies"))
    # the project-wide policy is untouched: this was the model's own
    assert get_alias_policy(seeded, SYSTEM, "default", "production") == []

    cleared = alice.post(
        f"{MODEL}/policies",
        data={"csrf_token": csrf_of(page), "alias": "production"},
        follow_redirects=False,
    )
    assert cleared.status_code == 303
    assert "Saved the policy of @production: no conditions." in alice.get(MODEL).text
    assert get_alias_policy(seeded, SYSTEM, "default", "production", model="fraud") == []


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"metric_name": "auc", "metric_threshold": "high"}, "the threshold must be a number"),
        ({"metric_name": "auc", "metric_threshold": "nan"}, "must be a finite number"),
        ({"metric_name": "auc", "metric_threshold": ""}, "give both a metric name and a threshold"),
        ({"metric_name": "", "metric_threshold": "0.5"}, "give both a metric name and a threshold"),
        ({"metric_name": "a" * 300, "metric_threshold": "1"}, "metric must be a metric key"),
        ({"metric_kind": "metric_exactly"}, "choose 'at least' or 'at most'"),
        (
            {"condition": ["clean_scan", "<script>x</script>"]},
            "there is no condition type '<script>x</script>'",
        ),
        ({"keep": "{not json"}, "a kept condition is malformed"),
        ({"keep": '{"type": "gone_plugin"}'}, "unknown condition type 'gone_plugin'"),
    ],
)
def test_a_policy_that_cannot_be_saved_shows_why_in_its_editor(
    app: TestClient, seeded: Platform, fields: dict[str, str | list[str]], message: str
) -> None:
    alice = log_in(app, "alice")
    data: dict[str, str | list[str]] = {
        "csrf_token": csrf_of(alice.get(MODEL).text),
        "alias": "production",
        "condition": "clean_scan",
        "metric_kind": "metric_at_least",
        "metric_name": "auc",
        "metric_threshold": "0.9",
    }
    response = alice.post(f"{MODEL}/policies", data={**data, **fields})
    assert response.status_code == 400
    editor = editor_of(response.text, "policy-of-production")
    assert editor.startswith('<details class="policy-editor" id="policy-of-production"')
    assert " open>" in editor.split("\n", 1)[0]
    error = re.search(r'<p class="flash flash-error" role="alert">([^<]*)</p>', editor)
    assert error is not None
    assert message in html.unescape(error.group(1))
    assert 'role="alert"' not in response.text.replace(error.group(0), "")  # shown once
    assert "<script>x" not in response.text
    assert 'name="condition" value="clean_scan" checked' in editor  # what was sent is kept
    if fields.get("metric_threshold") == "high":
        assert 'name="metric_threshold" value="high"' in editor
    assert get_alias_policy(seeded, SYSTEM, "default", "production", model="fraud") == []


def test_a_policy_for_a_new_alias_is_checked_in_its_own_editor(
    app: TestClient, seeded: Platform
) -> None:
    alice = log_in(app, "alice")
    page = alice.get(MODEL).text
    refused = alice.post(
        f"{MODEL}/policies",
        data={"csrf_token": csrf_of(page), "alias": "Canary!", "condition": "approval"},
    )
    assert refused.status_code == 400
    editor = editor_of(refused.text, "policy-for-new-alias")
    assert "alias 'Canary!' is not valid" in html.unescape(editor)
    assert 'name="alias" value="Canary!"' in editor
    saved = alice.post(
        f"{MODEL}/policies",
        data={"csrf_token": csrf_of(page), "alias": "canary", "condition": "approval"},
        follow_redirects=False,
    )
    assert saved.status_code == 303
    assert saved.headers["location"] == f"{MODEL}?alias=canary#policy-of-canary"
    assert get_alias_policy(seeded, SYSTEM, "default", "canary", model="fraud") == [
        {"type": "approval"}
    ]
    shown = alice.get(saved.headers["location"]).text
    assert "approved by a maintainer other than the requester" in text_of(table(shown, "policies"))
    assert 'id="policy-of-canary"' in shown
    assert 'id="policy-of-canary"' in alice.get(MODEL).text  # listed by list_alias_policies
    bad = alice.get(f"{MODEL}?alias=<b>x</b>")
    assert bad.status_code == 400
    assert "<b>x</b>" not in bad.text


def test_malformed_metric_rows_are_refused(app: TestClient, seeded: Platform) -> None:
    alice = log_in(app, "alice")
    response = alice.post(
        f"{MODEL}/policies",
        data={
            "csrf_token": csrf_of(alice.get(MODEL).text),
            "alias": "production",
            "metric_kind": ["metric_at_least", "metric_at_least"],
            "metric_name": ["auc"],
            "metric_threshold": ["0.9"],
        },
    )
    assert response.status_code == 400
    assert "the metric conditions are malformed" in response.text
    assert get_alias_policy(seeded, SYSTEM, "default", "production", model="fraud") == []


# -- model cards ------------------------------------------------------------------------------


def test_an_editor_writes_the_human_sections_of_the_card(app: TestClient, seeded: Platform) -> None:
    ed = log_in(app, "ed")
    page = ed.get(f"{MODEL}/versions/1").text
    form = re.search(r'<form [^>]*id="edit-model-card">(.*?)</form>', page, re.S)
    assert form is not None
    assert set(re.findall(r'<textarea name="([a-z_]+)"', form.group(1))) == EDITABLE_SECTIONS
    assert "Snapshot registered with version 1." in form.group(1)  # prefilled texts to edit
    response = ed.post(
        f"{MODEL}/versions/1/model-card",
        data={
            "csrf_token": csrf_of(page),
            "intended_use": "Score card payments.\r\n\r\nNot for loans.",
            "caveats": "Retrain monthly.",
        },
        follow_redirects=False,
    )
    assert response.status_code == 303
    assert response.headers["location"] == f"{MODEL}/versions/1"
    after = ed.get(f"{MODEL}/versions/1").text
    assert "Saved the model card of version 1." in after
    assert "The card stored with this version." in after
    intended = card_section(card_of(after), "intended_use")
    assert re.findall(r'<p class="notes">([^<]*)</p>', intended) == [
        "Score card payments.",
        "Not for loans.",
    ]
    stored = get_model_version(seeded, SYSTEM, "default", "fraud", 1).model_card
    assert stored["intended_use"] == "Score card payments.\n\nNot for loans."
    assert stored["caveats"] == "Retrain monthly."
    assert stored["metrics"] == {"auc": 0.93}  # the tracked facts are kept
    assert stored["metrics_notes"] == "Snapshot registered with version 1."


def test_a_hostile_card_section_is_escaped_everywhere(app: TestClient, seeded: Platform) -> None:
    hostile = '</textarea><script>alert(1)</script><img src=x onerror="alert(2)">'
    ed = log_in(app, "ed")
    response = ed.post(
        f"{MODEL}/versions/1/model-card",
        data={"csrf_token": csrf_of(ed.get(f"{MODEL}/versions/1").text), "factors": hostile},
        follow_redirects=False,
    )
    assert response.status_code == 303
    page = ed.get(f"{MODEL}/versions/1").text
    assert "<script>alert" not in page
    assert "<img src=x" not in page
    assert "&lt;/textarea&gt;&lt;script&gt;alert(1)&lt;/script&gt;" in page
    factors = card_section(card_of(page), "factors")
    assert "<script>" not in factors
    assert hostile in html.unescape(factors)
    download = ed.get(f"{MODEL}/versions/1/model-card.html")
    assert "<script>" not in download.text
    assert html.escape(hostile) in download.text


def test_an_oversized_section_is_refused_and_kept_in_the_form(
    app: TestClient, seeded: Platform
) -> None:
    ed = log_in(app, "ed")
    response = ed.post(
        f"{MODEL}/versions/1/model-card",
        data={"csrf_token": csrf_of(ed.get(f"{MODEL}/versions/1").text), "caveats": "x" * 20_001},
    )
    assert response.status_code == 400
    assert "model card field 'caveats' must be at most 20000 characters" in html.unescape(
        response.text
    )
    assert "x" * 20_001 in response.text  # nothing typed is lost
    assert get_model_version(seeded, SYSTEM, "default", "fraud", 1).model_card == {}


def test_viewers_cannot_edit_the_card(app: TestClient, seeded: Platform) -> None:
    vic = log_in(app, "vic")
    page = vic.get(f"{MODEL}/versions/1").text
    assert 'id="edit-model-card"' not in page
    response = vic.post(
        f"{MODEL}/versions/1/model-card",
        data={"csrf_token": csrf_of(page), "intended_use": "mine now"},
    )
    assert response.status_code == 403
    assert "this needs the editor role" in response.text
    assert get_model_version(seeded, SYSTEM, "default", "fraud", 1).model_card == {}


def test_an_invalid_stored_card_is_shown_raw_and_can_be_replaced(
    app: TestClient, seeded: Platform
) -> None:
    info = seeded.blobs.put_bytes(b"weights")
    register_model_version(
        seeded,
        SYSTEM,
        "default",
        "fraud",
        source_uri="runs:/x/model",
        flavor="sklearn",
        files=[ModelFile("m.skops", info.address, info.size)],
    )
    with seeded.db.write() as conn:  # a card stored before cards were checked
        conn.execute(
            update(model_versions)
            .where(model_versions.c.version == 3)
            .values(model_card={"intended_use": "<i>old</i> notes", "owner": {"team": "risk"}})
        )
    ed = log_in(app, "ed")
    page = ed.get(f"{MODEL}/versions/3")
    assert page.status_code == 200
    shown = text_of(page.text)
    assert "The stored card is not valid (model card field 'type' must be" in shown
    assert "&lt;i&gt;old&lt;/i&gt; notes" in card_of(page.text)
    assert '{"team": "risk"}' in html.unescape(card_of(page.text))
    assert ed.get(f"{MODEL}/versions/3/model-card.md").status_code == 409
    response = ed.post(
        f"{MODEL}/versions/3/model-card",
        data={"csrf_token": csrf_of(page.text), "intended_use": "new notes"},
        follow_redirects=False,
    )
    assert response.status_code == 303
    stored = get_model_version(seeded, SYSTEM, "default", "fraud", 3).model_card
    assert stored["type"] == "mlsteward.model_card"
    assert stored["intended_use"] == "new notes"


def test_the_card_downloads_as_markdown_and_html(app: TestClient, seeded: Platform) -> None:
    vic = log_in(app, "vic")
    page = vic.get(f"{MODEL}/versions/1").text
    assert f'href="{MODEL}/versions/1/model-card.md"' in page
    assert f'href="{MODEL}/versions/1/model-card.html"' in page

    markdown = vic.get(f"{MODEL}/versions/1/model-card.md")
    assert markdown.status_code == 200
    assert markdown.headers["content-type"] == "text/markdown; charset=utf-8"
    assert markdown.headers["content-disposition"] == (
        'attachment; filename="fraud-1-model-card.md"'
    )
    assert markdown.text.startswith("# Model card: fraud version 1\n")
    assert "| auc | 0.93 |" in markdown.text

    page_html = vic.get(f"{MODEL}/versions/1/model-card.html")
    assert page_html.status_code == 200
    assert page_html.headers["content-type"] == "text/html; charset=utf-8"
    assert page_html.headers["content-disposition"] == (
        'attachment; filename="fraud-1-model-card.html"'
    )
    assert page_html.headers["content-security-policy"] == (
        "default-src 'none'; style-src 'unsafe-inline'"
    )
    assert page_html.headers["x-content-type-options"] == "nosniff"
    assert page_html.text.startswith("<!DOCTYPE html>")
    assert "<title>Model card: fraud version 1</title>" in page_html.text


@pytest.mark.parametrize(
    ("path", "status", "message"),
    [
        (f"{MODEL}/versions/1/model-card.pdf", 404, "downloads as .md or .html"),
        (f"{MODEL}/versions/9/model-card.md", 404, "the model has no version 9"),
        ("/projects/default/models/nope/versions/1/model-card.html", 404, "no registered model"),
    ],
)
def test_card_downloads_that_do_not_exist(
    app: TestClient, path: str, status: int, message: str
) -> None:
    response = log_in(app, "vic").get(path)
    assert response.status_code == status
    assert "text/html" in response.headers["content-type"]
    assert "default-src 'self'" in response.headers["content-security-policy"]
    assert message in html.unescape(response.text)


def test_outsiders_and_anonymous_visitors_get_no_card(app: TestClient) -> None:
    path = f"{MODEL}/versions/1/model-card.html"
    anonymous = app.get(path, follow_redirects=False)
    assert anonymous.status_code == 303
    assert anonymous.headers["location"].startswith("/login?next=")
    refused = log_in(app, "eve").get(path)
    assert refused.status_code == 403
    assert "Model card:" not in refused.text


# -- in the browser ---------------------------------------------------------------------------

browser = harness.browser
tab = harness.tab


@pytest.fixture
def registry_url(make_settings: Callable[..., Settings]) -> Iterator[str]:
    platform = Platform.open(make_settings(auth_mode="required"))
    people(platform)
    add_version(platform)
    try:
        with serve(create_app(platform)) as url:
            yield url
    finally:
        platform.close()


def browser_log_in(page: Page, base_url: str, username: str, path: str) -> None:
    page.goto(f"{base_url}{path}")
    page.get_by_label("Username").fill(username)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Log in").click()
    page.wait_for_url(f"{base_url}{path}")


@pytest.mark.browser
def test_request_as_alice_approve_as_bob_and_see_the_alias_move(
    tab: harness.Tab, registry_url: str
) -> None:
    page = tab.page
    browser_log_in(page, registry_url, "alice", MODEL)
    form = page.locator("#request-promotion")
    form.get_by_label("Version").select_option("1")
    form.get_by_label("Alias").fill("production")
    form.get_by_label("Comment", exact=True).fill("AUC 0.93 on the holdout")
    form.get_by_role("button", name="Request promotion").click()
    page.wait_for_url(f"{registry_url}{MODEL}")
    assert "Requested promotion of version 1 to @production" in (
        page.get_by_role("status").inner_text()
    )
    row = page.locator("#open-requests tbody tr").first
    assert "AUC 0.93 on the holdout" in row.inner_text()
    assert "You requested this" in row.inner_text()
    page.get_by_role("button", name="Log out").click()
    page.wait_for_url(f"{registry_url}/login")

    browser_log_in(page, registry_url, "bob", MODEL)
    row = page.locator("#open-requests tbody tr").first
    row.get_by_label("Decision comment").fill("checked the holdout report")
    row.get_by_role("button", name="Approve").click()
    page.wait_for_url(f"{registry_url}{MODEL}")
    assert page.get_by_role("status").inner_text() == (
        "Approved: @production now points at version 1."
    )
    version_row = page.locator('#versions tbody tr[data-version="1"]')
    assert "@production" in version_row.locator("td.aliases").inner_text()
    history = page.locator("#alias-history tbody tr")
    assert history.count() == 1
    cells = history.first.locator("td").all_inner_texts()
    alias, version, _, to, set_by, ended_by, _ = cells
    assert (alias, version, to, set_by, ended_by) == ("@production", "1", "now", "bob", "—")
    request_link = history.first.locator("td").nth(6).get_by_role("link")
    request_link.click()
    applied = page.locator("#closed-requests tbody tr").first
    assert page.url.endswith("#request-" + (applied.get_attribute("data-request") or "?"))
    decided = applied.inner_text()
    assert "applied" in decided
    assert "bob" in decided
    assert "checked the holdout report" in decided
    assert tab.errors == []


@pytest.mark.browser
def test_maintainer_meets_a_policy_sets_the_alias_and_edits_the_card(
    tab: harness.Tab, registry_url: str
) -> None:
    page = tab.page
    browser_log_in(page, registry_url, "alice", MODEL)

    def save_production_policy(threshold: str) -> None:
        editor = page.locator("#policy-of-production")
        editor.locator("summary").click()
        editor.get_by_label("Metric", exact=True).first.fill("auc")
        editor.get_by_label("Must be").first.select_option(label="at least")
        editor.get_by_label("Threshold").first.fill(threshold)
        editor.get_by_role("button", name="Save the policy").click()
        page.wait_for_url(f"{registry_url}{MODEL}?alias=production#policy-of-production")
        assert page.get_by_role("status").inner_text() == (
            f"Saved the policy of @production: metric 'auc' >= {threshold}."
        )

    def set_production() -> None:
        form = page.locator("#set-alias")
        form.get_by_label("Alias").fill("production")
        form.get_by_label("Version").select_option("1")
        form.get_by_role("button", name="Set alias").click()

    save_production_policy("0.95")
    set_production()
    page.wait_for_url(f"{registry_url}{MODEL}/aliases")
    unmet = page.locator("#unmet-conditions li").all_inner_texts()
    assert unmet == ["metric_at_least: metric 'auc' >= 0.95 needed; the version has 0.93"]
    assert "No aliases yet." in page.locator("#aliases").inner_text()

    save_production_policy("0.9")  # from the refusal page: its forms work as well
    assert "metric 'auc' >= 0.9" in page.locator("#policies").inner_text()
    set_production()
    page.wait_for_url(f"{registry_url}{MODEL}")
    assert page.get_by_role("status").inner_text() == "@production now points at version 1."
    history = page.locator("#alias-history tbody tr")
    assert history.count() == 1
    alias, version, _, to, set_by, ended_by, request = history.first.locator("td").all_inner_texts()
    assert (alias, version, to, set_by, ended_by, request) == (
        "@production",
        "1",
        "now",
        "alice",
        "—",
        "set directly",
    )

    page.locator('#versions tbody tr[data-version="1"]').get_by_role("link", name="1").click()
    page.wait_for_url(f"{registry_url}{MODEL}/versions/1")
    form = page.locator("#edit-model-card")
    form.get_by_label("Intended use").fill("Scoring card payments in the EU.\n\nNot for loans.")
    form.get_by_role("button", name="Save the model card").click()
    page.wait_for_url(f"{registry_url}{MODEL}/versions/1")
    assert page.get_by_role("status").inner_text() == "Saved the model card of version 1."
    intended = page.locator("#card-intended_use p").all_inner_texts()
    assert intended == ["Scoring card payments in the EU.", "Not for loans."]
    assert form.get_by_label("Intended use").input_value() == (
        "Scoring card payments in the EU.\n\nNot for loans."
    )
    assert tab.errors == []
