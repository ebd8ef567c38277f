"""Registry webhooks: subscriptions, hosts an administrator allowed, the outbox, the dispatcher.

A registry change writes one delivery row per matching subscription in its own transaction
(``emit_event``), so an event is sent exactly when its change committed. ``dispatch_due``
sends due deliveries, one attempt each, re-checking the target's addresses first (DNS may
have changed), and schedules failures again with exponential backoff; after
``MAX_ATTEMPTS`` a delivery is ``FAILED``. Replicas share the outbox: a delivery is claimed
with a conditional update before it is sent.
"""

from __future__ import annotations

import datetime as dt
import ipaddress
import re
import secrets
import uuid
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from sqlalchemy import Connection, delete, insert, select, update

from .._sealed_secrets import seal_secret, unseal_secret
from .._wire import canonical_json, iso
from ..errors import AlreadyExists, InvalidArgument, NotFound, PermissionDenied
from ..security import Actor, Role, fetch_project, require_admin, require_project_role
from ..store import utcnow
from ._tables import webhook_allowed_hosts, webhook_deliveries, webhooks
from ._webhook_delivery import check_target, deliver

if TYPE_CHECKING:
    from ..platform import Platform

EVENTS = frozenset(
    {
        "model_version.created",
        "alias.moved",
        "alias.deleted",
        "promotion.requested",
        "promotion.approved",
        "promotion.rejected",
    }
)
MAX_ATTEMPTS = 8
BASE_DELAY_SECONDS = 5.0
MAX_DELAY_SECONDS = 3600.0
MAX_WEBHOOKS_PER_PROJECT = 50
_SECRET_PREFIX = "whsec_"  # noqa: S105 - a prefix that marks the secret, not a secret
_HOST = re.compile(
    r"(?=.{1,253}$)[a-z0-9_]([a-z0-9_-]*[a-z0-9_])?(\.[a-z0-9_]([a-z0-9_-]*[a-z0-9_])?)*"
)
STALE_CLAIM = dt.timedelta(minutes=5)  # a sender that died mid-delivery: send it again


@dataclass(frozen=True)
class Webhook:
    id: str
    url: str
    events: tuple[str, ...]
    active: bool
    created_at: dt.datetime
    created_by: str

    def to_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "url": self.url,
            "events": list(self.events),
            "active": self.active,
            "created_at": iso(self.created_at),
            "created_by": self.created_by,
        }


@dataclass(frozen=True)
class CreatedWebhook:
    """A new subscription and its signing secret, shown this once."""

    webhook: Webhook
    secret: str

    def to_json(self) -> dict[str, Any]:
        return {**self.webhook.to_json(), "secret": self.secret}


@dataclass(frozen=True)
class WebhookDelivery:
    id: str
    webhook_id: str
    event: str
    status: str
    attempts: int
    last_status: int | None
    last_error: str | None
    next_attempt_at: dt.datetime

    def to_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "webhook_id": self.webhook_id,
            "event": self.event,
            "status": self.status,
            "attempts": self.attempts,
            "last_status": self.last_status,
            "last_error": self.last_error,
            "next_attempt_at": iso(self.next_attempt_at),
        }


def _seal(platform: Platform, webhook_id: str, secret: str) -> str:
    """The secret as stored: AES-GCM under the keyring's active master key (bound to the
    webhook id) when a keyring is configured, else base64 (say so in the docs)."""
    return seal_secret(platform.blobs.keyring, f"webhook:{webhook_id}", secret)


def _unseal(platform: Platform, webhook_id: str, stored: str) -> bytes:
    return unseal_secret(platform.blobs.keyring, f"webhook:{webhook_id}", stored)


def _webhook_from_row(row: Any) -> Webhook:
    return Webhook(
        row.id, row.url, tuple(row.events), bool(row.active), row.created_at, row.created_by
    )


def allowed_hosts(conn: Connection) -> set[str]:
    return set(conn.execute(select(webhook_allowed_hosts.c.host)).scalars())


