"""The lineage page: the graph upstream and downstream of any dataset version, run or model
version, laid out on the server (``_ui_lineage_layout``) and drawn as SVG. An alert shows its
rule's name and its state now, and links to its project's alerts page."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Annotated, Any

from fastapi import APIRouter, Depends
from starlette.responses import Response

from ..errors import InvalidArgument
from ._ui_lineage_layout import NODE_HEIGHT, NODE_WIDTH, GraphEdge, GraphNode, layout_graph
from ._ui_render import UIRoute, render
from ._ui_session import Page, viewer

if TYPE_CHECKING:
    from ..data import LineageGraph

__all__ = ["router"]

router = APIRouter(route_class=UIRoute, include_in_schema=False)
Viewer = Annotated[Page, Depends(viewer)]
DEPTHS = (1, 2, 3, 5, 10)
DIRECTIONS = ("both", "upstream", "downstream")
NODE_KINDS = {
    "dataset_version": "dataset version",
    "run": "run",
    "model_version": "model version",
    "deployment": "deployment",
    "alert": "alert",
    "openlineage_dataset": "external dataset",
    "openlineage_run": "external job run",
    "restricted": "restricted",
}
NODE_COLOURS = {
    "dataset_version": "#1f7a45",
    "run": "#2457c5",
    "model_version": "#8a3ffc",
    "deployment": "#b35c00",
    "alert": "#c0262d",
    "openlineage_dataset": "#4d7f6a",
    "openlineage_run": "#5570a8",
}


def _choice(page: Page, name: str, allowed: tuple[Any, ...], default: Any) -> Any:
    raw = page.request.query_params.get(name)
    if raw is None or raw == "":
        return default
    for value in allowed:
        if str(value) == raw:
            return value
    shown = ", ".join(str(v) for v in allowed)
    raise InvalidArgument(f"{name} must be one of {shown}, not {raw[:20]!r}")


def _alert_labels(page: Page, walks: Sequence[LineageGraph]) -> dict[str, tuple[str, str]]:
    """The label (its rule's name and its state now) and link (its row on the project's
    alerts page) of each alert node the viewer may see, by node key. An alert deleted since
    it was linked keeps the label the graph stored."""
    from ..errors import NotFound
    from ..monitoring import get_alert, list_alert_rules
    from ._ui_monitoring import alerts_path

    by_project: dict[str, dict[str, None]] = {}
    for walk in walks:
        for n in walk.nodes:
            if n.node_type == "alert" and not n.restricted and n.project is not None:
                by_project.setdefault(n.project, {})[n.node_id] = None
    found: dict[str, tuple[str, str]] = {}
    for project, alert_ids in by_project.items():
        rules = {r.id: r.name for r in list_alert_rules(page.platform, page.actor, project)}
        for alert_id in alert_ids:
            try:
                alert = get_alert(page.platform, page.actor, project, alert_id)
            except NotFound:
                continue
            rule = rules.get(alert.rule_id, "deleted rule")
            state = alert.state.value
            link = f"{alerts_path(project)}?state={state}#alert-{alert_id}"
            found[f"alert:{alert_id}"] = (f"{rule} ({state})", link)
    return found


@router.get("/lineage")
def lineage_page(page: Viewer) -> Response:
    from ..data import lineage_downstream, lineage_upstream

    node_ref = page.request.query_params.get("node", "")
    project = page.request.query_params.get("project") or "default"
    if not node_ref:
        raise InvalidArgument(
            "say which node: /lineage?node=dataset:<name>@<version>, run:<id> or "
            "model:<name>/<version>"
        )
    direction = _choice(page, "direction", DIRECTIONS, "both")
    depth = _choice(page, "depth", DEPTHS, 3)
    walks = []
    if direction in ("both", "upstream"):
        walks.append(
            lineage_upstream(page.platform, page.actor, node_ref, project=project, depth=depth)
        )
    if direction in ("both", "downstream"):
        walks.append(
            lineage_downstream(page.platform, page.actor, node_ref, project=project, depth=depth)
        )
    start = walks[0].start
    alerts = _alert_labels(page, walks)
    nodes: dict[str, GraphNode] = {}
    edges: dict[tuple[str, str, str], GraphEdge] = {}
    for walk in walks:
        for n in walk.nodes:
            label, href = alerts.get(n.key, (n.label, n.link))
            nodes.setdefault(
                n.key,
                GraphNode(
                    key=n.key,
                    node_type="restricted" if n.restricted else n.node_type,
                    label=label or ("restricted" if n.restricted else n.node_id),
                    href=href,
                    start=n.key == start,
                ),
            )
        for e in walk.edges:
            edges.setdefault(
                (e.source, e.target, e.relation), GraphEdge(e.source, e.target, e.relation)
            )
    layout = layout_graph(list(nodes.values()), list(edges.values()))
    by_key = nodes
    return render(
        page,
        "lineage.html",
        active="datasets",
        layout=layout,
        nodes_by_key=by_key,
        start_label=by_key[start].label if start in by_key else node_ref,
        node_ref=node_ref,
        project=project,
        direction=direction,
        depth=depth,
        truncated=any(walk.truncated for walk in walks),
        node_kinds=NODE_KINDS,
        node_colours=NODE_COLOURS,
        node_width=NODE_WIDTH,
        node_height=NODE_HEIGHT,
    )
