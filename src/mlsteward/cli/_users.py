"""``mlsteward users``: administrators, users, passwords, disabling."""

from __future__ import annotations

import sys
from typing import TYPE_CHECKING, Annotated

import typer

from ._output import (
    emit_json,
    format_time,
    print_message,
    print_secret,
    print_success,
    print_table,
)

if TYPE_CHECKING:
    from ..security import User

users_app = typer.Typer(name="users", help="Manage users and administrators.", no_args_is_help=True)

JsonOption = Annotated[bool, typer.Option("--json", help="Print JSON to stdout.")]
UsernameArg = Annotated[str, typer.Argument(help="User name (lowercase letters, digits, _ . -).")]
PasswordStdinOption = Annotated[
    bool,
    typer.Option(
        "--password-stdin",
        help="Read the password from the first line of stdin instead of generating one.",
    ),
]

# Longer than any acceptable password: a hostile stdin cannot make us buffer gigabytes.
_MAX_STDIN_LINE = 4096


def read_password_from_stdin() -> str:
    """The first line of stdin (prompted without echo when stdin is a terminal)."""
    from ..errors import InvalidArgument

    if sys.stdin.isatty():
        password: str = typer.prompt("Password", hide_input=True, confirmation_prompt=True)
    else:
        password = sys.stdin.readline(_MAX_STDIN_LINE + 1).rstrip("\r\n")
        if len(password) > _MAX_STDIN_LINE:
            raise InvalidArgument(f"the password on stdin is longer than {_MAX_STDIN_LINE}")
    if not password:
        raise InvalidArgument("no password on stdin: pipe one in, or leave out --password-stdin")
    return password


def _show_created(user: User, password: str | None, json_output: bool) -> None:
    kind = "administrator" if user.is_admin else "user"
    if json_output:
        emit_json({"user": user.to_json(), "password": password})
        return
    print_success(f"created {kind} {user.username!r}")
    if password is not None:
        print_secret(f"password of {user.username!r}", password)


@users_app.command("create-admin")
def create_admin(
    username: UsernameArg,
    password_stdin: PasswordStdinOption = False,
    if_no_admin: Annotated[
        bool,
        typer.Option(
            "--if-no-admin",
            help="Do nothing when an administrator already exists (for set-up scripts).",
        ),
    ] = False,
    json_output: JsonOption = False,
) -> None:
    """Create a platform administrator; a generated password is printed once.

    Needs local access to the database (this is how the first administrator is made).
    """
    from ..security import count_admins
    from ..security import create_admin as create_admin_user
    from ._local import local_platform

    given = read_password_from_stdin() if password_stdin else None
    with local_platform() as platform:
        if if_no_admin and count_admins(platform) > 0:
            if json_output:
                emit_json({"user": None, "password": None})
            else:
                print_message(
                    "an administrator already exists; nothing to do "
                    "(reset a password with `mlsteward users set-password NAME`)"
                )
            return
        user, password = create_admin_user(platform, username, given)
    _show_created(user, None if given else password, json_output)


@users_app.command("create")
def create(
    username: UsernameArg,
    display_name: Annotated[str, typer.Option(help="Name shown in the web UI.")] = "",
    admin: Annotated[bool, typer.Option("--admin", help="Make the user an administrator.")] = False,
    password_stdin: PasswordStdinOption = False,
    json_output: JsonOption = False,
) -> None:
    """Create a user; a generated password is printed once."""
    from ..security import create_user, generate_password
    from ._local import local_platform, operator

    given = read_password_from_stdin() if password_stdin else None
    password = given or generate_password()
    with local_platform() as platform:
        user = create_user(
            platform, operator(), username, password, display_name=display_name, is_admin=admin
        )
    _show_created(user, None if given else password, json_output)


@users_app.command("list")
def list_(json_output: JsonOption = False) -> None:
    """List every user."""
    from ..security import list_users
    from ._local import local_platform, operator

    with local_platform() as platform:
        users = list_users(platform, operator())
    if json_output:
        emit_json([u.to_json() for u in users])
        return
    print_table(
        ["user", "display name", "admin", "status", "created (UTC)"],
        [
            [
                u.username,
                u.display_name,
                "yes" if u.is_admin else "",
                "disabled" if u.disabled else "active",
                format_time(u.created_at),
            ]
            for u in users
        ],
        empty="no users yet: create one with `mlsteward users create-admin NAME`",
    )


def _set_disabled(username: str, disabled: bool) -> None:
    from ..security import set_user_disabled
    from ._local import local_platform, operator

    with local_platform() as platform:
        set_user_disabled(platform, operator(), username, disabled)
    print_success(f"{'disabled' if disabled else 'enabled'} user {username!r}")


@users_app.command("disable")
def disable(username: UsernameArg) -> None:
    """Disable a user: their logins, sessions and tokens stop working."""
    _set_disabled(username, True)


@users_app.command("enable")
def enable(username: UsernameArg) -> None:
    """Re-enable a disabled user."""
    _set_disabled(username, False)


@users_app.command("set-password")
def set_password(username: UsernameArg, password_stdin: PasswordStdinOption = False) -> None:
    """Set a user's password; a generated password is printed once."""
    from ..security import generate_password
    from ..security import set_password as set_user_password
    from ._local import local_platform, operator

    given = read_password_from_stdin() if password_stdin else None
    password = given or generate_password()
    with local_platform() as platform:
        set_user_password(platform, operator(), username, password)
    print_success(f"changed the password of {username!r}")
    if given is None:
        print_secret(f"new password of {username!r}", password)
