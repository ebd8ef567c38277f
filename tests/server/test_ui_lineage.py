"""The lineage page around an alert: the alert's node is drawn in its own style with its
rule's name and its state now, and links to its row on the project's alerts page;
the deployment and model version it was linked to are drawn next to it."""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass

import numpy as np
import pytest
from fastapi.testclient import TestClient

from mlsteward.deployments import create_deployment
from mlsteward.monitoring import (
    acknowledge_alert,
    create_alert_rule,
    create_monitor,
    delete_alert_rule,
    evaluate_monitor,
    link_alert,
    list_alerts,
)
from mlsteward.platform import Platform
from mlsteward.security import SYSTEM, add_member, create_user
from mlsteward.security import create_admin as create_admin_user
from mlsteward.server import create_app
from mlsteward.server._ui_lineage import NODE_COLOURS
from mlsteward.settings import Settings

from ..monitoring._monitor_support import inputs, record_window, register_model
from ._support import cheap_password_hashing
from ._ui_support import PASSWORD, log_in

START = dt.datetime(2026, 1, 1, 10, 0, tzinfo=dt.UTC)
RULE = "rows high"
NODE_RE = re.compile(
    r'<g class="lineage-node[^"]*" data-key="([^"]+)" data-type="([^"]+)">(.*?)</g>', re.S
)


@dataclass
class Linked:
    """A platform whose firing alert was linked to deployment ``fraud-api`` and to version 1
    of ``fraud``."""

    platform: Platform
    alert_id: str
    deployment_id: str


@pytest.fixture(autouse=True)
def _cheap_hashing() -> Iterator[None]:
    with cheap_password_hashing():
        yield


@pytest.fixture
def linked(make_settings: Callable[..., Settings]) -> Iterator[Linked]:
    platform = Platform.open(make_settings(auth_mode="required"))
    create_admin_user(platform, "admin", PASSWORD)
    create_user(platform, SYSTEM, "vic", PASSWORD)
    add_member(platform, SYSTEM, "default", "vic", "viewer")
    register_model(platform, training=inputs(2000, 0))
    record_window(platform, START, inputs(300, 1), np.zeros(300, int))
    create_monitor(platform, SYSTEM, "default", "watch", model_name="fraud")
    create_alert_rule(
        platform, SYSTEM, "default", monitor="watch", name=RULE, metric="infra.rows", value=0
    )
    evaluate_monitor(platform, SYSTEM, "default", "watch", START + dt.timedelta(minutes=1))
    (alert,) = list_alerts(platform, SYSTEM, "default")
    deployment = create_deployment(platform, SYSTEM, "default", "fraud-api", "models:/fraud/1")
    link_alert(platform, SYSTEM, "default", alert.id, "deployment:fraud-api")
    link_alert(platform, SYSTEM, "default", alert.id, "models:/fraud/1", relation="triggered")
    yield Linked(platform, alert.id, deployment.id)
    platform.close()


def nodes(page: str) -> dict[str, tuple[str, str]]:
    """Each drawn node's type and SVG markup, by key."""
    return {key: (kind, body) for key, kind, body in NODE_RE.findall(page)}


def _page(client: TestClient, node: str) -> str:
    response = client.get("/lineage", params={"node": node, "project": "default"})
    assert response.status_code == 200, response.text
    return response.text


def test_an_alert_shows_its_rule_and_state_and_links_to_the_alerts_page(linked: Linked) -> None:
    alert_key = f"alert:{linked.alert_id}"
    with TestClient(create_app(linked.platform)) as client:
        log_in(client)
        page = _page(client, alert_key)
        drawn = nodes(page)
        assert {kind for kind, _ in drawn.values()} == {"alert", "deployment", "model_version"}
        kind, body = drawn[alert_key]
        assert kind == "alert"
        link = f"/projects/default/alerts?state=firing#alert-{linked.alert_id}"
        assert f'<a href="{link}">' in body
        assert f'stroke="{NODE_COLOURS["alert"]}"' in body
        assert f'fill="{NODE_COLOURS["alert"]}">alert</text>' in body
        assert "rows high (firing)" in body
        assert "<h1>Lineage of rows high (firing)</h1>" in page
        edges = re.search(r'<table class="table" id="lineage-edges">(.*?)</table>', page, re.S)
        assert edges is not None
        assert edges.group(1).count(f'<a href="{link}">rows high (firing)') == 2
        # The row the link points at.
        alerts = client.get("/projects/default/alerts", params={"state": "firing"}).text
        assert f'<tr id="alert-{linked.alert_id}"' in alerts

        # The state is the alert's now, from the deployment's side too.
        acknowledge_alert(linked.platform, SYSTEM, "default", linked.alert_id)
        page = _page(client, f"deployment:{linked.deployment_id}")
        kind, body = nodes(page)[alert_key]
        assert "rows high (acknowledged)" in body
        assert f"alerts?state=acknowledged#alert-{linked.alert_id}" in body


def test_a_viewer_sees_the_label_and_a_deleted_alert_keeps_the_stored_one(
    linked: Linked,
) -> None:
    alert_key = f"alert:{linked.alert_id}"
    with TestClient(create_app(linked.platform)) as client:
        log_in(client, "vic", PASSWORD)
        _, body = nodes(_page(client, alert_key))[alert_key]
        assert "(firing)" in body
        delete_alert_rule(linked.platform, SYSTEM, "default", monitor="watch", name=RULE)
        _, body = nodes(_page(client, f"deployment:{linked.deployment_id}"))[alert_key]
        assert "alert rows high (warning)" in body
        assert "<a href" not in body