def create_webhook(
    platform: Platform, actor: Actor, project: str, url: str, events: list[str] | None = None
) -> CreatedWebhook:
    """Subscribe ``url`` to the project's registry events (all, or ``events``; maintainers).

    The URL must pass the address guard now (and again before every delivery): private,
    loopback and link-local targets are refused unless an administrator allowed the host.
    The signing secret is returned once.
    """
    chosen = sorted(set(events)) if events is not None else sorted(EVENTS)
    unknown = [e for e in chosen if e not in EVENTS]
    if unknown or not chosen:
        raise InvalidArgument(
            f"unknown or no events {unknown}: choose from {', '.join(sorted(EVENTS))}"
        )
    with platform.db.read() as conn:
        hosts = allowed_hosts(conn)
    target = check_target(url, allowed_hosts=hosts)
    webhook_id = uuid.uuid4().hex
    secret = _SECRET_PREFIX + secrets.token_urlsafe(32)
    with platform.db.write() as conn:
        project_row = fetch_project(conn, project)
        require_project_role(conn, actor, project_row.id, Role.MAINTAINER)
        count = len(
            conn.execute(select(webhooks.c.id).where(webhooks.c.project_id == project_row.id)).all()
        )
        if count >= MAX_WEBHOOKS_PER_PROJECT:
            raise InvalidArgument(f"a project has at most {MAX_WEBHOOKS_PER_PROJECT} webhooks")
        now = utcnow()
        conn.execute(
            insert(webhooks).values(
                id=webhook_id,
                project_id=project_row.id,
                url=target.url,
                events=chosen,
                secret=_seal(platform, webhook_id, secret),
                active=1,
                created_at=now,
                created_by=actor.name,
            )
        )
        platform.audit.record(
            conn,
            actor,
            "registry.webhook.create",
            target_type="webhook",
            target_id=webhook_id,
            project_id=project_row.id,
            details={"url": target.url, "events": chosen},
        )
        row = conn.execute(select(webhooks).where(webhooks.c.id == webhook_id)).one()
    return CreatedWebhook(_webhook_from_row(row), secret)


def list_webhooks(platform: Platform, actor: Actor, project: str) -> list[Webhook]:
    """The project's webhook subscriptions, without their secrets (maintainers)."""
    with platform.db.read() as conn:
        project_row = fetch_project(conn, project)
        require_project_role(conn, actor, project_row.id, Role.MAINTAINER)
        rows = conn.execute(
            select(webhooks)
            .where(webhooks.c.project_id == project_row.id)
            .order_by(webhooks.c.created_at)
        ).all()
        return [_webhook_from_row(r) for r in rows]


def delete_webhook(platform: Platform, actor: Actor, project: str, webhook_id: str) -> None:
    """Remove a subscription and its pending deliveries (maintainers)."""
    with platform.db.write() as conn:
        project_row = fetch_project(conn, project)
        require_project_role(conn, actor, project_row.id, Role.MAINTAINER)
        removed = conn.execute(
            delete(webhooks).where(
                webhooks.c.id == webhook_id, webhooks.c.project_id == project_row.id
            )
        ).rowcount
        if not removed:
            raise NotFound("no such webhook in this project")
        conn.execute(
            delete(webhook_deliveries).where(webhook_deliveries.c.webhook_id == webhook_id)
        )
        platform.audit.record(
            conn,
            actor,
            "registry.webhook.delete",
            target_type="webhook",
            target_id=webhook_id,
            project_id=project_row.id,
        )


def list_deliveries(
    platform: Platform, actor: Actor, project: str, webhook_id: str, *, limit: int = 100
) -> list[WebhookDelivery]:
    """The newest deliveries of a subscription (maintainers)."""
    if not 1 <= limit <= 1000:
        raise InvalidArgument("limit must be 1 to 1000")
    with platform.db.read() as conn:
        project_row = fetch_project(conn, project)
        require_project_role(conn, actor, project_row.id, Role.MAINTAINER)
        owner = conn.execute(
            select(webhooks.c.id).where(
                webhooks.c.id == webhook_id, webhooks.c.project_id == project_row.id
            )
        ).first()
        if owner is None:
            raise NotFound("no such webhook in this project")
        rows = conn.execute(
            select(webhook_deliveries)
            .where(webhook_deliveries.c.webhook_id == webhook_id)
            .order_by(webhook_deliveries.c.created_at.desc())
            .limit(limit)
        ).all()
        return [
            WebhookDelivery(
                r.id,
                r.webhook_id,
                r.event,
                r.status,
                r.attempts,
                r.last_status,
                r.last_error,
                r.next_attempt_at,
            )
            for r in rows
        ]


def allow_webhook_host(platform: Platform, actor: Actor, host: str) -> None:
    """Let webhooks target ``host`` even when it resolves to a private, loopback or
    link-local address (administrators; audited)."""
    require_admin(actor)
    name = _host_name(host)
    with platform.db.write() as conn:
        if name in allowed_hosts(conn):
            raise AlreadyExists(f"{name} is allowed already")
        conn.execute(
            insert(webhook_allowed_hosts).values(host=name, added_at=utcnow(), added_by=actor.name)
        )
        platform.audit.record(
            conn, actor, "registry.webhook.allow_host", target_type="host", target_id=name
        )


def _host_name(host: object) -> str:
    """A host name or IP literal as the guard compares it: lowercase, no brackets or dot."""
    name = host.strip().lower().rstrip(".").strip("[]") if isinstance(host, str) else ""
    try:
        return str(ipaddress.ip_address(name))
    except ValueError:
        pass
    if not _HOST.fullmatch(name):
        raise InvalidArgument(f"{str(host)[:80]!r} is not a host name or IP address")
    return name


