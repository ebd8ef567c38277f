"""Alert actions: what runs once when an incident opens, usually a retraining job.

An action is a Python callable registered in-process (``register_retraining_action``) or a
command (an argv list run without a shell, with ``MLSTEWARD_ALERT_*`` environment variables).
A callable may return the run and model version it produced (:class:`ActionResult`); they are
linked in the lineage graph as ``alert -triggered-> run`` and ``alert -triggered-> model
version``. The outcome is recorded on the alert (``action_status``, ``action_detail``).
"""

from __future__ import annotations

import logging
import os
import re
import subprocess
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Final

from sqlalchemy import Connection, select, update

from ..errors import AlreadyExists, InvalidArgument, NotFound
from ..security import SYSTEM
from ..store import utcnow
from ._alert_tables import alerts

if TYPE_CHECKING:
    from ..platform import Platform

__all__ = [
    "ActionResult",
    "AlertContext",
    "register_retraining_action",
    "registered_actions",
    "run_alert_action",
    "unregister_retraining_action",
]

log = logging.getLogger("mlsteward.monitoring.alerts")

OUTPUT_TAIL: Final = 4000
_ACTION_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.:-]{0,99}")
_ID = re.compile(r"[0-9a-f]{32}")


@dataclass(frozen=True)
class AlertContext:
    """What an action is told about the incident that started it."""

    alert_id: str
    rule_id: str
    rule_name: str
    monitor_id: str
    project: str
    project_id: str
    metric: str
    value: float | None
    severity: str
    platform: Platform


@dataclass(frozen=True)
class ActionResult:
    """What a retraining callable produced, to link in the lineage graph (ids, or None)."""

    run_id: str | None = None
    model_version_id: str | None = None


RetrainingAction = Callable[[AlertContext], "ActionResult | None"]

_actions: dict[str, RetrainingAction] = {}
_lock = threading.Lock()


def register_retraining_action(name: str, fn: RetrainingAction, *, replace: bool = False) -> None:
    """Make ``fn`` available to alert rules as ``{"kind": "callable", "name": name}``.

    ``fn(context)`` runs in a background thread once per incident. ``AlreadyExists`` when the
    name is taken (unless ``replace``), ``InvalidArgument`` for a bad name or a non-callable."""
    if not isinstance(name, str) or not _ACTION_NAME.fullmatch(name):
        raise InvalidArgument(
            "an action name is 1 to 100 letters, digits or _.:- (starting with a letter or digit)",
            details={"field": "name"},
        )
    if not callable(fn):
        raise InvalidArgument("a retraining action must be callable", details={"field": "fn"})
    with _lock:
        if name in _actions and not replace:
            raise AlreadyExists(f"a retraining action named {name!r} is registered already")
        _actions[name] = fn


def unregister_retraining_action(name: str) -> None:
    """Forget a registered action; ``NotFound`` when there is none of that name."""
    with _lock:
        if _actions.pop(name, None) is None:
            raise NotFound(f"no retraining action named {name!r}")


def registered_actions() -> frozenset[str]:
    with _lock:
        return frozenset(_actions)


def _tail(data: bytes | str | None) -> str:
    if data is None:
        return ""
    text = data.decode("utf-8", "replace") if isinstance(data, bytes) else data
    return text[-OUTPUT_TAIL:]


def _run_command(context: AlertContext, action: Mapping[str, Any]) -> tuple[str, dict[str, Any]]:
    # The command is an administrator's program running as the server: it inherits the
    # server's environment (PATH, credentials) plus the facts of the alert.
    env = dict(os.environ)
    env.update(
        MLSTEWARD_ALERT_ID=context.alert_id,
        MLSTEWARD_ALERT_RULE_ID=context.rule_id,
        MLSTEWARD_ALERT_RULE=context.rule_name,
        MLSTEWARD_ALERT_MONITOR_ID=context.monitor_id,
        MLSTEWARD_ALERT_PROJECT=context.project,
        MLSTEWARD_ALERT_METRIC=context.metric,
        MLSTEWARD_ALERT_VALUE="" if context.value is None else repr(context.value),
        MLSTEWARD_ALERT_SEVERITY=context.severity,
    )
    argv = list(action["argv"])
    timeout = int(action.get("timeout_seconds", 3600))
    try:
        done = subprocess.run(  # noqa: S603 - an argv list, no shell, set by an administrator
            argv,
            env=env,
            stdin=subprocess.DEVNULL,
            capture_output=True,
            timeout=timeout,
            check=False,
        )
    except subprocess.TimeoutExpired as exc:
        detail = {"error": f"timed out after {timeout} s", "stdout": _tail(exc.stdout)}
        return "timed_out", detail | {"stderr": _tail(exc.stderr)}
    except OSError as exc:
        return "failed", {"error": f"{type(exc).__name__}: {exc}"}
    stdout, stderr = _tail(done.stdout), _tail(done.stderr)
    log.info(
        "alert %s command %s exited %d\nstdout: %s\nstderr: %s",
        context.alert_id, argv[0], done.returncode, stdout, stderr,
    )  # fmt: skip
    status = "succeeded" if done.returncode == 0 else "failed"
    return status, {"returncode": done.returncode, "stdout": stdout, "stderr": stderr}


