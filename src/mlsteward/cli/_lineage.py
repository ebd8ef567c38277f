"""``mlsteward lineage``: walk the lineage graph, print a run's OpenLineage events, ingest
events from other systems."""

from __future__ import annotations

import json
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from ._output import (
    emit_json,
    emit_json_line,
    print_message,
    print_success,
    progress_counter,
    stdout_console,
)

if TYPE_CHECKING:
    from rich.tree import Tree

    from ..data import LineageGraph, LineageNode

lineage_app = typer.Typer(
    name="lineage",
    help="The lineage graph: upstream and downstream of a dataset version, run or model "
    "version; OpenLineage events out and in.",
    no_args_is_help=True,
)

JsonOption = Annotated[bool, typer.Option("--json", help="Print JSON to stdout.")]
ProjectOption = Annotated[
    str, typer.Option("--project", help="The project of dataset and model references.")
]
NodeArg = Annotated[
    str,
    typer.Argument(
        help="dataset:NAME@VERSION, run:RUN_ID, model:NAME/VERSION, models:/NAME@ALIAS or "
        "openlineage:NAMESPACE/NAME."
    ),
]
DepthOption = Annotated[
    int, typer.Option("--depth", min=1, max=25, help="How many edges away to follow (1-25).")
]
MAX_INGEST_BYTES = 100_000_000


def _node_text(node: LineageNode) -> str:
    if node.restricted:
        return f"[{node.node_type}] (restricted)"
    return f"[{node.node_type}] {node.label}"


def _tree(graph: LineageGraph) -> Tree:
    """The walk as a tree from the start node; a node reached twice is printed once, then
    referred to as ``(shown above)``."""
    from rich.text import Text
    from rich.tree import Tree

    by_key = {n.key: n for n in graph.nodes}
    children: dict[str, list[tuple[str, str]]] = {}
    for edge in graph.edges:
        near, far = (
            (edge.target, edge.source)
            if graph.direction == "upstream"
            else (edge.source, edge.target)
        )
        children.setdefault(near, []).append((far, edge.relation))
    start = graph.nodes[0]
    root = Tree(Text(_node_text(start), style="bold"))
    shown = {start.key}
    pending: list[tuple[Tree, str]] = [(root, start.key)]
    while pending:
        branch, key = pending.pop(0)
        for far, relation in sorted(children.get(key, [])):
            node = by_key[far]
            if node.depth <= by_key[key].depth:
                continue  # an edge back (a cycle) or sideways: the tree follows the walk only
            if far in shown:
                branch.add(Text(f"{relation}: {_node_text(node)} (shown above)", style="dim"))
                continue
            shown.add(far)
            pending.append((branch.add(Text(f"{relation}: {_node_text(node)}")), far))
    return root


def _walk(node: str, project: str, depth: int, json_output: bool, *, upstream: bool) -> None:
    from ..data import lineage_downstream, lineage_upstream
    from ._local import local_platform, operator

    walk = lineage_upstream if upstream else lineage_downstream
    with local_platform() as platform:
        graph = walk(platform, operator(), node, project=project, depth=depth)
    if json_output:
        emit_json(graph.to_json())
        return
    stdout_console().print(_tree(graph))
    if graph.truncated:
        print_message(f"only the first {len(graph.nodes)} nodes are shown: lower --depth")


@lineage_app.command("upstream")
def upstream(
    node: NodeArg,
    project: ProjectOption = "default",
    depth: DepthOption = 5,
    json_output: JsonOption = False,
) -> None:
    """Everything NODE came from: the runs, dataset versions and jobs that produced it."""
    _walk(node, project, depth, json_output, upstream=True)


@lineage_app.command("downstream")
def downstream(
    node: NodeArg,
    project: ProjectOption = "default",
    depth: DepthOption = 5,
    json_output: JsonOption = False,
) -> None:
    """Everything that came from NODE: the runs that read it and what they produced."""
    _walk(node, project, depth, json_output, upstream=False)


@lineage_app.command("events")
def events(run_id: Annotated[str, typer.Argument(help="The run id.")]) -> None:
    """The run's OpenLineage RunEvents (START, then COMPLETE, FAIL or ABORT), one JSON
    document per line."""
    from ..data import openlineage_events_for_run
    from ._local import local_platform, operator

    with local_platform() as platform:
        found = openlineage_events_for_run(platform, operator(), run_id)
    for event in found:
        emit_json_line(event)


def _read_events(source: str) -> Iterator[Any]:
    """Events from a file (``-``: stdin): a JSON array, one object, or one object a line."""
    from ..errors import InvalidArgument

    if source == "-":
        text = sys.stdin.read(MAX_INGEST_BYTES + 1)
    else:
        path = Path(source)
        if not path.is_file():
            raise InvalidArgument(f"{source}: no such file (pass a JSON file, or - for stdin)")
        with path.open(encoding="utf-8") as handle:
            text = handle.read(MAX_INGEST_BYTES + 1)
    if len(text) > MAX_INGEST_BYTES:
        raise InvalidArgument(f"{source} is larger than {MAX_INGEST_BYTES} bytes: split it")
    stripped = text.strip()
    if not stripped:
        raise InvalidArgument(f"{source} holds no events")
    if stripped.startswith("["):
        try:
            documents = json.loads(stripped)
        except ValueError as exc:
            raise InvalidArgument(f"{source} is not valid JSON: {exc}") from None
        yield from documents
        return
    for number, line in enumerate(stripped.splitlines(), start=1):
        if not line.strip():
            continue
        try:
            yield json.loads(line)
        except ValueError as exc:
            raise InvalidArgument(
                f"{source}, line {number}: not a JSON document ({exc}); give one event a line "
                "or a JSON array"
            ) from None


@lineage_app.command("ingest")
def ingest(
    source: Annotated[
        str, typer.Argument(help="A JSON file: one event a line or an array; - reads stdin.")
    ],
    project: Annotated[
        str, typer.Option("--project", help="The project the events belong to.")
    ] = "default",
    json_output: JsonOption = False,
) -> None:
    """Add OpenLineage RunEvents from other systems (Spark, Airflow, dbt...) to the graph.
    Events are added one by one; the first bad one stops the command (earlier ones stay)."""
    from ..data import ingest_openlineage_event
    from ..errors import InvalidArgument
    from ._local import local_platform, operator

    results = []
    events = list(_read_events(source))
    with (
        local_platform() as platform,
        progress_counter("ingesting events", len(events)) as advance,
    ):
        for index, event in enumerate(events, start=1):
            try:
                results.append(ingest_openlineage_event(platform, operator(), project, event))
            except InvalidArgument as exc:
                raise InvalidArgument(
                    f"event {index}: {exc.message}", details=exc.details
                ) from None
            advance(1)
    if json_output:
        emit_json([r.to_json() for r in results])
        return
    edges = sum(r.new_edges for r in results)
    print_success(f"ingested {len(results)} event(s) into {project!r}: {edges} new edge(s)")
