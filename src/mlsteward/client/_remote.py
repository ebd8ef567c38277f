"""The HTTP backend: talks to a platform server with httpx and re-raises its errors.

An error response becomes the same ``mlsteward.errors`` class the server raised (its JSON
carries the code); a connection, TLS or protocol failure becomes ``Unavailable``.
"""

from __future__ import annotations

import io
import os
import ssl
import stat
from collections.abc import Callable, Iterator
from typing import Any, BinaryIO, TypeVar
from urllib.parse import quote

import httpx

from .. import __version__
from ..blobs import BlobInfo
from ..errors import (
    ConfigurationError,
    Conflict,
    InvalidArgument,
    NotFound,
    PayloadTooLarge,
    PermissionDenied,
    RateLimited,
    StewardError,
    Unauthenticated,
    Unavailable,
    error_from_payload,
)
from ..security import (
    Actor,
    AuditEvent,
    AuditVerifyReport,
    CreatedToken,
    Member,
    Project,
    TokenInfo,
    User,
)
from . import _wire

T = TypeVar("T")

API = "api/v1"
_CHUNK = 1024 * 1024

# For error responses without a JSON body (HEAD requests, proxies in between).
_ERROR_BY_STATUS: dict[int, type[StewardError]] = {
    400: InvalidArgument,
    401: Unauthenticated,
    403: PermissionDenied,
    404: NotFound,
    409: Conflict,
    413: PayloadTooLarge,
    429: RateLimited,
    502: Unavailable,
    503: Unavailable,
    504: Unavailable,
}

Verify = bool | str | os.PathLike[str] | ssl.SSLContext


def _segment(value: str) -> str:
    """One URL path segment: every reserved character escaped, dots too (no ``..`` tricks)."""
    return quote(value, safe="").replace(".", "%2E")


def _ssl_context(verify: Verify) -> bool | ssl.SSLContext:
    if isinstance(verify, bool | ssl.SSLContext):
        return verify
    return ssl.create_default_context(cafile=os.fspath(verify))


def _upload_length(source: BinaryIO) -> int | None:
    """Bytes left in a regular file (so the server can refuse an oversized upload at once)."""
    try:
        info = os.fstat(source.fileno())
        position = source.tell()
    except (AttributeError, OSError, io.UnsupportedOperation):
        return None
    return info.st_size - position if stat.S_ISREG(info.st_mode) else None


def _chunks(source: BinaryIO) -> Iterator[bytes]:
    while chunk := source.read(_CHUNK):
        yield chunk


