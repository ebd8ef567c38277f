"""Registry webhooks end to end: subscriptions guarded by address class, events queued in the
registry change's transaction, delivered signed to a real local receiver, retried, audited."""

from __future__ import annotations

import http.server
import json
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import pytest
from sqlalchemy import update

from mlsteward.errors import AlreadyExists, InvalidArgument, NotFound, PermissionDenied
from mlsteward.platform import Platform
from mlsteward.registry import ModelFile, register_model_version, set_alias
from mlsteward.registry._tables import webhook_deliveries
from mlsteward.registry._webhook_delivery import verify_signature
from mlsteward.registry._webhooks import (
    MAX_ATTEMPTS,
    allow_webhook_host,
    create_webhook,
    delete_webhook,
    disallow_webhook_host,
    dispatch_due,
    list_allowed_hosts,
    list_deliveries,
    list_webhooks,
)
from mlsteward.security import SYSTEM, Actor, add_member, authenticate_password, create_user


@dataclass
class Receiver:
    url: str
    fail_first: int = 0
    requests: list[dict[str, Any]] = field(default_factory=list)


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    state = Receiver(url="")

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers["Content-Length"]))
            state.requests.append({"headers": dict(self.headers), "body": body})
            code = 503 if len(state.requests) <= state.fail_first else 200
            self.send_response(code)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, format: str, *args: Any) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    state.url = f"http://127.0.0.1:{server.server_address[1]}/hook"
    yield state
    server.shutdown()
    server.server_close()
    thread.join()


def version(platform: Platform) -> None:
    info = platform.blobs.put_bytes(b"weights")
    register_model_version(
        platform,
        SYSTEM,
        "default",
        "fraud",
        source_uri="runs:/abc/model",
        flavor="sklearn",
        files=[ModelFile("model.skops", info.address, info.size)],
    )


def secret_of(created: Any) -> bytes:
    return str(created.secret).encode()


def test_the_guard_refuses_private_targets_until_an_admin_allows_the_host(
    platform: Platform,
) -> None:
    for url in (
        "http://127.0.0.1:9/hook",
        "http://10.1.2.3/hook",
        "http://169.254.169.254/latest/meta-data",
        "http://[::1]/hook",
        "http://localhost/hook",
    ):
        with pytest.raises(PermissionDenied, match="allow"):
            create_webhook(platform, SYSTEM, "default", url)
    with pytest.raises(InvalidArgument):
        create_webhook(platform, SYSTEM, "default", "ftp://example.org/x")
    with pytest.raises(InvalidArgument):
        create_webhook(platform, SYSTEM, "default", "http://example.org/x", ["alias.exploded"])
    allow_webhook_host(platform, SYSTEM, "127.0.0.1")
    with pytest.raises(AlreadyExists):
        allow_webhook_host(platform, SYSTEM, "127.0.0.1")
    assert list_allowed_hosts(platform, SYSTEM) == ["127.0.0.1"]
    created = create_webhook(platform, SYSTEM, "default", "http://127.0.0.1:9/hook")
    assert created.secret.startswith("whsec_")
    assert "secret" not in list_webhooks(platform, SYSTEM, "default")[0].to_json()
    disallow_webhook_host(platform, SYSTEM, "127.0.0.1")
    with pytest.raises(NotFound):
        disallow_webhook_host(platform, SYSTEM, "127.0.0.1")
    for bad in ("", "a b", "http://x", "x" * 300):
        with pytest.raises(InvalidArgument):
            allow_webhook_host(platform, SYSTEM, bad)


def test_only_admins_allow_hosts_and_maintainers_subscribe(platform: Platform) -> None:
    create_user(platform, SYSTEM, "ed", "a-long-password-1")
    add_member(platform, SYSTEM, "default", "ed", "editor")
    ed: Actor = authenticate_password(platform, "ed", "a-long-password-1")
    with pytest.raises(PermissionDenied):
        allow_webhook_host(platform, ed, "hooks.example.org")
    with pytest.raises(PermissionDenied):
        list_webhooks(platform, ed, "default")


def test_events_are_delivered_signed_and_retried(platform: Platform, receiver: Receiver) -> None:
    allow_webhook_host(platform, SYSTEM, "127.0.0.1")
    created = create_webhook(platform, SYSTEM, "default", receiver.url, ["alias.moved"])
    version(platform)  # model_version.created: not subscribed
    set_alias(platform, SYSTEM, "default", "fraud", "production", 1)
    receiver.fail_first = 1
    assert dispatch_due(platform) == 0  # the receiver answered 503: retried later
    [pending] = list_deliveries(platform, SYSTEM, "default", created.webhook.id)
    assert (pending.status, pending.attempts, pending.last_status) == ("PENDING", 1, 503)
    with platform.db.write() as conn:  # its backoff has passed
        conn.execute(update(webhook_deliveries).values(next_attempt_at=_past()))
    assert dispatch_due(platform) == 1
    [done] = list_deliveries(platform, SYSTEM, "default", created.webhook.id)
    assert (done.status, done.attempts) == ("DELIVERED", 2)
    first, second = receiver.requests
    assert first["headers"]["X-Mlsteward-Delivery"] == second["headers"]["X-Mlsteward-Delivery"]
    assert second["headers"]["X-Mlsteward-Event"] == "alias.moved"
    assert verify_signature(
        secret_of(created),
        second["headers"]["X-Mlsteward-Signature"],
        second["body"],
        now=int(time.time()),
    )
    payload = json.loads(second["body"])
    assert (payload["event"], payload["model"], payload["alias"], payload["version"]) == (
        "alias.moved",
        "fraud",
        "production",
        1,
    )
    assert dispatch_due(platform) == 0  # nothing is sent twice


def test_a_delivery_gives_up_after_the_last_attempt(platform: Platform, receiver: Receiver) -> None:
    allow_webhook_host(platform, SYSTEM, "127.0.0.1")
    created = create_webhook(platform, SYSTEM, "default", receiver.url)
    receiver.fail_first = 1000
    version(platform)
    for _ in range(MAX_ATTEMPTS):
        with platform.db.write() as conn:
            conn.execute(update(webhook_deliveries).values(next_attempt_at=_past()))
        dispatch_due(platform)
    [failed] = list_deliveries(platform, SYSTEM, "default", created.webhook.id)
    assert (failed.status, failed.attempts) == ("FAILED", MAX_ATTEMPTS)
    assert len(receiver.requests) == MAX_ATTEMPTS


def test_a_host_no_longer_allowed_is_not_contacted(platform: Platform, receiver: Receiver) -> None:
    allow_webhook_host(platform, SYSTEM, "127.0.0.1")
    created = create_webhook(platform, SYSTEM, "default", receiver.url)
    version(platform)
    disallow_webhook_host(platform, SYSTEM, "127.0.0.1")
    assert dispatch_due(platform) == 0
    [pending] = list_deliveries(platform, SYSTEM, "default", created.webhook.id)
    assert "loopback" in (pending.last_error or "")
    assert receiver.requests == []
    delete_webhook(platform, SYSTEM, "default", created.webhook.id)
    with pytest.raises(NotFound):
        list_deliveries(platform, SYSTEM, "default", created.webhook.id)


def _past() -> Any:
    import datetime as dt

    return dt.datetime(2000, 1, 1, tzinfo=dt.UTC)
