"""Alert notifiers against real receivers on 127.0.0.1: a webhook receiver checks the HMAC
signature and makes the sender retry, a Slack-shaped receiver, a local SMTP server (aiosmtpd)
gets the mail; the registry webhooks' address guard and allow-list apply to every delivery."""

from __future__ import annotations

import datetime as dt
import email
import http.server
import json
import logging
import shutil
import socket
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from email.message import Message
from pathlib import Path
from typing import Any

import pytest

from mlsteward.errors import InvalidArgument
from mlsteward.monitoring import (
    AlertDispatcher,
    DeliveryOptions,
    create_alert_rule,
    evaluate_rules_for_monitor,
    list_alert_notifications,
    list_alert_rules,
    list_alerts,
    resolve_alert,
)
from mlsteward.monitoring._alert_rules import MetricWindow
from mlsteward.platform import Platform
from mlsteward.registry._webhook_delivery import SIGNATURE_HEADER, verify_signature
from mlsteward.registry._webhooks import allow_webhook_host, disallow_webhook_host
from mlsteward.security import SYSTEM
from mlsteward.settings import Settings

from ._alert_support import ensure_monitor

MONITOR = "0123456789abcdef0123456789abcdef"
SECRET = "a-shared-secret-of-enough-length"
START = dt.datetime(2026, 11, 29, 12, 0, tzinfo=dt.UTC)


@dataclass
class Receiver:
    url: str = ""
    statuses: list[int] = field(default_factory=list)  # answers in turn, then 200
    requests: list[dict[str, Any]] = field(default_factory=list)
    gate: threading.Event | None = None  # when set, each request waits for it
    arrived: threading.Event = field(default_factory=threading.Event)  # a request came in


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    state = Receiver()

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers["Content-Length"]))
            state.arrived.set()
            if state.gate is not None:
                state.gate.wait(30)
            state.requests.append({"path": self.path, "headers": dict(self.headers), "body": body})
            code = state.statuses.pop(0) if state.statuses else 200
            self.send_response(code)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, format: str, *args: Any) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    state.url = f"http://127.0.0.1:{server.server_address[1]}/hooks/alerts"
    yield state
    server.shutdown()
    server.server_close()
    thread.join()


@dataclass
class Mailbox:
    port: int
    messages: list[tuple[str, list[str], Message]] = field(default_factory=list)
    logins: list[tuple[str, str]] = field(default_factory=list)


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@pytest.fixture
def mailbox() -> Iterator[Mailbox]:
    from aiosmtpd.controller import Controller
    from aiosmtpd.smtp import AuthResult, LoginPassword

    box = Mailbox(port=_free_port())

    class Handler:
        async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
            message = email.message_from_bytes(envelope.content)
            box.messages.append((envelope.mail_from, list(envelope.rcpt_tos), message))
            return "250 OK"

    def authenticate(server: Any, session: Any, envelope: Any, mechanism: str, data: Any) -> Any:
        if isinstance(data, LoginPassword):
            box.logins.append((data.login.decode(), data.password.decode()))
            accepted = data.password == b"mail-password"
            return AuthResult(success=accepted, handled=False)  # handled=False: reply 535
        return AuthResult(success=False, handled=False)

    controller = Controller(
        Handler(),
        hostname="127.0.0.1",
        port=box.port,
        authenticator=authenticate,
        auth_require_tls=False,  # a loopback test server without a certificate
    )
    controller.start()
    yield box
    controller.stop()


@pytest.fixture
def open_platform(
    make_settings: Callable[..., Settings], home: Path, migrated_sqlite_file: Path
) -> Iterator[Callable[..., Platform]]:
    opened: list[Platform] = []

    def build(**overrides: Any) -> Platform:
        shutil.copyfile(migrated_sqlite_file, home / "mlsteward.db")
        platform = Platform.open(make_settings(**overrides))
        opened.append(platform)
        return platform

    yield build
    for platform in opened:
        platform.close()


@pytest.fixture
def sender(platform: Platform) -> Iterator[AlertDispatcher]:
    dispatcher = AlertDispatcher(
        platform, options=DeliveryOptions(attempts=3, base_delay=0.01, max_delay=0.02, timeout=5)
    )
    yield dispatcher
    dispatcher.close()


def fire(platform: Platform, dispatcher: AlertDispatcher, value: float = 0.42) -> str:
    """One breached window for the monitor; the id of the incident it opened."""
    windows = [MetricWindow(START, START + dt.timedelta(hours=1), {"quality.recall": value})]
    (outcome,) = evaluate_rules_for_monitor(platform, MONITOR, windows, dispatcher=dispatcher)
    assert outcome.decision == "open"
    assert outcome.alert_id is not None
    assert dispatcher.wait_idle(30)
    return outcome.alert_id


