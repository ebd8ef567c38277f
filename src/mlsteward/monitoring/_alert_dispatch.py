"""Sending alert notifications and running alert actions off the evaluation path.

:class:`AlertDispatcher` holds two bounded queues, each drained by one daemon thread started on
first use: notifications (every attempt logged in ``alert_notifications``) and actions (which
may run for hours, so they never hold up a notification). A full queue drops the job and
says so in the log and the delivery log rather than blocking the monitor that evaluated.

Closing (:meth:`AlertDispatcher.close`, run by ``Platform.close()`` for the platform's shared
dispatcher) lets the queued jobs finish within a timeout, then stops: retries end, the jobs not
started are recorded as not sent (a notification) or logged (an action), and the threads end
once the attempt in flight returns.
"""

from __future__ import annotations

import logging
import queue
import threading
import time
import uuid
import weakref
from collections.abc import Mapping
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any, Final

from sqlalchemy import insert

from .._sealed_secrets import unseal_secret
from ..errors import StewardError
from ..store import utcnow
from ._alert_actions import AlertContext, run_alert_action
from ._alert_specs import secret_context
from ._alert_tables import alert_notifications
from ._notifiers import (
    AlertMessage,
    DeliveryOptions,
    Record,
    notifier_target,
    send_email,
    send_log,
    send_slack,
    send_webhook,
)

if TYPE_CHECKING:
    from ..platform import Platform

__all__ = [
    "ActionJob",
    "AlertDispatcher",
    "NotificationJob",
    "deliver_notifications",
    "dispatcher_for",
]

log = logging.getLogger("mlsteward.monitoring.alerts")

DEFAULT_QUEUE: Final = 1_000
CLOSE_TIMEOUT: Final = 10.0
NOT_SENT: Final = "not sent: the platform closed before this notification was delivered"


@dataclass(frozen=True)
class NotificationJob:
    """One notification round of an incident: the message and the rule's notifiers as
    stored (webhook secrets sealed)."""

    message: AlertMessage
    notifiers: tuple[Mapping[str, Any], ...]


@dataclass(frozen=True)
class ActionJob:
    context: AlertContext
    action: Mapping[str, Any]


def _recorder(platform: Platform, alert_id: str, stored: Mapping[str, Any], reason: str) -> Record:
    def record(attempt: int, delivered: bool, error: str | None) -> None:
        with platform.db.write() as conn:
            conn.execute(
                insert(alert_notifications).values(
                    id=uuid.uuid4().hex,
                    alert_id=alert_id,
                    notifier=str(stored.get("kind")),
                    target=notifier_target(stored),
                    reason=reason,
                    attempt=attempt,
                    status="delivered" if delivered else "failed",
                    error=None if error is None else error[:1000],
                    at=utcnow(),
                )
            )

    return record


def deliver_notifications(
    platform: Platform, job: NotificationJob, options: DeliveryOptions
) -> int:
    """Send ``job`` through each of its notifiers (in turn; one failing does not stop the
    others); returns how many delivered."""
    from ..registry._webhooks import allowed_hosts

    with platform.db.read() as conn:
        hosts = allowed_hosts(conn)
    message = job.message
    delivered = 0
    for index, stored in enumerate(job.notifiers):
        record = _recorder(platform, message.alert_id, stored, message.reason)
        if options.cancelled():
            record(0, False, NOT_SENT)
            continue
        kind = stored.get("kind")
        try:
            if kind == "webhook":
                secret = unseal_secret(
                    platform.blobs.keyring,
                    secret_context(message.rule_id, index),
                    str(stored["secret"]),
                    what="alert webhook secrets",
                )
                ok = send_webhook(message, str(stored["url"]), secret, hosts, options, record)
            elif kind == "slack":
                ok = send_slack(message, str(stored["url"]), hosts, options, record)
            elif kind == "email":
                ok = send_email(message, list(stored["to"]), platform.settings, options, record)
            else:
                ok = send_log(message, record)
        except StewardError as exc:
            record(1, False, exc.message)
            ok = False
        delivered += ok
    return delivered


