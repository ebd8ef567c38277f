"""OpenLineage (spec 2-0-2): our runs as ``RunEvent`` JSON, and events from other systems
(Spark, Airflow, dbt...) into the lineage graph.

Our datasets appear in OpenLineage as namespace ``mlsteward://<project>`` and name
``<dataset>@<version>``; an event naming one links to that dataset version. Other datasets
become ``openlineage_dataset`` nodes (``<namespace>/<name>``), job runs ``openlineage_run``
nodes keyed by their runId.
"""

from __future__ import annotations

import datetime as dt
import json
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from sqlalchemy import Connection, select
from sqlalchemy.dialects import postgresql, sqlite

from ..errors import Conflict, InvalidArgument, NotFound
from ..security import Actor, Role, fetch_project, require_project_role
from ..store import utcnow
from ._lineage import fetch_dataset_version, record_edge
from ._lineage_nodes import (
    MAX_NODE_ID_LENGTH,
    LineageNodeRef,
    mlsteward_namespace,
    openlineage_dataset_node,
    openlineage_run_id,
)
from ._tables import dataset_versions, datasets, lineage_edges, lineage_nodes

if TYPE_CHECKING:
    from ..platform import Platform

SPEC_VERSION = "2-0-2"
RUN_EVENT_SCHEMA_URL = (
    f"https://openlineage.io/spec/{SPEC_VERSION}/OpenLineage.json#/$defs/RunEvent"
)
EVENT_TYPES = frozenset({"START", "RUNNING", "COMPLETE", "ABORT", "FAIL", "OTHER"})
MAX_EVENT_BYTES = 1_000_000
MAX_DATASETS_PER_SIDE = 200
MAX_NAME_LENGTH = 300
MAX_KEPT_FACETS = 50
_END_EVENT = {"FINISHED": "COMPLETE", "FAILED": "FAIL", "KILLED": "ABORT"}


def producer_uri() -> str:
    """The ``producer`` of the events we emit: this release of mlsteward."""
    from .. import __version__

    return f"https://pypi.org/project/mlsteward/{__version__}/"


def _dataset(project: str, name: str) -> dict[str, Any]:
    return {"namespace": mlsteward_namespace(project), "name": name, "facets": {}}


def _event_time(value: dt.datetime) -> str:
    return value.astimezone(dt.UTC).isoformat().replace("+00:00", "Z")


