"""Alert notifiers: a signed webhook, a Slack-compatible webhook, e-mail over SMTP, a log line.

Webhook and Slack deliveries go through the registry webhooks' guard and sender: the target
is checked against private addresses (with the administrators' allow-list) before every
attempt, and the request goes to the checked addresses only. A webhook body is signed with
HMAC-SHA256 like registry webhooks (``X-Mlsteward-Signature: t=<unix seconds>,v1=<hex>``).
Each attempt is reported to ``record(attempt, delivered, error)``; transient failures are
retried with exponential back-off and jitter, until :attr:`DeliveryOptions.cancelled` says the
platform is closing.

A message's ``reason`` is ``opened``, ``renotify`` or ``resolved``: a resolved incident is sent
once more to each notifier (``"state": "resolved"`` with the resolution in the payload, a
``[RESOLVED]`` summary in Slack and the mail subject) and never again.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import random
import smtplib
import ssl
import time
from collections.abc import Callable, Collection, Mapping, Sequence
from dataclasses import dataclass, field
from email.message import EmailMessage
from typing import TYPE_CHECKING, Any, Final

from .._wire import canonical_json, iso
from ..errors import InvalidArgument, PermissionDenied
from ..registry._webhook_delivery import check_target, deliver
from ._alert_specs import redact_url

if TYPE_CHECKING:
    from ..settings import Settings

__all__ = [
    "AlertMessage",
    "DeliveryOptions",
    "notifier_target",
    "send_email",
    "send_log",
    "send_slack",
    "send_webhook",
]

log = logging.getLogger("mlsteward.monitoring.alerts")

Record = Callable[[int, bool, str | None], None]
"""``record(attempt, delivered, error)`` after each attempt."""

SCHEMA_VERSION: Final = 1


@dataclass(frozen=True)
class AlertMessage:
    """The facts every notifier sends about an incident."""

    alert_id: str
    rule_id: str
    rule_name: str
    project: str
    monitor_id: str
    metric: str
    condition: str
    value: float | None
    baseline: float | None
    severity: str
    state: str
    reason: str  # opened | renotify | resolved
    window_start: dt.datetime
    window_end: dt.datetime
    opened_at: dt.datetime
    notify_count: int
    links: Mapping[str, str] = field(default_factory=dict)
    resolution: str | None = None  # auto | manual, for a resolved incident
    resolved_by: str | None = None
    resolved_at: dt.datetime | None = None

    def to_json(self) -> dict[str, Any]:
        return {
            "type": "mlsteward.alert",
            "schema_version": SCHEMA_VERSION,
            "event": f"alert.{self.reason}",
            "alert": {
                "id": self.alert_id,
                "state": self.state,
                "severity": self.severity,
                "opened_at": iso(self.opened_at),
                "notify_count": self.notify_count,
                "resolution": self.resolution,
                "resolved_by": self.resolved_by,
                "resolved_at": None if self.resolved_at is None else iso(self.resolved_at),
            },
            "rule": {"id": self.rule_id, "name": self.rule_name, "condition": self.condition},
            "project": self.project,
            "monitor_id": self.monitor_id,
            "metric": self.metric,
            "value": self.value,
            "baseline": self.baseline,
            "window": {"start": iso(self.window_start), "end": iso(self.window_end)},
            "links": dict(self.links),
        }

    def summary(self) -> str:
        """One line: ``[CRITICAL] recall-low firing: quality.recall = 0.71 (…)``; a resolved
        incident: ``[RESOLVED] [CRITICAL] recall-low resolved automatically: …``."""
        value = "missing" if self.value is None else f"{self.value:g}"
        if self.reason == "resolved":
            how = "automatically" if self.resolution == "auto" else f"by {self.resolved_by}"
            return (
                f"[RESOLVED] [{self.severity.upper()}] {self.rule_name} resolved {how}: "
                f"{self.metric} = {value} ({self.condition})"
            )
        again = " (reminder)" if self.reason == "renotify" else ""
        return (
            f"[{self.severity.upper()}] {self.rule_name} {self.state}{again}: "
            f"{self.metric} = {value} ({self.condition})"
        )

    def text(self) -> str:
        """The plain-text body of an e-mail: the same facts as the webhook payload."""
        lines = [
            self.summary(),
            "",
            f"Project:   {self.project}",
            f"Monitor:   {self.monitor_id}",
            f"Rule:      {self.rule_name} ({self.rule_id})",
            f"Condition: {self.condition}",
            f"Metric:    {self.metric}",
            f"Value:     {self.value}",
        ]
        if self.baseline is not None:
            lines.append(f"Baseline:  {self.baseline:g}")
        lines += [
            f"Window:    {iso(self.window_start)} to {iso(self.window_end)}",
            f"Severity:  {self.severity}",
            f"State:     {self.state}",
            f"Alert:     {self.alert_id} (opened {iso(self.opened_at)}, "
            f"notification {self.notify_count})",
        ]
        if self.resolved_at is not None:
            lines.append(
                f"Resolved:  {iso(self.resolved_at)} by {self.resolved_by} ({self.resolution})"
            )
        lines += [f"{name.capitalize()}: {link}" for name, link in sorted(self.links.items())]
        return "\n".join(lines) + "\n"


@dataclass(frozen=True)
class DeliveryOptions:
    """Retries and timeouts of one notification (``sleep`` injectable for tests)."""

    attempts: int = 5
    base_delay: float = 1.0
    max_delay: float = 60.0
    timeout: float = 10.0
    sleep: Callable[[float], None] = time.sleep
    cancelled: Callable[[], bool] = field(default=lambda: False)
    """True once the deliveries should stop: no further attempt after the one in flight."""

    def __post_init__(self) -> None:
        if self.attempts < 1 or self.base_delay < 0 or self.max_delay < 0 or self.timeout <= 0:
            raise InvalidArgument("attempts must be >= 1, delays >= 0 and timeout > 0")


Attempt = Callable[[int], tuple[bool, str | None, bool]]
"""One try: ``(delivered, error, worth retrying)``."""


def _retrying(options: DeliveryOptions, record: Record, attempt: Attempt) -> bool:
    for number in range(1, options.attempts + 1):
        try:
            ok, error, retryable = attempt(number)
        except Exception as exc:  # a notifier bug must not kill the delivery thread
            ok, error, retryable = False, f"{type(exc).__name__}: {str(exc)[:200]}", False
        record(number, ok, error)
        if ok or not retryable or number == options.attempts or options.cancelled():
            return ok
        ceiling = min(options.max_delay, options.base_delay * 2 ** (number - 1))
        options.sleep(random.uniform(0, ceiling))  # noqa: S311 (jitter, not a secret)
        if options.cancelled():
            return False
    return False


def delivery_id(message: AlertMessage, attempt: int) -> str:
    """The ``X-Mlsteward-Delivery`` of one attempt: unique per incident, round and attempt."""
    if message.reason == "resolved":
        return f"{message.alert_id}.resolved.{attempt}"
    return f"{message.alert_id}.{message.notify_count}.{attempt}"


def _post(
    url: str,
    body: bytes,
    secret: bytes | None,
    event: str,
    delivery_id: str,
    hosts: Collection[str],
    timeout: float,
) -> tuple[bool, str | None, bool]:
    try:
        target = check_target(url, allowed_hosts=hosts)
    except (InvalidArgument, PermissionDenied) as exc:  # refused now: retrying will not help
        return False, exc.message, False
    result = deliver(
        target,
        event=event,
        body=body,
        secret=secret,
        delivery_id=delivery_id,
        attempts=1,
        timeout=timeout,
    )
    status = result.status
    retryable = status is None or status in (408, 429) or status >= 500
    return result.delivered, result.error, retryable


def send_webhook(
    message: AlertMessage,
    url: str,
    secret: bytes,
    hosts: Collection[str],
    options: DeliveryOptions,
    record: Record,
) -> bool:
    """POST the signed JSON payload to ``url``; True when a 2xx answered."""
    body = canonical_json(message.to_json())
    event = f"alert.{message.reason}"

    def attempt(number: int) -> tuple[bool, str | None, bool]:
        delivery = delivery_id(message, number)
        return _post(url, body, secret, event, delivery, hosts, options.timeout)

    return _retrying(options, record, attempt)


def slack_payload(message: AlertMessage) -> dict[str, Any]:
    """The incoming-webhook payload: ``text`` for notifications, ``blocks`` for the channel."""
    facts = [
        f"*Project:* {message.project}",
        f"*Monitor:* {message.monitor_id}",
        f"*Metric:* {message.metric} = {message.value}",
        f"*Condition:* {message.condition}",
        f"*Window:* {iso(message.window_start)} to {iso(message.window_end)}",
    ]
    blocks: list[dict[str, Any]] = [
        {"type": "header", "text": {"type": "plain_text", "text": message.summary()[:150]}},
        {"type": "section", "fields": [{"type": "mrkdwn", "text": f} for f in facts]},
        {
            "type": "context",
            "elements": [
                {
                    "type": "mrkdwn",
                    "text": f"alert {message.alert_id} · {message.severity} · {message.state}",
                }
            ],
        },
    ]
    return {"text": message.summary(), "blocks": blocks}


def send_slack(
    message: AlertMessage,
    url: str,
    hosts: Collection[str],
    options: DeliveryOptions,
    record: Record,
) -> bool:
    """POST a Slack-compatible ``{"text", "blocks"}`` payload (unsigned) to ``url``."""
    body = json.dumps(slack_payload(message), ensure_ascii=False).encode()
    event = f"alert.{message.reason}"

    def attempt(number: int) -> tuple[bool, str | None, bool]:
        delivery = delivery_id(message, number)
        return _post(url, body, None, event, delivery, hosts, options.timeout)

    return _retrying(options, record, attempt)


def email_message(message: AlertMessage, sender: str, to: Sequence[str]) -> EmailMessage:
    mail = EmailMessage()
    summary = message.summary()
    if summary.startswith("[RESOLVED] "):  # the outcome first, where a mail client shows it
        subject = f"[RESOLVED] [mlsteward] {summary.removeprefix('[RESOLVED] ')}"
    else:
        subject = f"[mlsteward] {summary}"
    mail["Subject"] = subject[:250]
    mail["From"] = sender
    mail["To"] = ", ".join(to)
    mail["X-Mlsteward-Alert"] = message.alert_id
    mail.set_content(message.text())
    return mail


_PERMANENT_SMTP = (
    smtplib.SMTPRecipientsRefused,
    smtplib.SMTPSenderRefused,
    smtplib.SMTPAuthenticationError,
    smtplib.SMTPNotSupportedError,
)


def send_email(
    message: AlertMessage,
    to: Sequence[str],
    settings: Settings,
    options: DeliveryOptions,
    record: Record,
) -> bool:
    """Send a plain-text e-mail through the configured SMTP server (STARTTLS and login when
    configured)."""
    if not settings.smtp_host or not settings.smtp_from:
        record(1, False, "no SMTP server: set MLSTEWARD_SMTP_HOST and MLSTEWARD_SMTP_FROM")
        return False
    mail = email_message(message, settings.smtp_from, to)

    def attempt(number: int) -> tuple[bool, str | None, bool]:
        try:
            with smtplib.SMTP(
                settings.smtp_host, settings.smtp_port, timeout=settings.smtp_timeout_seconds
            ) as smtp:
                if settings.smtp_starttls:
                    smtp.starttls(context=ssl.create_default_context())
                if settings.smtp_user:
                    password = settings.smtp_password
                    smtp.login(
                        settings.smtp_user, "" if password is None else password.get_secret_value()
                    )
                smtp.send_message(mail)
        except _PERMANENT_SMTP as exc:
            return False, f"{type(exc).__name__}: {str(exc)[:300]}", False
        except (smtplib.SMTPException, OSError) as exc:
            return False, f"{type(exc).__name__}: {str(exc)[:300]}", True
        return True, None, False

    return _retrying(options, record, attempt)


def send_log(message: AlertMessage, record: Record) -> bool:
    """One structured line on the ``mlsteward.monitoring.alerts`` logger (warning level;
    error for critical alerts while they fire; warning when any incident resolves)."""
    critical = message.severity == "critical" and message.reason != "resolved"
    level = logging.ERROR if critical else logging.WARNING
    log.log(level, "alert %s", json.dumps(message.to_json(), sort_keys=True))
    record(1, True, None)
    return True


def notifier_target(stored: Mapping[str, Any]) -> str:
    """Where a notifier sends, as the delivery log shows it (no secrets)."""
    kind = stored.get("kind")
    if kind == "webhook":
        return str(stored.get("url", ""))[:300]
    if kind == "slack":
        return redact_url(str(stored.get("url", "")))[:300]
    if kind == "email":
        return ", ".join(stored.get("to", []))[:300]
    return "log"