def rule(platform: Platform, notifiers: list[dict[str, Any]], **extra: Any) -> Any:
    ensure_monitor(platform, MONITOR)
    return create_alert_rule(
        platform, SYSTEM, "default", monitor_id=MONITOR, name="recall low",
        metric="quality.recall", op="<", value=0.8, severity="critical",
        notifiers=notifiers, **extra,
    )  # fmt: skip


def attempts(platform: Platform, alert_id: str) -> list[tuple[str, int, str]]:
    log = list_alert_notifications(platform, SYSTEM, "default", alert_id)
    return [(n.notifier, n.attempt, n.status) for n in log]


def test_the_webhook_is_signed_and_retried_after_a_server_error(
    platform: Platform, sender: AlertDispatcher, receiver: Receiver
) -> None:
    allow_webhook_host(platform, SYSTEM, "127.0.0.1")
    rule(platform, [{"kind": "webhook", "url": receiver.url, "secret": SECRET}])
    receiver.statuses = [500]
    alert_id = fire(platform, sender)
    assert len(receiver.requests) == 2
    assert attempts(platform, alert_id) == [("webhook", 1, "failed"), ("webhook", 2, "delivered")]
    (first_error,) = [
        n.error for n in list_alert_notifications(platform, SYSTEM, "default", alert_id) if n.error
    ]
    assert "HTTP 500" in first_error
    request = receiver.requests[-1]
    headers = {k.lower(): v for k, v in request["headers"].items()}
    assert request["path"] == "/hooks/alerts"
    assert headers["x-mlsteward-event"] == "alert.opened"
    signature = headers[SIGNATURE_HEADER.lower()]
    assert verify_signature(SECRET.encode(), signature, request["body"], now=time.time())
    assert not verify_signature(
        b"another-secret-entirely", signature, request["body"], now=time.time()
    )
    payload = json.loads(request["body"])
    assert payload["type"] == "mlsteward.alert"
    assert payload["alert"]["id"] == alert_id
    assert (payload["alert"]["severity"], payload["alert"]["state"]) == ("critical", "firing")
    assert (payload["metric"], payload["value"]) == ("quality.recall", 0.42)
    assert payload["rule"]["condition"] == "quality.recall < 0.8"
    assert payload["window"] == {
        "start": "2026-11-29T12:00:00+00:00",
        "end": "2026-11-29T13:00:00+00:00",
    }
    assert payload["links"]["alert"] == f"/projects/default/alerts/{alert_id}"


def test_evaluation_does_not_wait_for_a_stuck_receiver(
    platform: Platform, sender: AlertDispatcher, receiver: Receiver
) -> None:
    allow_webhook_host(platform, SYSTEM, "127.0.0.1")
    rule(platform, [{"kind": "webhook", "url": receiver.url, "secret": SECRET}])
    receiver.gate = threading.Event()
    windows = [MetricWindow(START, START + dt.timedelta(hours=1), {"quality.recall": 0.1})]
    try:
        (outcome,) = evaluate_rules_for_monitor(platform, MONITOR, windows, dispatcher=sender)
        # Returned while the receiver still holds the request: nothing delivered yet.
        assert outcome.decision == "open"
        assert outcome.alert_id is not None
        assert attempts(platform, outcome.alert_id) == []
    finally:
        receiver.gate.set()
    assert sender.wait_idle(30)
    assert attempts(platform, outcome.alert_id) == [("webhook", 1, "delivered")]


def test_a_webhook_gives_up_after_its_attempts_and_a_client_error_is_not_retried(
    platform: Platform, sender: AlertDispatcher, receiver: Receiver
) -> None:
    allow_webhook_host(platform, SYSTEM, "127.0.0.1")
    rule(platform, [{"kind": "webhook", "url": receiver.url, "secret": SECRET}])
    receiver.statuses = [503, 503, 503, 503]
    alert_id = fire(platform, sender)
    assert [status for _, _, status in attempts(platform, alert_id)] == ["failed"] * 3
    assert len(receiver.requests) == 3
    (incident,) = list_alerts(platform, SYSTEM, "default")
    assert incident.notify_count == 1  # one round, three attempts: nothing storms


