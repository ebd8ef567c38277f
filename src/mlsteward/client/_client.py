"""``Client``: the one Python API of the platform, local or remote."""

from __future__ import annotations

import contextlib
import os
import secrets
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from types import TracebackType
from typing import TYPE_CHECKING, Any, BinaryIO

from ..errors import AlreadyExists, InvalidArgument, NotFound
from ._alerts import AlertMethods
from ._data import DataMethods
from ._deployments import DeploymentMethods
from ._monitoring import MonitoringMethods
from ._monitors import MonitorMethods
from ._registry import RegistryMethods
from ._validation import ValidationMethods

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
    from ..tracking import (
        ArtifactInfo,
        Experiment,
        MetricPoint,
        Run,
        RunComparison,
        RunPage,
        RunStatus,
    )
    from ..tracking._active_run import ActiveRun
    from ._backend import Backend

DEFAULT_PROJECT = "default"
DEFAULT_EXPERIMENT = "Default"

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


class Client(
    AlertMethods,
    RegistryMethods,
    DataMethods,
    DeploymentMethods,
    MonitoringMethods,
    MonitorMethods,
    ValidationMethods,
):
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

    # -- experiment tracking ----------------------------------------------------------------

    def create_experiment(self, project: str, name: str, description: str = "") -> Experiment:
        """Create an experiment (project editors). ``AlreadyExists`` when the name is taken."""
        return self._backend.create_experiment(
            _text("project", project), _text("experiment", name), description
        )

    def get_experiment(self, project: str, name: str) -> Experiment:
        """An experiment by name; ``NotFound``."""
        return self._backend.get_experiment(_text("project", project), _text("experiment", name))

    def list_experiments(self, project: str, *, include_deleted: bool = False) -> list[Experiment]:
        """A project's experiments, by name (deleted ones only with ``include_deleted``)."""
        return self._backend.list_experiments(_text("project", project), include_deleted)

    def delete_experiment(self, project: str, name: str) -> Experiment:
        """Soft-delete an experiment (project maintainers)."""
        return self._backend.set_experiment_deleted(
            _text("project", project), _text("experiment", name), True
        )

    def restore_experiment(self, project: str, name: str) -> Experiment:
        """Restore a soft-deleted experiment (project maintainers)."""
        return self._backend.set_experiment_deleted(
            _text("project", project), _text("experiment", name), False
        )

    def _ensure_experiment(self, project: str, experiment: str) -> None:
        """Get-or-create ``experiment``; the ``default`` project is created when missing."""
        try:
            self._backend.get_experiment(project, experiment)
            return
        except NotFound:
            pass
        try:
            self._backend.create_experiment(project, experiment, "")
        except AlreadyExists:
            pass
        except NotFound:
            if project != DEFAULT_PROJECT:
                raise
            with contextlib.suppress(AlreadyExists):
                self._backend.create_project(project, "Runs logged without a project")
            with contextlib.suppress(AlreadyExists):
                self._backend.create_experiment(project, experiment, "")

    def start_run(
        self,
        project: str = DEFAULT_PROJECT,
        experiment: str = DEFAULT_EXPERIMENT,
        *,
        name: str | None = None,
        parent_run_id: str | None = None,
        tags: Mapping[str, str] | None = None,
        environment: bool | Mapping[str, Any] = True,
        batch_size: int = 5000,
        flush_interval: float = 1.0,
        max_buffered: int = 100_000,
        heartbeat_interval: float = 30.0,
    ) -> ActiveRun:
        """Start a run and return it as an ``ActiveRun`` to log to (end it, or use ``with``).

        The experiment is created when missing (and the ``default`` project too).
        ``environment=True`` records ``capture_environment()`` with the run; pass a mapping
        to record your own, or False for none. The remaining arguments tune the background
        shipping: ``batch_size`` points per request, at most ``flush_interval`` seconds
        between requests, at most ``max_buffered`` queued items before ``log_metric``
        blocks, a heartbeat every ``heartbeat_interval`` seconds.
        """
        from ..tracking import capture_environment
        from ..tracking._active_run import ActiveRun, check_shipping_options

        check_shipping_options(batch_size, flush_interval, max_buffered, heartbeat_interval)
        project, experiment = _text("project", project), _text("experiment", experiment)
        if parent_run_id is not None:
            _text("parent run id", parent_run_id)
        if environment is True:
            env: dict[str, Any] = capture_environment()
        elif environment is False:
            env = {}
        else:
            env = dict(environment)
        self._ensure_experiment(project, experiment)
        run = self._backend.start_run(
            project, experiment, name, parent_run_id, dict(tags or {}), env
        )
        if environment is True and (env.get("git") or {}).get("dirty"):
            try:
                self._store_git_diff(run.id, Path(env["cwd"]))
            except BaseException:
                with contextlib.suppress(Exception):
                    self._backend.end_run(run.id, "FAILED")
                raise
        return ActiveRun(
            self._backend,
            run,
            batch_size=batch_size,
            flush_interval=flush_interval,
            max_buffered=max_buffered,
            heartbeat_interval=heartbeat_interval,
        )

    def _store_git_diff(self, run_id: str, cwd: Path) -> None:
        """A dirty work tree's uncommitted changes, as artifact ``environment/git.diff``."""
        import io

        from ..tracking import git_diff
        from ..tracking._artifacts import GIT_DIFF_ARTIFACT

        diff = git_diff(cwd)
        if diff:
            self._backend.log_artifact(run_id, GIT_DIFF_ARTIFACT, io.BytesIO(diff))

    def get_run(self, run_id: str) -> Run:
        """A run with its parameters, tags and latest metric values. ``NotFound``."""
        return self._backend.get_run(_text("run id", run_id))

    def log_batch(
        self,
        run_id: str,
        *,
        metrics: Iterable[MetricPoint] = (),
        params: Mapping[str, str] | None = None,
        tags: Mapping[str, str] | None = None,
    ) -> None:
        """Store metric points, parameters and tags now, in one transaction.

        Parameters are write-once (``Conflict``); bad input is ``InvalidArgument`` and
        nothing is written. ``ActiveRun`` batches for you; this is the direct path.
        """
        from ..tracking import MetricPoint

        points = []
        for point in metrics:
            if not isinstance(point, MetricPoint):
                raise InvalidArgument("metrics must be MetricPoint(key, value, step, timestamp)")
            points.append((point.key, point.value, point.step, point.timestamp))
        self._backend.log_batch(
            _text("run id", run_id), points, dict(params or {}), dict(tags or {})
        )

    def end_run(self, run_id: str, status: RunStatus | str = "FINISHED") -> Run:
        """Mark a running run FINISHED, FAILED or KILLED. ``Conflict`` if it has ended."""
        return self._backend.end_run(_text("run id", run_id), str(status))

    def heartbeat(self, run_id: str) -> None:
        """Record that the run's process is alive (``ActiveRun`` does this for you)."""
        self._backend.heartbeat(_text("run id", run_id))

    def set_run_notes(self, run_id: str, notes: str) -> Run:
        """Replace a run's notes (Markdown, up to 100,000 characters)."""
        return self._backend.set_run_notes(_text("run id", run_id), notes)

    def delete_run(self, run_id: str) -> Run:
        """Soft-delete a run. ``Conflict`` if already deleted."""
        return self._backend.set_run_deleted(_text("run id", run_id), True)

    def restore_run(self, run_id: str) -> Run:
        """Restore a soft-deleted run. ``Conflict`` if not deleted."""
        return self._backend.set_run_deleted(_text("run id", run_id), False)

    def metric_history(self, run_id: str, key: str) -> list[MetricPoint]:
        """Every point of one metric of a run, by step then timestamp."""
        return self._backend.metric_history(_text("run id", run_id), key)

    def search_runs(
        self,
        project: str,
        *,
        experiment_ids: Sequence[str] | None = None,
        filter: str = "",
        order_by: Sequence[str] = (),
        max_results: int = 100,
        page_token: str | None = None,
        include_deleted: bool = False,
    ) -> RunPage:
        """Runs of a project matching ``filter`` (the search language), ordered and paged:
        pass ``next_page_token`` back for the next page."""
        return self._backend.search_runs(
            _text("project", project),
            None if experiment_ids is None else list(experiment_ids),
            filter,
            list(order_by),
            max_results,
            page_token,
            include_deleted,
        )

    def compare_runs(
        self, run_ids: Sequence[str], *, metric_keys: Sequence[str] | None = None
    ) -> RunComparison:
        """Runs side by side: every parameter (and which differ), each metric aligned by step
        (default: all the runs' metrics, at most 20)."""
        return self._backend.compare_runs(
            [_text("run id", r) for r in run_ids],
            None if metric_keys is None else list(metric_keys),
        )

    def best_run(self, project: str, metric: str, *, mode: str = "max", filter: str = "") -> Run:
        """The run with the highest (``mode="max"``) or lowest latest value of ``metric``
        among the project's runs matching ``filter``; ``NotFound`` when none logged it."""
        if mode not in ("max", "min"):
            raise InvalidArgument("mode is 'max' or 'min'")
        return self._backend.best_run(_text("project", project), metric, mode, filter)

    # -- run artifacts ----------------------------------------------------------------------

    def log_artifact(
        self, run_id: str, local_path: str | os.PathLike[str], artifact_path: str | None = None
    ) -> ArtifactInfo:
        """Upload a local file as artifact ``artifact_path/<file name>`` (or ``<file name>``).

        Project editors, on a running run. The same artifact path again replaces the file.
        ``InvalidArgument`` for an unsafe path, ``PayloadTooLarge`` past ``max_upload_bytes``.
        """
        from ._artifact_files import upload_file

        return upload_file(self._backend, _text("run id", run_id), local_path, artifact_path)

    def log_artifacts(
        self, run_id: str, local_dir: str | os.PathLike[str], artifact_path: str | None = None
    ) -> list[ArtifactInfo]:
        """Upload every file below ``local_dir``, keeping its layout under ``artifact_path``
        (or the run's top level). Every path is checked before the first upload."""
        from ._artifact_files import upload_folder

        return upload_folder(self._backend, _text("run id", run_id), local_dir, artifact_path)

    def list_artifacts(self, run_id: str, prefix: str = "") -> list[ArtifactInfo]:
        """The files and folders (``is_dir``) directly inside folder ``prefix``, like ``ls``."""
        return self._backend.list_artifacts(_text("run id", run_id), prefix)

    def download_artifact(self, run_id: str, path: str, dest: str | os.PathLike[str]) -> Path:
        """Write artifact ``path`` to ``dest`` and return the local path written.

        A file goes to ``dest`` (inside it, when ``dest`` is an existing folder), through a
        temporary file renamed on success; a folder is downloaded recursively into ``dest``.
        """
        from ._artifact_files import download

        return download(self._backend, _text("run id", run_id), path, dest)