class AlertDispatcher:
    """Background delivery of notifications and actions for one platform."""

    def __init__(
        self,
        platform: Platform,
        *,
        options: DeliveryOptions | None = None,
        max_queue: int = DEFAULT_QUEUE,
    ) -> None:
        self.platform = platform
        self._stop = threading.Event()
        given = options or DeliveryOptions()
        # Closing wakes a back-off sleep and ends the retries (an injected sleep is kept).
        sleep = self._pause if given.sleep is time.sleep else given.sleep
        self.options = replace(given, sleep=sleep, cancelled=self._stop.is_set)
        self._queues: dict[str, queue.Queue[Any]] = {
            "notify": queue.Queue(max_queue),
            "act": queue.Queue(max_queue),
        }
        self._threads: dict[str, threading.Thread] = {}
        self._pending = 0
        self._idle = threading.Condition()
        self._closed = False

    def notify(self, job: NotificationJob) -> bool:
        """Queue a notification round; False (recorded as failed) when the queue is full."""
        if self._submit("notify", job):
            return True
        for stored in job.notifiers:
            record = _recorder(self.platform, job.message.alert_id, stored, job.message.reason)
            record(0, False, "dropped: the notification queue is full")
        return False

    def act(self, job: ActionJob) -> bool:
        """Queue an incident's action; False when the queue is full (logged)."""
        return self._submit("act", job)

    def _submit(self, lane: str, job: Any) -> bool:
        with self._idle:
            if self._closed:
                raise RuntimeError("the alert dispatcher is closed")
            try:
                self._queues[lane].put_nowait(job)
            except queue.Full:
                log.warning("alert %s queue is full: a job was dropped", lane)
                return False
            self._pending += 1
            if lane not in self._threads:
                thread = threading.Thread(
                    target=self._work, args=(lane,), name=f"mlsteward-alert-{lane}", daemon=True
                )
                self._threads[lane] = thread
                thread.start()
        return True

    def _pause(self, seconds: float) -> None:
        self._stop.wait(seconds)

    def _skip(self, job: Any) -> None:
        """Record a job that will not run because the dispatcher closed."""
        if isinstance(job, NotificationJob):
            for stored in job.notifiers:
                record = _recorder(self.platform, job.message.alert_id, stored, job.message.reason)
                record(0, False, NOT_SENT)
        else:
            log.warning(
                "alert %s: its action did not run: the platform closed first", job.context.alert_id
            )

    def _work(self, lane: str) -> None:
        jobs = self._queues[lane]
        while True:
            job = jobs.get()
            if job is None:
                return
            try:
                if self._stop.is_set():
                    self._skip(job)
                elif isinstance(job, NotificationJob):
                    deliver_notifications(self.platform, job, self.options)
                else:
                    run_alert_action(self.platform, job.context, job.action)
            except Exception:  # keep the thread alive for the next job
                log.exception("alert %s job failed", lane)
            finally:
                with self._idle:
                    self._pending -= 1
                    self._idle.notify_all()

    def wait_idle(self, timeout: float = 30.0) -> bool:
        """Wait until every queued job finished; False when ``timeout`` seconds passed first."""
        with self._idle:
            return self._idle.wait_for(lambda: self._pending == 0, timeout)

    @property
    def threads(self) -> tuple[threading.Thread, ...]:
        """The delivery threads started so far (at most one per lane)."""
        with self._idle:
            return tuple(self._threads.values())

    def close(self, timeout: float = CLOSE_TIMEOUT) -> None:
        """Stop taking jobs, give the queued ones up to ``timeout`` seconds to finish, then
        stop: no more retries, each job not started is recorded as not sent (a notification;
        an action is logged), and each thread ends once its attempt in flight returns (waited
        for up to the delivery timeout and a second; a thread still busy then, like a long
        action, is left to finish alone and logged). Closing again does nothing."""
        with self._idle:
            if self._closed:
                return
            self._closed = True
            threads = dict(self._threads)
            self._idle.wait_for(lambda: self._pending == 0, max(timeout, 0))
        self._stop.set()
        for lane in threads:
            jobs = self._queues[lane]
            while True:
                try:
                    job = jobs.get_nowait()
                except queue.Empty:
                    break
                try:
                    self._skip(job)
                except Exception:  # the other jobs are still recorded and the threads stopped
                    log.exception("alert %s job could not be recorded as not sent", lane)
                with self._idle:
                    self._pending -= 1
                    self._idle.notify_all()
            jobs.put(None)
        smtp = self.platform.settings.smtp_timeout_seconds
        for thread in threads.values():
            thread.join(max(self.options.timeout, smtp) + 1)
            if thread.is_alive():
                log.warning("%s still has a job in flight after closing", thread.name)


_dispatchers: weakref.WeakKeyDictionary[Platform, AlertDispatcher] = weakref.WeakKeyDictionary()
_dispatchers_lock = threading.Lock()


def dispatcher_for(platform: Platform) -> AlertDispatcher:
    """The platform's shared dispatcher (created on first use; closed by
    ``Platform.close()``)."""
    with _dispatchers_lock:
        found = _dispatchers.get(platform)
        if found is None or found._closed:
            found = _dispatchers[platform] = AlertDispatcher(platform)
            platform.on_close(found.close)
        return found
