"""The lineage graph: a run reads a dataset version and produces a model version; walking up
from the model reaches the data and walking down from the data reaches the model, on SQLite
and PostgreSQL, with depth and node bounds, cycles and restricted nodes."""

from __future__ import annotations

import itertools
from typing import Any

import pytest
from sklearn.linear_model import LogisticRegression
from sqlalchemy import func, insert, select

from mlsteward import Client
from mlsteward.data._lineage import (
    LineageGraph,
    lineage_downstream,
    lineage_upstream,
    record_dataset_input,
    record_edge,
)
from mlsteward.data._lineage_nodes import LineageNodeRef
from mlsteward.data._tables import lineage_edges, lineage_nodes
from mlsteward.errors import InvalidArgument, NotFound, PermissionDenied
from mlsteward.platform import Platform
from mlsteward.security import (
    SYSTEM,
    Actor,
    add_member,
    authenticate_password,
    create_project,
    create_user,
    list_audit_events,
)
from mlsteward.store import utcnow

from ..server._support import cheap_password_hashing
from ._lineage_rows import PASSWORD, add_dataset, new_run, register_from


def _user(platform: Platform, name: str, memberships: dict[str, str]) -> Actor:
    with cheap_password_hashing():
        create_user(platform, SYSTEM, name, PASSWORD)
        for project, role in memberships.items():
            add_member(platform, SYSTEM, project, name, role)
        return authenticate_password(platform, name, PASSWORD)


def _labels(graph: LineageGraph) -> list[str | None]:
    return [node.label for node in graph.nodes]


def _edge_count(platform: Platform) -> int:
    with platform.db.read() as conn:
        return int(conn.execute(select(func.count()).select_from(lineage_edges)).scalar_one())


def test_tracked_training_links_dataset_run_and_model_both_ways(
    backend_platform: Platform,
) -> None:
    """The real path: the client trains and registers with log_model(registered_model_name=)."""
    platform = backend_platform
    (version_id,) = add_dataset(platform, "transactions")
    client = Client(platform.settings)
    try:
        with client.start_run("default", "fraud", name="fit") as run:
            record_dataset_input(platform, SYSTEM, run.id, version_id)
            model = LogisticRegression().fit([[0.0], [1.0], [2.0], [3.0]], [0, 0, 1, 1])
            logged = run.log_model(model, registered_model_name="fraud")
    finally:
        client.close()
    assert logged.version is not None
    up = lineage_upstream(platform, SYSTEM, "models:/fraud/1")
    assert [(n.node_type, n.label, n.depth) for n in up.nodes] == [
        ("model_version", "fraud v1", 0),
        ("run", f"run {run.id[:8]}… (fit)", 1),
        ("dataset_version", "transactions@1", 2),
    ]
    assert up.nodes[2].link == "/projects/default/datasets/transactions/versions/1"
    assert up.nodes[1].link == f"/runs/{run.id}"
    assert {(e.source, e.target, e.relation) for e in up.edges} == {
        (f"dataset_version:{version_id}", f"run:{run.id}", "input_of"),
        (f"run:{run.id}", f"model_version:{logged.version.id}", "produced"),
    }
    down = lineage_downstream(platform, SYSTEM, "dataset:transactions@1")
    assert _labels(down)[-1] == "fraud v1"
    assert down.to_json()["type"] == "mlsteward.lineage_graph"
    assert down.to_json()["nodes"][0]["label"] == "transactions@1"


def test_register_model_from_run_records_the_edge_in_its_transaction(
    platform: Platform,
) -> None:
    run_id = new_run(platform)
    (v1,) = add_dataset(platform, "transactions")
    version = register_from(
        platform, run_id, datasets=[{"dataset_version_id": v1}, {"name": "other"}]
    )
    graph = lineage_upstream(platform, SYSTEM, LineageNodeRef("model_version", version.id))
    assert _labels(graph) == ["fraud v1", "run " + run_id[:8] + "… (fit)", "transactions@1"]
    # A version without a run adds no edge.
    before = _edge_count(platform)
    register_from(platform, None)
    assert _edge_count(platform) == before


def test_record_dataset_input_is_idempotent_and_audited(platform: Platform) -> None:
    run_id = new_run(platform)
    (version_id,) = add_dataset(platform, "transactions")
    first = record_dataset_input(platform, SYSTEM, run_id, version_id)
    again = record_dataset_input(platform, SYSTEM, run_id, version_id)
    assert first == again
    assert first.to_json() == {
        "source": f"dataset_version:{version_id}",
        "target": f"run:{run_id}",
        "relation": "input_of",
    }
    assert _edge_count(platform) == 1
    events = [e for e in list_audit_events(platform, SYSTEM) if e.action == "lineage.edge.record"]
    assert len(events) == 1
    assert events[0].details["dataset_version"] == "transactions@1"


