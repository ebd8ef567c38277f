"""The deployment page in real Chromium against a real deployment: the platform's supervisor
runs the deployment's server process (two registered sklearn versions of ``iris``); the test
starts a canary at 50 % through the page's form while prediction traffic flows, watches the
traffic-split chart show both versions near 50/50, rolls back from the page and watches the
canary's share of new traffic fall to 0; then the deployment stops and the page says so.

Reuses the harness of ``test_ui_browser`` (Debian's Chromium, console errors and CSP
violations fail the test, a screenshot is kept on failure).
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import pytest

from mlsteward._schema import load_all_tables
from mlsteward.deployments import create_deployment, deployment_history, stop_deployment
from mlsteward.deployments._control import deployment_stats, wait_for_revision
from mlsteward.deployments._supervisor import DeploymentFolder, start_supervisor, stop_supervisor
from mlsteward.platform import Platform
from mlsteward.registry import ModelFile, register_model_version, set_alias
from mlsteward.security import SYSTEM
from mlsteward.security import create_admin as create_admin_user
from mlsteward.server import create_app
from mlsteward.server._ui_deployment_live import SHARE_SECONDS
from mlsteward.settings import Settings

from ..serving._support import iris_frame
from . import test_ui_browser as harness
from ._live_server import serve

load_all_tables()
pytestmark = pytest.mark.browser

browser = harness.browser
tab = harness.tab
PAGE = "/projects/default/deployments/web"


def register_two_versions(platform: Platform, root: Path) -> None:
    """``iris`` versions 1 (``@production``) and 2: logistic regressions, quick to fit, save
    and load, with different regularisation (so, other answers)."""
    from sklearn.linear_model import LogisticRegression

    from mlsteward.models._model_dir import save_model

    x, y = iris_frame()
    for strength in (1.0, 0.01):
        folder = root / f"c-{strength}"
        save_model(
            LogisticRegression(C=strength, max_iter=500).fit(x, y), folder, input_example=x.head(5)
        )
        files = []
        for path in sorted(folder.iterdir()):
            blob = platform.blobs.put_bytes(path.read_bytes())
            files.append(ModelFile(path.name, blob.address, blob.size))
        register_model_version(
            platform, SYSTEM, "default", "iris", source_uri="runs:/r/m", flavor="sklearn",
            files=files,
        )  # fmt: skip
    set_alias(platform, SYSTEM, "default", "iris", "production", 1)


@dataclass
class Traffic:
    """Prediction requests sent one after another in a thread until ``stop``; the versions
    that answered (``X-Model-Version``)."""

    url: str
    answered_by: list[tuple[float, str]] = field(default_factory=list)
    failures: list[str] = field(default_factory=list)
    done: threading.Event = field(default_factory=threading.Event)

    def run(self) -> None:
        x, _ = iris_frame()
        body = {"records": x.head(1).to_dict("records")}
        with httpx.Client(timeout=10) as client:
            while not self.done.wait(0.01):
                try:
                    answer = client.post(f"{self.url}/v1/models/iris/predict", json=body)
                except httpx.HTTPError as exc:
                    self.failures.append(repr(exc))
                    continue
                if answer.status_code != 200:
                    self.failures.append(f"{answer.status_code}: {answer.text[:200]}")
                else:
                    self.answered_by.append((time.time(), answer.headers["x-model-version"]))

    def first_answer_by(self, version: str, after: float, timeout: float = 15) -> float:
        """When ``version`` first answered after the epoch second ``after``."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            for at, answered in list(self.answered_by):
                if at >= after and answered == version:
                    return at
            time.sleep(0.05)
        raise AssertionError(f"version {version} did not answer within {timeout} s")


@dataclass
class Deployed:
    url: str  # the platform's web UI
    platform: Platform
    traffic: Traffic


def _kill_leftovers(folder: DeploymentFolder) -> None:
    state = folder.read_state()
    for key in ("server_pid", "supervisor_pid"):
        pid = state.get(key)
        if isinstance(pid, int):
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)


@pytest.fixture
def deployed(make_settings: Callable[..., Settings], tmp_path: Path) -> Iterator[Deployed]:
    """The web UI of a platform whose deployment ``web`` serves ``iris`` version 1 from a
    supervised server process, and a thread sending it predictions."""
    settings = make_settings(auth_mode="required")
    platform = Platform.open(settings)
    create_admin_user(platform, "admin", harness.PASSWORD)
    register_two_versions(platform, tmp_path / "models")
    created = create_deployment(platform, SYSTEM, "default", "web", "models:/iris@production")
    folder = DeploymentFolder.of(settings.home, "default", "web")
    traffic = Traffic(created.url)
    sender = threading.Thread(target=traffic.run, daemon=True)
    try:
        start_supervisor(settings, "default", "web")
        up = wait_for_revision(
            lambda: deployment_stats(platform, SYSTEM, "default", "web"), 1, timeout=60
        )
        assert up, f"the deployment's server did not come up: {folder.log_tail(30)}"
        sender.start()
        with serve(create_app(platform)) as url:
            yield Deployed(url, platform, traffic)
    finally:
        traffic.done.set()
        if sender.is_alive():
            sender.join(15)
        stop_supervisor(settings, "default", "web", timeout=30)
        _kill_leftovers(folder)
        platform.close()


