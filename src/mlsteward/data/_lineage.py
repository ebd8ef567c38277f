"""The lineage graph: recording edges (dataset version → run → model version → deployment, and
what OpenLineage events report) and walking it upstream or downstream.

A walk is one recursive CTE over ``lineage_edges`` (SQLite and PostgreSQL alike): it stops at
a depth bound, and ``UNION`` (not ``UNION ALL``) keeps each (node, depth) pair once, so a cycle
cannot make it run away. Nodes in projects the actor cannot read appear as ``restricted``:
their type only, under a placeholder id, without label or link.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from sqlalchemy import Connection, and_, literal, select
from sqlalchemy.dialects import postgresql, sqlite

from ..errors import InvalidArgument, NotFound
from ..security import Actor, Role, project_role, require_project_role
from ..store import utcnow
from ._lineage_nodes import (
    NODE_TYPES,
    RELATIONS,
    LineageNodeRef,
    NodeInfo,
    describe_nodes,
    resolve_node_reference,
)
from ._tables import dataset_versions, datasets, lineage_edges

if TYPE_CHECKING:
    from ..platform import Platform

DEFAULT_DEPTH = 5
MAX_DEPTH = 25
MAX_NODES = 500
ROWS_PER_NODE = 20
"""A walk reads at most this many CTE rows per node it may show (a node reached at several
depths is a row per depth)."""


@dataclass(frozen=True, slots=True)
class LineageNode:
    """A node as shown: ``restricted`` nodes have a placeholder id and no label or link."""

    node_type: str
    node_id: str
    label: str | None
    link: str | None
    project: str | None
    depth: int
    restricted: bool = False

    @property
    def key(self) -> str:
        return f"{self.node_type}:{self.node_id}"

    def to_json(self) -> dict[str, Any]:
        return {
            "type": self.node_type,
            "id": self.node_id,
            "label": self.label,
            "link": self.link,
            "project": self.project,
            "depth": self.depth,
            "restricted": self.restricted,
        }


@dataclass(frozen=True, slots=True)
class LineageEdge:
    """``source`` → ``target`` (node keys ``<type>:<id>``), e.g. ``input_of`` or ``produced``."""

    source: str
    target: str
    relation: str

    def to_json(self) -> dict[str, str]:
        return {"source": self.source, "target": self.target, "relation": self.relation}


@dataclass(frozen=True, slots=True)
class LineageGraph:
    """The nodes reached from ``start`` (itself first, then by depth) and the edges between
    them; ``truncated`` when the node bound cut the walk short."""

    start: str
    direction: str
    nodes: tuple[LineageNode, ...]
    edges: tuple[LineageEdge, ...]
    truncated: bool = False

    def to_json(self) -> dict[str, Any]:
        return {
            "type": "mlsteward.lineage_graph",
            "schema_version": 1,
            "start": self.start,
            "direction": self.direction,
            "nodes": [n.to_json() for n in self.nodes],
            "edges": [e.to_json() for e in self.edges],
            "truncated": self.truncated,
        }


def record_edge(
    conn: Connection,
    actor: Actor,
    source: LineageNodeRef,
    target: LineageNodeRef,
    relation: str,
    project_id: str | None,
) -> bool:
    """Add ``source -relation-> target`` inside the caller's transaction; True when it is new.

    Idempotent (an existing edge is left as it is). The caller has checked permissions and
    writes the audit event."""
    if relation not in RELATIONS:
        raise InvalidArgument(
            f"unknown lineage relation {relation!r}: use one of {sorted(RELATIONS)}",
            details={"field": "relation"},
        )
    if source == target:
        raise InvalidArgument("a lineage edge needs two different nodes")
    values = {
        "source_type": source.node_type,
        "source_id": source.node_id,
        "target_type": target.node_type,
        "target_id": target.node_id,
        "relation": relation,
        "project_id": project_id,
        "created_at": utcnow(),
        "created_by": actor.name,
    }
    dialect = postgresql if conn.dialect.name == "postgresql" else sqlite
    statement = dialect.insert(lineage_edges).values(**values).on_conflict_do_nothing()
    return conn.execute(statement.returning(lineage_edges.c.relation)).first() is not None


def fetch_dataset_version(conn: Connection, dataset_version_id: object) -> Any:
    """The dataset version's row with its dataset's name and project; ``NotFound``."""
    if not isinstance(dataset_version_id, str) or len(dataset_version_id) > 64:
        raise InvalidArgument("dataset_version_id is a dataset version id (32 hex characters)")
    row = conn.execute(
        select(
            dataset_versions.c.id,
            dataset_versions.c.version,
            datasets.c.name,
            datasets.c.project_id,
        )
        .join(datasets, datasets.c.id == dataset_versions.c.dataset_id)
        .where(dataset_versions.c.id == dataset_version_id)
    ).first()
    if row is None:
        raise NotFound(f"no dataset version with id {dataset_version_id!r}")
    return row


def record_dataset_input(
    platform: Platform, actor: Actor, run_id: str, dataset_version_id: str
) -> LineageEdge:
    """Record that a run read a dataset version (editors of the run's project, readers of the
    dataset's). Idempotent; audited as ``lineage.edge.record``."""
    from ..tracking._runs import check_run_id, require_run

    check_run_id(run_id)
    with platform.db.write() as conn:
        run = require_run(conn, actor, run_id, Role.EDITOR)
        version = fetch_dataset_version(conn, dataset_version_id)
        if version.project_id != run.project_id:
            require_project_role(conn, actor, version.project_id, Role.VIEWER)
        source = LineageNodeRef("dataset_version", version.id)
        target = LineageNodeRef("run", run_id)
        if record_edge(conn, actor, source, target, "input_of", run.project_id):
            platform.audit.record(
                conn,
                actor,
                "lineage.edge.record",
                target_type="run",
                target_id=run_id,
                project_id=run.project_id,
                details={
                    "relation": "input_of",
                    "dataset_version": f"{version.name}@{version.version}",
                },
            )
        return LineageEdge(source.key, target.key, "input_of")


def record_model_version_lineage(
    conn: Connection,
    actor: Actor,
    project_id: str,
    version_id: str,
    source_run_id: str | None,
    dataset_references: Sequence[Mapping[str, Any]],
) -> None:
    """Edges for a model version being registered (inside the registry's transaction): run
    ``produced`` version, and each dataset version named by a ``dataset_version_id`` entry
    ``input_of`` the run. Unknown runs and datasets, and datasets the actor cannot read, are
    left out: the reference stays in the version's record all the same."""
    from ..tracking._tables import runs

    if source_run_id is None:
        return
    run_project = conn.execute(
        select(runs.c.project_id).where(runs.c.id == source_run_id)
    ).scalar_one_or_none()
    if run_project is None:
        return
    run_node = LineageNodeRef("run", source_run_id)
    record_edge(
        conn, actor, run_node, LineageNodeRef("model_version", version_id), "produced", project_id
    )
    for reference in dataset_references:
        wanted = reference.get("dataset_version_id")
        if not isinstance(wanted, str):
            continue
        try:
            version = fetch_dataset_version(conn, wanted)
        except (InvalidArgument, NotFound):
            continue
        if project_role(conn, actor, version.project_id) is None:
            continue
        record_edge(
            conn,
            actor,
            LineageNodeRef("dataset_version", version.id),
            run_node,
            "input_of",
            run_project,
        )


def _check_depth(depth: object) -> int:
    if isinstance(depth, bool) or not isinstance(depth, int) or not 1 <= depth <= MAX_DEPTH:
        raise InvalidArgument(f"depth must be an integer from 1 to {MAX_DEPTH}, not {depth!r}")
    return depth


def lineage_upstream(
    platform: Platform,
    actor: Actor,
    node: LineageNodeRef | str,
    *,
    project: str = "default",
    depth: int = DEFAULT_DEPTH,
    max_nodes: int = MAX_NODES,
) -> LineageGraph:
    """Everything ``node`` came from, up to ``depth`` edges away (viewers of the node's
    project). ``node`` is a ``LineageNodeRef`` or a reference like ``models:/fraud/2``, looked up in
    ``project``."""
    return _walk(platform, actor, node, project, depth, max_nodes, upstream=True)


def lineage_downstream(
    platform: Platform,
    actor: Actor,
    node: LineageNodeRef | str,
    *,
    project: str = "default",
    depth: int = DEFAULT_DEPTH,
    max_nodes: int = MAX_NODES,
) -> LineageGraph:
    """Everything that came from ``node``, up to ``depth`` edges away (viewers of the node's
    project); see ``lineage_upstream``."""
    return _walk(platform, actor, node, project, depth, max_nodes, upstream=False)


def _walk(
    platform: Platform,
    actor: Actor,
    node: LineageNodeRef | str,
    project: str,
    depth: int,
    max_nodes: int,
    *,
    upstream: bool,
) -> LineageGraph:
    _check_depth(depth)
    if isinstance(max_nodes, bool) or not isinstance(max_nodes, int) or max_nodes < 1:
        raise InvalidArgument("max_nodes must be a positive integer")
    max_nodes = min(max_nodes, MAX_NODES)
    with platform.db.read() as conn:
        start = (
            node
            if isinstance(node, LineageNodeRef)
            else resolve_node_reference(conn, node, project)
        )
        start_info = describe_nodes(conn, [start]).get(start)
        if start_info is None or start_info.project_id is None:
            raise NotFound(f"the lineage graph has no node {start.key}")
        require_project_role(conn, actor, start_info.project_id, Role.VIEWER)
        reached, truncated = _reachable(conn, start, depth, max_nodes, upstream=upstream)
        refs = [ref for ref, _ in reached]
        infos = describe_nodes(conn, refs)
        edges = _edges_between(conn, refs)
        readable: dict[str, bool] = {}

        def can_read(info: NodeInfo) -> bool:
            if info.project_id is None:
                return False
            if info.project_id not in readable:
                readable[info.project_id] = project_role(conn, actor, info.project_id) is not None
            return readable[info.project_id]

        shown: dict[LineageNodeRef, LineageNode] = {}
        hidden = 0
        for ref, level in reached:
            info = infos.get(ref)
            if info is None:  # an edge outlived its node (a purged run, say)
                shown[ref] = LineageNode(
                    ref.node_type, ref.node_id, f"{ref.node_id[:40]} (gone)", None, None, level
                )
            elif can_read(info):
                shown[ref] = LineageNode(
                    ref.node_type, ref.node_id, info.label, info.link, info.project, level
                )
            else:
                hidden += 1
                shown[ref] = LineageNode(
                    ref.node_type, f"restricted-{hidden}", None, None, None, level, True
                )
    return LineageGraph(
        start.key,
        "upstream" if upstream else "downstream",
        tuple(shown.values()),
        tuple(
            LineageEdge(shown[source].key, shown[target].key, relation)
            for source, target, relation in edges
            if source in shown and target in shown
        ),
        truncated,
    )


def _reachable(
    conn: Connection, start: LineageNodeRef, depth: int, max_nodes: int, *, upstream: bool
) -> tuple[list[tuple[LineageNodeRef, int]], bool]:
    """Nodes within ``depth`` edges of ``start`` with their shortest distance (start first),
    at most ``max_nodes``, and whether more were left out: one recursive CTE.

    Both databases produce a recursive CTE's rows level by level (SQLite's queue is FIFO,
    PostgreSQL iterates a work table), and both stop computing it once the outer ``LIMIT`` is
    reached, so a large graph costs at most ``ROWS_PER_NODE * max_nodes`` rows, nearest levels
    first."""
    e = lineage_edges.c
    walk = select(
        literal(start.node_type).label("node_type"),
        literal(start.node_id).label("node_id"),
        literal(0).label("depth"),
    ).cte("lineage_walk", recursive=True)
    near_type, near_id, far_type, far_id = (
        (e.target_type, e.target_id, e.source_type, e.source_id)
        if upstream
        else (e.source_type, e.source_id, e.target_type, e.target_id)
    )
    step = (
        select(far_type, far_id, (walk.c.depth + 1).label("depth"))
        .select_from(lineage_edges)
        .join(walk, and_(near_type == walk.c.node_type, near_id == walk.c.node_id))
        .where(walk.c.depth < depth)
    )
    walk = walk.union(step)
    budget = ROWS_PER_NODE * max_nodes
    rows = conn.execute(select(walk.c.node_type, walk.c.node_id, walk.c.depth).limit(budget)).all()
    distance: dict[tuple[str, str], int] = {}
    for row in rows:
        key = (row.node_type, row.node_id)
        if key not in distance or row.depth < distance[key]:
            distance[key] = int(row.depth)
    ordered = sorted(distance.items(), key=lambda item: (item[1], item[0]))
    truncated = len(ordered) > max_nodes or len(rows) == budget
    return [
        (LineageNodeRef(node_type, node_id), level)
        for (node_type, node_id), level in ordered[:max_nodes]
    ], truncated


def _edges_between(
    conn: Connection, refs: list[LineageNodeRef]
) -> list[tuple[LineageNodeRef, LineageNodeRef, str]]:
    wanted = set(refs)
    ids = sorted({ref.node_id for ref in refs})
    found: list[tuple[LineageNodeRef, LineageNodeRef, str]] = []
    for start in range(0, len(ids), 400):
        chunk = ids[start : start + 400]
        for row in conn.execute(
            select(lineage_edges)
            .where(lineage_edges.c.source_id.in_(chunk), lineage_edges.c.target_id.in_(ids))
            .order_by(
                lineage_edges.c.source_type,
                lineage_edges.c.source_id,
                lineage_edges.c.target_type,
                lineage_edges.c.target_id,
                lineage_edges.c.relation,
            )
        ):
            if row.source_type not in NODE_TYPES or row.target_type not in NODE_TYPES:
                continue
            source = LineageNodeRef(row.source_type, row.source_id)
            target = LineageNodeRef(row.target_type, row.target_id)
            if source in wanted and target in wanted:
                found.append((source, target, row.relation))
    return found
