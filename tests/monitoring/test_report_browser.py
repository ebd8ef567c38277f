"""The monitoring report's HTML in real Chromium, opened from a file with networking off:
hovering a heatmap cell shows the test behind it, clicking a row shows that feature's detail
and distribution chart, the feature selector does the same, and nothing is fetched.

Reuses the browser of ``tests/server/test_ui_browser`` (Debian's Chromium, never downloaded;
the test skips without it unless MLSTEWARD_TEST_REQUIRE_SERVICES=1).
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from mlsteward.monitoring import MonitoringReport, render_report_html

from ..server import test_ui_browser as harness
from ._report_data import DRIFT_FROM, HOSTILE, sample_report

if TYPE_CHECKING:
    from playwright.sync_api import Browser, Route

pytestmark = pytest.mark.browser

browser = harness.browser


@pytest.fixture
def offline_tab(browser: Browser, request: pytest.FixtureRequest) -> Iterator[harness.Tab]:
    """A page with networking off that records console errors, script errors and any request
    for something other than a local file."""
    context = browser.new_context(offline=True)
    page = context.new_page()
    page.set_default_timeout(10_000)
    tab = harness.Tab(page)

    def refuse(route: Route) -> None:
        tab.errors.append(f"fetched {route.request.url}")
        route.abort()

    context.route(re.compile(r"^(?!file:).*"), refuse)
    page.on("console", lambda message: tab.console(message))
    page.on("pageerror", lambda exc: tab.errors.append(str(exc)))
    failed_before = request.session.testsfailed
    yield tab
    if request.session.testsfailed > failed_before:
        harness.ARTIFACTS.mkdir(exist_ok=True)
        page.screenshot(path=str(harness.ARTIFACTS / "monitoring_report.png"), full_page=True)
    context.close()


@pytest.fixture(scope="module")
def report() -> MonitoringReport:
    return sample_report()


def test_hover_and_select_a_feature(
    offline_tab: harness.Tab, report: MonitoringReport, tmp_path: Path
) -> None:
    path = tmp_path / "report.html"
    path.write_text(render_report_html(report), encoding="utf-8")
    page = offline_tab.page
    page.goto(path.as_uri())
    assert page.title() == "Churn monitoring"
    assert page.get_by_role("heading", name="Drift per feature").is_visible()
    tooltip = page.locator("#tooltip")
    assert tooltip.is_hidden()

    # The first feature (amount) is selected: its detail and its distribution show.
    assert page.locator("#detail-0").is_visible()
    assert page.locator("#dist-0").is_visible()
    assert page.locator("#dist-1").is_hidden()

    # Hovering a drifted cell tells the test and its verdict.
    amount = report.windows[DRIFT_FROM].drift.column("amount")  # type: ignore[union-attr]
    page.locator(f".hm-row[data-f='0'] rect.cell[data-w='{DRIFT_FROM}']").hover()
    assert tooltip.is_visible()
    text = tooltip.inner_text()
    assert text.startswith("amount\n")
    assert f"method: {amount.method}" in text
    assert "threshold: 0.1" in text
    assert "DRIFTED" in text
    page.locator(".hm-row[data-f='1'] rect.cell[data-w='0']").hover()
    assert tooltip.inner_text().startswith("country\n")
    assert "no drift" in tooltip.inner_text()  # the country mix changes later only

    # Clicking the row of the hostile column shows its detail and distribution, as text.
    features = page.locator(".hm-label").all_text_contents()
    hostile = next(i for i, name in enumerate(features) if name.startswith("<img"))
    page.locator(f".hm-row[data-f='{hostile}'] .hm-label").click()
    detail = page.locator(f"#detail-{hostile}")
    assert detail.is_visible()
    assert detail.get_by_role("heading").first.inner_text() == f"Feature {HOSTILE}"
    assert page.locator("#detail-0").is_hidden()
    assert page.locator(f"#dist-{hostile}").is_visible()
    assert page.locator("#dist-0").is_hidden()
    assert page.locator("#feature-select").input_value() == str(hostile)
    assert page.locator(f".hm-row[data-f='{hostile}']").get_attribute("class") == (
        "hm-row selected"
    )

    # The selector switches to another feature's distribution (country: categories).
    page.get_by_label("Feature", exact=True).select_option(label="country")
    country = page.locator("#dist-1")
    assert country.is_visible()
    assert page.locator(f"#dist-{hostile}").is_hidden()
    assert "(categorical)" in country.locator("figcaption").inner_text()
    assert country.locator("rect.bar.cur").count() == 5  # four countries and (other)

    # Keyboard: focus a row and press Enter.
    page.locator(".hm-row[data-f='2']").focus()
    page.keyboard.press("Enter")
    assert page.locator("#detail-2").is_visible()

    assert offline_tab.errors == []
    # The page ran no injected script: the hostile name stayed text.
    assert page.evaluate("document.querySelectorAll('img').length") == 0
