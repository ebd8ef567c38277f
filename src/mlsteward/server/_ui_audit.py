"""The Audit page: events filtered and paged newest first, and the state of the hash chain.

Verifying reads every event, so it runs when asked (``verify=1``), not on every page view.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Annotated
from urllib.parse import urlencode

from fastapi import APIRouter, Depends
from starlette.datastructures import QueryParams
from starlette.responses import Response

from ..errors import InvalidArgument, PermissionDenied, StewardError
from ..security import AuditEvent, AuditVerifyReport, list_audit_events, list_projects, verify_audit
from ._ui_render import UIRoute, render, status_for
from ._ui_session import Page, viewer

router = APIRouter(route_class=UIRoute, include_in_schema=False)
Viewer = Annotated[Page, Depends(viewer)]

PAGE_SIZE = 50
MAX_PAGE_SIZE = 500
_LIMITS = {"action": 100, "actor": 64, "project": 64, "target": 200}


@dataclass(frozen=True)
class AuditFilters:
    action: str = ""
    actor: str = ""
    project: str = ""
    target: str = ""

    @classmethod
    def from_query(cls, query: QueryParams) -> AuditFilters:
        values = {}
        for name, limit in _LIMITS.items():
            value = query.get(name, "").strip()
            if len(value) > limit:
                raise InvalidArgument(f"the {name} filter is longer than {limit} characters")
            values[name] = value
        return cls(**values)

    def link(self, **extra: int | str) -> str:
        params = {k: v for k, v in {**asdict(self), **extra}.items() if v not in ("", None)}
        return "/audit" + (f"?{urlencode(params)}" if params else "")


def _int_param(query: QueryParams, name: str, default: int | None, high: int) -> int | None:
    raw = query.get(name, "").strip()
    if not raw:
        return default
    if not raw.isdigit() or not 1 <= int(raw) <= high:
        raise InvalidArgument(f"{name} must be a whole number between 1 and {high}")
    return int(raw)


@router.get("/audit")
def audit_page(page: Viewer) -> Response:
    query = page.request.query_params
    filters = AuditFilters.from_query(query)
    before = _int_param(query, "before", None, 2**62)
    limit = _int_param(query, "limit", PAGE_SIZE, MAX_PAGE_SIZE) or PAGE_SIZE
    status, error = 200, None
    events: list[AuditEvent] = []
    try:
        events = list_audit_events(
            page.platform,
            page.actor,
            action=filters.action or None,
            actor_name=filters.actor or None,
            project=filters.project or None,
            target_id=filters.target or None,
            before_seq=before,
            limit=limit + 1,
        )
    except PermissionDenied as exc:
        status = 403
        error = (
            f"{exc.message}. Administrators see every event; a project's maintainers see its "
            "events when they filter by that project."
        )
    except StewardError as exc:
        status, error = status_for(exc), exc.message
    older = None
    if len(events) > limit:
        events = events[:limit]
        older = filters.link(before=events[-1].seq, limit=limit if limit != PAGE_SIZE else "")

    report: AuditVerifyReport | None = None
    verify_error = None
    if query.get("verify") == "1":
        try:
            report = verify_audit(page.platform, page.actor)
        except StewardError as exc:
            verify_error = exc.message
    project_names = {p.id: p.name for p in list_projects(page.platform, page.actor)}
    return render(
        page,
        "audit.html",
        active="audit",
        status=status,
        error=error,
        filters=filters,
        events=events,
        project_names=project_names,
        older=older,
        newest=filters.link() if before is not None else None,
        verify_link=filters.link(verify=1),
        report=report,
        verify_error=verify_error,
    )