def disallow_webhook_host(platform: Platform, actor: Actor, host: str) -> None:
    """Take ``host`` off the allowed list (administrators; audited)."""
    require_admin(actor)
    name = _host_name(host)
    with platform.db.write() as conn:
        removed = conn.execute(
            delete(webhook_allowed_hosts).where(webhook_allowed_hosts.c.host == name)
        ).rowcount
        if not removed:
            raise NotFound(f"{name} is not an allowed host")
        platform.audit.record(
            conn, actor, "registry.webhook.disallow_host", target_type="host", target_id=name
        )


def list_allowed_hosts(platform: Platform, actor: Actor) -> list[str]:
    """Hosts webhooks may target despite the address guard (administrators)."""
    require_admin(actor)
    with platform.db.read() as conn:
        return sorted(allowed_hosts(conn))


def emit_event(conn: Connection, project_id: str, event: str, payload: dict[str, Any]) -> int:
    """Queue ``event`` for every active subscription of the project that wants it, in the
    caller's transaction; returns how many deliveries were queued."""
    if event not in EVENTS:
        raise ValueError(f"unknown webhook event {event!r}")
    now = utcnow()
    rows = conn.execute(
        select(webhooks.c.id, webhooks.c.events).where(
            webhooks.c.project_id == project_id, webhooks.c.active == 1
        )
    ).all()
    body = {"event": event, "occurred_at": iso(now), **payload}
    queued = [
        {
            "id": uuid.uuid4().hex,
            "webhook_id": row.id,
            "event": event,
            "payload": body,
            "status": "PENDING",
            "attempts": 0,
            "next_attempt_at": now,
            "created_at": now,
            "updated_at": now,
        }
        for row in rows
        if event in row.events
    ]
    if queued:
        conn.execute(insert(webhook_deliveries), queued)
    return len(queued)


def _backoff(attempts: int) -> dt.timedelta:
    seconds = min(MAX_DELAY_SECONDS, BASE_DELAY_SECONDS * 2 ** (attempts - 1))
    return dt.timedelta(seconds=seconds * (0.5 + secrets.randbelow(1000) / 2000))


def dispatch_due(platform: Platform, *, limit: int = 50, timeout: float = 10.0) -> int:
    """Send due deliveries once each (the dispatcher calls this every few seconds);
    returns how many were delivered."""
    now = utcnow()
    with platform.db.write() as conn:
        conn.execute(
            update(webhook_deliveries)
            .where(
                webhook_deliveries.c.status == "SENDING",
                webhook_deliveries.c.updated_at < now - STALE_CLAIM,
            )
            .values(status="PENDING", updated_at=now)
        )
    with platform.db.read() as conn:
        due = (
            conn.execute(
                select(webhook_deliveries.c.id)
                .where(
                    webhook_deliveries.c.status == "PENDING",
                    webhook_deliveries.c.next_attempt_at <= now,
                )
                .order_by(webhook_deliveries.c.next_attempt_at)
                .limit(limit)
            )
            .scalars()
            .all()
        )
    delivered = 0
    for delivery_id in due:
        delivered += _send_one(platform, delivery_id, timeout)
    return delivered


def _send_one(platform: Platform, delivery_id: str, timeout: float) -> int:
    with platform.db.write() as conn:  # claim: only one replica sends it
        claimed = conn.execute(
            update(webhook_deliveries)
            .where(webhook_deliveries.c.id == delivery_id, webhook_deliveries.c.status == "PENDING")
            .values(status="SENDING", updated_at=utcnow())
        ).rowcount
        if not claimed:
            return 0
        row = conn.execute(
            select(webhook_deliveries, webhooks.c.url, webhooks.c.secret)
            .join(webhooks, webhooks.c.id == webhook_deliveries.c.webhook_id)
            .where(webhook_deliveries.c.id == delivery_id)
        ).one()
        hosts = allowed_hosts(conn)
    attempts = row.attempts + 1
    status: int | None = None
    try:
        target = check_target(row.url, allowed_hosts=hosts)
        result = deliver(
            target,
            event=row.event,
            body=canonical_json(row.payload),
            secret=_unseal(platform, row.webhook_id, row.secret),
            delivery_id=row.id,
            attempts=1,
            timeout=timeout,
        )
        ok, status, error = result.delivered, result.status, result.error
    except (InvalidArgument, PermissionDenied) as exc:  # the target is no longer acceptable
        ok, error = False, exc.message
    state = "DELIVERED" if ok else ("FAILED" if attempts >= MAX_ATTEMPTS else "PENDING")
    with platform.db.write() as conn:
        conn.execute(
            update(webhook_deliveries)
            .where(webhook_deliveries.c.id == delivery_id)
            .values(
                status=state,
                attempts=attempts,
                last_status=status,
                last_error=None if ok else (error or "")[:500],
                next_attempt_at=utcnow() + _backoff(attempts),
                updated_at=utcnow(),
            )
        )
    return 1 if ok else 0
