"""The tracking pages of the web UI: experiments, the runs table, a run, a comparison."""

from __future__ import annotations

import io
import json
import re
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from mlsteward.platform import Platform
from mlsteward.security import SYSTEM, create_user
from mlsteward.security import create_admin as create_admin_user
from mlsteward.server import _ui_tracking, create_app
from mlsteward.settings import Settings
from mlsteward.tracking import (
    MetricPoint,
    create_experiment,
    log_artifact,
    log_batch,
    start_run,
)

PASSWORD = "tracking-ui-admin-password"
OUTSIDER_PASSWORD = "tracking-ui-outsider-password"
CSRF_RE = re.compile(r'name="csrf_token" value="([^"]*)"')
ROW_RE = re.compile(r'<tr data-run-id="([0-9a-f]+)">')


def log_in(client: TestClient, username: str, password: str) -> None:
    form = client.get("/login")
    match = CSRF_RE.search(form.text)
    assert match is not None
    response = client.post(
        "/login",
        data={"username": username, "password": password, "csrf_token": match.group(1)},
        follow_redirects=False,
    )
    assert response.status_code == 303, response.text


def seed_run(
    platform: Platform,
    name: str,
    params: dict[str, str],
    series: dict[str, list[float]],
    experiment: str = "exp",
) -> str:
    run_id = start_run(
        platform,
        SYSTEM,
        "default",
        experiment,
        name=name,
        environment={
            "python": "3.11.9",
            "host": "trainer-7",
            "command": ["train.py", "--epochs", "3"],
            "git": {"commit": "0123456789abcdef0123", "branch": "main", "dirty": True},
        },
    ).id
    now = int(time.time() * 1000)
    points = [
        MetricPoint(key, value, step, now)
        for key, values in series.items()
        for step, value in enumerate(values)
    ]
    log_batch(platform, SYSTEM, run_id, metrics=points, params=params)
    return run_id


def chart_data(html: str, element_id: str) -> object:
    match = re.search(rf'<script type="application/json" id="{element_id}">(.*?)</script>', html)
    assert match is not None, f"no {element_id} data on the page"
    return json.loads(match.group(1))


@pytest.fixture
def settings(make_settings: Callable[..., Settings]) -> Settings:
    return make_settings(auth_mode="required")


@pytest.fixture
def runs(platform: Platform) -> dict[str, str]:
    create_experiment(platform, SYSTEM, "default", "exp")
    return {
        name: seed_run(platform, name, params, {"auc": aucs, "loss": [1.0, 0.5]})
        for name, params, aucs in [
            ("alpha", {"lr": "0.1", "depth": "3"}, [0.5, 0.7]),
            ("bravo", {"lr": "0.2", "depth": "3"}, [0.6, 0.9]),
            ("charlie", {"lr": "0.3", "depth": "3"}, [0.4, 0.8]),
        ]
    }


@pytest.fixture
def app_client(platform: Platform) -> Iterator[TestClient]:
    create_admin_user(platform, "admin", PASSWORD)
    with TestClient(create_app(platform)) as client:
        yield client


@pytest.fixture
def client(app_client: TestClient) -> TestClient:
    log_in(app_client, "admin", PASSWORD)
    return app_client


@pytest.fixture
def outsider(platform: Platform, app_client: TestClient) -> Iterator[TestClient]:
    """A logged-in user who is no member of the ``default`` project."""
    create_user(platform, SYSTEM, "eve", OUTSIDER_PASSWORD)
    with TestClient(app_client.app) as other:
        log_in(other, "eve", OUTSIDER_PASSWORD)
        yield other


def run_order(html: str) -> list[str]:
    return ROW_RE.findall(html)


# -- experiments ------------------------------------------------------------------------------


def test_experiments_page_lists_projects_and_experiments(
    client: TestClient, runs: dict[str, str]
) -> None:
    response = client.get("/experiments")
    assert response.status_code == 200
    assert '<option value="default" selected>' in response.text
    assert ">exp</a>" in response.text
    assert 'href="/projects/default/runs"' in response.text


