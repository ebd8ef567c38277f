"""``Client``: the one Python API of the platform, local or remote."""

from __future__ import annotations

import contextlib
import os
import secrets
from collections.abc import Iterable
from pathlib import Path
from types import TracebackType
from typing import TYPE_CHECKING, Any, BinaryIO

from ..errors import InvalidArgument, NotFound

if TYPE_CHECKING:
    import ssl

    from ..blobs import BlobInfo
    from ..security import (
        Actor,
        AuditEvent,
        AuditVerifyReport,
        CreatedToken,
        Member,
        Project,
        Role,
        Scope,
        TokenInfo,
        User,
    )
    from ..settings import Settings
    from ._backend import Backend

PathOrFile = str | os.PathLike[str] | BinaryIO


def _text(kind: str, value: object) -> str:
    """A name that goes into a URL path when remote: checked here so that local and remote
    agree (a server decodes ``%2F`` before routing, so a ``/`` could never arrive intact)."""
    if not isinstance(value, str) or not value:
        raise InvalidArgument(f"{kind} must be a non-empty string, not {value!r}")
    if "/" in value or "\x00" in value:
        raise InvalidArgument(f"invalid {kind} {value[:80]!r}: it contains '/' or a NUL")
    return value


def _role(role: Role | str) -> str:
    return role if isinstance(role, str) else role.label


