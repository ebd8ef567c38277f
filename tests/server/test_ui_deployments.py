"""The deployment pages of the web UI, in process: the list, a deployment's page, its live
JSON, and the rollout, weight, promote and rollback forms (permissions, CSRF, bad input,
conflicts shown as messages, nothing written when refused).

No server process runs here (its live figures say "not running"); the live figures of a
running deployment are shown in real Chromium by ``test_ui_deployments_browser``.
"""

from __future__ import annotations

import html
import re
from collections.abc import Callable, Iterator

import pytest
from fastapi.testclient import TestClient

from mlsteward._schema import load_all_tables
from mlsteward.deployments import (
    create_deployment,
    deployment_history,
    get_deployment,
    rollout,
    stop_deployment,
)
from mlsteward.platform import Platform
from mlsteward.registry import ModelFile, register_model_version, set_alias
from mlsteward.security import SYSTEM, add_member, create_user
from mlsteward.security import create_admin as create_admin_user
from mlsteward.server import create_app
from mlsteward.settings import Settings

from ._state import platform_state
from ._support import cheap_password_hashing

load_all_tables()

PASSWORD = "deploy-ui-password-1"
CSRF_RE = re.compile(r'name="csrf_token" value="([^"]*)"')
LIST = "/projects/default/deployments"
PAGE = f"{LIST}/web"


@pytest.fixture(autouse=True)
def _cheap_hashing() -> Iterator[None]:
    with cheap_password_hashing():
        yield


@pytest.fixture
def seeded(make_settings: Callable[..., Settings]) -> Iterator[Platform]:
    """``fraud`` versions 1-3 (1 is @production); deployment ``web`` serves version 1 and
    ``idle`` is stopped. alice maintains ``default``, vic views it, eve is no member."""
    platform = Platform.open(make_settings(auth_mode="required"))
    create_admin_user(platform, "admin", PASSWORD)
    for name, role in [("alice", "maintainer"), ("vic", "viewer")]:
        create_user(platform, SYSTEM, name, PASSWORD)
        add_member(platform, SYSTEM, "default", name, role)
    create_user(platform, SYSTEM, "eve", PASSWORD)
    info = platform.blobs.put_bytes(b"weights")
    for _ in range(3):
        register_model_version(
            platform, SYSTEM, "default", "fraud", source_uri="runs:/abc/model", flavor="sklearn",
            files=[ModelFile("model.skops", info.address, info.size)],
        )  # fmt: skip
    set_alias(platform, SYSTEM, "default", "fraud", "production", 1)
    create_deployment(platform, SYSTEM, "default", "web", "models:/fraud@production")
    create_deployment(platform, SYSTEM, "default", "idle", "models:/fraud/2")
    stop_deployment(platform, SYSTEM, "default", "idle")
    yield platform
    platform.close()


@pytest.fixture
def app(seeded: Platform) -> Iterator[TestClient]:
    with TestClient(create_app(seeded)) as client:
        yield client


