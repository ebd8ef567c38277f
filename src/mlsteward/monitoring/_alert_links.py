"""Linking an alert in the lineage graph to what was done about it outside its action.

A retraining action's run and model version are linked as the action ends
(``alert -triggered-> run``, ``alert -triggered-> model_version``). What happens after it,
often by a person or a rollout script, is linked with :func:`link_alert`: the model version
that took ``@production`` and the deployment that promoted it
(``alert -promoted-> model_version``, ``alert -promoted-> deployment``), so the lineage graph
leads from the alert to what serves the traffic because of it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Final

from sqlalchemy import Connection, select

from ..errors import InvalidArgument, NotFound

if TYPE_CHECKING:
    from ..data._lineage_nodes import LineageNodeRef
    from ..platform import Platform
    from ..security import Actor

__all__ = ["ALERT_LINK_RELATIONS", "ALERT_LINK_TARGETS", "AlertLink", "link_alert"]

ALERT_LINK_RELATIONS: Final = ("promoted", "triggered")
"""What an alert may be to a node: it ``triggered`` it (a retraining run, a model version) or
it ``promoted`` it (the version that took an alias, the deployment that serves it)."""
ALERT_LINK_TARGETS: Final = ("dataset_version", "run", "model_version", "deployment")


@dataclass(frozen=True)
class AlertLink:
    """A recorded ``alert -relation-> node`` edge: the node's key (``deployment:<id>``), the
    deployment's revision when linked (None for other nodes) and whether the edge is new."""

    alert_id: str
    relation: str
    node: str
    revision: int | None
    created: bool

    def to_json(self) -> dict[str, Any]:
        return {
            "alert_id": self.alert_id,
            "relation": self.relation,
            "node": self.node,
            "revision": self.revision,
            "created": self.created,
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> AlertLink:
        """The link ``to_json`` wrote (``KeyError``/``ValueError``/``TypeError`` else)."""
        revision = data["revision"]
        return cls(
            str(data["alert_id"]), str(data["relation"]), str(data["node"]),
            None if revision is None else int(revision), bool(data["created"]),
        )  # fmt: skip


def _deployment_node(
    conn: Connection, project_id: str, text: str
) -> tuple[LineageNodeRef, int] | None:
    """The deployment of the project with id or name ``text`` and its current revision."""
    from ..data._lineage_nodes import LineageNodeRef
    from ..deployments._tables import deployments

    row = conn.execute(
        select(deployments.c.id, deployments.c.revision).where(
            deployments.c.project_id == project_id,
            (deployments.c.id == text) | (deployments.c.name == text),
        )
    ).first()
    return None if row is None else (LineageNodeRef("deployment", row.id), int(row.revision))


def link_alert(
    platform: Platform,
    actor: Actor,
    project: str,
    alert_id: str,
    node: str,
    *,
    relation: str = "promoted",
) -> AlertLink:
    """Record ``alert -relation-> node`` in the lineage graph (maintainers of ``project``).

    ``node`` is a lineage reference to something of the same project: ``run:<id>``,
    ``model:<name>/<version>``, ``models:/<name>@<alias>``, ``dataset:<name>@<version>`` or
    ``deployment:<name or id>`` (linked at its current revision, which the audit event and
    the answer name). ``relation`` is ``promoted`` (default) or ``triggered``. Idempotent:
    linking again records nothing new (``created`` is False) but is audited too
    (``monitoring.alert.link``).

    ``InvalidArgument`` for a malformed alert id, relation or reference, or a node of another
    kind; ``NotFound`` for an unknown alert or node (or one of another project);
    ``PermissionDenied`` for anyone but the project's maintainers. Nothing is written then.
    """
    from ..data._lineage import record_edge
    from ..data._lineage_nodes import describe_nodes, resolve_node_reference
    from ._alert_actions import AlertContext, _alert_node
    from ._alert_tables import alert_rules
    from ._alerts import _check_id, _fetch_alert

    _check_id(alert_id, "alert_id")
    if relation not in ALERT_LINK_RELATIONS:
        raise InvalidArgument(
            f"relation must be one of {list(ALERT_LINK_RELATIONS)}, not {str(relation)[:40]!r}",
            details={"field": "relation"},
        )
    if not isinstance(node, str):
        raise InvalidArgument("node must be a lineage reference such as deployment:<name>")
    with platform.db.write() as conn:
        row = _fetch_alert(conn, actor, project, alert_id)
        revision: int | None = None
        kind = node.strip().partition(":")[0]
        if kind == "deployment":
            wanted = node.strip()[len("deployment:") :]
            found = _deployment_node(conn, row.project_id, wanted)
            if found is None:
                raise NotFound(
                    f"project {project!r} has no deployment {wanted[:64]!r}: "
                    "`mlsteward deploy list` shows them",
                    details={"node": node[:200]},
                )
            target, revision = found
        else:
            target = resolve_node_reference(conn, node, project)
            if target.node_type not in ALERT_LINK_TARGETS:
                raise InvalidArgument(
                    f"an alert links to a {', '.join(ALERT_LINK_TARGETS[:-1])} or "
                    f"{ALERT_LINK_TARGETS[-1]}, not to a node of type {target.node_type!r}",
                    details={"field": "node"},
                )
            info = describe_nodes(conn, [target]).get(target)
            if info is None or info.project_id != row.project_id:
                raise NotFound(
                    f"project {project!r} has no {target.node_type} {target.node_id[:80]}",
                    details={"node": node[:200]},
                )
        rule = conn.execute(select(alert_rules).where(alert_rules.c.id == row.rule_id)).one()
        context = AlertContext(
            alert_id=alert_id, rule_id=row.rule_id, rule_name=rule.name,
            monitor_id=row.monitor_id, project=project, project_id=row.project_id,
            metric=rule.metric, value=row.last_value, severity=row.severity, platform=platform,
        )  # fmt: skip
        source = _alert_node(conn, context)
        created = record_edge(conn, actor, source, target, relation, row.project_id)
        details: dict[str, object] = {"relation": relation, "node": target.key, "new": created}
        if revision is not None:
            details["revision"] = revision
        platform.audit.record(
            conn, actor, "monitoring.alert.link", target_type="alert", target_id=alert_id,
            project_id=row.project_id, details=details,
        )  # fmt: skip
    return AlertLink(alert_id, relation, target.key, revision, created)