def test_a_client_error_ends_the_delivery(
    platform: Platform, sender: AlertDispatcher, receiver: Receiver
) -> None:
    allow_webhook_host(platform, SYSTEM, "127.0.0.1")
    rule(platform, [{"kind": "webhook", "url": receiver.url, "secret": SECRET}])
    receiver.statuses = [400]
    alert_id = fire(platform, sender)
    assert attempts(platform, alert_id) == [("webhook", 1, "failed")]


def test_a_host_no_longer_allowed_is_not_contacted(
    platform: Platform, sender: AlertDispatcher, receiver: Receiver
) -> None:
    allow_webhook_host(platform, SYSTEM, "127.0.0.1")
    rule(platform, [{"kind": "webhook", "url": receiver.url, "secret": SECRET}])
    disallow_webhook_host(platform, SYSTEM, "127.0.0.1")
    alert_id = fire(platform, sender)
    assert receiver.requests == []
    (entry,) = list_alert_notifications(platform, SYSTEM, "default", alert_id)
    assert entry.status == "failed"
    assert entry.error is not None
    assert "loopback" in entry.error


def test_slack_gets_text_and_blocks_unsigned_and_its_url_is_not_shown(
    platform: Platform, sender: AlertDispatcher, receiver: Receiver
) -> None:
    allow_webhook_host(platform, SYSTEM, "127.0.0.1")
    created = rule(platform, [{"kind": "slack", "url": receiver.url}, {"kind": "log"}])
    assert created.notifiers[0]["url"] == receiver.url.rsplit("/hooks", 1)[0] + "/…"
    listed = list_alert_rules(platform, SYSTEM, "default")[0].to_json()
    assert "hooks/alerts" not in json.dumps(listed)
    alert_id = fire(platform, sender)
    (request,) = receiver.requests
    assert SIGNATURE_HEADER.lower() not in {k.lower() for k in request["headers"]}
    payload = json.loads(request["body"])
    assert set(payload) == {"text", "blocks"}
    assert payload["text"].startswith("[CRITICAL] recall low firing: quality.recall = 0.42")
    assert [b["type"] for b in payload["blocks"]] == ["header", "section", "context"]
    assert any(alert_id in e["text"] for e in payload["blocks"][2]["elements"])
    assert attempts(platform, alert_id) == [("slack", 1, "delivered"), ("log", 1, "delivered")]
    log = list_alert_notifications(platform, SYSTEM, "default", alert_id)
    assert "hooks/alerts" not in log[0].target


def test_the_mail_reaches_a_local_smtp_server(
    open_platform: Callable[..., Platform], mailbox: Mailbox
) -> None:
    platform = open_platform(
        smtp_host="127.0.0.1",
        smtp_port=mailbox.port,
        smtp_from="alerts@example.com",
        smtp_user="mailer",
        smtp_password="mail-password",
    )
    rule(platform, [{"kind": "email", "to": ["oncall@example.com", "ml@example.com"]}])
    dispatcher = AlertDispatcher(platform, options=DeliveryOptions(attempts=2, base_delay=0.01))
    try:
        alert_id = fire(platform, dispatcher)
    finally:
        dispatcher.close()
    assert mailbox.logins == [("mailer", "mail-password")]
    ((sender, recipients, message),) = mailbox.messages
    assert sender == "alerts@example.com"
    assert recipients == ["oncall@example.com", "ml@example.com"]
    assert message["Subject"].startswith("[mlsteward] [CRITICAL] recall low firing")
    assert message["X-Mlsteward-Alert"] == alert_id
    body = message.get_payload(decode=True).decode()
    for fact in ("quality.recall < 0.8", "Value:     0.42", MONITOR, alert_id, "critical"):
        assert fact in body
    assert attempts(platform, alert_id) == [("email", 1, "delivered")]


def test_a_refused_smtp_login_is_recorded_and_not_retried(
    open_platform: Callable[..., Platform], mailbox: Mailbox
) -> None:
    platform = open_platform(
        smtp_host="127.0.0.1",
        smtp_port=mailbox.port,
        smtp_from="alerts@example.com",
        smtp_user="mailer",
        smtp_password="wrong",
    )
    rule(platform, [{"kind": "email", "to": ["oncall@example.com"]}])
    dispatcher = AlertDispatcher(platform, options=DeliveryOptions(attempts=3, base_delay=0.01))
    try:
        alert_id = fire(platform, dispatcher)
    finally:
        dispatcher.close()
    assert mailbox.messages == []
    (entry,) = list_alert_notifications(platform, SYSTEM, "default", alert_id)
    assert entry.status == "failed"
    assert "SMTPAuthenticationError" in (entry.error or "")


