"""``link_alert``: an alert is linked in the lineage graph to what was done about it outside
its action (the version that took ``@production``, the deployment that promoted it), on
SQLite and PostgreSQL; every refusal writes nothing."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pytest
from sqlalchemy import func, select

from mlsteward.data import lineage_downstream, lineage_upstream
from mlsteward.data._lineage_nodes import LineageNodeRef
from mlsteward.data._tables import lineage_edges, lineage_nodes
from mlsteward.deployments import create_deployment
from mlsteward.errors import InvalidArgument, NotFound, PermissionDenied
from mlsteward.monitoring import AlertDispatcher, AlertLink, link_alert, list_alerts
from mlsteward.platform import Platform
from mlsteward.security import (
    SYSTEM,
    add_member,
    authenticate_password,
    create_project,
    create_user,
    list_audit_events,
)

from ..data._lineage_rows import new_run, register_from
from .test_alerts_actions import feed, rule

PASSWORD = "a-long-password-1"


@dataclass
class Incident:
    """A firing alert of project ``default`` with a run, version 1 of ``fraud`` and the
    deployment ``fraud-api`` serving it."""

    platform: Platform
    alert_id: str
    run_id: str
    version_id: str
    deployment_id: str


@pytest.fixture
def incident(backend_platform: Platform) -> Incident:
    dispatcher = AlertDispatcher(backend_platform)
    try:
        rule(backend_platform, None)
        feed(backend_platform, dispatcher, [0.5])
    finally:
        dispatcher.close()
    (alert,) = list_alerts(backend_platform, SYSTEM, "default")
    run_id = new_run(backend_platform)
    version = register_from(backend_platform, run_id)
    deployment = create_deployment(
        backend_platform, SYSTEM, "default", "fraud-api", "models:/fraud/1"
    )
    return Incident(backend_platform, alert.id, run_id, version.id, deployment.id)


def written(platform: Platform) -> tuple[int, int, int]:
    """Lineage edges and nodes stored, and the newest audit event's number."""
    with platform.db.read() as conn:
        edges = conn.execute(select(func.count()).select_from(lineage_edges)).scalar_one()
        nodes = conn.execute(select(func.count()).select_from(lineage_nodes)).scalar_one()
    return edges, nodes, list_audit_events(platform, SYSTEM, limit=1)[0].seq


def test_an_alert_is_linked_to_the_promoted_version_and_deployment(incident: Incident) -> None:
    platform, alert_id = incident.platform, incident.alert_id
    version = link_alert(platform, SYSTEM, "default", alert_id, "models:/fraud/1")
    assert version == AlertLink(
        alert_id, "promoted", f"model_version:{incident.version_id}", None, True
    )
    served = link_alert(platform, SYSTEM, "default", alert_id, "deployment:fraud-api")
    assert served == AlertLink(
        alert_id, "promoted", f"deployment:{incident.deployment_id}", 1, True
    )
    # By id too, and again: the edge exists already, so nothing new, but it is audited.
    again = link_alert(
        platform, SYSTEM, "default", alert_id, f"deployment:{incident.deployment_id}"
    )
    assert (again.node, again.created) == (served.node, False)
    trained = link_alert(
        platform, SYSTEM, "default", alert_id, f"run:{incident.run_id}", relation="triggered"
    )
    assert (trained.relation, trained.node) == ("triggered", f"run:{incident.run_id}")

    graph = lineage_downstream(platform, SYSTEM, LineageNodeRef("alert", alert_id), depth=1)
    assert {(e.relation, e.target) for e in graph.edges if e.source == f"alert:{alert_id}"} == {
        ("promoted", f"model_version:{incident.version_id}"),
        ("promoted", f"deployment:{incident.deployment_id}"),
        ("triggered", f"run:{incident.run_id}"),
    }
    assert graph.nodes[0].label == "alert recall low (warning)"
    upstream = lineage_upstream(
        platform, SYSTEM, LineageNodeRef("deployment", incident.deployment_id), depth=1
    )
    assert f"alert:{alert_id}" in {n.key for n in upstream.nodes}
    events = list_audit_events(platform, SYSTEM, action="monitoring.alert.link")[::-1]
    assert [(e.target_id, e.details["node"], e.details["new"]) for e in events] == [
        (alert_id, f"model_version:{incident.version_id}", True),
        (alert_id, f"deployment:{incident.deployment_id}", True),
        (alert_id, f"deployment:{incident.deployment_id}", False),
        (alert_id, f"run:{incident.run_id}", True),
    ]
    assert [e.details.get("revision") for e in events] == [None, 1, 1, None]


def _other_project_run(platform: Platform) -> str:
    create_project(platform, SYSTEM, "elsewhere")
    return new_run(platform, project="elsewhere")


@pytest.mark.parametrize(
    ("alert", "node", "kwargs", "error", "message"),
    [
        pytest.param(
            "nope", "deployment:fraud-api", {}, InvalidArgument,
            "alert_id must be 32 hexadecimal characters", id="bad-alert-id",
        ),
        pytest.param(
            "f" * 32, "deployment:fraud-api", {}, NotFound, "no such alert in this project",
            id="unknown-alert",
        ),
        pytest.param(
            None, "deployment:fraud-api", {"relation": "deployed_as"}, InvalidArgument,
            "relation must be one of ['promoted', 'triggered']", id="bad-relation",
        ),
        pytest.param(
            None, "fraud-api", {}, InvalidArgument, "is not a lineage node reference",
            id="bad-reference",
        ),
        pytest.param(
            None, 42, {}, InvalidArgument, "node must be a lineage reference", id="not-text",
        ),
        pytest.param(
            None, "alert:" + "a" * 32, {}, InvalidArgument,
            "an alert links to a dataset_version, run, model_version or deployment, not to a node "
            "of type 'alert'",
            id="alert-to-alert",
        ),
        pytest.param(
            None, "deployment:nope", {}, NotFound, "project 'default' has no deployment 'nope'",
            id="unknown-deployment",
        ),
        pytest.param(
            None, "run:" + "f" * 32, {}, NotFound, "project 'default' has no run", id="unknown-run"
        ),
        pytest.param(
            None, "model:fraud/9", {}, NotFound, "has no model version", id="unknown-version"
        ),
        pytest.param(
            None, "other-project-run", {}, NotFound, "project 'default' has no run",
            id="run-of-another-project",
        ),
    ],
)  # fmt: skip
def test_bad_links_are_refused_and_write_nothing(
    incident: Incident,
    alert: str | None,
    node: Any,
    kwargs: dict[str, Any],
    error: type[Exception],
    message: str,
) -> None:
    platform = incident.platform
    if node == "other-project-run":
        node = f"run:{_other_project_run(platform)}"
    before = written(platform)
    with pytest.raises(error, match=message.replace("[", r"\[").replace("]", r"\]")):
        link_alert(platform, SYSTEM, "default", alert or incident.alert_id, node, **kwargs)
    assert written(platform) == before


def test_only_maintainers_link_alerts(incident: Incident) -> None:
    platform = incident.platform
    create_user(platform, SYSTEM, "vera", PASSWORD)
    add_member(platform, SYSTEM, "default", "vera", "editor")
    editor = authenticate_password(platform, "vera", PASSWORD)
    before = written(platform)
    with pytest.raises(PermissionDenied):
        link_alert(platform, editor, "default", incident.alert_id, "deployment:fraud-api")
    assert written(platform) == before