# The latest shares of `version` are within [low, high], count `minimum` requests at least, and
# cover only the seconds from `since` (epoch) on.
SHARES_JS = """([version, low, high, minimum, since]) => {
  const chart = document.getElementById("chart-split");
  if (!chart || !chart.dataset.shares || Number(chart.dataset.end) < since) return false;
  const shares = JSON.parse(chart.dataset.shares);
  const share = shares[version];
  return Number(chart.dataset.requests) >= minimum && share !== null && share !== undefined
    && share >= low && share <= high;
}"""


def test_start_a_canary_watch_the_split_and_roll_back(tab: harness.Tab, deployed: Deployed) -> None:
    page = tab.page
    harness.log_in(page, deployed.url, PAGE)
    status = page.locator("#live-status")
    page.wait_for_function(
        "() => document.getElementById('live').dataset.running === 'true'", timeout=10_000
    )
    assert status.inner_text().startswith("Running revision 1")
    assert page.locator("#live-versions tbody tr").count() == 1
    page.wait_for_function(SHARES_JS, arg=["1", 1.0, 1.0, 5, 0], timeout=15_000)
    clicked = time.time()

    # A canary at 50 % through the form.
    form = page.locator("#rollout-form")
    form.locator("select[name=version]").select_option("2")
    form.get_by_label("canary", exact=True).check()
    form.locator("input[name=weight]").fill("50")
    form.get_by_role("button", name="Roll out").click()
    page.wait_for_url(f"{deployed.url}{PAGE}")
    assert page.get_by_role("status").first.inner_text() == (
        "Version 2 now gets 50 % of the traffic. (revision 2)"
    )
    weights = page.locator("#traffic-bar rect")
    assert [weights.nth(i).get_attribute("data-weight") for i in range(2)] == ["50", "50"]

    # Once the server switched, the split chart shows both versions near 50/50 over seconds of
    # new traffic only (the split counts the last SHARE_SECONDS seconds).
    switched = deployed.traffic.first_answer_by("2", clicked)
    since = int(switched) + SHARE_SECONDS + 1
    page.wait_for_function(SHARES_JS, arg=["2", 0.35, 0.65, 40, since], timeout=30_000)
    shares = json.loads(page.locator("#chart-split").get_attribute("data-shares") or "{}")
    assert set(shares) == {"1", "2"}
    assert 0.3 <= shares["1"] <= 0.7
    canary_group = page.locator('#chart-split g[data-version="2"]')
    assert canary_group.locator("rect").count() > 0  # drawn, not only counted
    assert page.locator("#live-versions tbody tr").count() == 2
    for chart in ("chart-throughput", "chart-latency", "chart-errors"):
        assert page.locator(f'#{chart} path[data-version="2"]').count() >= 1, chart

    # Roll back from the page: the canary's share of new traffic falls to 0.
    clicked = time.time()
    page.get_by_role("button", name="Roll back to version 1").click()
    page.wait_for_url(f"{deployed.url}{PAGE}")
    assert page.get_by_role("status").first.inner_text() == (
        "Rolled back: version 1 serves all traffic (revision 3)."
    )
    page.wait_for_function(SHARES_JS, arg=["2", 0.0, 0.0, 20, 0], timeout=30_000)
    assert page.locator('#chart-split g[data-version="1"]').get_attribute("data-share") == "1"

    history = page.locator("#history tbody tr").evaluate_all(
        "rows => rows.map(r => r.dataset.kind)"
    )
    assert history == ["rollback", "rollout", "created"]
    kinds = [e.kind.value for e in deployment_history(deployed.platform, SYSTEM, "default", "web")]
    assert kinds == ["created", "rollout", "rollback"]
    deployed.traffic.done.set()
    assert deployed.traffic.failures == []
    assert deployed.traffic.answered_by[-1][1] == "1"

    # A deployment whose server stops is shown as not running, without stale figures.
    stop_deployment(deployed.platform, SYSTEM, "default", "web")
    page.wait_for_function(
        "() => document.getElementById('live').dataset.running === 'false'", timeout=30_000
    )
    assert status.inner_text().startswith("Not running: ")
    assert page.locator("#live-versions tbody tr").count() == 0
    assert page.locator("#chart-split").get_attribute("data-shares") is None
    assert tab.errors == []  # no CSP violation, no script error