def test_experiments_page_refuses_an_unknown_project(client: TestClient) -> None:
    response = client.get("/experiments", params={"project": "<nope>"})
    assert response.status_code == 400
    assert "there is no project &#39;&lt;nope&gt;&#39; that you can see" in response.text


def test_local_use_needs_no_login(make_settings: Callable[..., Settings]) -> None:
    local = Platform.open(make_settings(auth_mode="auto", host="127.0.0.1"))
    try:
        create_experiment(local, SYSTEM, "default", "exp")
        seed_run(local, "solo", {"lr": "0.1"}, {"auc": [0.5]})
        with TestClient(create_app(local), base_url="http://localhost") as client:
            assert client.get("/experiments").status_code == 200
            page = client.get("/projects/default/runs")
            assert page.status_code == 200
            assert ">solo</a>" in page.text
    finally:
        local.close()


# -- the runs table ---------------------------------------------------------------------------


def test_runs_table_shows_runs_with_param_and_metric_columns(
    client: TestClient, runs: dict[str, str]
) -> None:
    response = client.get("/projects/default/runs")
    assert response.status_code == 200
    assert set(run_order(response.text)) == set(runs.values())
    for column in ("metrics.auc", "metrics.loss", "params.lr", "params.depth"):
        assert f'data-col="{column}"' in response.text
    assert 'data-col="metrics.auc">0.9<' in response.text
    assert 'name="run" value="' in response.text
    assert 'action="/compare"' in response.text


def test_clicking_a_metric_header_sorts_descending_then_ascending(
    client: TestClient, runs: dict[str, str]
) -> None:
    page = client.get("/projects/default/runs").text
    link = re.search(r'href="([^"]+)" data-sort="metrics.`auc`"', page)
    assert link is not None
    descending = client.get(link.group(1).replace("&amp;", "&"))
    assert run_order(descending.text) == [runs["bravo"], runs["charlie"], runs["alpha"]]
    assert 'aria-sort="descending"' in descending.text
    again = re.search(r'href="([^"]+)" data-sort="metrics.`auc`"', descending.text)
    assert again is not None
    ascending = client.get(again.group(1).replace("&amp;", "&"))
    assert run_order(ascending.text) == [runs["alpha"], runs["charlie"], runs["bravo"]]


def test_sorting_by_a_param_and_an_attribute(client: TestClient, runs: dict[str, str]) -> None:
    by_lr = client.get("/projects/default/runs", params={"order": "params.`lr` DESC"})
    assert run_order(by_lr.text) == [runs["charlie"], runs["bravo"], runs["alpha"]]
    by_name = client.get("/projects/default/runs", params={"order": "attributes.name ASC"})
    assert run_order(by_name.text) == [runs["alpha"], runs["bravo"], runs["charlie"]]


def test_filter_narrows_the_table(client: TestClient, runs: dict[str, str]) -> None:
    response = client.get("/projects/default/runs", params={"filter": "metrics.auc >= 0.8"})
    assert response.status_code == 200
    assert set(run_order(response.text)) == {runs["bravo"], runs["charlie"]}
    assert 'value="metrics.auc &gt;= 0.8"' in response.text


def test_bad_filter_is_a_400_saying_where(client: TestClient, runs: dict[str, str]) -> None:
    response = client.get("/projects/default/runs", params={"filter": "metrics.auc >> 1"})
    assert response.status_code == 400
    assert "The filter is not valid at position 13" in response.text
    assert 'id="search-error"' in response.text
    assert run_order(response.text) == []
    # The query stays in the box to be corrected.
    assert 'value="metrics.auc &gt;&gt; 1"' in response.text


def test_bad_order_and_page_token_are_400s(client: TestClient, runs: dict[str, str]) -> None:
    assert client.get("/projects/default/runs?order=nonsense").status_code == 400
    token = client.get("/projects/default/runs?page_token=not-a-token")
    assert token.status_code == 400
    assert "page_token is not a token returned by this search" in token.text


