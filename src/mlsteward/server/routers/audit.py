"""The audit trail: list and filter events, verify the chain, sign checkpoints, export."""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Iterator
from typing import Annotated, Any

from fastapi import APIRouter, Query
from fastapi.responses import JSONResponse, StreamingResponse

from ...security import (
    AuditEvent,
    create_checkpoint,
    export_audit,
    list_audit_events,
    verify_audit,
)
from ._dependencies import GUARDS, Admin, Authenticated, PlatformDep

router = APIRouter(tags=["audit"], dependencies=GUARDS)

_EXPORT_BATCH = 256  # events per streamed chunk


@router.get(
    "/audit/events",
    summary="Audit events, newest first (administrators; a project's maintainers with project=)",
)
def audit_events(
    platform: PlatformDep,
    actor: Authenticated,  # the service decides: admin, or maintainer of ``project``
    action: str | None = None,
    actor_name: Annotated[str | None, Query(alias="actor")] = None,
    project: str | None = None,
    target: str | None = None,
    before_seq: int | None = None,
    after_seq: int | None = None,
    limit: int = 100,
) -> dict[str, Any]:
    events = list_audit_events(
        platform,
        actor,
        action=action,
        actor_name=actor_name,
        project=project,
        target_id=target,
        before_seq=before_seq,
        after_seq=after_seq,
        limit=limit,
    )
    more = len(events) == limit
    return {
        "events": [e.to_json() for e in events],
        "next_before_seq": events[-1].seq if events and more else None,
    }


@router.get("/audit/verify", summary="Recompute the hash chain and check signed checkpoints")
def audit_verify(platform: PlatformDep, actor: Admin) -> dict[str, Any]:
    return dataclasses.asdict(verify_audit(platform, actor))


@router.post("/audit/checkpoints", summary="Sign the head of the chain now")
def audit_checkpoint(platform: PlatformDep, actor: Admin) -> JSONResponse:
    checkpoint = create_checkpoint(platform, actor)
    if checkpoint is None:  # the chain is empty or its head is already signed
        return JSONResponse({"checkpoint": None})
    body = dataclasses.asdict(checkpoint)
    body["created_at"] = checkpoint.created_at.isoformat()
    return JSONResponse({"checkpoint": body}, status_code=201)


@router.get("/audit/export", summary="Every event in chain order, as JSON lines (streamed)")
def audit_export(platform: PlatformDep, actor: Admin) -> StreamingResponse:
    events = export_audit(platform, actor)  # checks permission now, before streaming starts
    return StreamingResponse(
        _json_lines(events),
        media_type="application/x-ndjson",
        headers={"Content-Disposition": 'attachment; filename="audit-events.jsonl"'},
    )


def _json_lines(events: Iterator[AuditEvent]) -> Iterator[bytes]:
    batch: list[str] = []
    for event in events:
        batch.append(json.dumps(event.to_json(), ensure_ascii=False, separators=(",", ":")))
        if len(batch) >= _EXPORT_BATCH:
            yield ("\n".join(batch) + "\n").encode()
            batch.clear()
    if batch:
        yield ("\n".join(batch) + "\n").encode()
