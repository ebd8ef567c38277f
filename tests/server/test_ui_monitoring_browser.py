"""The monitoring dashboard in real Chromium against a real uvicorn server: a monitor that
evaluated a calm and a drifted window and whose drift rule fired (the data of
``test_ui_monitoring``). The test opens the dashboard from the monitoring list, sees the drift
heatmap with drifted cells and the firing alert, picks a feature from the heatmap, then
acknowledges the alert from the page and sees its state change.

Reuses the harness of ``test_ui_browser`` (Debian's Chromium, console errors and CSP
violations fail the test, a screenshot is kept on failure).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass

import pytest

from mlsteward._schema import load_all_tables
from mlsteward.monitoring import list_alert_rules, list_alerts, list_monitor_results
from mlsteward.platform import Platform
from mlsteward.security import SYSTEM
from mlsteward.security import create_admin as create_admin_user
from mlsteward.server import create_app
from mlsteward.settings import Settings

from . import test_ui_browser as harness
from ._live_server import serve
from ._support import cheap_password_hashing
from .test_ui_monitoring import HOSTILE, LIST, PAGE, seed_monitoring

load_all_tables()
pytestmark = pytest.mark.browser

browser = harness.browser
tab = harness.tab


@dataclass
class Served:
    url: str
    platform: Platform


@pytest.fixture
def served(make_settings: Callable[..., Settings]) -> Iterator[Served]:
    platform = Platform.open(make_settings(auth_mode="required"))
    with cheap_password_hashing():
        create_admin_user(platform, "admin", harness.PASSWORD)
    seed_monitoring(platform)
    try:
        with serve(create_app(platform)) as url:
            yield Served(url, platform)
    finally:
        platform.close()


def test_see_the_drift_and_acknowledge_the_alert(tab: harness.Tab, served: Served) -> None:
    page = tab.page
    harness.log_in(page, served.url, LIST)
    page.get_by_role("link", name="fraud-watch", exact=True).first.click()
    page.wait_for_url(f"{served.url}{PAGE}")

    # The heatmap: one row per feature, the drifted cells as the stored results say.
    results = list_monitor_results(served.platform, SYSTEM, "default", "fraud-watch")
    drifted = sum(c["drifted"] for r in results for c in r.report["drift"]["columns"])
    assert drifted >= 1
    heatmap = page.locator("svg#heatmap")
    assert heatmap.is_visible()
    assert heatmap.locator("rect.cell.drifted").count() == drifted
    assert heatmap.locator("g.hm-row").count() == len(results[-1].report["drift"]["columns"])
    fill = heatmap.locator("rect.cell.drifted").first.evaluate(
        "cell => getComputedStyle(cell).fill"
    )
    assert fill == "rgb(198, 40, 40)"  # red, not the default black of an unstyled chart

    # The report's script runs on the page: a row click shows that feature's detail.
    rows = heatmap.locator("g.hm-row")
    labels = [rows.nth(i).get_attribute("aria-label") for i in range(rows.count())]
    hostile = labels.index(f"Show {HOSTILE}")
    rows.nth(hostile).click()
    detail = page.locator(f"#detail-{hostile}")
    assert detail.is_visible()
    assert detail.locator("h3 code").inner_text() == HOSTILE  # shown as text, never as markup
    assert page.locator("#detail-0").is_hidden()
    assert page.locator("#feature-select").input_value() == str(hostile)
    rows.nth(hostile).locator("rect.cell").first.hover()
    assert page.locator("#tooltip").is_visible()
    assert page.locator("#tooltip .tip-title").inner_text() == HOSTILE
    assert page.locator("#quality svg").count() >= 2  # a metric with its band, label coverage
    assert page.locator("#fairness svg").count() == 1

    # The firing alert, acknowledged from the page.
    alert = page.locator("#monitor-alerts tbody tr").first
    assert alert.get_attribute("data-state") == "firing"
    assert "drift high" in alert.inner_text()
    alert.get_by_role("button", name="Acknowledge").click()
    page.wait_for_url(f"{served.url}{PAGE}")
    assert page.get_by_role("status").first.inner_text().endswith("acknowledged by admin.")
    alert = page.locator("#monitor-alerts tbody tr").first
    assert alert.get_attribute("data-state") == "acknowledged"
    assert alert.get_by_role("button", name="Acknowledge").count() == 0
    assert alert.get_by_role("button", name="Resolve").count() == 1
    (stored,) = list_alerts(served.platform, SYSTEM, "default")
    assert (stored.state.value, stored.acknowledged_by) == ("acknowledged", "admin")
    assert tab.errors == []  # no CSP violation, no script error


def test_add_an_alert_rule_from_the_form_and_see_it_listed(
    tab: harness.Tab, served: Served
) -> None:
    page = tab.page
    harness.log_in(page, served.url, PAGE)
    form = page.locator("form#create-rule")
    # The latest window's metric names are offered to the metric field.
    offered = form.locator("#known-metrics option").evaluate_all("os => os.map(o => o.value)")
    assert "drift.share_drifted" in offered
    form.locator('[name="rule_name"]').fill("amount drifts")
    form.locator('[name="metric"]').fill("drift.share_drifted")
    form.locator('[name="kind"]').select_option("consecutive")
    form.locator('[name="op"]').select_option(">=")
    form.locator('[name="value"]').fill("0.5")
    form.locator('[name="windows"]').fill("2")
    form.locator('[name="severity"]').select_option("info")
    form.get_by_role("button", name="Add rule").click()
    page.wait_for_url(f"{served.url}{PAGE}")
    assert "Alert rule amount drifts added" in page.get_by_role("status").first.inner_text()
    row = page.locator('#alert-rules tr[data-rule="amount drifts"]')
    assert "drift.share_drifted >= 0.5 for 2 windows" in row.inner_text()
    assert row.get_attribute("data-enabled") == "true"
    stored = {r.name: r for r in list_alert_rules(served.platform, SYSTEM, "default")}
    assert (stored["amount drifts"].severity, stored["amount drifts"].created_by) == (
        "info",
        "admin",
    )

    # Turned off from its row; a refused form keeps what was typed.
    row.get_by_role("button", name="Disable").click()
    page.wait_for_url(f"{served.url}{PAGE}")
    row = page.locator('#alert-rules tr[data-rule="amount drifts"]')
    assert row.get_attribute("data-enabled") == "false"
    form = page.locator("form#create-rule")
    form.locator('[name="rule_name"]').fill("amount drifts")
    form.locator('[name="metric"]').fill("drift.share_drifted")
    form.locator('[name="value"]').fill("0.5")
    form.get_by_role("button", name="Add rule").click()
    assert "has a rule named 'amount drifts' already" in page.locator("#rule-error").inner_text()
    assert page.locator("form#create-rule").locator('[name="metric"]').input_value() == (
        "drift.share_drifted"
    )
    assert tab.errors == []