def test_paging_walks_every_run_once(
    client: TestClient, runs: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(_ui_tracking, "PAGE_SIZE", 2)
    first = client.get("/projects/default/runs", params={"order": "metrics.auc DESC"})
    assert run_order(first.text) == [runs["bravo"], runs["charlie"]]
    link = re.search(r'<a href="([^"]+)" id="next-page">', first.text)
    assert link is not None
    assert "order=metrics.auc+DESC" in link.group(1)
    second = client.get(link.group(1).replace("&amp;", "&"))
    assert run_order(second.text) == [runs["alpha"]]
    assert 'id="next-page"' not in second.text
    assert "First page" in second.text


def test_column_chooser_shows_only_the_chosen_columns(
    client: TestClient, runs: dict[str, str]
) -> None:
    response = client.get("/projects/default/runs", params={"cols": "1", "col": "params.lr"})
    assert 'data-col="params.lr"' in response.text
    assert 'data-col="metrics.auc"' not in response.text
    # The others can still be picked, and sort links keep the choice.
    assert 'name="col" value="metrics.auc">' in response.text
    assert "col=params.lr" in response.text


def test_runs_of_one_experiment(client: TestClient, platform: Platform, runs: dict) -> None:
    experiment = create_experiment(platform, SYSTEM, "default", "other")
    solo = seed_run(platform, "solo", {}, {}, experiment="other")
    response = client.get("/projects/default/runs", params={"experiment": experiment.id})
    assert run_order(response.text) == [solo]


# -- a run ------------------------------------------------------------------------------------


def test_run_page_shows_the_run_and_its_chart_data(
    client: TestClient, runs: dict[str, str]
) -> None:
    response = client.get(f"/runs/{runs['bravo']}")
    assert response.status_code == 200
    html = response.text
    assert "<h1>bravo" in html
    assert "3.11.9" in html
    assert "trainer-7" in html
    assert "train.py --epochs 3" in html
    assert "<code>0123456789ab</code>" in html
    assert "dirty" in html
    assert '<th scope="row">lr</th><td>0.2</td>' in html
    assert chart_data(html, "run-metrics") == {
        "auc": {"steps": [0, 1], "values": [0.6, 0.9]},
        "loss": {"steps": [0, 1], "values": [1.0, 0.5]},
    }
    assert '<script src="/vendor/plotly.min.js" defer></script>' in html
    assert 'id="plotly.js-style-global" class="no-inline-styles"' in html
    assert "No artifacts." in html


def test_run_page_lists_artifacts_with_download_links(
    client: TestClient, platform: Platform, runs: dict[str, str]
) -> None:
    run_id = runs["alpha"]
    log_artifact(platform, SYSTEM, run_id, "model/weights.bin", io.BytesIO(b"0123456789"))
    log_artifact(platform, SYSTEM, run_id, "report.html", io.BytesIO(b"<h1>hi</h1>"))
    top = client.get(f"/runs/{run_id}").text
    assert f'href="/runs/{run_id}?artifacts=model">model/</a>' in top
    download = f"/api/v1/runs/{run_id}/artifacts/content?path=report.html"
    assert f'href="{download}" download>report.html</a>' in top
    inside = client.get(f"/runs/{run_id}", params={"artifacts": "model"}).text
    assert "path=model/weights.bin" in inside
    assert '<td class="num">10</td>' in inside
    assert client.get(download).content == b"<h1>hi</h1>"
    bad = client.get(f"/runs/{run_id}", params={"artifacts": "../etc"})
    assert bad.status_code == 400


def test_chart_data_cannot_close_its_script_element(
    client: TestClient, platform: Platform, runs: dict[str, str]
) -> None:
    create_experiment(platform, SYSTEM, "default", "x")
    hostile = "</script><script>alert(1)</script>"
    run_id = seed_run(platform, "hostile", {hostile: hostile}, {hostile: [float("nan"), 1.0]}, "x")
    html = client.get(f"/runs/{run_id}").text
    assert "<script>alert(1)" not in html
    assert chart_data(html, "run-metrics") == {hostile: {"steps": [0, 1], "values": [None, 1.0]}}


def test_plotly_is_served_by_the_platform(client: TestClient) -> None:
    response = client.get("/vendor/plotly.min.js")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/javascript")
    assert "plotly.js" in response.text[:200]


def test_every_stylesheet_plotly_would_inject_is_accounted_for(client: TestClient) -> None:
    """The CSP blocks the <style> elements Plotly.js adds unless an element with their id is
    already there: a new plotly release adding one must update ``_tracking_charts.html``."""
    bundle = client.get("/vendor/plotly.min.js").text
    guarded = re.findall(
        r'getElementById\("([^"]+)"\)\)\{var \w+=document\.createElement\("style"\)', bundle
    )
    assert guarded, "the bundle no longer injects styles this way: re-check the CSP handling"
    page = (Path(_ui_tracking.__file__).parent / "templates" / "_tracking_charts.html").read_text()
    for element_id in guarded:
        assert f'id="{element_id}"' in page
    assert bundle.count('createElement("style")') == len(guarded) + 1  # + plotly.js-style-*


# -- compare ----------------------------------------------------------------------------------


def test_compare_page_highlights_differing_params(client: TestClient, runs: dict[str, str]) -> None:
    ids = list(runs.values())
    response = client.get("/compare", params=[("run", i) for i in ids])
    assert response.status_code == 200
    html = response.text
    assert '<tr class="differs" data-param="lr">' in html
    assert '<tr data-param="depth">' in html
    data = chart_data(html, "compare-data")
    assert isinstance(data, dict)
    auc = next(m for m in data["metrics"] if m["key"] == "auc")
    assert auc["values"][runs["bravo"]] == [0.6, 0.9]
    assert [d["label"] for d in data["parallel"]] == [
        "param depth",
        "param lr",
        "metric auc",
        "metric loss",
    ]
    assert data["scatter"]["x_label"] == "depth"


def test_compare_scatter_axes_come_from_the_query(client: TestClient, runs: dict[str, str]) -> None:
    params = [("run", i) for i in runs.values()] + [("x", "lr"), ("y", "loss")]
    data = chart_data(client.get("/compare", params=params).text, "compare-data")
    assert isinstance(data, dict)
    assert data["scatter"]["x_label"] == "lr"
    assert data["scatter"]["y_label"] == "loss"
    assert sorted(data["scatter"]["x"]) == [0.1, 0.2, 0.3]


# -- refusals and hostile input ---------------------------------------------------------------


def test_outsiders_are_refused(outsider: TestClient, runs: dict[str, str]) -> None:
    run_id = runs["alpha"]
    for path in ("/projects/default/runs", f"/runs/{run_id}", f"/compare?run={run_id}"):
        response = outsider.get(path)
        assert response.status_code in {403, 404}, path
        assert "alpha" not in response.text, path
    experiments = outsider.get("/experiments")
    assert experiments.status_code == 200
    assert "You cannot see any project yet" in experiments.text


def test_anonymous_visitors_are_sent_to_log_in(app_client: TestClient) -> None:
    response = app_client.get("/projects/default/runs", follow_redirects=False)
    assert response.status_code == 303
    assert response.headers["location"].startswith("/login")


@pytest.mark.parametrize(
    ("path", "status"),
    [
        ("/runs/0123456789abcdef0123456789abcdef", 404),
        ("/runs/%3Cscript%3E", 400),
        ("/runs/" + "a" * 500, 400),
        ("/projects/no-such-project/runs", 404),
        ("/projects/%3Cb%3E/runs", 404),
        ("/compare", 400),
        ("/compare?run=..%2F..", 400),
        ("/compare?run=0123456789abcdef0123456789abcdef", 404),
        ("/projects/default/runs?filter=" + "x" * 10_001, 400),
        ("/projects/default/runs?cols=1" + "&col=params.a" * 41, 400),
    ],
)
def test_hostile_input_is_a_4xx_page(
    client: TestClient, runs: dict[str, str], path: str, status: int
) -> None:
    response = client.get(path)
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("text/html")
    assert "<script>" not in response.text
    assert "<b>" not in response.text


def test_compare_refuses_too_many_runs(client: TestClient, runs: dict[str, str]) -> None:
    response = client.get("/compare", params=[("run", f"{i:032x}") for i in range(51)])
    assert response.status_code == 400
    assert "compare at most 50 runs" in response.text