def _run_callable(
    context: AlertContext, action: Mapping[str, Any]
) -> tuple[str, dict[str, Any], ActionResult | None]:
    with _lock:
        fn = _actions.get(action["name"])
    if fn is None:
        error = f"no retraining action named {action['name']!r} is registered in this process"
        return "failed", {"error": error}, None
    try:
        result = fn(context)
    except Exception as exc:  # the action's failure is the alert's news, not the thread's end
        log.exception("alert %s action %s failed", context.alert_id, action["name"])
        return "failed", {"error": f"{type(exc).__name__}: {str(exc)[:500]}"}, None
    if result is not None and not isinstance(result, ActionResult):
        error = f"the action returned {type(result).__name__}, not ActionResult or None"
        return "failed", {"error": error}, None
    return "succeeded", {}, result


def run_alert_action(platform: Platform, context: AlertContext, action: Mapping[str, Any]) -> str:
    """Run the rule's action for this incident and record the outcome on the alert (audited,
    with lineage edges to what it produced); returns the status: ``succeeded``, ``failed``
    or ``timed_out``."""
    with platform.db.write() as conn:  # claim: the action runs once per incident
        claimed = conn.execute(
            update(alerts)
            .where(alerts.c.id == context.alert_id, alerts.c.action_status.is_(None))
            .values(action_status="running", action_detail={"kind": action["kind"]})
        ).rowcount
    if not claimed:
        return "skipped"
    result: ActionResult | None = None
    if action["kind"] == "command":
        status, detail = _run_command(context, action)
    else:
        status, detail, result = _run_callable(context, action)
    detail = {"kind": action["kind"], "finished_at": utcnow().isoformat(), **detail}
    with platform.db.write() as conn:
        if result is not None:
            detail["linked"], problems = _link(conn, context, result)
            if problems:
                detail["link_errors"] = problems
        conn.execute(
            update(alerts)
            .where(alerts.c.id == context.alert_id)
            .values(action_status=status, action_detail=detail)
        )
        platform.audit.record(
            conn, SYSTEM, "monitoring.alert.action", target_type="alert",
            target_id=context.alert_id, project_id=context.project_id,
            details={"status": status, "kind": action["kind"],
                     "linked": detail.get("linked", [])},
        )  # fmt: skip
    return status


def _link(
    conn: Connection, context: AlertContext, result: ActionResult
) -> tuple[list[str], list[str]]:
    from ..data._lineage import record_edge
    from ..data._lineage_nodes import LineageNodeRef
    from ..registry._tables import model_versions, registered_models
    from ..tracking._tables import runs

    found: list[LineageNodeRef] = []
    problems: list[str] = []
    checks = (
        ("run", result.run_id, select(runs.c.project_id).where(runs.c.id == result.run_id)),
        (
            "model_version",
            result.model_version_id,
            select(registered_models.c.project_id)
            .join(model_versions, model_versions.c.model_id == registered_models.c.id)
            .where(model_versions.c.id == result.model_version_id),
        ),
    )
    for node_type, node_id, query in checks:
        if node_id is None:
            continue
        if not isinstance(node_id, str) or not _ID.fullmatch(node_id):
            problems.append(f"{node_type} id {str(node_id)[:80]!r} is not 32 hex characters")
            continue
        project_id = conn.execute(query).scalar_one_or_none()
        if project_id != context.project_id:
            problems.append(f"no {node_type} {node_id} in project {context.project}")
            continue
        found.append(LineageNodeRef(node_type, node_id))
    if not found:
        return [], problems
    alert_node = _alert_node(conn, context)
    for node in found:
        record_edge(conn, SYSTEM, alert_node, node, "triggered", context.project_id)
    return [node.key for node in found], problems


def _alert_node(conn: Connection, context: AlertContext) -> Any:
    from sqlalchemy.dialects import postgresql, sqlite

    from ..data._lineage_nodes import LineageNodeRef
    from ..data._tables import lineage_nodes

    node = LineageNodeRef("alert", context.alert_id)
    values = {
        "label": f"alert {context.rule_name} ({context.severity})",
        "facets": {"rule_id": context.rule_id, "monitor_id": context.monitor_id,
                   "metric": context.metric},
        "updated_at": utcnow(),
    }  # fmt: skip
    dialect = postgresql if conn.dialect.name == "postgresql" else sqlite
    statement = dialect.insert(lineage_nodes).values(
        node_type=node.node_type, node_id=node.node_id, project_id=context.project_id, **values
    )
    conn.execute(
        statement.on_conflict_do_update(
            index_elements=[lineage_nodes.c.node_type, lineage_nodes.c.node_id], set_=values
        )
    )
    return node