@pytest.mark.parametrize(
    "to",
    [[], "oncall@example.com", ["not an address"], ["a@example.com\r\nBcc: x@example.com"]],
    ids=["empty", "string", "malformed", "header-injection"],
)
def test_bad_recipients_are_refused(open_platform: Callable[..., Platform], to: Any) -> None:
    platform = open_platform(smtp_host="127.0.0.1", smtp_from="alerts@example.com")
    with pytest.raises(InvalidArgument) as caught:
        rule(platform, [{"kind": "email", "to": to}])
    assert caught.value.details["field"] == "notifiers[0].to"
    assert list_alert_rules(platform, SYSTEM, "default") == []


def test_delivery_options_are_checked() -> None:
    with pytest.raises(InvalidArgument):
        DeliveryOptions(attempts=0)


def test_with_a_keyring_the_secret_is_sealed_and_still_signs(
    open_platform: Callable[..., Platform], home: Path, receiver: Receiver
) -> None:
    from sqlalchemy import select

    from mlsteward.blobs import Keyring
    from mlsteward.monitoring._alert_tables import alert_rules

    key_file = home.parent / "keyring.json"
    Keyring.generate(key_file)
    platform = open_platform(master_key_file=key_file)
    allow_webhook_host(platform, SYSTEM, "127.0.0.1")
    rule(platform, [{"kind": "webhook", "url": receiver.url, "secret": SECRET}])
    with platform.db.read() as conn:
        stored = conn.execute(select(alert_rules.c.notifiers)).scalar_one()
    assert stored[0]["secret"].startswith("v1:")
    assert SECRET not in json.dumps(stored)
    dispatcher = AlertDispatcher(platform)
    try:
        fire(platform, dispatcher)
    finally:
        dispatcher.close()
    (request,) = receiver.requests
    headers = {k.lower(): v for k, v in request["headers"].items()}
    signature = headers[SIGNATURE_HEADER.lower()]
    assert verify_signature(SECRET.encode(), signature, request["body"], now=time.time())


# -- resolved -----------------------------------------------------------------------------------


def sent_reasons(platform: Platform, alert_id: str) -> list[tuple[str, str, str]]:
    log = list_alert_notifications(platform, SYSTEM, "default", alert_id)
    return [(n.notifier, n.reason, n.status) for n in log]


def signed_payload(request: dict[str, Any]) -> dict[str, Any]:
    headers = {k.lower(): v for k, v in request["headers"].items()}
    signature = headers[SIGNATURE_HEADER.lower()]
    assert verify_signature(SECRET.encode(), signature, request["body"], now=time.time())
    payload: dict[str, Any] = json.loads(request["body"])
    assert headers["x-mlsteward-event"] == payload["event"]
    return payload


def test_a_clear_window_sends_one_resolved_message_to_every_notifier(
    platform: Platform,
    sender: AlertDispatcher,
    receiver: Receiver,
    caplog: pytest.LogCaptureFixture,
) -> None:
    allow_webhook_host(platform, SYSTEM, "127.0.0.1")
    notifiers = [
        {"kind": "webhook", "url": receiver.url, "secret": SECRET},
        {"kind": "slack", "url": f"{receiver.url}/slack"},
        {"kind": "log"},
    ]
    rule(platform, notifiers)
    alert_id = fire(platform, sender)
    breached = MetricWindow(START, START + dt.timedelta(hours=1), {"quality.recall": 0.42})
    cleared = MetricWindow(
        START + dt.timedelta(hours=1), START + dt.timedelta(hours=2), {"quality.recall": 0.9}
    )
    with caplog.at_level(logging.WARNING, logger="mlsteward.monitoring.alerts"):
        (outcome,) = evaluate_rules_for_monitor(
            platform, MONITOR, [breached, cleared], dispatcher=sender
        )
        assert outcome.decision == "resolve"
        assert sender.wait_idle(30)
    assert sent_reasons(platform, alert_id) == [
        ("webhook", "opened", "delivered"),
        ("slack", "opened", "delivered"),
        ("log", "opened", "delivered"),
        ("webhook", "resolved", "delivered"),
        ("slack", "resolved", "delivered"),
        ("log", "resolved", "delivered"),
    ]
    opened, _, resolved, resolved_slack = receiver.requests
    assert signed_payload(opened)["alert"]["resolution"] is None
    payload = signed_payload(resolved)
    assert payload["event"] == "alert.resolved"
    assert payload["alert"]["id"] == alert_id
    assert payload["alert"]["state"] == "resolved"
    assert (payload["alert"]["resolution"], payload["alert"]["resolved_by"]) == ("auto", "system")
    assert payload["alert"]["resolved_at"] is not None
    assert (payload["value"], payload["metric"]) == (0.9, "quality.recall")
    assert payload["window"] == {
        "start": "2026-11-29T13:00:00+00:00",
        "end": "2026-11-29T14:00:00+00:00",
    }
    ids = {
        {k.lower(): v for k, v in r["headers"].items()}["x-mlsteward-delivery"]
        for r in receiver.requests
    }
    assert ids == {f"{alert_id}.1.1", f"{alert_id}.resolved.1"}  # not the opening round's
    text = json.loads(resolved_slack["body"])["text"]
    assert text.startswith(
        "[RESOLVED] [CRITICAL] recall low resolved automatically: quality.recall = 0.9"
    )
    (line,) = [r for r in caplog.records if "alert.resolved" in r.getMessage()]
    assert line.levelno == logging.WARNING
    assert '"state": "resolved"' in line.getMessage()

    # Nothing more for this incident: clear windows say nothing, a breach is a new incident.
    later = [
        breached,
        cleared,
        MetricWindow(cleared.window_end, cleared.window_end + dt.timedelta(hours=1),
                     {"quality.recall": 0.95}),
    ]  # fmt: skip
    (outcome,) = evaluate_rules_for_monitor(platform, MONITOR, later, dispatcher=sender)
    assert outcome.decision == "nothing"
    assert sender.wait_idle(30)
    assert len(sent_reasons(platform, alert_id)) == 6
    assert len(receiver.requests) == 4


