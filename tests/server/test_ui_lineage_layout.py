"""The lineage page's layout: columns follow the data flow, cycles terminate, crossings drop."""

from __future__ import annotations

from mlsteward.server._ui_lineage_layout import GraphEdge, GraphNode, layout_graph


def _node(key: str) -> GraphNode:
    return GraphNode(key, key.split(":")[0], key)


def _columns(nodes: list[str], edges: list[tuple[str, str]]) -> dict[str, int]:
    layout = layout_graph([_node(k) for k in nodes], [GraphEdge(s, t, "r") for s, t in edges])
    return {placed.node.key: placed.column for placed in layout.nodes}


def test_data_flows_left_to_right_by_longest_path() -> None:
    columns = _columns(
        ["model:m", "run:r", "dataset:d", "dataset:e"],
        [("dataset:d", "run:r"), ("run:r", "model:m"), ("dataset:e", "model:m")],
    )
    assert columns == {"dataset:d": 0, "dataset:e": 0, "run:r": 1, "model:m": 2}


def test_a_cycle_is_laid_out_and_every_node_placed_once() -> None:
    layout = layout_graph(
        [_node("a:1"), _node("b:2"), _node("c:3")],
        [GraphEdge("a:1", "b:2", "r"), GraphEdge("b:2", "c:3", "r"), GraphEdge("c:3", "a:1", "r")],
    )
    assert sorted(p.node.key for p in layout.nodes) == ["a:1", "b:2", "c:3"]
    assert len(layout.edges) == 3
    assert len({(p.x, p.y) for p in layout.nodes}) == 3


def test_edges_to_unknown_nodes_and_self_loops_are_dropped() -> None:
    layout = layout_graph(
        [_node("a:1"), _node("b:2")],
        [GraphEdge("a:1", "zz:9", "r"), GraphEdge("a:1", "a:1", "r"), GraphEdge("a:1", "b:2", "r")],
    )
    assert [(e.edge.source, e.edge.target) for e in layout.edges] == [("a:1", "b:2")]


def _crossings(layout_edges: list[tuple[int, int]]) -> int:
    return sum(
        1
        for i, (a1, b1) in enumerate(layout_edges)
        for a2, b2 in layout_edges[i + 1 :]
        if (a1 - a2) * (b1 - b2) < 0
    )


def test_ordering_removes_avoidable_crossings() -> None:
    # Given in an order that crosses: x1→y2, x2→y1.
    nodes = [_node("x:1"), _node("x:2"), _node("y:2"), _node("y:1")]
    edges = [GraphEdge("x:1", "y:1", "r"), GraphEdge("x:2", "y:2", "r")]
    layout = layout_graph(nodes, edges)
    y = {p.node.key: p.y for p in layout.nodes}
    pairs = [(y[e.edge.source], y[e.edge.target]) for e in layout.edges]
    assert _crossings(pairs) == 0


def test_empty_graph_has_a_drawable_size() -> None:
    layout = layout_graph([], [])
    assert layout.nodes == ()
    assert layout.width > 0
    assert layout.height > 0