def openlineage_events_for_run(
    platform: Platform, actor: Actor, run_id: str
) -> list[dict[str, Any]]:
    """The run as OpenLineage ``RunEvent``s (viewers of its project): START, then COMPLETE,
    FAIL or ABORT once it ended. Job: namespace ``mlsteward://<project>``, name the experiment;
    inputs: the dataset versions it read; outputs: the model versions and dataset versions
    it produced (those in projects the actor cannot read are left out)."""
    from ..registry._tables import model_versions, registered_models
    from ..store._tables import memberships, projects
    from ..tracking._runs import check_run_id, require_run
    from ..tracking._tables import experiments

    check_run_id(run_id)
    with platform.db.read() as conn:
        run = require_run(conn, actor, run_id, Role.VIEWER)
        experiment = conn.execute(
            select(experiments.c.name).where(experiments.c.id == run.experiment_id)
        ).scalar_one()
        names = {r.id: r.name for r in conn.execute(select(projects.c.id, projects.c.name))}
        readable = {run.project_id}
        if actor.is_admin:
            readable.update(names)
        elif actor.kind in {"user", "token", "session"}:
            readable.update(
                conn.execute(
                    select(memberships.c.project_id).where(memberships.c.user_id == actor.id)
                ).scalars()
            )
        edges = lineage_edges.c
        inputs = [
            _dataset(names[r.project_id], f"{r.name}@{r.version}")
            for r in conn.execute(
                select(datasets.c.project_id, datasets.c.name, dataset_versions.c.version)
                .join(dataset_versions, dataset_versions.c.dataset_id == datasets.c.id)
                .join(lineage_edges, edges.source_id == dataset_versions.c.id)
                .where(datasets.c.project_id.in_(readable))
                .where(
                    edges.source_type == "dataset_version",
                    edges.target_type == "run",
                    edges.target_id == run_id,
                    edges.relation == "input_of",
                )
                .order_by(datasets.c.name, dataset_versions.c.version)
            )
        ]
        produced = (
            edges.source_type == "run",
            edges.source_id == run_id,
            edges.relation == "produced",
        )
        outputs = [
            _dataset(names[r.project_id], f"models:/{r.name}/{r.version}")
            for r in conn.execute(
                select(
                    registered_models.c.project_id,
                    registered_models.c.name,
                    model_versions.c.version,
                )
                .join(model_versions, model_versions.c.model_id == registered_models.c.id)
                .join(lineage_edges, edges.target_id == model_versions.c.id)
                .where(*produced, edges.target_type == "model_version")
                .where(registered_models.c.project_id.in_(readable))
                .order_by(registered_models.c.name, model_versions.c.version)
            )
        ]
        outputs += [
            _dataset(names[r.project_id], f"{r.name}@{r.version}")
            for r in conn.execute(
                select(datasets.c.project_id, datasets.c.name, dataset_versions.c.version)
                .join(dataset_versions, dataset_versions.c.dataset_id == datasets.c.id)
                .join(lineage_edges, edges.target_id == dataset_versions.c.id)
                .where(*produced, edges.target_type == "dataset_version")
                .where(datasets.c.project_id.in_(readable))
                .order_by(datasets.c.name, dataset_versions.c.version)
            )
        ]
    base = {
        "producer": producer_uri(),
        "schemaURL": RUN_EVENT_SCHEMA_URL,
        "run": {"runId": openlineage_run_id(run_id), "facets": {}},
        "job": {
            "namespace": mlsteward_namespace(names[run.project_id]),
            "name": experiment,
            "facets": {},
        },
        "inputs": [{**d, "inputFacets": {}} for d in inputs],
        "outputs": [{**d, "outputFacets": {}} for d in outputs],
    }
    events = [{"eventType": "START", "eventTime": _event_time(run.start_time), **base}]
    end_type = _END_EVENT.get(run.status)
    if end_type is not None:
        end_time = run.end_time or run.heartbeat_at
        events.append({"eventType": end_type, "eventTime": _event_time(end_time), **base})
    return events


@dataclass(frozen=True, slots=True)
class IngestedOpenLineageEvent:
    """What an OpenLineage event added: its run node, the dataset nodes and new edges."""

    run_node: str
    event_type: str | None
    inputs: tuple[str, ...]
    outputs: tuple[str, ...]
    new_edges: int

    def to_json(self) -> dict[str, Any]:
        return {
            "run_node": self.run_node,
            "event_type": self.event_type,
            "inputs": list(self.inputs),
            "outputs": list(self.outputs),
            "new_edges": self.new_edges,
        }


def _invalid(field: str, problem: str) -> InvalidArgument:
    return InvalidArgument(
        f"invalid OpenLineage event: {field} {problem}", details={"field": field}
    )


def _text(container: Mapping[str, Any], key: str, field: str, limit: int = MAX_NAME_LENGTH) -> str:
    value = container.get(key)
    if not isinstance(value, str) or not value.strip():
        raise _invalid(field, "must be a non-empty string")
    if len(value) > limit:
        raise _invalid(field, f"is longer than {limit} characters")
    if "\x00" in value:
        raise _invalid(field, "contains a NUL character")
    return value


def _object(container: Mapping[str, Any], key: str, field: str) -> Mapping[str, Any]:
    value = container.get(key)
    if not isinstance(value, Mapping):
        raise _invalid(field, "must be an object")
    return value


def _uri(container: Mapping[str, Any], key: str) -> str:
    value = _text(container, key, key, 2000)
    if not urlsplit(value).scheme:
        raise _invalid(key, "must be a URI (with a scheme, e.g. https://...)")
    return value


def _facet_names(container: Mapping[str, Any], key: str, field: str) -> list[str]:
    facets = container.get(key)
    if facets is None:
        return []
    if not isinstance(facets, Mapping):
        raise _invalid(field, "must be an object")
    return sorted(str(name)[:100] for name in facets)[:MAX_KEPT_FACETS]