def test_resolving_by_hand_sends_resolved_once_and_never_again(
    platform: Platform, sender: AlertDispatcher, receiver: Receiver
) -> None:
    allow_webhook_host(platform, SYSTEM, "127.0.0.1")
    hook = {"kind": "webhook", "url": receiver.url, "secret": SECRET}
    rule(platform, [hook], renotify_seconds=60)
    alert_id = fire(platform, sender)
    resolve_alert(platform, SYSTEM, "default", alert_id, dispatcher=sender)
    assert sender.wait_idle(30)
    assert sent_reasons(platform, alert_id) == [
        ("webhook", "opened", "delivered"),
        ("webhook", "resolved", "delivered"),
    ]
    payload = signed_payload(receiver.requests[-1])
    assert (payload["alert"]["state"], payload["alert"]["resolution"]) == ("resolved", "manual")
    assert payload["alert"]["resolved_by"] == "system"
    assert payload["value"] == 0.42  # the last value the incident saw
    assert payload["window"]["end"] == "2026-11-29T13:00:00+00:00"
    # Still breached later, past the re-notify interval: no reminder for a resolved incident.
    windows = [
        MetricWindow(START + dt.timedelta(hours=h), START + dt.timedelta(hours=h + 1),
                     {"quality.recall": 0.1})
        for h in range(3)
    ]  # fmt: skip
    (outcome,) = evaluate_rules_for_monitor(platform, MONITOR, windows, dispatcher=sender)
    assert outcome.decision == "nothing"
    assert sender.wait_idle(30)
    assert len(receiver.requests) == 2


def test_the_resolved_mail_says_so_in_its_subject(
    open_platform: Callable[..., Platform], mailbox: Mailbox
) -> None:
    platform = open_platform(
        smtp_host="127.0.0.1", smtp_port=mailbox.port, smtp_from="alerts@example.com"
    )
    rule(platform, [{"kind": "email", "to": ["oncall@example.com"]}])
    dispatcher = AlertDispatcher(platform, options=DeliveryOptions(attempts=2, base_delay=0.01))
    try:
        alert_id = fire(platform, dispatcher)
        resolve_alert(platform, SYSTEM, "default", alert_id, dispatcher=dispatcher)
        assert dispatcher.wait_idle(30)
    finally:
        dispatcher.close()
    (_, _, opened), (_, recipients, resolved) = mailbox.messages
    assert opened["Subject"].startswith("[mlsteward] [CRITICAL] recall low firing")
    assert "".join(resolved["Subject"].splitlines()).startswith(  # unfolded
        "[RESOLVED] [mlsteward] [CRITICAL] recall low resolved by system: quality.recall = 0.42"
    )
    assert recipients == ["oncall@example.com"]
    body = resolved.get_payload(decode=True).decode()
    assert "State:     resolved" in body
    assert "by system (manual)" in body
    assert sent_reasons(platform, alert_id) == [
        ("email", "opened", "delivered"),
        ("email", "resolved", "delivered"),
    ]
