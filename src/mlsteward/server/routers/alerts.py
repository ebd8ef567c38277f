"""Alerts: the rules on a monitor's metrics (named per monitor; maintainers write, enable and
disable them, viewers read) and the incidents they open: list, read, acknowledge, resolve
(maintainers), and each incident's notification delivery log, and the links (maintainers) that
record in the lineage graph what was done about an incident. Responses never carry a webhook
secret or a Slack webhook's path (the services' ``to_json``)."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Response
from fastapi.responses import JSONResponse

from ...monitoring import (
    acknowledge_alert,
    create_alert_rule,
    delete_alert_rule,
    get_alert,
    link_alert,
    list_alert_notifications,
    list_alert_rules,
    list_alerts,
    resolve_alert,
    update_alert_rule,
)
from ...monitoring._alerts import MAX_LISTED
from ...security import Actor
from .._auth import Requires
from ._dependencies import (
    GUARDS,
    FastJSONResponse,
    PlatformDep,
    ProjectViewer,
    RequestBody,
    listing,
)

ProjectMaintainer = Annotated[Actor, Depends(Requires("project:maintainer"))]

_RULES = "/projects/{project}/monitors/{monitor}/alert-rules"
_ALERTS = "/projects/{project}/alerts"

router = APIRouter(tags=["alerts"], dependencies=GUARDS)


class AlertRuleCreate(RequestBody):
    name: str
    metric: str
    value: float
    kind: str = "threshold"
    op: str = ">"
    windows: int = 1
    relative: bool = False
    severity: str = "warning"
    renotify_seconds: int = 3600
    auto_resolve: bool = True
    notifiers: list[dict[str, Any]] = []
    action: dict[str, Any] | None = None
    enabled: bool = True


@router.post(_RULES, status_code=201, summary="Add an alert rule on a metric of the monitor")
def alert_rules_create(
    project: str,
    monitor: str,
    body: AlertRuleCreate,
    platform: PlatformDep,
    actor: ProjectMaintainer,
) -> JSONResponse:
    rule = create_alert_rule(platform, actor, project, monitor=monitor, **body.model_dump())
    return FastJSONResponse(rule.to_json(), status_code=201)


@router.get(_RULES, summary="The monitor's alert rules, by creation time")
def alert_rules_list(
    project: str, monitor: str, platform: PlatformDep, actor: ProjectViewer
) -> JSONResponse:
    return listing("rules", list_alert_rules(platform, actor, project, monitor=monitor))


class AlertRuleUpdate(RequestBody):
    enabled: bool


@router.patch(
    _RULES + "/{rule}",
    summary="Enable or disable the monitor's rule of that name (a disabled rule is not judged)",
)
def alert_rules_update(
    project: str,
    monitor: str,
    rule: str,
    body: AlertRuleUpdate,
    platform: PlatformDep,
    actor: ProjectMaintainer,
) -> JSONResponse:
    changed = update_alert_rule(
        platform, actor, project, monitor=monitor, name=rule, enabled=body.enabled
    )
    return FastJSONResponse(changed.to_json())


@router.delete(
    _RULES + "/{rule}",
    status_code=204,
    summary="Delete the monitor's rule of that name, its incidents and their delivery log",
)
def alert_rules_delete(
    project: str, monitor: str, rule: str, platform: PlatformDep, actor: ProjectMaintainer
) -> Response:
    delete_alert_rule(platform, actor, project, monitor=monitor, name=rule)
    return Response(status_code=204)


class AlertLinkCreate(RequestBody):
    node: str
    relation: str = "promoted"


@router.get(_ALERTS, summary="The project's incidents, newest first")
def alerts_list(
    project: str,
    platform: PlatformDep,
    actor: ProjectViewer,
    monitor: Annotated[str | None, Query(description="Only this monitor's (its name)")] = None,
    rule: Annotated[str | None, Query(description="Only this rule's (its id)")] = None,
    state: Annotated[
        str | None, Query(description="firing, acknowledged, resolved or open (the first two)")
    ] = None,
    limit: Annotated[int, Query(ge=1, le=MAX_LISTED)] = 100,
) -> JSONResponse:
    found = list_alerts(
        platform, actor, project, monitor=monitor, rule_id=rule, state=state, limit=limit
    )
    return listing("alerts", found)


@router.get(_ALERTS + "/{alert_id}", summary="An incident")
def alerts_get(
    project: str, alert_id: str, platform: PlatformDep, actor: ProjectViewer
) -> JSONResponse:
    return FastJSONResponse(get_alert(platform, actor, project, alert_id).to_json())


@router.post(
    _ALERTS + "/{alert_id}/acknowledge",
    summary="Acknowledge a firing incident: it is not sent again until it resolves",
)
def alerts_acknowledge(
    project: str, alert_id: str, platform: PlatformDep, actor: ProjectMaintainer
) -> JSONResponse:
    return FastJSONResponse(acknowledge_alert(platform, actor, project, alert_id).to_json())


@router.post(_ALERTS + "/{alert_id}/resolve", summary="Resolve an incident by hand")
def alerts_resolve(
    project: str, alert_id: str, platform: PlatformDep, actor: ProjectMaintainer
) -> JSONResponse:
    return FastJSONResponse(resolve_alert(platform, actor, project, alert_id).to_json())


@router.get(
    _ALERTS + "/{alert_id}/notifications",
    summary="Every delivery attempt for an incident, oldest first",
)
def alerts_notifications(
    project: str, alert_id: str, platform: PlatformDep, actor: ProjectViewer
) -> JSONResponse:
    return listing("notifications", list_alert_notifications(platform, actor, project, alert_id))


@router.post(
    _ALERTS + "/{alert_id}/links",
    status_code=201,
    summary="Link an incident in the lineage graph to the node it promoted or triggered",
)
def alerts_link(
    project: str,
    alert_id: str,
    body: AlertLinkCreate,
    platform: PlatformDep,
    actor: ProjectMaintainer,
) -> JSONResponse:
    link = link_alert(platform, actor, project, alert_id, body.node, relation=body.relation)
    return FastJSONResponse(link.to_json(), status_code=201)
