"""Registry webhooks: subscriptions (maintainers), their deliveries, the hosts administrators
allow despite the address guard. The lifespan runs the dispatcher that sends queued events."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator
from typing import Annotated, Any

import anyio.to_thread
from fastapi import APIRouter, Depends, FastAPI, Response
from fastapi.responses import JSONResponse

from ...platform import Platform
from ...registry._webhooks import (
    allow_webhook_host,
    create_webhook,
    delete_webhook,
    disallow_webhook_host,
    dispatch_due,
    list_allowed_hosts,
    list_deliveries,
    list_webhooks,
)
from ...security import Actor
from .._auth import Requires
from ._dependencies import GUARDS, Admin, PlatformDep, RequestBody, listing

log = logging.getLogger("mlsteward.server")

DISPATCH_INTERVAL_SECONDS = 2.0

ProjectMaintainer = Annotated[Actor, Depends(Requires("project:maintainer"))]


@contextlib.asynccontextmanager
async def _dispatcher(app: FastAPI) -> AsyncIterator[None]:
    """Every ~2 s, send the webhook deliveries that are due (each replica may: deliveries are
    claimed before they are sent)."""
    platform: Platform = app.state.platform
    task = asyncio.create_task(_dispatch_forever(platform))
    try:
        yield
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task


async def _dispatch_forever(platform: Platform) -> None:
    while True:
        try:
            sent = await anyio.to_thread.run_sync(lambda: dispatch_due(platform))
            if sent:
                log.info("delivered %d webhook events", sent)
        except Exception:  # a database hiccup must not end the dispatcher
            log.exception("webhook dispatch failed")
        await asyncio.sleep(DISPATCH_INTERVAL_SECONDS)


router = APIRouter(tags=["webhooks"], dependencies=GUARDS, lifespan=_dispatcher)


class WebhookCreate(RequestBody):
    url: str
    events: list[str] | None = None


class AllowedHost(RequestBody):
    host: str


@router.get("/projects/{project}/webhooks", summary="A project's webhook subscriptions")
def webhooks_list(project: str, platform: PlatformDep, actor: ProjectMaintainer) -> JSONResponse:
    return listing("webhooks", list_webhooks(platform, actor, project))


@router.post(
    "/projects/{project}/webhooks",
    status_code=201,
    summary="Subscribe a URL to registry events (the signing secret is shown once)",
)
def webhooks_create(
    project: str, body: WebhookCreate, platform: PlatformDep, actor: ProjectMaintainer
) -> dict[str, Any]:
    return create_webhook(platform, actor, project, body.url, body.events).to_json()


@router.delete("/projects/{project}/webhooks/{webhook_id}", status_code=204, summary="Unsubscribe")
def webhooks_delete(
    project: str, webhook_id: str, platform: PlatformDep, actor: ProjectMaintainer
) -> Response:
    delete_webhook(platform, actor, project, webhook_id)
    return Response(status_code=204)


@router.get(
    "/projects/{project}/webhooks/{webhook_id}/deliveries",
    summary="The newest deliveries of a subscription",
)
def webhooks_deliveries(
    project: str,
    webhook_id: str,
    platform: PlatformDep,
    actor: ProjectMaintainer,
    limit: int = 100,
) -> JSONResponse:
    found = list_deliveries(platform, actor, project, webhook_id, limit=limit)
    return listing("deliveries", found)


@router.get("/webhook-allowed-hosts", summary="Hosts webhooks may target despite the guard")
def allowed_hosts_list(platform: PlatformDep, actor: Admin) -> dict[str, Any]:
    return {"hosts": list_allowed_hosts(platform, actor)}


@router.post(
    "/webhook-allowed-hosts",
    status_code=204,
    summary="Allow webhooks to a private, loopback or link-local host (administrators)",
)
def allowed_hosts_add(body: AllowedHost, platform: PlatformDep, actor: Admin) -> Response:
    allow_webhook_host(platform, actor, body.host)
    return Response(status_code=204)


@router.delete("/webhook-allowed-hosts/{host}", status_code=204, summary="Take a host off the list")
def allowed_hosts_delete(host: str, platform: PlatformDep, actor: Admin) -> Response:
    disallow_webhook_host(platform, actor, host)
    return Response(status_code=204)