class RemoteBackend:
    """One ``httpx.Client`` (connection pool) per backend; safe to share between threads."""

    def __init__(
        self, server_url: str, token: str | None, *, verify: Verify, timeout: float
    ) -> None:
        try:
            url = httpx.URL(server_url)
        except httpx.InvalidURL as exc:
            raise ConfigurationError(f"invalid server URL {server_url!r}: {exc}") from None
        if url.scheme not in {"http", "https"} or not url.host:
            raise ConfigurationError(
                f"invalid server URL {server_url!r}: use http(s)://host[:port], "
                "e.g. MLSTEWARD_SERVER_URL=https://mlsteward.example.com"
            )
        self.url = str(url).rstrip("/")
        headers = {"User-Agent": f"mlsteward-client/{__version__}"}
        if token:
            if not token.isascii() or not token.isprintable() or " " in token:
                raise ConfigurationError(
                    "the API token contains spaces or characters an HTTP header cannot carry; "
                    "check MLSTEWARD_TOKEN (tokens look like mls_<id>_<secret>)"
                )
            headers["Authorization"] = f"Bearer {token}"
        self._http = httpx.Client(
            base_url=self.url + "/",
            headers=headers,
            verify=_ssl_context(verify),
            timeout=httpx.Timeout(timeout, connect=min(timeout, 10.0)),
        )

    # -- transport ----------------------------------------------------------------------

    def _unavailable(self, exc: httpx.TransportError) -> Unavailable:
        text = str(exc) or type(exc).__name__
        if "CERTIFICATE_VERIFY_FAILED" in text:
            hint = "the server's TLS certificate is not trusted: pass verify=<CA bundle path>"
        else:
            hint = "check MLSTEWARD_SERVER_URL and that the server is running"
        return Unavailable(
            f"cannot reach the mlsteward server at {self.url}: {text}; {hint}",
            details={"server_url": self.url},
        )

    def _raise_for_error(self, response: httpx.Response) -> None:
        if response.status_code < 300:
            return
        try:
            payload = response.json()
        except ValueError:
            payload = None
        if isinstance(payload, dict) and isinstance(payload.get("error"), dict):
            raise error_from_payload(payload)
        cls = _ERROR_BY_STATUS.get(response.status_code, StewardError)
        request = response.request
        raise cls(
            f"the server answered {response.status_code} {response.reason_phrase} "
            f"to {request.method} {request.url.path}"
        )

    def _send(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        try:
            response = self._http.request(method, path, **kwargs)
        except httpx.TransportError as exc:
            raise self._unavailable(exc) from exc
        self._raise_for_error(response)
        return response

    def _get_json(self, method: str, path: str, **kwargs: Any) -> Any:
        response = self._send(method, path, **kwargs)
        try:
            return response.json()
        except ValueError:
            raise StewardError(
                f"the server at {self.url} sent a response that is not JSON "
                f"({response.status_code}, {response.headers.get('content-type')})"
            ) from None

    def _decode(self, decoder: Callable[[Any], T], data: Any) -> T:
        try:
            return decoder(data)
        except (KeyError, TypeError, ValueError, AttributeError) as exc:
            raise StewardError(
                f"the server at {self.url} sent a response this client does not understand "
                f"({exc!r}); check that client and server run the same release"
            ) from None

    def _one(self, decoder: Callable[[Any], T], method: str, path: str, **kwargs: Any) -> T:
        return self._decode(decoder, self._get_json(method, path, **kwargs))

    def _many(self, decoder: Callable[[Any], T], key: str, path: str, **kwargs: Any) -> list[T]:
        data = self._get_json("GET", path, **kwargs)
        return self._decode(lambda d: [decoder(item) for item in d[key]], data)

    # -- operations ---------------------------------------------------------------------

    def describe(self) -> str:
        return f"remote {self.url}"

    def health(self) -> dict[str, Any]:
        return self._decode(dict, self._get_json("GET", "healthz"))

    def whoami(self) -> Actor:
        return self._one(_wire.actor_from_json, "GET", f"{API}/me")

    def change_password(self, current_password: str, new_password: str) -> None:
        body = {"current_password": current_password, "new_password": new_password}
        self._send("POST", f"{API}/me/password", json=body)

    def list_users(self) -> list[User]:
        return self._many(_wire.user_from_json, "users", f"{API}/users")

    def create_user(self, username: str, password: str, display_name: str, is_admin: bool) -> User:
        body = {
            "username": username,
            "password": password,
            "display_name": display_name,
            "is_admin": is_admin,
        }
        return self._one(_wire.user_from_json, "POST", f"{API}/users", json=body)

    def get_user(self, username: str) -> User:
        return self._one(_wire.user_from_json, "GET", f"{API}/users/{_segment(username)}")

    def set_user_disabled(self, username: str, disabled: bool) -> User:
        verb = "disable" if disabled else "enable"
        path = f"{API}/users/{_segment(username)}/{verb}"
        return self._one(_wire.user_from_json, "POST", path)

    def set_password(self, username: str, new_password: str) -> None:
        path = f"{API}/users/{_segment(username)}/password"
        self._send("POST", path, json={"new_password": new_password})

    def list_projects(self) -> list[Project]:
        return self._many(_wire.project_from_json, "projects", f"{API}/projects")

    def create_project(self, name: str, description: str) -> Project:
        body = {"name": name, "description": description}
        return self._one(_wire.project_from_json, "POST", f"{API}/projects", json=body)

    def get_project(self, name: str) -> Project:
        return self._one(_wire.project_from_json, "GET", f"{API}/projects/{_segment(name)}")

    def list_members(self, project: str) -> list[Member]:
        path = f"{API}/projects/{_segment(project)}/members"
        return self._many(_wire.member_from_json, "members", path)

    def add_member(self, project: str, username: str, role: str) -> Member:
        path = f"{API}/projects/{_segment(project)}/members"
        body = {"username": username, "role": role}
        return self._one(_wire.member_from_json, "POST", path, json=body)

    def set_member_role(self, project: str, username: str, role: str) -> Member:
        path = f"{API}/projects/{_segment(project)}/members/{_segment(username)}"
        return self._one(_wire.member_from_json, "PATCH", path, json={"role": role})

    def remove_member(self, project: str, username: str) -> None:
        self._send("DELETE", f"{API}/projects/{_segment(project)}/members/{_segment(username)}")

    def create_token(
        self, name: str, scopes: list[str], expires_in_days: int | None, username: str | None
    ) -> CreatedToken:
        body = {
            "name": name,
            "scopes": scopes,
            "expires_in_days": expires_in_days,
            "username": username,
        }
        return self._one(_wire.created_token_from_json, "POST", f"{API}/tokens", json=body)

    def list_tokens(self, username: str | None) -> list[TokenInfo]:
        params = {} if username is None else {"username": username}
        return self._many(_wire.token_info_from_json, "tokens", f"{API}/tokens", params=params)

    def revoke_token(self, token_id: str) -> None:
        self._send("DELETE", f"{API}/tokens/{_segment(token_id)}")

    def audit_events(self, filters: dict[str, Any]) -> list[AuditEvent]:
        params = {key: value for key, value in filters.items() if value is not None}
        path = f"{API}/audit/events"
        return self._many(_wire.audit_event_from_json, "events", path, params=params)

    def verify_audit(self) -> AuditVerifyReport:
        return self._one(_wire.verify_report_from_json, "GET", f"{API}/audit/verify")

    def put_blob(self, source: BinaryIO) -> BlobInfo:
        headers = {"Content-Type": "application/octet-stream"}
        length = _upload_length(source)
        if length is not None:
            headers["Content-Length"] = str(length)
        return self._one(
            _wire.blob_info_from_json,
            "PUT",
            f"{API}/blobs",
            content=_chunks(source),
            headers=headers,
        )

    def copy_blob(self, address: str, sink: BinaryIO) -> int:
        copied, expected, started = 0, "", False
        try:
            with self._http.stream("GET", f"{API}/blobs/{_segment(address)}") as response:
                if response.status_code >= 300:
                    response.read()
                    self._raise_for_error(response)
                started, expected = True, response.headers.get("content-length", "")
                for chunk in response.iter_bytes(_CHUNK):
                    sink.write(chunk)
                    copied += len(chunk)
        except httpx.TransportError as exc:
            if not started:
                raise self._unavailable(exc) from exc
            raise self._broken_download(address, copied) from exc
        if expected.isdigit() and copied != int(expected):
            raise self._broken_download(address, copied)
        return copied

    def _broken_download(self, address: str, copied: int) -> Unavailable:
        return Unavailable(
            f"the download of blob {address} from {self.url} broke off after {copied} bytes: "
            "the connection dropped, or the server found the blob corrupt (see its log)",
            details={"address": address, "received": copied},
        )

    def blob_size(self, address: str) -> int:
        response = self._send("HEAD", f"{API}/blobs/{_segment(address)}")
        return self._decode(int, response.headers.get("content-length"))

    def close(self) -> None:
        self._http.close()
