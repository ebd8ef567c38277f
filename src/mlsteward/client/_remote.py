"""The HTTP backend: talks to a platform server with httpx and re-raises its errors.

An error response becomes the same ``mlsteward.errors`` class the server raised (its JSON
carries the code); a connection, TLS or protocol failure becomes ``Unavailable``.
"""

from __future__ import annotations

import contextlib
import io
import os
import secrets
import ssl
import stat
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any, BinaryIO, TypeVar
from urllib.parse import quote

import httpx
import orjson

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
from ..registry import AliasPeriod, ModelVersion, PromotionRequest, RegisteredModel
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
from ..tracking import ArtifactInfo, Experiment, MetricPoint, Run, RunComparison, RunPage
from ..tracking._model import MetricColumns
from . import _wire
from ._backend import NewVersion, PointTuple

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
            return orjson.loads(response.content)
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
        path, target = f"{API}/blobs/{_segment(address)}", {"address": address}
        return self._download(path, None, f"blob {address}", target, sink)

    def _download(
        self,
        path: str,
        params: dict[str, str] | None,
        what: str,
        target: dict[str, str],
        sink: BinaryIO,
    ) -> int:
        """Stream a GET response into ``sink``; a short body is ``Unavailable``."""
        copied, expected, started = 0, "", False
        try:
            with self._http.stream("GET", path, params=params) as response:
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
            raise self._broken_download(what, target, copied) from exc
        if expected.isdigit() and copied != int(expected):
            raise self._broken_download(what, target, copied)
        return copied

    def _broken_download(self, what: str, target: dict[str, str], copied: int) -> Unavailable:
        return Unavailable(
            f"the download of {what} from {self.url} broke off after {copied} bytes: "
            "the connection dropped, or the server found the blob corrupt (see its log)",
            details={**target, "received": copied},
        )

    def blob_size(self, address: str) -> int:
        response = self._send("HEAD", f"{API}/blobs/{_segment(address)}")
        return self._decode(int, response.headers.get("content-length"))

    def create_experiment(self, project: str, name: str, description: str) -> Experiment:
        path = f"{API}/projects/{_segment(project)}/experiments"
        body = {"name": name, "description": description}
        return self._one(_wire.experiment_from_json, "POST", path, json=body)

    def get_experiment(self, project: str, name: str) -> Experiment:
        path = f"{API}/projects/{_segment(project)}/experiments/{_segment(name)}"
        return self._one(_wire.experiment_from_json, "GET", path)

    def list_experiments(self, project: str, include_deleted: bool) -> list[Experiment]:
        path = f"{API}/projects/{_segment(project)}/experiments"
        params = {"include_deleted": "true"} if include_deleted else {}
        return self._many(_wire.experiment_from_json, "experiments", path, params=params)

    def set_experiment_deleted(self, project: str, name: str, deleted: bool) -> Experiment:
        path = f"{API}/projects/{_segment(project)}/experiments/{_segment(name)}"
        if deleted:
            return self._one(_wire.experiment_from_json, "DELETE", path)
        return self._one(_wire.experiment_from_json, "POST", f"{path}/restore")

    def start_run(
        self,
        project: str,
        experiment: str,
        name: str | None,
        parent_run_id: str | None,
        tags: dict[str, str],
        environment: dict[str, Any],
    ) -> Run:
        path = f"{API}/projects/{_segment(project)}/experiments/{_segment(experiment)}/runs"
        body = {
            "name": name,
            "parent_run_id": parent_run_id,
            "tags": tags,
            "environment": environment,
        }
        return self._one(_wire.run_from_json, "POST", path, json=body)

    def get_run(self, run_id: str) -> Run:
        return self._one(_wire.run_from_json, "GET", f"{API}/runs/{_segment(run_id)}")

    def end_run(self, run_id: str, status: str) -> Run:
        path = f"{API}/runs/{_segment(run_id)}/end"
        return self._one(_wire.run_from_json, "POST", path, json={"status": status})

    def log_batch(
        self,
        run_id: str,
        metrics: Sequence[PointTuple],
        params: dict[str, str],
        tags: dict[str, str],
    ) -> None:
        body: dict[str, Any] = {"metrics": MetricColumns.from_points(metrics).to_json()}
        if params:
            body["params"] = params
        if tags:
            body["tags"] = tags
        try:
            # Non-finite metric values are strings in the columns; orjson would turn a stray
            # NaN into null, so ``to_json`` is what keeps them.
            content = orjson.dumps(body)
        except TypeError as exc:
            raise InvalidArgument(f"the batch cannot be sent as JSON: {exc}") from None
        self._send(
            "POST",
            f"{API}/runs/{_segment(run_id)}/batch",
            content=content,
            headers={"Content-Type": "application/json"},
        )

    def heartbeat(self, run_id: str) -> None:
        self._send("POST", f"{API}/runs/{_segment(run_id)}/heartbeat")

    def set_run_deleted(self, run_id: str, deleted: bool) -> Run:
        path = f"{API}/runs/{_segment(run_id)}"
        if deleted:
            return self._one(_wire.run_from_json, "DELETE", path)
        return self._one(_wire.run_from_json, "POST", f"{path}/restore")

    def set_run_notes(self, run_id: str, notes: str) -> Run:
        path = f"{API}/runs/{_segment(run_id)}/notes"
        return self._one(_wire.run_from_json, "PUT", path, json={"notes": notes})

    def metric_history(self, run_id: str, key: str) -> list[MetricPoint]:
        path = f"{API}/runs/{_segment(run_id)}/metric-history"
        return self._many(_wire.metric_point_from_json, "metrics", path, params={"key": key})

    def compare_runs(self, run_ids: list[str], metric_keys: list[str] | None) -> RunComparison:
        params: dict[str, Any] = {"run_id": run_ids}
        if metric_keys is not None:
            params["metric"] = metric_keys
        data = self._get_json("GET", f"{API}/run-comparisons", params=params)
        return self._decode(_wire.comparison_from_json, data)

    def best_run(self, project: str, metric: str, mode: str, filter: str) -> Run:
        return self._one(
            _wire.run_from_json,
            "GET",
            f"{API}/projects/{_segment(project)}/runs/best",
            params={"metric": metric, "mode": mode, "filter": filter},
        )

    def search_runs(
        self,
        project: str,
        experiment_ids: list[str] | None,
        filter: str,
        order_by: list[str],
        max_results: int,
        page_token: str | None,
        include_deleted: bool,
    ) -> RunPage:
        params: dict[str, Any] = {"filter": filter, "max_results": max_results}
        if experiment_ids is not None:
            params["experiment_id"] = experiment_ids
        if order_by:
            params["order_by"] = order_by
        if page_token is not None:
            params["page_token"] = page_token
        if include_deleted:
            params["include_deleted"] = "true"
        data = self._get_json(
            "GET", f"{API}/projects/{_segment(project)}/runs/search", params=params
        )
        return self._decode(
            lambda d: RunPage(
                [_wire.run_from_json(r) for r in d["runs"]],
                None if d["next_page_token"] is None else str(d["next_page_token"]),
            ),
            data,
        )

    def log_artifact(self, run_id: str, path: str, source: BinaryIO) -> ArtifactInfo:
        headers = {"Content-Type": "application/octet-stream"}
        length = _upload_length(source)
        if length is not None:
            headers["Content-Length"] = str(length)
        return self._one(
            _wire.artifact_info_from_json,
            "PUT",
            f"{API}/runs/{_segment(run_id)}/artifacts",
            params={"path": path},
            content=_chunks(source),
            headers=headers,
        )

    def list_artifacts(self, run_id: str, prefix: str) -> list[ArtifactInfo]:
        return self._many(
            _wire.artifact_info_from_json,
            "artifacts",
            f"{API}/runs/{_segment(run_id)}/artifacts",
            params={"prefix": prefix},
        )

    def copy_artifact(self, run_id: str, path: str, sink: BinaryIO) -> int:
        url = f"{API}/runs/{_segment(run_id)}/artifacts/content"
        target = {"run_id": run_id, "path": path}
        what = f"artifact {path!r} of run {run_id}"
        return self._download(url, {"path": path}, what, target, sink)

    # -- model registry -----------------------------------------------------------------

    def _models(self, project: str) -> str:
        return f"{API}/projects/{_segment(project)}/models"

    def _request_path(self, project: str, request_id: str, verb: str) -> str:
        requests = f"{API}/projects/{_segment(project)}/promotion-requests"
        return f"{requests}/{_segment(request_id)}/{verb}"

    def create_registered_model(
        self, project: str, name: str, description: str, tags: dict[str, str]
    ) -> RegisteredModel:
        body = {"name": name, "description": description, "tags": tags}
        path = self._models(project)
        return self._one(_wire.registered_model_from_json, "POST", path, json=body)

    def get_registered_model(self, project: str, name: str) -> RegisteredModel:
        path = f"{self._models(project)}/{_segment(name)}"
        return self._one(_wire.registered_model_from_json, "GET", path)

    def list_registered_models(self, project: str) -> list[RegisteredModel]:
        return self._many(_wire.registered_model_from_json, "models", self._models(project))

    def update_registered_model(
        self, project: str, name: str, description: str | None, tags: dict[str, str] | None
    ) -> RegisteredModel:
        path = f"{self._models(project)}/{_segment(name)}"
        body = {"description": description, "tags": tags}
        return self._one(_wire.registered_model_from_json, "PATCH", path, json=body)

    def register_model_version(self, project: str, name: str, spec: NewVersion) -> ModelVersion:
        path = f"{self._models(project)}/{_segment(name)}/versions"
        try:
            content = orjson.dumps(spec.to_json())
        except TypeError as exc:
            raise InvalidArgument(f"the version cannot be sent as JSON: {exc}") from None
        return self._one(
            _wire.model_version_from_json,
            "POST",
            path,
            content=content,
            headers={"Content-Type": "application/json"},
        )

    def get_model_version(self, project: str, name: str, version: int) -> ModelVersion:
        path = f"{self._models(project)}/{_segment(name)}/versions/{version}"
        return self._one(_wire.model_version_from_json, "GET", path)

    def list_model_versions(self, project: str, name: str) -> list[ModelVersion]:
        path = f"{self._models(project)}/{_segment(name)}/versions"
        return self._many(_wire.model_version_from_json, "versions", path)

    def resolve_model_uri(self, project: str, uri: str) -> ModelVersion:
        path = f"{API}/projects/{_segment(project)}/model-uris"
        return self._one(_wire.model_version_from_json, "GET", path, params={"uri": uri})

    def register_model_from_run(self, uri: str, name: str) -> ModelVersion:
        body = {"uri": uri, "name": name}
        return self._one(
            _wire.model_version_from_json, "POST", f"{API}/model-registrations", json=body
        )

    def record_trust_decision(
        self, target: str, reason: str, scan: dict[str, Any], project: str | None
    ) -> None:
        body = {"target": target, "reason": reason, "scan": scan, "project": project}
        self._send("POST", f"{API}/model-trust-decisions", json=body)

    def set_alias(self, project: str, name: str, alias: str, version: int) -> ModelVersion:
        path = f"{self._models(project)}/{_segment(name)}/aliases/{_segment(alias)}"
        return self._one(_wire.model_version_from_json, "PUT", path, json={"version": version})

    def delete_alias(self, project: str, name: str, alias: str) -> None:
        self._send("DELETE", f"{self._models(project)}/{_segment(name)}/aliases/{_segment(alias)}")

    def alias_history(self, project: str, name: str, alias: str | None) -> list[AliasPeriod]:
        path = f"{self._models(project)}/{_segment(name)}/alias-history"
        params = {} if alias is None else {"alias": alias}
        return self._many(_wire.alias_period_from_json, "periods", path, params=params)

    def request_promotion(
        self, project: str, name: str, version: int, alias: str, comment: str
    ) -> PromotionRequest:
        path = f"{self._models(project)}/{_segment(name)}/promotion-requests"
        body = {"version": version, "alias": alias, "comment": comment}
        return self._one(_wire.promotion_request_from_json, "POST", path, json=body)

    def approve_promotion(
        self, project: str, request_id: str, comment: str
    ) -> tuple[PromotionRequest, list[dict[str, str]]]:
        path = self._request_path(project, request_id, "approve")
        data = self._get_json("POST", path, json={"comment": comment})
        return self._decode(
            lambda d: (_wire.promotion_request_from_json(d), _wire.unmet_from_json(d["unmet"])),
            data,
        )

    def apply_promotion(self, project: str, request_id: str) -> PromotionRequest:
        path = self._request_path(project, request_id, "apply")
        return self._one(_wire.promotion_request_from_json, "POST", path)

    def reject_promotion(self, project: str, request_id: str, comment: str) -> PromotionRequest:
        path = self._request_path(project, request_id, "reject")
        return self._one(_wire.promotion_request_from_json, "POST", path, json={"comment": comment})

    def cancel_promotion(self, project: str, request_id: str) -> PromotionRequest:
        path = self._request_path(project, request_id, "cancel")
        return self._one(_wire.promotion_request_from_json, "POST", path)

    def list_promotion_requests(
        self, project: str, name: str, status: str | None
    ) -> list[PromotionRequest]:
        path = f"{self._models(project)}/{_segment(name)}/promotion-requests"
        params = {} if status is None else {"status": status}
        return self._many(_wire.promotion_request_from_json, "requests", path, params=params)

    def set_alias_policy(
        self, project: str, alias: str, conditions: list[dict[str, Any]], model: str | None
    ) -> list[dict[str, Any]]:
        path = f"{API}/projects/{_segment(project)}/alias-policies/{_segment(alias)}"
        params = {} if model is None else {"model": model}
        body = {"conditions": conditions}
        return self._one(_wire.conditions_from_json, "PUT", path, json=body, params=params)

    def get_alias_policy(self, project: str, alias: str, model: str | None) -> list[dict[str, Any]]:
        path = f"{API}/projects/{_segment(project)}/alias-policies/{_segment(alias)}"
        params = {} if model is None else {"model": model}
        return self._one(_wire.conditions_from_json, "GET", path, params=params)

    def download_model_files(
        self, project: str, name: str, version: int, targets: Sequence[tuple[str, Path]]
    ) -> list[int]:
        url = f"{self._models(project)}/{_segment(name)}/versions/{version}/files/content"
        sizes = []
        for path, dest in targets:
            what = f"file {path!r} of {name} version {version}"
            target = {"model": name, "version": str(version), "path": path}
            temp = dest.with_name(f".{dest.name}.{secrets.token_hex(8)}.part")
            try:
                with open(temp, "xb") as sink:
                    sizes.append(self._download(url, {"path": path}, what, target, sink))
                os.replace(temp, dest)
            finally:
                with contextlib.suppress(FileNotFoundError):
                    os.unlink(temp)
        return sizes

    def close(self) -> None:
        self._http.close()