BAD_INPUTS: list[tuple[str | None, Any, type[Exception], str]] = [
    ("nope", "a" * 32, InvalidArgument, "invalid run id"),
    ("0" * 32, "a" * 32, NotFound, "run"),
    (None, "a" * 32, NotFound, "no dataset version"),
    (None, 42, InvalidArgument, "dataset_version_id"),
]


def test_record_dataset_input_refuses_bad_references(platform: Platform) -> None:
    real_run = new_run(platform)
    for run_id, version_id, error, message in BAD_INPUTS:
        with pytest.raises(error, match=message):
            record_dataset_input(platform, SYSTEM, run_id or real_run, version_id)
    assert _edge_count(platform) == 0


def test_record_dataset_input_needs_editor_on_the_run_and_reader_on_the_data(
    platform: Platform,
) -> None:
    create_project(platform, SYSTEM, "secret")
    (hidden,) = add_dataset(platform, "salaries", project="secret")
    (public,) = add_dataset(platform, "transactions")
    run_id = new_run(platform)
    viewer = _user(platform, "vic", {"default": "viewer"})
    editor = _user(platform, "eve", {"default": "editor"})
    with pytest.raises(PermissionDenied, match="editor"):
        record_dataset_input(platform, viewer, run_id, public)
    with pytest.raises(PermissionDenied, match="viewer"):
        record_dataset_input(platform, editor, run_id, hidden)
    assert _edge_count(platform) == 0
    record_dataset_input(platform, editor, run_id, public)
    assert _edge_count(platform) == 1


def _chain(platform: Platform, length: int) -> list[LineageNodeRef]:
    """openlineage datasets d0 -> d1 -> ... in project default, via record_edge."""
    from mlsteward.security import fetch_project

    nodes = [LineageNodeRef("openlineage_dataset", f"ns/d{i}") for i in range(length)]
    with platform.db.write() as conn:
        project_id = fetch_project(conn, "default").id
        for node in nodes:
            conn.execute(
                insert(lineage_nodes).values(
                    node_type=node.node_type,
                    node_id=node.node_id,
                    project_id=project_id,
                    label=node.node_id,
                    facets={},
                    updated_at=utcnow(),
                )
            )
        for source, target in itertools.pairwise(nodes):
            assert record_edge(conn, SYSTEM, source, target, "produced", project_id)
            assert not record_edge(conn, SYSTEM, source, target, "produced", project_id)
    return nodes


def test_depth_bounds_the_walk_and_cycles_end(backend_platform: Platform) -> None:
    platform = backend_platform
    nodes = _chain(platform, 8)
    graph = lineage_downstream(platform, SYSTEM, nodes[0], depth=3)
    assert _labels(graph) == ["ns/d0", "ns/d1", "ns/d2", "ns/d3"]
    assert len(graph.edges) == 3
    graph = lineage_upstream(platform, SYSTEM, "openlineage:ns/d7", depth=25)
    assert [n.depth for n in graph.nodes] == list(range(8))
    assert not graph.truncated
    with platform.db.write() as conn:  # d7 -> d0 closes the loop, d2 -> d1 a small one
        record_edge(conn, SYSTEM, nodes[7], nodes[0], "produced", None)
        record_edge(conn, SYSTEM, nodes[2], nodes[1], "produced", None)
    graph = lineage_downstream(platform, SYSTEM, nodes[0], depth=25)
    assert [(n.label, n.depth) for n in graph.nodes] == [(f"ns/d{i}", i) for i in range(8)]
    assert len(graph.edges) == 9
    up = lineage_upstream(platform, SYSTEM, nodes[0], depth=2)
    assert [n.label for n in up.nodes] == ["ns/d0", "ns/d7", "ns/d6"]


def test_node_bound_truncates(platform: Platform) -> None:
    nodes = _chain(platform, 6)
    graph = lineage_downstream(platform, SYSTEM, nodes[0], depth=10, max_nodes=3)
    assert _labels(graph) == ["ns/d0", "ns/d1", "ns/d2"]
    assert graph.truncated