class Client:
    """The platform, in-process or over HTTP; the same methods and results either way.

    With no server URL (argument or ``MLSTEWARD_SERVER_URL``) it opens the local platform
    (``Platform.open(settings)``) and acts as the local administrator, recorded as
    ``local-admin`` in the audit trail; given a ``token`` it acts as that token's user
    instead. With a server URL it talks HTTP (``token`` or ``MLSTEWARD_TOKEN`` for auth;
    ``verify``: True, False or a CA bundle path/``SSLContext`` for TLS).

    Errors are ``mlsteward.errors`` classes: the remote client re-raises the server's own
    error class, and connection failures become ``Unavailable``. Close it (or use ``with``).
    """

    def __init__(
        self,
        settings: Settings | None = None,
        *,
        server_url: str | None = None,
        token: str | None = None,
        verify: bool | str | os.PathLike[str] | ssl.SSLContext = True,
        timeout: float = 60.0,
    ) -> None:
        from ..settings import load_settings

        settings = settings or load_settings()
        url = server_url or settings.server_url
        if token is None and settings.token is not None:
            token = settings.token.get_secret_value()
        self._backend: Backend
        if url:
            from ._remote import RemoteBackend

            self._backend = RemoteBackend(url, token, verify=verify, timeout=timeout)
        else:
            from ._local import LocalBackend

            self._backend = LocalBackend(settings, token)

    def __repr__(self) -> str:
        return f"<Client {self._backend.describe()}>"

    def __enter__(self) -> Client:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def close(self) -> None:
        """Release connections (database or HTTP)."""
        self._backend.close()

    # -- you --------------------------------------------------------------------------------

    def health(self) -> dict[str, Any]:
        """``{"status": "ok", "schema": <revision>}`` when the platform and database answer."""
        return self._backend.health()

    def whoami(self) -> Actor:
        """Who this client acts as (name, kind, admin flag, token scopes)."""
        return self._backend.whoami()

    def change_password(self, current_password: str, new_password: str) -> None:
        """Change your own password. ``InvalidArgument`` if the current one is wrong."""
        self._backend.change_password(current_password, new_password)

    # -- users (administrators) -------------------------------------------------------------

    def list_users(self) -> list[User]:
        """Every user, by username."""
        return self._backend.list_users()

    def create_user(
        self, username: str, password: str, *, display_name: str = "", is_admin: bool = False
    ) -> User:
        """Create a user. ``AlreadyExists``; ``InvalidArgument`` for a bad name or password."""
        return self._backend.create_user(username, password, display_name, is_admin)

    def get_user(self, username: str) -> User:
        """One user; ``NotFound`` if there is none."""
        return self._backend.get_user(_text("username", username))

    def disable_user(self, username: str) -> User:
        """Disable a user: their tokens and sessions stop working at once."""
        return self._backend.set_user_disabled(_text("username", username), True)

    def enable_user(self, username: str) -> User:
        """Re-enable a disabled user."""
        return self._backend.set_user_disabled(_text("username", username), False)

    def set_password(self, username: str, new_password: str) -> None:
        """Set another user's password (administrators)."""
        self._backend.set_password(_text("username", username), new_password)

    # -- projects ---------------------------------------------------------------------------

    def list_projects(self) -> list[Project]:
        """Projects you can see (administrators: all), by name."""
        return self._backend.list_projects()

    def create_project(self, name: str, description: str = "") -> Project:
        """Create a project; a user who creates one becomes its owner. ``AlreadyExists``."""
        return self._backend.create_project(name, description)

    def get_project(self, name: str) -> Project:
        """A project you are a member of. ``NotFound``, ``PermissionDenied``."""
        return self._backend.get_project(_text("project", name))

    def list_members(self, project: str) -> list[Member]:
        """A project's members and roles (project viewers and up)."""
        return self._backend.list_members(_text("project", project))

    def add_member(self, project: str, username: str, role: Role | str) -> Member:
        """Give a user a role in a project (project owners). ``AlreadyExists`` if a member."""
        return self._backend.add_member(_text("project", project), username, _role(role))

    def set_member_role(self, project: str, username: str, role: Role | str) -> Member:
        """Change a member's role (project owners); a project always keeps one owner."""
        return self._backend.set_member_role(
            _text("project", project), _text("username", username), _role(role)
        )

    def remove_member(self, project: str, username: str) -> None:
        """Remove a member (project owners); the last owner cannot be removed."""
        self._backend.remove_member(_text("project", project), _text("username", username))

    # -- tokens -----------------------------------------------------------------------------

    def create_token(
        self,
        name: str,
        scopes: Iterable[Scope | str] = ("read", "write"),
        *,
        expires_in_days: int | None = 90,
        username: str | None = None,
    ) -> CreatedToken:
        """Create an API token; ``.secret`` is its only copy. A token never gets more than
        its creator: ``admin`` scope needs an administrator account."""
        wanted = [scopes] if isinstance(scopes, str) else [str(s) for s in scopes]
        return self._backend.create_token(name, wanted, expires_in_days, username)

    def list_tokens(self, username: str | None = None) -> list[TokenInfo]:
        """Your tokens (administrators: ``username``'s), newest first; never the secrets."""
        return self._backend.list_tokens(username)

    def revoke_token(self, token_id: str) -> None:
        """Revoke a token by id; revoking twice is harmless. ``NotFound`` if not yours."""
        self._backend.revoke_token(_text("token id", token_id))

    # -- audit ------------------------------------------------------------------------------

    def audit_events(
        self,
        *,
        action: str | None = None,
        actor: str | None = None,
        project: str | None = None,
        target: str | None = None,
        before_seq: int | None = None,
        after_seq: int | None = None,
        limit: int = 100,
    ) -> list[AuditEvent]:
        """Audit events, newest first (administrators; a project's maintainers with
        ``project``). ``action`` may end in ``*``; page with ``before_seq``; limit 1-1000."""
        filters = {
            "action": action,
            "actor": actor,
            "project": project,
            "target": target,
            "before_seq": before_seq,
            "after_seq": after_seq,
            "limit": limit,
        }
        return self._backend.audit_events(filters)

    def verify_audit(self) -> AuditVerifyReport:
        """Recompute the audit hash chain and check its signed checkpoints (administrators)."""
        return self._backend.verify_audit()

    # -- blobs (administrators) -------------------------------------------------------------

    def put_blob(self, source: PathOrFile) -> BlobInfo:
        """Store a file (path or binary file object, read to its end) as a blob, streamed.

        Returns its address and size; ``created`` is False when the content was already
        stored. ``PayloadTooLarge`` past the server's ``max_upload_bytes``.
        """
        if not isinstance(source, str | os.PathLike):
            return self._backend.put_blob(source)
        try:
            handle = open(source, "rb")  # noqa: SIM115 - closed below
        except FileNotFoundError:
            raise NotFound(f"no such file: {os.fspath(source)}") from None
        except IsADirectoryError:
            raise InvalidArgument(f"{os.fspath(source)} is a folder, not a file") from None
        with handle:
            return self._backend.put_blob(handle)

    def get_blob(self, address: str, dest: PathOrFile) -> int:
        """Write a blob to ``dest`` (a path or a binary file object); return its size.

        A path is written through a temporary file renamed on success, so on any error
        (``NotFound``, corruption, a dropped connection) it is left untouched.
        """
        from ..blobs._address import check_address

        check_address(address)
        if not isinstance(dest, str | os.PathLike):
            return self._backend.copy_blob(address, dest)
        target = Path(dest)
        temp = target.with_name(f".{target.name}.{secrets.token_hex(8)}.part")
        try:
            with open(temp, "xb") as sink:
                size = self._backend.copy_blob(address, sink)
            os.replace(temp, target)
        finally:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(temp)
        return size

    def blob_size(self, address: str) -> int:
        """A blob's size in bytes; ``NotFound`` when absent."""
        from ..blobs._address import check_address

        return self._backend.blob_size(check_address(address))