def log_in(app: TestClient, username: str) -> TestClient:
    """A new client on ``app`` logged in as ``username``."""
    client = TestClient(app.app)
    form = client.get("/login")
    password = PASSWORD
    response = client.post(
        "/login",
        data={"username": username, "password": password, "csrf_token": csrf_of(form.text)},
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


def post(client: TestClient, action: str, **data: str) -> tuple[int, str]:
    """POST a form of the deployment page (with its CSRF token); the final status and text."""
    token = csrf_of(client.get(PAGE).text)
    response = client.post(f"{PAGE}/{action}", data={"csrf_token": token, **data})
    return response.status_code, html.unescape(response.text)


def routes(platform: Platform) -> list[tuple[str, int]]:
    plan = get_deployment(platform, SYSTEM, "default", "web").plan
    return [(r.version, r.weight) for r in plan.routes]


# -- pages ------------------------------------------------------------------------------------


def test_the_list_shows_every_deployment_of_the_project(app: TestClient, seeded: Platform) -> None:
    rollout(seeded, SYSTEM, "default", "web", 2, canary=20)
    rollout(seeded, SYSTEM, "default", "web", 3, shadow=True)
    client = log_in(app, "vic")
    landing = client.get("/deployments", follow_redirects=False)
    assert (landing.status_code, landing.headers["location"]) == (303, LIST)
    page = client.get(LIST).text
    assert 'aria-current="page">Deployments<' in page
    rows = {
        text_of(row).split(" ")[0]: text_of(row)
        for row in re.findall(r"<tr data-deployment=.*?</tr>", table(page, "deployments"), re.S)
    }
    assert rows["web"].startswith("web running fraud 1 (80 %) 2 (20 %) 3 3 ")
    assert rows["web"].endswith(" UTC by system")
    assert rows["idle"].startswith("idle stopped fraud 2 (100 %) — — 2 ")
    assert f'href="{PAGE}"' in page
    picked = client.get("/deployments?project=default", follow_redirects=False)
    assert picked.headers["location"] == LIST


def test_an_empty_project_says_how_to_deploy(app: TestClient, seeded: Platform) -> None:
    from mlsteward.security import create_project

    create_project(seeded, SYSTEM, "empty")
    page = log_in(app, "admin").get("/projects/empty/deployments").text
    assert "No deployments in this project yet" in page
    assert "mlsteward deploy create NAME --model" in page


def test_the_deployment_page_shows_plan_history_and_live_hooks(
    app: TestClient, seeded: Platform
) -> None:
    rollout(seeded, SYSTEM, "default", "web", 2, canary=30)
    page = log_in(app, "alice").get(PAGE).text
    bar = re.findall(r'<rect class="area c(\d)" x="(\d+)" y="0" width="(\d+)"', page)
    assert bar == [("1", "0", "70"), ("2", "70", "30")]
    assert "version 2 (canary) 30 %" in text_of(page)
    assert 'data-url="/projects/default/deployments/web/live"' in page
    assert 'data-refresh="2"' in page
    assert 'data-revision="2"' in page
    for chart in ("chart-split", "chart-throughput", "chart-latency", "chart-errors"):
        assert f'id="{chart}"' in page
    assert '<script src="/static/deployments.js" defer></script>' in page
    history = [text_of(r) for r in re.findall(r"<tr data-kind.*?</tr>", page, re.S)]
    assert [h.split(" ")[0] for h in history] == ["2", "1"]  # newest first
    assert "rollout" in history[0]
    assert "created" in history[1]
    # A maintainer gets the forms: versions other than the stable one, the canary's weight.
    options = re.findall(r'<option value="(\d+)"', page)
    assert options == ["3", "2"]
    assert 'id="weight-form"' in page
    assert 'value="30"' in page
    assert "Promote version 2" in page
    assert "Roll back to version 1" in page


def test_viewers_see_the_page_without_forms(app: TestClient) -> None:
    page = log_in(app, "vic").get(PAGE)
    assert page.status_code == 200
    for form in ("rollout-form", "weight-form", "/promote", "/rollback"):
        assert form not in page.text


def test_a_stopped_deployment_offers_no_traffic_changes(app: TestClient) -> None:
    page = log_in(app, "alice").get(f"{LIST}/idle").text
    assert "rollout-form" not in page
    assert "The deployment is stopped: start it" in html.unescape(page)


def test_outsiders_and_anonymous_visitors_see_nothing(app: TestClient) -> None:
    for path in (PAGE, LIST, f"{PAGE}/live"):
        anonymous = app.get(path, follow_redirects=False)
        assert anonymous.status_code == 303
        assert anonymous.headers["location"].startswith("/login?next=")
    eve = log_in(app, "eve")
    for path in (PAGE, LIST):
        refused = eve.get(path)
        assert refused.status_code == 403
        assert "this needs the viewer role in the project" in refused.text
        assert "fraud" not in refused.text
    live = eve.get(f"{PAGE}/live")
    assert live.status_code == 403
    assert "viewer role" in live.json()["error"]


def test_unknown_deployments_and_projects_are_404(app: TestClient) -> None:
    client = log_in(app, "admin")
    missing = client.get(f"{LIST}/nope")
    assert missing.status_code == 404
    assert "no deployment named &#39;nope&#39;" in missing.text
    assert client.get("/projects/nope/deployments").status_code == 404
    live = client.get(f"{LIST}/nope/live")
    assert live.status_code == 404
    assert "no deployment named 'nope'" in live.json()["error"]
    bad_name = client.get(f"{LIST}/%3Cscript%3E")
    assert bad_name.status_code == 400
    assert "<script>" not in bad_name.text
    unknown = client.get("/deployments?project=nope")
    assert unknown.status_code == 400
    assert "there is no project &#39;nope&#39; that you can see" in unknown.text


def test_live_json_says_when_the_server_does_not_run(app: TestClient) -> None:
    live = log_in(app, "vic").get(f"{PAGE}/live")
    assert live.status_code == 200
    assert live.headers["content-type"] == "application/json"
    body = live.json()
    assert body["running"] is False
    assert body["error"]  # what the connection attempt said
    assert body["process"] == {"supervisor_alive": False, "state": None, "restarts": 0}


# -- forms ------------------------------------------------------------------------------------


def test_rollout_weight_promote_and_rollback_through_the_forms(
    app: TestClient, seeded: Platform
) -> None:
    alice = log_in(app, "alice")
    status, text = post(alice, "rollout", version="2", mode="canary", weight="25")
    assert status == 200
    assert "Version 2 now gets 25 % of the traffic. (revision 2)" in text
    assert routes(seeded) == [("1", 75), ("2", 25)]

    status, text = post(alice, "weight", weight="60")
    assert "Version 2 now gets 60 % of the traffic (revision 3)." in text
    assert routes(seeded) == [("1", 40), ("2", 60)]

    status, text = post(alice, "rollout", version="3", mode="shadow", weight="")
    assert "Version 3 now gets a copy of every request as the shadow. (revision 4)" in text
    assert get_deployment(seeded, SYSTEM, "default", "web").plan.shadow == "3"

    status, text = post(alice, "rollback")
    assert "Rolled back: version 1 serves all traffic (revision 5)." in text
    assert routes(seeded) == [("1", 100)]
    assert get_deployment(seeded, SYSTEM, "default", "web").plan.shadow is None

    post(alice, "rollout", version="2", mode="canary", weight="10")
    status, text = post(alice, "promote")
    assert "Promoted: version 2 serves all traffic (revision 7)." in text
    assert routes(seeded) == [("2", 100)]
    kinds = [e.kind.value for e in deployment_history(seeded, SYSTEM, "default", "web")]
    assert kinds == ["created", "rollout", "rollout", "shadow", "rollback", "rollout", "promote"]
    assert {e.actor for e in deployment_history(seeded, SYSTEM, "default", "web")[1:]} == {"alice"}


WEIGHT_RANGE = "a canary weight is a whole percentage from 1 to 99, not "


def canary(version: str, weight: str = "10", mode: str = "canary") -> dict[str, str]:
    return {"version": version, "mode": mode, "weight": weight}


@pytest.mark.parametrize(
    ("action", "data", "status", "message"),
    [
        pytest.param(
            "rollout", canary("x"), 400, "version must be a whole number, not 'x'", id="version-nan"
        ),
        pytest.param(
            "rollout", canary(""), 400, "version must be a whole number, not ''", id="version-empty"
        ),
        pytest.param("rollout", canary("2", "0"), 400, WEIGHT_RANGE + "0", id="weight-0"),
        pytest.param("rollout", canary("2", "100"), 400, WEIGHT_RANGE + "100", id="weight-100"),
        pytest.param(
            "rollout",
            canary("2", "2.5"),
            400,
            "the canary weight must be a whole number, not '2.5'",
            id="weight-fraction",
        ),
        pytest.param(
            "rollout",
            canary("2", mode="both"),
            400,
            "mode must be canary or shadow, not 'both'",
            id="unknown-mode",
        ),
        pytest.param(
            "rollout",
            canary("1"),
            400,
            "version 1 is the stable version of 'web' already",
            id="stable-version",
        ),
        pytest.param("rollout", canary("9"), 404, "version 9", id="unknown-version"),
        pytest.param("rollout", canary("9" * 20), 400, "version", id="huge-version"),
        pytest.param(
            "weight", {"weight": "50"}, 409, "deployment 'web' has no canary", id="no-canary"
        ),
        pytest.param("weight", {"weight": "-1"}, 400, WEIGHT_RANGE + "-1", id="weight-negative"),
        pytest.param(
            "promote", {}, 409, "deployment 'web' has no canary to promote", id="promote-nothing"
        ),
        pytest.param(
            "rollback",
            {},
            409,
            "deployment 'web' serves its stable version 1 alone already",
            id="rollback-nothing",
        ),
    ],
)
def test_bad_input_and_conflicts_are_shown_on_the_page_and_write_nothing(
    app: TestClient, seeded: Platform, action: str, data: dict[str, str], status: int, message: str
) -> None:
    alice = log_in(app, "alice")
    token = csrf_of(alice.get(PAGE).text)
    before = platform_state(seeded)
    response = alice.post(f"{PAGE}/{action}", data={"csrf_token": token, **data})
    assert response.status_code == status
    text = html.unescape(response.text)
    assert message in text
    assert 'role="alert"' in response.text
    assert 'id="rollout-form"' in response.text  # the page, with its forms, not an error page
    if action == "rollout":  # what was typed is kept
        assert f'step="1" value="{data["weight"] or 10}"' in response.text
    assert platform_state(seeded) == before


def test_a_second_canary_is_a_conflict_shown_as_a_message(
    app: TestClient, seeded: Platform
) -> None:
    rollout(seeded, SYSTEM, "default", "web", 2, canary=10)
    alice = log_in(app, "alice")
    token = csrf_of(alice.get(PAGE).text)
    before = platform_state(seeded)
    response = alice.post(
        f"{PAGE}/rollout", data={"csrf_token": token, "version": "3", "weight": "5"}
    )
    assert response.status_code == 409
    assert "version 2 is already a canary of 'web': promote it or roll back first" in (
        html.unescape(response.text)
    )
    assert platform_state(seeded) == before


def test_viewers_cannot_change_the_traffic(app: TestClient, seeded: Platform) -> None:
    rollout(seeded, SYSTEM, "default", "web", 2, canary=10)
    vic = log_in(app, "vic")
    token = csrf_of(vic.get(PAGE).text)  # the logout form's token: the session's
    before = platform_state(seeded)
    for action, data in [
        ("rollout", {"version": "3", "mode": "shadow"}),
        ("weight", {"weight": "50"}),
        ("promote", {}),
        ("rollback", {}),
    ]:
        response = vic.post(f"{PAGE}/{action}", data={"csrf_token": token, **data})
        assert response.status_code == 403, action
        assert "this needs the maintainer role" in response.text
    assert platform_state(seeded) == before


def test_forms_without_the_csrf_token_or_from_another_site_are_refused(
    app: TestClient, seeded: Platform
) -> None:
    rollout(seeded, SYSTEM, "default", "web", 2, canary=10)
    alice = log_in(app, "alice")
    token = csrf_of(alice.get(PAGE).text)
    before = platform_state(seeded)
    for action, data in [
        ("rollout", {"version": "2", "mode": "canary", "weight": "50"}),
        ("weight", {"weight": "50"}),
        ("promote", {}),
        ("rollback", {}),
    ]:
        for token_field in ({}, {"csrf_token": "forged-token-" + "x" * 30}):
            response = alice.post(f"{PAGE}/{action}", data={**data, **token_field})
            assert response.status_code == 403, action
            assert "reload the page" in html.unescape(response.text)
        cross_site = alice.post(
            f"{PAGE}/{action}",
            data={**data, "csrf_token": token},
            headers={"Sec-Fetch-Site": "cross-site"},
        )
        assert cross_site.status_code == 403
        assert "forms may only be sent from this server's own pages" in html.unescape(
            cross_site.text
        )
    assert platform_state(seeded) == before