def test_nodes_of_unreadable_projects_are_restricted(platform: Platform) -> None:
    create_project(platform, SYSTEM, "secret")
    (public,) = add_dataset(platform, "transactions")
    secret_run = new_run(platform, project="secret")
    record_dataset_input(platform, SYSTEM, secret_run, public)
    register_from(platform, secret_run, "salary-model", project="secret")
    reader = _user(platform, "rita", {"default": "viewer"})
    graph = lineage_downstream(platform, reader, "dataset:transactions@1")
    assert [(n.node_type, n.label, n.restricted) for n in graph.nodes] == [
        ("dataset_version", "transactions@1", False),
        ("run", None, True),
        ("model_version", None, True),
    ]
    assert [n.node_id for n in graph.nodes[1:]] == ["restricted-1", "restricted-2"]
    text = str(graph.to_json())
    assert secret_run not in text
    assert "salary" not in text
    assert {e.target for e in graph.edges} == {"run:restricted-1", "model_version:restricted-2"}
    # The start node itself needs read access.
    with pytest.raises(PermissionDenied):
        lineage_upstream(platform, reader, f"run:{secret_run}")
    outsider = _user(platform, "otto", {})
    with pytest.raises(PermissionDenied):
        lineage_downstream(platform, outsider, "dataset:transactions@1")


BAD_REFERENCES: list[tuple[str, type[Exception], str]] = [
    ("", InvalidArgument, "reference is needed"),
    ("transactions@1", InvalidArgument, "no kind"),
    ("dataset:transactions", InvalidArgument, "<name>@<version>"),
    ("dataset:transactions@x", InvalidArgument, "<name>@<version>"),
    ("run:xyz", InvalidArgument, "32 hexadecimal"),
    ("model:fraud", InvalidArgument, "<name>/<version>"),
    ("models:/fraud", InvalidArgument, "<name>/<version>"),
    ("openlineage:nonamespace", InvalidArgument, "<namespace>/<name>"),
    ("table:x", InvalidArgument, "unknown kind"),
    ("x" * 2000, InvalidArgument, "at most 1000"),
    ("dataset:transactions@9", NotFound, "no dataset version transactions@9"),
    ("models:/fraud/3", NotFound, "no model version fraud/3"),
    ("models:/fraud@production", NotFound, "no model version fraud@production"),
    (f"run:{'0' * 32}", NotFound, "no node"),
    ("openlineage:ns/unknown", NotFound, "no node"),
]


def test_bad_references_are_clear(platform: Platform) -> None:
    add_dataset(platform, "transactions")
    for reference, error, message in BAD_REFERENCES:
        with pytest.raises(error, match=message):
            lineage_upstream(platform, SYSTEM, reference)


def test_model_references_by_alias_and_path(platform: Platform) -> None:
    from mlsteward.registry import set_alias

    run_id = new_run(platform)
    register_from(platform, run_id)
    set_alias(platform, SYSTEM, "default", "fraud", "production", 1)
    for reference in ("models:/fraud@production", "model:fraud/1", "models:/fraud/1"):
        graph = lineage_upstream(platform, SYSTEM, reference)
        assert _labels(graph)[0] == "fraud v1"
        assert graph.nodes[1].node_id == run_id


def test_depth_must_be_in_range(platform: Platform) -> None:
    for depth in (0, 26, -1, True, "3"):
        with pytest.raises(InvalidArgument, match="depth must be an integer from 1 to 25"):
            lineage_downstream(platform, SYSTEM, "run:" + "0" * 32, depth=depth)


def test_record_edge_refuses_unknown_relations_and_self_loops(platform: Platform) -> None:
    node = LineageNodeRef("run", "a" * 32)
    with platform.db.write() as conn:
        with pytest.raises(InvalidArgument, match="unknown lineage relation"):
            record_edge(conn, SYSTEM, node, LineageNodeRef("run", "b" * 32), "feeds", None)
        with pytest.raises(InvalidArgument, match="two different nodes"):
            record_edge(conn, SYSTEM, node, node, "produced", None)
    with pytest.raises(InvalidArgument, match="unknown lineage node type"):
        LineageNodeRef("table", "x")
    assert _edge_count(platform) == 0


def test_an_edge_to_a_node_that_is_gone_shows_it_as_gone(platform: Platform) -> None:
    run_id = new_run(platform)
    with platform.db.write() as conn:  # what stays of a purged model version
        record_edge(
            conn,
            SYSTEM,
            LineageNodeRef("run", run_id),
            LineageNodeRef("model_version", "e" * 32),
            "produced",
            None,
        )
    graph = lineage_downstream(platform, SYSTEM, f"run:{run_id}")
    assert [(n.label, n.restricted) for n in graph.nodes][1] == (f"{'e' * 32} (gone)", False)