@dataclass(frozen=True, slots=True)
class _Dataset:
    namespace: str
    name: str
    facets: list[str]


@dataclass(frozen=True, slots=True)
class _Event:
    event_type: str | None
    event_time: str
    run_id: str
    job_namespace: str
    job_name: str
    producer: str
    run_facets: list[str]
    inputs: list[_Dataset]
    outputs: list[_Dataset]


def check_openlineage_event(event: object) -> _Event:
    """The event's fields we use, checked; ``InvalidArgument`` naming the first bad field."""
    if not isinstance(event, Mapping):
        raise InvalidArgument("an OpenLineage event is a JSON object")
    try:
        size = len(json.dumps(event, allow_nan=False))
    except (TypeError, ValueError):
        raise InvalidArgument("an OpenLineage event must be plain JSON") from None
    if size > MAX_EVENT_BYTES:
        raise InvalidArgument(f"an OpenLineage event has at most {MAX_EVENT_BYTES} bytes of JSON")
    event_type = event.get("eventType")
    if event_type is not None and event_type not in EVENT_TYPES:
        raise _invalid("eventType", f"must be one of {sorted(EVENT_TYPES)}")
    event_time = _text(event, "eventTime", "eventTime", 64)
    try:
        parsed = dt.datetime.fromisoformat(event_time)
    except ValueError:
        raise _invalid("eventTime", "must be an ISO 8601 date-time") from None
    if "T" not in event_time.upper() or parsed.tzinfo is None:
        raise _invalid("eventTime", "must be an ISO 8601 date-time with a time and an offset")
    producer = _uri(event, "producer")
    _uri(event, "schemaURL")
    run = _object(event, "run", "run")
    raw_id = _text(run, "runId", "run.runId", 64)
    try:
        run_id = str(uuid.UUID(raw_id))
    except ValueError:
        raise _invalid("run.runId", "must be a UUID") from None
    job = _object(event, "job", "job")
    namespace = _text(job, "namespace", "job.namespace")
    name = _text(job, "name", "job.name")
    sides: list[list[_Dataset]] = []
    for side in ("inputs", "outputs"):
        raw = event.get(side, [])
        if raw is None:
            raw = []
        if not isinstance(raw, list):
            raise _invalid(side, "must be a list")
        if len(raw) > MAX_DATASETS_PER_SIDE:
            raise _invalid(side, f"has more than {MAX_DATASETS_PER_SIDE} datasets")
        checked = []
        for index, item in enumerate(raw):
            field = f"{side}[{index}]"
            if not isinstance(item, Mapping):
                raise _invalid(field, "must be an object")
            ds_namespace = _text(item, "namespace", f"{field}.namespace")
            ds_name = _text(item, "name", f"{field}.name")
            if len(ds_namespace) + 1 + len(ds_name) > MAX_NODE_ID_LENGTH:
                raise _invalid(field, f"namespace/name is longer than {MAX_NODE_ID_LENGTH}")
            facets = _facet_names(item, "facets", f"{field}.facets")
            checked.append(_Dataset(ds_namespace, ds_name, facets))
        sides.append(checked)
    return _Event(
        event_type,
        event_time,
        run_id,
        namespace,
        name,
        producer,
        _facet_names(run, "facets", "run.facets"),
        sides[0],
        sides[1],
    )


