"""``mlsteward tokens``: API tokens (shown once, stored only as hashes)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated

import typer

from ._output import emit_json, format_time, print_secret, print_success, print_table

if TYPE_CHECKING:
    from ..security import TokenInfo

tokens_app = typer.Typer(
    name="tokens", help="Create, list and revoke API tokens.", no_args_is_help=True
)

JsonOption = Annotated[bool, typer.Option("--json", help="Print JSON to stdout.")]
DEFAULT_EXPIRY_DAYS = 90


def _status(token: TokenInfo) -> str:
    if token.revoked_at is not None:
        return "revoked"
    return "active" if token.active else "expired"


@tokens_app.command("create")
def create(
    user: Annotated[str, typer.Option("--user", help="The user the token acts as.")],
    name: Annotated[str, typer.Option("--name", help="What the token is for, e.g. 'ci'.")],
    scope: Annotated[
        list[str] | None,
        typer.Option(
            "--scope",
            help="read, write, predict or admin (admin accounts only); repeat for several. "
            "Default: read and write.",
        ),
    ] = None,
    expires_days: Annotated[
        int, typer.Option("--expires-days", help="Days until the token expires (1-3650).")
    ] = DEFAULT_EXPIRY_DAYS,
    never_expires: Annotated[
        bool, typer.Option("--never-expires", help="No expiry date (prefer --expires-days).")
    ] = False,
    json_output: JsonOption = False,
) -> None:
    """Create an API token for a user; the secret is printed once and never stored."""
    from ..security import create_token
    from ._local import local_platform, operator

    scopes = scope if scope else ["read", "write"]
    with local_platform() as platform:
        created = create_token(
            platform,
            operator(),
            name,
            scopes,
            expires_in_days=None if never_expires else expires_days,
            username=user,
        )
    if json_output:
        emit_json({**created.info.to_json(), "token": created.secret})
        return
    info = created.info
    expiry = f"expires {format_time(info.expires_at)} UTC" if info.expires_at else "never expires"
    print_success(
        f"created token {info.id} {info.name!r} for {info.username!r} "
        f"(scopes: {', '.join(info.scopes)}; {expiry})"
    )
    print_secret("token for the 'Authorization: Bearer' header", created.secret)


@tokens_app.command("list")
def list_(
    user: Annotated[
        str | None, typer.Option("--user", help="Only this user's tokens (default: all).")
    ] = None,
    json_output: JsonOption = False,
) -> None:
    """List API tokens, newest first (never their secrets)."""
    from ..security import list_tokens
    from ._local import local_platform, operator

    with local_platform() as platform:
        tokens = list_tokens(platform, operator(), user)
    if json_output:
        emit_json([t.to_json() for t in tokens])
        return
    print_table(
        ["id", "name", "user", "scopes", "status", "created (UTC)", "expires", "last used"],
        [
            [
                t.id,
                t.name,
                t.username,
                ",".join(t.scopes),
                _status(t),
                format_time(t.created_at),
                format_time(t.expires_at) or "never",
                format_time(t.last_used_at) or "never",
            ]
            for t in tokens
        ],
        empty="no tokens",
    )


@tokens_app.command("revoke")
def revoke(token_id: Annotated[str, typer.Argument(help="Token id (see `tokens list`).")]) -> None:
    """Revoke a token at once. Revoking a revoked token changes nothing."""
    from ..security import revoke_token
    from ._local import local_platform, operator

    with local_platform() as platform:
        revoke_token(platform, operator(), token_id)
    print_success(f"token {token_id} is revoked")
