"""Where the lineage page draws each node: a layered left-to-right layout, computed here.

Data flows left to right (dataset → run → model → deployment). Each node's column is the
length of the longest path reaching it (edges that would close a cycle are drawn but ignored
for layering); within a column, nodes are ordered by the mean row of their neighbours, sweeping
left to right and back a few times, which keeps most edges from crossing. The page renders the
result as SVG, so the graph reads without JavaScript; ``lineage.js`` adds pan, zoom and
highlighting.
"""

from __future__ import annotations

from collections import defaultdict, deque
from collections.abc import Sequence
from dataclasses import dataclass

COLUMN_WIDTH = 250
ROW_HEIGHT = 74
NODE_WIDTH = 190
NODE_HEIGHT = 46
MARGIN = 24
_SWEEPS = 4


@dataclass(frozen=True, slots=True)
class GraphNode:
    """A node to draw: ``key`` is unique in the graph (``"<type>:<id>"``)."""

    key: str
    node_type: str
    label: str
    href: str | None = None
    start: bool = False


@dataclass(frozen=True, slots=True)
class GraphEdge:
    source: str
    target: str
    relation: str


@dataclass(frozen=True, slots=True)
class PlacedNode:
    node: GraphNode
    x: int
    y: int
    column: int


@dataclass(frozen=True, slots=True)
class PlacedEdge:
    edge: GraphEdge
    path: str  # an SVG path from the source's right side to the target's left side
    label_x: int
    label_y: int


@dataclass(frozen=True, slots=True)
class GraphLayout:
    nodes: tuple[PlacedNode, ...]
    edges: tuple[PlacedEdge, ...]
    width: int
    height: int


def _columns(keys: Sequence[str], edges: Sequence[GraphEdge]) -> dict[str, int]:
    """Longest-path layering; an edge into a node already on the current path is skipped."""
    successors: dict[str, list[str]] = defaultdict(list)
    indegree = dict.fromkeys(keys, 0)
    for edge in edges:
        successors[edge.source].append(edge.target)
        indegree[edge.target] += 1
    column = dict.fromkeys(keys, 0)
    queue = deque(key for key in keys if indegree[key] == 0)
    seen: set[str] = set()
    while True:
        while queue:
            key = queue.popleft()
            seen.add(key)
            for target in successors[key]:
                if target in seen:
                    continue  # a cycle: the edge is drawn, the layering ignores it
                column[target] = max(column[target], column[key] + 1)
                indegree[target] -= 1
                if indegree[target] == 0:
                    queue.append(target)
        left = [key for key in keys if key not in seen]
        if not left:
            return column
        # Only cycles remain: break one at the first node left, in the caller's order.
        indegree[left[0]] = 0
        queue.append(left[0])


def _order(by_column: dict[int, list[str]], edges: Sequence[GraphEdge]) -> dict[int, list[str]]:
    neighbours: dict[str, list[str]] = defaultdict(list)
    for edge in edges:
        neighbours[edge.source].append(edge.target)
        neighbours[edge.target].append(edge.source)
    row = {key: index for keys in by_column.values() for index, key in enumerate(keys)}
    columns = sorted(by_column)
    for sweep in range(_SWEEPS):
        for number in columns if sweep % 2 == 0 else reversed(columns):
            keys = by_column[number]

            def barycentre(key: str, current: dict[str, int] = row) -> float:
                rows = [current[n] for n in neighbours[key] if n in current]
                return sum(rows) / len(rows) if rows else current[key]

            keys.sort(key=lambda k: (barycentre(k), row[k]))
            for index, key in enumerate(keys):
                row[key] = index
    return by_column


def layout_graph(nodes: Sequence[GraphNode], edges: Sequence[GraphEdge]) -> GraphLayout:
    """Place ``nodes`` in columns and rows; edges naming unknown nodes are dropped."""
    keys = list(dict.fromkeys(node.key for node in nodes))
    known = set(keys)
    edges = [e for e in edges if e.source in known and e.target in known and e.source != e.target]
    column = _columns(keys, edges)
    by_column: dict[int, list[str]] = defaultdict(list)
    for key in keys:
        by_column[column[key]].append(key)
    ordered = _order(dict(by_column), edges)
    tallest = max((len(v) for v in ordered.values()), default=0)
    height = 2 * MARGIN + max(tallest, 1) * ROW_HEIGHT
    positions: dict[str, tuple[int, int]] = {}
    for number, column_keys in ordered.items():
        # Centre short columns vertically against the tallest one.
        offset = (tallest - len(column_keys)) * ROW_HEIGHT // 2
        for index, key in enumerate(column_keys):
            positions[key] = (MARGIN + number * COLUMN_WIDTH, MARGIN + offset + index * ROW_HEIGHT)
    by_key = {node.key: node for node in nodes}
    placed_nodes = tuple(
        PlacedNode(by_key[key], positions[key][0], positions[key][1], column[key]) for key in keys
    )
    placed_edges = []
    for edge in edges:
        sx, sy = positions[edge.source]
        tx, ty = positions[edge.target]
        x1, y1 = sx + NODE_WIDTH, sy + NODE_HEIGHT // 2
        x2, y2 = tx, ty + NODE_HEIGHT // 2
        bend = max(40, (x2 - x1) // 2) if x2 > x1 else 80
        path = f"M{x1},{y1} C{x1 + bend},{y1} {x2 - bend},{y2} {x2},{y2}"
        placed_edges.append(PlacedEdge(edge, path, (x1 + x2) // 2, (y1 + y2) // 2 - 4))
    width = 2 * MARGIN + (max(column.values(), default=0) + 1) * COLUMN_WIDTH
    return GraphLayout(placed_nodes, tuple(placed_edges), width, height)
