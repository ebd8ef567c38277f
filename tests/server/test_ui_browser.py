"""The web UI in real Chromium (Playwright, sync API) against a real uvicorn server.

Needs Debian's Chromium at /usr/bin/chromium (or MLSTEWARD_TEST_CHROMIUM); no browser is ever
downloaded. Without it the tests skip with the reason, unless MLSTEWARD_TEST_REQUIRE_SERVICES=1,
which makes that a failure. A failing test leaves a screenshot in test-artifacts/.
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from mlsteward.platform import Platform
from mlsteward.security import create_admin as create_admin_user
from mlsteward.server import create_app
from mlsteward.settings import Settings

from ._live_server import serve

if TYPE_CHECKING:
    from playwright.sync_api import Browser, ConsoleMessage, Page, Response

pytestmark = pytest.mark.browser

CHROMIUM = Path(os.environ.get("MLSTEWARD_TEST_CHROMIUM", "/usr/bin/chromium"))
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
REQUIRE_SERVICES = os.environ.get("MLSTEWARD_TEST_REQUIRE_SERVICES") == "1"
ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts"
PASSWORD = "browser-admin-password"
SECRET_RE = re.compile(r"^mls_[a-z0-9]{12}_[A-Za-z0-9_-]{43}$")


def _chromium_problem() -> str | None:
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError as exc:
        return f"the playwright package is not installed ({exc})"
    if not CHROMIUM.is_file() or not os.access(CHROMIUM, os.X_OK):
        return (
            f"no Chromium at {CHROMIUM} (apt-get install chromium, or set MLSTEWARD_TEST_CHROMIUM)"
        )
    return None


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    problem = _chromium_problem()
    if problem is not None:
        if REQUIRE_SERVICES:
            pytest.fail(f"{problem} (required: MLSTEWARD_TEST_REQUIRE_SERVICES=1)")
        pytest.skip(problem)
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(
            executable_path=str(CHROMIUM), args=CHROMIUM_ARGS, headless=True
        )
        yield launched
        launched.close()


@dataclass
class Tab:
    """A browser page and the errors it met: console errors (a CSP violation is one), script
    errors, and failed loads of scripts, styles or images (not of pages, whose 4xx statuses
    some tests expect)."""

    page: Page
    errors: list[str] = field(default_factory=list)

    def console(self, message: ConsoleMessage) -> None:
        # Chromium also logs every 4xx/5xx document as "Failed to load resource"; subresource
        # failures are caught by ``response`` instead.
        if message.type == "error" and not message.text.startswith("Failed to load resource"):
            self.errors.append(message.text)

    def response(self, response: Response) -> None:
        if response.request.resource_type != "document" and response.status >= 400:
            self.errors.append(f"{response.status} for {response.url}")


@pytest.fixture
def tab(browser: Browser, request: pytest.FixtureRequest) -> Iterator[Tab]:
    context = browser.new_context()
    page = context.new_page()
    page.set_default_timeout(10_000)
    tab = Tab(page)
    page.on("console", lambda message: tab.console(message))
    page.on("pageerror", lambda exc: tab.errors.append(str(exc)))
    page.on("response", lambda response: tab.response(response))
    failed_before = request.session.testsfailed
    yield tab
    if request.session.testsfailed > failed_before:  # the call phase failed: keep evidence
        ARTIFACTS.mkdir(exist_ok=True)
        name = re.sub(r"[^A-Za-z0-9_.-]+", "_", request.node.name)
        page.screenshot(path=str(ARTIFACTS / f"{name}.png"), full_page=True)
    context.close()


@pytest.fixture
def base_url(make_settings: Callable[..., Settings]) -> Iterator[str]:
    platform = Platform.open(make_settings(auth_mode="required"))
    create_admin_user(platform, "admin", PASSWORD)
    try:
        with serve(create_app(platform)) as url:
            yield url
    finally:
        platform.close()


def log_in(page: Page, base_url: str, next_path: str = "/") -> None:
    page.goto(f"{base_url}{next_path}")
    assert "/login" in page.url
    page.get_by_label("Username").fill("admin")
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Log in").click()
    page.wait_for_url(f"{base_url}{next_path}")


def test_admin_journey_is_recorded_in_the_audit_trail(tab: Tab, base_url: str) -> None:
    page = tab.page
    log_in(page, base_url, "/admin")
    assert page.locator(".who-name").inner_text() == "admin"

    # A project.
    page.get_by_role("link", name="Projects").first.click()
    page.get_by_label("Name").fill("churn")
    page.get_by_label("Description").fill("Customer churn model")
    page.get_by_role("button", name="Create project").click()
    page.wait_for_url(f"{base_url}/admin/projects/churn")
    assert page.get_by_role("status").inner_text() == "Created project churn."

    # A user, who joins the project.
    page.goto(f"{base_url}/admin/users")
    page.get_by_label("Username").fill("dana")
    page.get_by_label("Display name").fill("Dana Scientist")
    page.get_by_label("Password").fill("dana-password-1234")
    page.get_by_role("button", name="Create user").click()
    assert page.get_by_role("status").inner_text() == "Created user dana."
    assert page.get_by_role("cell", name="Dana Scientist").is_visible()

    page.goto(f"{base_url}/admin/projects/churn")
    page.get_by_label("Username").fill("dana")
    page.locator("form[action$='/members'] select[name=role]").select_option("editor")
    page.get_by_role("button", name="Add member").click()
    assert page.get_by_role("status").inner_text() == "Added dana to churn as editor."
    assert page.get_by_role("row", name=re.compile(r"^dana\s+editor")).is_visible()

    # A token: its secret is on the result page once, and never again.
    page.goto(f"{base_url}/admin/tokens")
    page.get_by_label("Name").fill("ci pipeline")
    page.get_by_role("button", name="Create token").click()
    page.wait_for_url(f"{base_url}/admin/tokens/created")
    secret = page.locator("#token-secret").input_value()
    assert SECRET_RE.fullmatch(secret)
    assert "shown only this once" in page.locator(".copy-hint").inner_text()

    page.reload()
    assert page.get_by_role("heading", name="Nothing to show").is_visible()
    assert secret not in page.content()
    page.go_back()
    assert page.url == f"{base_url}/admin/tokens"
    assert secret not in page.content()
    assert page.get_by_role("cell", name="ci pipeline").is_visible()
    page.go_forward()
    assert page.url == f"{base_url}/admin/tokens/created"
    assert secret not in page.content()

    # The audit trail shows every one of those actions, and the chain is intact.
    page.get_by_role("link", name="Audit", exact=True).click()
    page.wait_for_url(f"{base_url}/audit")
    actions = page.locator("#audit-events tbody td:nth-child(4)").all_inner_texts()
    for action in ("auth.login", "project.create", "user.create", "project.member_add"):
        assert action in actions
    assert "token.create" in actions
    page.get_by_label("Action").fill("project.*")
    page.get_by_role("button", name="Filter").click()
    filtered = set(page.locator("#audit-events tbody td:nth-child(4)").all_inner_texts())
    assert filtered == {"project.create", "project.member_add"}
    page.get_by_role("link", name="Verify the chain").click()
    assert page.locator("#chain-status").inner_text().startswith("Chain intact")

    # Logging out ends the session.
    page.get_by_role("button", name="Log out").click()
    page.wait_for_url(f"{base_url}/login")
    assert page.get_by_role("status").inner_text() == "You are logged out."
    page.goto(f"{base_url}/admin/tokens")
    assert page.url.startswith(f"{base_url}/login")
    assert tab.errors == []  # no CSP violation, no script error on any page


def test_login_errors_and_hostile_next_in_the_browser(tab: Tab, base_url: str) -> None:
    page = tab.page
    page.goto(f"{base_url}/login?next=//evil.example/steal")
    page.get_by_label("Username").fill("admin")
    page.get_by_label("Password").fill("wrong-password-here")
    page.get_by_role("button", name="Log in").click()
    assert page.get_by_role("alert").inner_text() == "wrong username or password"
    assert page.get_by_label("Username").input_value() == "admin"
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Log in").click()
    page.wait_for_url(f"{base_url}/")
    assert page.get_by_role("heading", name="Home").is_visible()
    page.get_by_role("navigation", name="Sections").get_by_role("link", name="Models").click()
    page.wait_for_url("**/projects/default/models")
    assert page.get_by_role("heading", name="Models").first.is_visible()
    assert tab.errors == []
