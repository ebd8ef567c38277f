"""The tracking pages in real Chromium: filter, sort, a run's charts, comparing runs.

Reuses the harness of ``test_ui_browser`` (Debian's Chromium, console errors and CSP
violations fail the test, a screenshot is kept on failure).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator

import pytest

from mlsteward.platform import Platform
from mlsteward.security import SYSTEM
from mlsteward.security import create_admin as create_admin_user
from mlsteward.server import create_app
from mlsteward.settings import Settings
from mlsteward.tracking import MetricPoint, create_experiment, log_batch, start_run

from . import test_ui_browser as harness
from ._live_server import serve

pytestmark = pytest.mark.browser

browser = harness.browser
tab = harness.tab
Tab = harness.Tab
RUNS = 30


def final_auc(i: int) -> float:
    return round(0.5 + ((i * 7) % RUNS) / 100, 4)  # distinct, not in creation order


@pytest.fixture
def tracked_url(make_settings: Callable[..., Settings]) -> Iterator[str]:
    """A live server whose ``default`` project has 30 runs with curves and parameters."""
    platform = Platform.open(make_settings(auth_mode="required"))
    create_admin_user(platform, "admin", harness.PASSWORD)
    create_experiment(platform, SYSTEM, "default", "sweep")
    now = int(time.time() * 1000)
    for i in range(RUNS):
        run_id = start_run(platform, SYSTEM, "default", "sweep", name=f"run-{i:02d}").id
        auc = final_auc(i)
        points = [MetricPoint("auc", auc - 0.1 * ((4 - s) / 4) ** 2, s, now) for s in range(5)]
        points += [MetricPoint("loss", 1.0 - auc + 0.05 * (4 - s), s, now) for s in range(5)]
        params = {"lr": f"{0.01 * (i + 1):.2f}", "depth": "5" if i % 2 else "3"}
        log_batch(platform, SYSTEM, run_id, metrics=points, params=params)
    try:
        with serve(create_app(platform)) as url:
            yield url
    finally:
        platform.close()


def test_filter_sort_open_a_run_and_compare(tab: harness.Tab, tracked_url: str) -> None:
    page = tab.page
    harness.log_in(page, tracked_url, "/projects/default/runs")
    assert page.locator("#runs tbody tr").count() == RUNS

    # Filter with the search language.
    page.get_by_label("Filter").fill('params.depth = "5"')
    page.get_by_role("button", name="Search").click()
    page.wait_for_url("**filter=*")
    names = page.locator("#runs tbody tr td:nth-child(2)").all_inner_texts()
    assert sorted(names) == [f"run-{i:02d}" for i in range(1, RUNS, 2)]

    # Sort by a metric: the table's order is the metric's, highest first.
    page.locator('th a[data-sort="metrics.`auc`"]').click()
    page.wait_for_url("**order=*")
    shown = page.locator('#runs tbody td[data-col="metrics.auc"]').all_inner_texts()
    values = [float(v) for v in shown]
    assert values == sorted((final_auc(i) for i in range(1, RUNS, 2)), reverse=True)
    assert page.locator('th[aria-sort="descending"]').count() == 1
    best = page.locator("#runs tbody tr td:nth-child(2)").first.inner_text()

    # Open the best run: its metric charts are drawn, lines and all.
    page.get_by_role("link", name=best, exact=True).click()
    page.wait_for_url("**/runs/*")
    assert page.locator("#run-status").inner_text() == "running"
    auc_chart = page.locator('#metric-charts .chart[data-metric="auc"]')
    auc_chart.locator(".main-svg").first.wait_for()
    line = auc_chart.locator(".scatterlayer path.js-line").first
    line.wait_for()
    path = line.get_attribute("d") or ""
    assert path.startswith("M")
    assert path.count("L") >= 3
    assert page.locator("#metric-charts .chart .main-svg").count() >= 2
    page.go_back()

    # Tick three runs and compare them.
    boxes = page.locator('#runs tbody input[name="run"]')
    for index in range(3):
        boxes.nth(index).check()
    page.get_by_role("button", name="Compare selected runs").click()
    page.wait_for_url("**/compare?run=*")
    assert page.get_by_role("heading", name="Compare 3 runs").is_visible()
    for key in ("auc", "loss"):
        chart = page.locator(f'#compare-charts .chart[data-metric="{key}"]')
        chart.locator(".main-svg").first.wait_for()
        assert chart.locator(".scatterlayer path.js-line").count() == 3  # a curve per run
    differs = page.locator('#compare-params tr[data-param="lr"]')
    assert differs.get_attribute("class") == "differs"
    assert "differs" in differs.inner_text()
    same = page.locator('#compare-params tr[data-param="depth"]')
    assert same.get_attribute("class") is None
    highlight = differs.locator("td").first.evaluate("e => getComputedStyle(e).backgroundColor")
    plain = same.locator("td").first.evaluate("e => getComputedStyle(e).backgroundColor")
    assert highlight != plain
    page.locator("#scatter-chart .main-svg").first.wait_for()
    assert page.locator("#scatter-chart path.point").count() == 3
    # Parallel coordinates: a line per run across the axes lr, depth, auc and loss.
    parallel = page.locator("#parallel-chart")
    parallel.locator(".main-svg").first.wait_for()
    assert parallel.locator(".scatterlayer path.js-line").count() == 3
    labels = parallel.locator(".xtick text").all_text_contents()
    assert labels == ["param depth", "param lr", "metric auc", "metric loss"]

    assert tab.errors == []
