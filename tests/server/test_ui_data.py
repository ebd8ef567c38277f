"""The data pages of the web UI: catalog and search, a dataset's page, the diff of two
versions and the lineage graph; the last test walks them in real Chromium."""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from fastapi.testclient import TestClient

from mlsteward.data import (
    add_dataset_version,
    log_table_version,
    record_dataset_input,
    update_dataset,
)
from mlsteward.platform import Platform
from mlsteward.security import SYSTEM, add_member, create_user
from mlsteward.security import create_admin as create_admin_user
from mlsteward.server import create_app
from mlsteward.settings import Settings
from mlsteward.tracking import create_experiment, start_run
from mlsteward.validation import attach_suite, save_suite, validate_dataset_version

from . import test_ui_browser as harness
from ._live_server import serve
from ._support import cheap_password_hashing
from ._ui_support import PASSWORD, log_in

CARDS = ["4111111111111111", "5500005555555559", "4012888888881881", "378282246310005"]


@pytest.fixture(autouse=True)
def _cheap_hashing() -> Iterator[None]:
    with cheap_password_hashing():
        yield


@pytest.fixture
def settings(make_settings: Callable[..., Settings]) -> Settings:
    return make_settings(auth_mode="required")


def _frame(rows: int, shift: float = 0.0) -> pd.DataFrame:
    rng = np.random.default_rng(3)
    return pd.DataFrame(
        {
            "amount": rng.normal(50 + shift, 10, rows),
            "card_number": [CARDS[i % len(CARDS)] for i in range(rows)],
            "country": rng.choice(["FR", "DE", "NL"], rows),
        }
    )


def seed(platform: Platform, password: str = PASSWORD) -> str:
    """Two table versions of ``transactions`` read by a run; returns the run id."""
    create_admin_user(platform, "admin", password)
    log_table_version(platform, SYSTEM, "default", "transactions", _frame(400))
    second = log_table_version(
        platform, SYSTEM, "default", "transactions", _frame(500, shift=5.0), message="more rows"
    )
    update_dataset(
        platform,
        SYSTEM,
        "default",
        "transactions",
        description="Card payments with fraud labels",
        tags={"domain": "payments"},
    )
    suite = {
        "name": "payments",
        "expectations": [
            {"expectation": "expect_column_values_to_not_be_null", "params": {"column": "amount"}},
            {
                "expectation": "expect_column_values_to_be_between",
                "params": {"column": "amount", "min_value": 0, "max_value": 60},
            },
        ],
    }
    save_suite(platform, SYSTEM, "default", suite)
    attach_suite(platform, SYSTEM, "default", "payments", "transactions")
    validate_dataset_version(platform, SYSTEM, second.id)
    create_experiment(platform, SYSTEM, "default", "fraud")
    run = start_run(platform, SYSTEM, "default", "fraud", name="train-1")
    record_dataset_input(platform, SYSTEM, run.id, second.id)
    return run.id


@pytest.fixture
def app(platform: Platform) -> Iterator[TestClient]:
    seed(platform)
    with TestClient(create_app(platform)) as client:
        log_in(client)
        yield client


def test_catalog_lists_and_searches_datasets(app: TestClient) -> None:
    page = app.get("/projects/default/datasets")
    assert page.status_code == 200
    assert "transactions" in page.text
    assert "Card payments with fraud labels" in page.text
    found = app.get("/projects/default/datasets", params={"q": "payments"})
    assert 'id="search-results"' in found.text
    assert "/projects/default/datasets/transactions" in found.text
    nothing = app.get("/projects/default/datasets", params={"q": "zebra"})
    assert "No dataset matches" in nothing.text
    hostile = app.get("/projects/default/datasets", params={"q": '"<script>" NEAR( * OR'})
    assert hostile.status_code == 200
    assert "<script>" not in hostile.text.replace("&lt;script&gt;", "")
    assert app.get("/projects/default/datasets", params={"q": "x" * 201}).status_code == 400