def ingest_openlineage_event(
    platform: Platform, actor: Actor, project: str, event: Mapping[str, Any]
) -> IngestedOpenLineageEvent:
    """Add an OpenLineage ``RunEvent`` to the project's lineage graph (editors): the job run,
    its input and output datasets, and edges input → run → output. Repeated events for the
    same run (START, then COMPLETE) update the run node and add only new edges. Audited as
    ``lineage.openlineage.ingest``. ``InvalidArgument`` names the field at fault; nothing is
    written then."""
    checked = check_openlineage_event(event)
    with platform.db.write() as conn:
        project_row = fetch_project(conn, project)
        require_project_role(conn, actor, project_row.id, Role.EDITOR)
        run_node = LineageNodeRef("openlineage_run", checked.run_id)
        _upsert_node(
            conn,
            run_node,
            project_row.id,
            checked.job_name,
            {
                "job": {"namespace": checked.job_namespace, "name": checked.job_name},
                "eventType": checked.event_type,
                "eventTime": checked.event_time,
                "producer": checked.producer,
                "facets": checked.run_facets,
            },
        )
        new_edges = 0
        input_nodes: list[LineageNodeRef] = []
        output_nodes: list[LineageNodeRef] = []
        for side, nodes in ((checked.inputs, input_nodes), (checked.outputs, output_nodes)):
            for index, dataset in enumerate(side):
                node = _dataset_node(
                    conn, actor, dataset, project_row.id, side is checked.inputs, index
                )
                nodes.append(node)
        for node in input_nodes:
            new_edges += record_edge(conn, actor, node, run_node, "input_of", project_row.id)
        for node in output_nodes:
            new_edges += record_edge(conn, actor, run_node, node, "produced", project_row.id)
        platform.audit.record(
            conn,
            actor,
            "lineage.openlineage.ingest",
            target_type="openlineage_run",
            target_id=checked.run_id,
            project_id=project_row.id,
            details={
                "event_type": checked.event_type,
                "job": f"{checked.job_namespace}/{checked.job_name}"[:300],
                "inputs": len(input_nodes),
                "outputs": len(output_nodes),
                "new_edges": new_edges,
            },
        )
    return IngestedOpenLineageEvent(
        run_node.key,
        checked.event_type,
        tuple(n.key for n in input_nodes),
        tuple(n.key for n in output_nodes),
        new_edges,
    )


def _dataset_node(
    conn: Connection,
    actor: Actor,
    dataset: _Dataset,
    project_id: str,
    is_input: bool,
    index: int,
) -> LineageNodeRef:
    field = f"{'inputs' if is_input else 'outputs'}[{index}]"
    try:
        node = openlineage_dataset_node(conn, dataset.namespace, dataset.name)
    except NotFound as exc:
        raise InvalidArgument(
            f"invalid OpenLineage event: {field} names a dataset version that does not "
            f"exist ({exc.message}); create the version first or use another namespace",
            details={"field": field},
        ) from None
    if node.node_type == "dataset_version":  # ours: the reporter must be able to read it
        version = fetch_dataset_version(conn, node.node_id)
        if version.project_id != project_id:
            require_project_role(conn, actor, version.project_id, Role.VIEWER)
    else:
        _upsert_node(
            conn,
            node,
            project_id,
            dataset.name,
            {"namespace": dataset.namespace, "name": dataset.name, "facets": dataset.facets},
            keep_owner=True,
        )
    return node


def _upsert_node(
    conn: Connection,
    node: LineageNodeRef,
    project_id: str,
    label: str,
    facets: dict[str, Any],
    *,
    keep_owner: bool = False,
) -> None:
    """Insert or refresh a ``lineage_nodes`` row. A run node belongs to the project that first
    reported it (``Conflict`` for another project); a dataset node reported by several
    projects keeps its first project and is left as it is."""
    owner = conn.execute(
        select(lineage_nodes.c.project_id).where(
            lineage_nodes.c.node_type == node.node_type, lineage_nodes.c.node_id == node.node_id
        )
    ).first()
    if owner is not None and owner.project_id != project_id:
        if keep_owner:
            return
        raise Conflict(
            f"OpenLineage run {node.node_id} was reported to another project: send its "
            "events to that project",
            details={"field": "run.runId"},
        )
    values = {"label": label[:MAX_NAME_LENGTH], "facets": facets, "updated_at": utcnow()}
    dialect = postgresql if conn.dialect.name == "postgresql" else sqlite
    statement = dialect.insert(lineage_nodes).values(
        node_type=node.node_type, node_id=node.node_id, project_id=project_id, **values
    )
    conn.execute(
        statement.on_conflict_do_update(
            index_elements=[lineage_nodes.c.node_type, lineage_nodes.c.node_id], set_=values
        )
    )
