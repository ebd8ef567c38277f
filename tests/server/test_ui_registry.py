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

from mlsteward.platform import Platform
from mlsteward.registry import (
    ModelFile,
    ModelVersion,
    RequestStatus,
    get_registered_model,
    list_promotion_requests,
    register_model_version,
    request_promotion,
    set_alias_policy,
    set_model_card,
)
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
    assert "has no model card yet" in first.text

    second = vic.get(f"{MODEL}/versions/2")
    assert 'id="scan-status">unsafe<' in second.text
    assert "<code>os.system</code>" in second.text
    assert "<code>builtins.eval</code>" in second.text

    card = {
        "type": "mlsteward.model_card",
        "schema_version": 1,
        "model_details": {"name": "fraud", "version": 2, "flavor": "sklearn"},
        "intended_use": "Score <b>card</b> payments",
        "factors": "",
        "caveats": "Not for loans.",
    }
    set_model_card(seeded, SYSTEM, "default", "fraud", 2, card)
    carded = vic.get(f"{MODEL}/versions/2").text
    sections = re.findall(r"<h3>([^<]+)</h3>", carded.split('id="model-card"')[1])
    assert sections == ["Model details", "Intended use", "Caveats"]  # empty ones left out
    assert "Score &lt;b&gt;card&lt;/b&gt; payments" in carded
    assert "<dt>flavor</dt><dd>sklearn</dd>" in carded
    assert "has no model card yet" not in carded


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