def test_dataset_page_shows_versions_schema_histograms_and_pii(app: TestClient) -> None:
    page = app.get("/projects/default/datasets/transactions")
    assert page.status_code == 200
    text = page.text
    assert re.search(r'<tr aria-current="true">\s*<td><a [^>]*>2</a>', text)
    assert 'aria-label="Histogram of amount"' in text
    assert "payment_card" in text  # the card column's detected class
    assert "train-1" in text  # usage: the run that read version 2
    assert 'id="open-lineage"' in text
    validation = text[text.index('id="validation"') :]
    assert "payments" in validation
    assert "failed" in validation  # amounts above 60 exist
    assert "expect_column_values_to_be_between" in validation
    docs_link = re.search(r'href="(/projects/default/validation-results/[0-9a-f]+)"', text)
    assert docs_link is not None
    docs = app.get(docs_link.group(1))
    assert docs.status_code == 200
    assert "script-src" not in docs.headers["content-security-policy"]
    assert "default-src 'none'" in docs.headers["content-security-policy"]
    assert "expect_column_values_to_be_between" in docs.text
    older = app.get("/projects/default/datasets/transactions", params={"version": "1"})
    assert "version 1" in older.text
    assert app.get("/projects/default/datasets/transactions?version=x").status_code == 400
    assert app.get("/projects/default/datasets/transactions?version=9").status_code == 404
    assert app.get("/projects/default/datasets/nope").status_code == 404


def test_diff_page_compares_two_versions(app: TestClient) -> None:
    page = app.get("/projects/default/datasets/transactions/diff", params={"a": 1, "b": 2})
    assert page.status_code == 200
    assert re.search(r"Rows: 400 → 500", page.text)
    assert 'id="diff-statistics"' in page.text
    assert "mean" in page.text


def test_lineage_page_draws_the_graph(app: TestClient) -> None:
    page = app.get("/lineage", params={"node": "dataset:transactions@2", "project": "default"})
    assert page.status_code == 200
    assert 'id="lineage-graph"' in page.text
    # The version and the run reading it.
    assert len(re.findall(r'class="lineage-node[ "]', page.text)) == 2
    assert "input of" in page.text
    assert (
        app.get("/lineage", params={"node": "dataset:transactions@2", "depth": "99"}).status_code
        == 400
    )
    assert app.get("/lineage", params={"node": "bogus"}).status_code == 400
    assert app.get("/lineage").status_code == 400


def test_outsiders_see_nothing(platform: Platform) -> None:
    seed(platform)
    create_user(platform, SYSTEM, "eve", PASSWORD)
    with TestClient(create_app(platform)) as client:
        log_in(client, "eve")
        assert client.get("/projects/default/datasets").status_code == 403
        assert client.get("/projects/default/datasets/transactions").status_code == 403
        response = client.get("/lineage", params={"node": "dataset:transactions@2"})
        assert response.status_code == 403


def test_viewers_see_the_pages(platform: Platform) -> None:
    seed(platform)
    create_user(platform, SYSTEM, "vic", PASSWORD)
    add_member(platform, SYSTEM, "default", "vic", "viewer")
    with TestClient(create_app(platform)) as client:
        log_in(client, "vic")
        assert client.get("/projects/default/datasets/transactions").status_code == 200


# -- real Chromium ------------------------------------------------------------------------------

browser = harness.browser
tab = harness.tab


@pytest.fixture
def data_url(make_settings: Callable[..., Settings], tmp_path: Path) -> Iterator[str]:
    platform = Platform.open(make_settings(auth_mode="required"))
    seed(platform, harness.PASSWORD)
    files = tmp_path / "images"
    files.mkdir()
    (files / "a.txt").write_text("a")
    add_dataset_version(platform, SYSTEM, "default", "images", files)
    try:
        with serve(create_app(platform)) as url:
            yield url
    finally:
        platform.close()


@pytest.mark.browser
def test_search_open_a_dataset_and_its_lineage(tab: harness.Tab, data_url: str) -> None:
    page = tab.page
    harness.log_in(page, data_url, "/projects/default/datasets")
    page.get_by_label("Search").fill("payments")
    page.get_by_role("button", name="Search").click()
    page.wait_for_url("**q=payments*")
    page.locator("#search-results").get_by_role("link", name="transactions").click()
    page.wait_for_url("**/datasets/transactions")
    histogram = page.get_by_role("img", name="Histogram of amount")
    assert histogram.locator("rect").count() > 3
    assert page.locator("#columns").get_by_text("payment_card").count() == 1
    result = page.locator("#validation tbody tr").first
    assert "failed" in result.inner_text()
    assert "1 of 2" in result.inner_text()
    page.get_by_role("link", name="Lineage graph").click()
    page.wait_for_url("**/lineage?*")
    graph = page.locator("#lineage-graph")
    assert graph.locator(".lineage-node").count() == 2
    graph.locator('.lineage-node[data-type="run"] a').click()
    page.wait_for_url("**/runs/*")
