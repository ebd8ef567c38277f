"""Lineage node references: the types, parsing ``dataset:transactions@3``-style text, resolving a
reference to a stored node, and the label, link and project of each node for display."""

from __future__ import annotations

import re
import uuid
from collections.abc import Iterable
from dataclasses import dataclass
from urllib.parse import quote

from sqlalchemy import Connection, select

from ..errors import InvalidArgument, NotFound
from ..security import fetch_project
from ._tables import dataset_versions, datasets, lineage_nodes

NODE_TYPES = frozenset(
    {
        "dataset_version",
        "run",
        "model_version",
        "deployment",
        "openlineage_dataset",
        "openlineage_run",
        "alert",
    }
)
RELATIONS = frozenset({"input_of", "produced", "deployed_as", "triggered", "promoted"})
MAX_NODE_ID_LENGTH = 400

_HEX_ID = re.compile(r"[0-9a-f]{32}")
_DATASET_REF = re.compile(r"(?P<name>[^@/\s]{1,128})@(?P<version>[0-9]{1,9})")
_MODEL_REF = re.compile(
    r"(?P<name>[^/@\s]{1,128})(?:/(?P<version>[0-9]{1,9})|@(?P<alias>[^/@\s]+))"
)
REFERENCE_HELP = (
    "use dataset:<name>@<version>, run:<run id>, model:<name>/<version>, "
    "models:/<name>/<version>, models:/<name>@<alias> or openlineage:<namespace>/<name>"
)


@dataclass(frozen=True, slots=True)
class LineageNodeRef:
    """A node of the lineage graph: its type and its id (a row id, an OpenLineage runId or
    ``namespace/name``)."""

    node_type: str
    node_id: str

    def __post_init__(self) -> None:
        if self.node_type not in NODE_TYPES:
            raise InvalidArgument(
                f"unknown lineage node type {self.node_type!r}: use one of {sorted(NODE_TYPES)}",
                details={"field": "node_type"},
            )
        if not isinstance(self.node_id, str) or not 0 < len(self.node_id) <= MAX_NODE_ID_LENGTH:
            raise InvalidArgument(
                f"a lineage node id is 1 to {MAX_NODE_ID_LENGTH} characters",
                details={"field": "node_id"},
            )

    @property
    def key(self) -> str:
        return f"{self.node_type}:{self.node_id}"

    def to_json(self) -> dict[str, str]:
        return {"type": self.node_type, "id": self.node_id}


def _bad_reference(text: str, why: str) -> InvalidArgument:
    return InvalidArgument(
        f"{text[:120]!r} is not a lineage node reference ({why}): {REFERENCE_HELP}",
        details={"field": "node"},
    )


def resolve_node_reference(conn: Connection, text: str, project: str = "default") -> LineageNodeRef:
    """The node ``text`` names. Datasets and models are looked up in ``project``; runs and
    OpenLineage names are global. ``InvalidArgument`` for malformed text, ``NotFound`` when
    the thing it names does not exist. Raw ``<node type>:<id>`` forms are accepted too."""
    if not isinstance(text, str) or not text.strip():
        raise InvalidArgument(f"a lineage node reference is needed: {REFERENCE_HELP}")
    text = text.strip()
    if len(text) > 1000:
        raise InvalidArgument("a lineage node reference has at most 1000 characters")
    if text.startswith("models:/"):
        return _model_node(conn, text, text[len("models:/") :], project)
    kind, sep, rest = text.partition(":")
    if not sep or not rest:
        raise _bad_reference(text, "no kind before ':'")
    if kind == "dataset":
        match = _DATASET_REF.fullmatch(rest)
        if match is None:
            raise _bad_reference(text, "a dataset version is <name>@<version>")
        return _dataset_node(conn, project, match["name"], int(match["version"]))
    if kind == "model":
        return _model_node(conn, text, rest, project)
    if kind == "run":
        if not _HEX_ID.fullmatch(rest):
            raise _bad_reference(text, "a run id is 32 hexadecimal characters")
        return LineageNodeRef("run", rest)
    if kind == "openlineage":
        namespace, slash, name = rest.rpartition("/")
        if not slash or not namespace or not name:
            raise _bad_reference(text, "an OpenLineage dataset is <namespace>/<name>")
        return openlineage_dataset_node(conn, namespace, name)
    if kind in NODE_TYPES:
        return LineageNodeRef(kind, rest)
    raise _bad_reference(text, f"unknown kind {kind[:40]!r}")


def _dataset_node(conn: Connection, project: str, name: str, version: int) -> LineageNodeRef:
    project_row = fetch_project(conn, project)
    version_id = conn.execute(
        select(dataset_versions.c.id)
        .join(datasets, datasets.c.id == dataset_versions.c.dataset_id)
        .where(
            datasets.c.project_id == project_row.id,
            datasets.c.name == name,
            dataset_versions.c.version == version,
        )
    ).scalar_one_or_none()
    if version_id is None:
        raise NotFound(
            f"project {project!r} has no dataset version {name}@{version}",
            details={"dataset": name, "version": version},
        )
    return LineageNodeRef("dataset_version", version_id)


