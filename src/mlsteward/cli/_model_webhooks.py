"""``mlsteward models webhook ...``: registry webhook subscriptions, their deliveries and the
hosts allowed past the address guard."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator, Sequence
from typing import TYPE_CHECKING, Annotated

import typer

from ._output import (
    emit_json,
    format_time,
    print_error,
    print_message,
    print_secret,
    print_success,
    print_table,
)

if TYPE_CHECKING:
    pass

from ._models import (
    HostArg,
    JsonOption,
    ProjectOption,
    WebhookArg,
    webhook_app,
)

# -- webhooks ------------------------------------------------------------------------------------


@contextlib.contextmanager
def _guard_hint() -> Iterator[None]:
    """A target the address guard refuses: the error, then the command that allows its host."""
    from ..errors import PermissionDenied

    try:
        yield
    except PermissionDenied as exc:
        host = exc.details.get("host")
        if not host or "reason" not in exc.details:
            raise
        print_error(exc)
        print_message(f"to allow it: mlsteward models webhook allow-host {host}")
        raise typer.Exit(1) from None


@webhook_app.command("add")
def webhook_add(
    url: Annotated[str, typer.Argument(help="The http:// or https:// URL events are POSTed to.")],
    event: Annotated[
        list[str] | None,
        typer.Option("--event", help="Only this event; repeat for several (default: all)."),
    ] = None,
    project: ProjectOption = "default",
    json_output: JsonOption = False,
) -> None:
    """Subscribe URL to the project's registry events; prints its signing secret once."""
    from ..registry._webhooks import create_webhook
    from ._local import local_platform, operator

    with _guard_hint(), local_platform() as platform:
        created = create_webhook(platform, operator(), project, url, event)
    hook = created.webhook
    if json_output:
        emit_json(created.to_json())
        print_message('the signing secret ("secret") is shown only this once; store it now')
        return
    print_success(
        f"webhook {hook.id} sends {len(hook.events)} event type(s) of {project!r} to {hook.url}"
    )
    print_secret("secret for the X-Mlsteward-Signature header", created.secret)


def _events_text(events: Sequence[str]) -> str:
    from ..registry._webhooks import EVENTS

    return "all" if set(events) == EVENTS else ", ".join(events)


@webhook_app.command("list")
def webhook_list(project: ProjectOption = "default", json_output: JsonOption = False) -> None:
    """The project's webhooks (never their secrets)."""
    from ..registry._webhooks import list_webhooks
    from ._local import local_platform, operator

    with local_platform() as platform:
        hooks = list_webhooks(platform, operator(), project)
    if json_output:
        emit_json([h.to_json() for h in hooks])
        return
    print_table(
        ["webhook", "url", "events", "active", "created (UTC)", "by"],
        [
            [
                h.id,
                h.url,
                _events_text(h.events),
                "yes" if h.active else "no",
                format_time(h.created_at),
                h.created_by,
            ]
            for h in hooks
        ],
        empty=f"no webhooks in {project!r}",
    )


@webhook_app.command("delete")
def webhook_delete(
    webhook_id: WebhookArg, project: ProjectOption = "default", json_output: JsonOption = False
) -> None:
    """Remove a webhook and its pending deliveries."""
    from ..registry._webhooks import delete_webhook
    from ._local import local_platform, operator

    with local_platform() as platform:
        delete_webhook(platform, operator(), project, webhook_id)
    if json_output:
        emit_json({"id": webhook_id, "deleted": True})
    else:
        print_success(f"deleted webhook {webhook_id} and its pending deliveries")


@webhook_app.command("deliveries")
def webhook_deliveries(
    webhook_id: WebhookArg,
    limit: Annotated[
        int, typer.Option("--limit", min=1, max=1000, help="Show the newest N (1 to 1000).")
    ] = 20,
    project: ProjectOption = "default",
    json_output: JsonOption = False,
) -> None:
    """A webhook's newest deliveries: status, attempts, the last HTTP status and error."""
    from ..registry._webhooks import list_deliveries
    from ._local import local_platform, operator

    with local_platform() as platform:
        found = list_deliveries(platform, operator(), project, webhook_id, limit=limit)
    if json_output:
        emit_json([d.to_json() for d in found])
        return
    print_table(
        ["delivery", "event", "status", "attempts", "last HTTP", "last error", "next try (UTC)"],
        [
            [
                d.id,
                d.event,
                d.status,
                d.attempts,
                d.last_status,
                d.last_error,
                format_time(d.next_attempt_at) if d.status == "PENDING" else "",
            ]
            for d in found
        ],
        empty=f"webhook {webhook_id} has no deliveries yet",
    )


@webhook_app.command("allow-host")
def webhook_allow_host(host: HostArg, json_output: JsonOption = False) -> None:
    """Let webhooks target HOST even at a private, loopback or link-local address."""
    from ..registry._webhooks import allow_webhook_host
    from ._local import local_platform, operator

    with local_platform() as platform:
        allow_webhook_host(platform, operator(), host)
    if json_output:
        emit_json({"host": host, "allowed": True})
    else:
        print_success(f"webhooks may target {host}, whatever addresses it resolves to")


@webhook_app.command("disallow-host")
def webhook_disallow_host(host: HostArg, json_output: JsonOption = False) -> None:
    """Put HOST back behind the address guard (its webhooks fail if it is not public)."""
    from ..registry._webhooks import disallow_webhook_host
    from ._local import local_platform, operator

    with local_platform() as platform:
        disallow_webhook_host(platform, operator(), host)
    if json_output:
        emit_json({"host": host, "allowed": False})
    else:
        print_success(f"{host} is behind the address guard again")


@webhook_app.command("allowed-hosts")
def webhook_allowed_hosts(json_output: JsonOption = False) -> None:
    """The hosts an administrator let past the address guard."""
    from ..registry._webhooks import list_allowed_hosts
    from ._local import local_platform, operator

    with local_platform() as platform:
        hosts = list_allowed_hosts(platform, operator())
    if json_output:
        emit_json(hosts)
        return
    print_table(["host"], [[h] for h in hosts], empty="no host is allowed past the address guard")