def _model_node(conn: Connection, text: str, rest: str, project: str) -> LineageNodeRef:
    from ..registry._tables import model_aliases, model_versions, registered_models

    match = _MODEL_REF.fullmatch(rest)
    if match is None:
        raise _bad_reference(text, "a model version is <name>/<version> or <name>@<alias>")
    project_row = fetch_project(conn, project)
    query = (
        select(model_versions.c.id)
        .join(registered_models, registered_models.c.id == model_versions.c.model_id)
        .where(
            registered_models.c.project_id == project_row.id,
            registered_models.c.name == match["name"],
        )
    )
    if match["version"] is not None:
        query = query.where(model_versions.c.version == int(match["version"]))
    else:
        query = query.join(model_aliases, model_aliases.c.version_id == model_versions.c.id).where(
            model_aliases.c.alias == match["alias"]
        )
    version_id = conn.execute(query).scalar_one_or_none()
    if version_id is None:
        raise NotFound(f"project {project!r} has no model version {rest[:200]}")
    return LineageNodeRef("model_version", version_id)


def openlineage_dataset_node(conn: Connection, namespace: str, name: str) -> LineageNodeRef:
    """Our dataset version for ``mlsteward://<project>`` + ``<dataset>@<version>`` (``NotFound``
    if it does not exist), else the ``openlineage_dataset`` node ``namespace/name``."""
    ours = mlsteward_dataset_name(namespace, name)
    if ours is not None:
        project, dataset, version = ours
        return _dataset_node(conn, project, dataset, version)
    return LineageNodeRef("openlineage_dataset", f"{namespace}/{name}")


def mlsteward_namespace(project: str) -> str:
    """The OpenLineage namespace of a project's datasets and jobs."""
    return f"mlsteward://{project}"


def mlsteward_dataset_name(namespace: str, name: str) -> tuple[str, str, int] | None:
    """``(project, dataset, version)`` when the OpenLineage name is one of our versions."""
    if not namespace.startswith("mlsteward://"):
        return None
    match = _DATASET_REF.fullmatch(name)
    if match is None:
        return None
    return namespace[len("mlsteward://") :], match["name"], int(match["version"])


@dataclass(frozen=True, slots=True)
class NodeInfo:
    """What the graph shows of a node: its project (None when unknown), label and link."""

    project_id: str | None
    project: str | None
    label: str
    link: str | None


def describe_nodes(
    conn: Connection, refs: Iterable[LineageNodeRef]
) -> dict[LineageNodeRef, NodeInfo]:
    """Label, link and project of each node that exists (missing ones are left out)."""
    from ..registry._tables import model_versions, registered_models
    from ..store._tables import projects
    from ..tracking._tables import runs

    by_type: dict[str, list[str]] = {}
    for ref in refs:
        by_type.setdefault(ref.node_type, []).append(ref.node_id)
    found: dict[LineageNodeRef, NodeInfo] = {}
    project_name = projects.c.name.label("project_name")
    for chunk in _chunks(by_type.get("dataset_version", [])):
        for dataset_row in conn.execute(
            select(
                dataset_versions.c.id,
                dataset_versions.c.version,
                datasets.c.name,
                datasets.c.project_id,
                project_name,
            )
            .join(datasets, datasets.c.id == dataset_versions.c.dataset_id)
            .join(projects, projects.c.id == datasets.c.project_id)
            .where(dataset_versions.c.id.in_(chunk))
        ):
            found[LineageNodeRef("dataset_version", dataset_row.id)] = NodeInfo(
                dataset_row.project_id,
                dataset_row.project_name,
                f"{dataset_row.name}@{dataset_row.version}",
                f"/projects/{quote(dataset_row.project_name)}/datasets/{quote(dataset_row.name)}"
                f"/versions/{dataset_row.version}",
            )
    for chunk in _chunks(by_type.get("run", [])):
        for run_row in conn.execute(
            select(runs.c.id, runs.c.name, runs.c.project_id, project_name)
            .join(projects, projects.c.id == runs.c.project_id)
            .where(runs.c.id.in_(chunk))
        ):
            found[LineageNodeRef("run", run_row.id)] = NodeInfo(
                run_row.project_id,
                run_row.project_name,
                f"run {run_row.id[:8]}… ({run_row.name})",
                f"/runs/{run_row.id}",
            )
    for chunk in _chunks(by_type.get("model_version", [])):
        for model_row in conn.execute(
            select(
                model_versions.c.id,
                model_versions.c.version,
                registered_models.c.name,
                registered_models.c.project_id,
                project_name,
            )
            .join(registered_models, registered_models.c.id == model_versions.c.model_id)
            .join(projects, projects.c.id == registered_models.c.project_id)
            .where(model_versions.c.id.in_(chunk))
        ):
            found[LineageNodeRef("model_version", model_row.id)] = NodeInfo(
                model_row.project_id,
                model_row.project_name,
                f"{model_row.name} v{model_row.version}",
                f"/projects/{quote(model_row.project_name)}/models/{quote(model_row.name)}"
                f"/versions/{model_row.version}",
            )
    for node_type in ("deployment", "openlineage_dataset", "openlineage_run", "alert"):
        for chunk in _chunks(by_type.get(node_type, [])):
            for node_row in conn.execute(
                select(lineage_nodes, project_name)
                .outerjoin(projects, projects.c.id == lineage_nodes.c.project_id)
                .where(lineage_nodes.c.node_type == node_type, lineage_nodes.c.node_id.in_(chunk))
            ):
                found[LineageNodeRef(node_type, node_row.node_id)] = NodeInfo(
                    node_row.project_id, node_row.project_name, node_row.label, None
                )
    return found


def _chunks(values: list[str], size: int = 500) -> Iterable[list[str]]:
    for start in range(0, len(values), size):
        yield values[start : start + size]


def openlineage_run_id(run_id: str) -> str:
    """Our run id (uuid4 hex) as the canonical UUID text OpenLineage uses."""
    return str(uuid.UUID(hex=run_id))
