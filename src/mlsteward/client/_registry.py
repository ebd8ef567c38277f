"""The model registry part of ``Client``: registered models, versions, aliases, promotion
requests (four-eyes approval), alias policies and model downloads.

A mixin so that ``_client.py`` stays one subject; every method goes through the backend, so
the in-process and HTTP clients behave alike.
"""

from __future__ import annotations

import math
import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..errors import IntegrityError, InvalidArgument
from ._backend import NewVersion
from ._model_files import check_file_path, file_destination, version_destinations

if TYPE_CHECKING:
    from ..models._model_dir import LoadedModel
    from ..models._pickle_scan import TrustDecision
    from ..registry import (
        AliasPeriod,
        ModelFile,
        ModelVersion,
        PromotionRequest,
        RegisteredModel,
        RequestStatus,
    )
    from ._backend import Backend


def _name(kind: str, value: object) -> str:
    """A name that goes into a URL path when remote (see ``_client._text``)."""
    from ._client import _text

    return _text(kind, value)


def _version(version: object) -> int:
    from ..registry._models import check_version_number

    return check_version_number(version)


def _status(status: RequestStatus | str | None) -> str | None:
    from ..registry import RequestStatus

    if status is None:
        return None
    try:
        return RequestStatus(str(status).upper()).value
    except ValueError:
        known = ", ".join(s.value for s in RequestStatus)
        raise InvalidArgument(f"status must be one of {known}, not {status!r}") from None


def _finite_metrics(metrics: Mapping[str, float] | None) -> dict[str, float]:
    """The snapshot without NaN and infinities, as the service keeps it (and JSON can carry)."""
    return {
        key: value
        for key, value in (metrics or {}).items()
        if not (isinstance(value, float) and not math.isfinite(value))
    }


class RegistryMethods:
    """The registry methods of ``Client`` (it provides ``_backend``)."""

    _backend: Backend

    # -- registered models ------------------------------------------------------------------

    def create_registered_model(
        self,
        project: str,
        name: str,
        *,
        description: str = "",
        tags: Mapping[str, str] | None = None,
    ) -> RegisteredModel:
        """Register a model name in a project (project editors). ``AlreadyExists``;
        ``InvalidArgument`` for a name that is not 1-200 letters, digits, ``.``, ``_``, ``-``."""
        return self._backend.create_registered_model(
            _name("project", project), _name("model name", name), description, dict(tags or {})
        )

    def get_registered_model(self, project: str, name: str) -> RegisteredModel:
        """A registered model with its aliases and latest version number. ``NotFound``."""
        return self._backend.get_registered_model(
            _name("project", project), _name("model name", name)
        )

    def list_registered_models(self, project: str) -> list[RegisteredModel]:
        """Every registered model of the project, by name."""
        return self._backend.list_registered_models(_name("project", project))

    def update_registered_model(
        self,
        project: str,
        name: str,
        *,
        description: str | None = None,
        tags: Mapping[str, str] | None = None,
    ) -> RegisteredModel:
        """Replace a model's description and/or tags (project editors); None keeps it."""
        return self._backend.update_registered_model(
            _name("project", project),
            _name("model name", name),
            description,
            None if tags is None else dict(tags),
        )

    # -- versions -----------------------------------------------------------------------------

    def register_model_version(
        self,
        project: str,
        name: str,
        *,
        source_uri: str,
        flavor: str,
        files: Sequence[ModelFile],
        source_run_id: str | None = None,
        signature: Mapping[str, Any] | None = None,
        metrics: Mapping[str, float] | None = None,
        datasets: Sequence[Mapping[str, Any]] = (),
        scan: Mapping[str, Any] | None = None,
        model_card: Mapping[str, Any] | None = None,
        description: str = "",
        tags: Mapping[str, str] | None = None,
    ) -> ModelVersion:
        """Add the next version of ``name`` (registered on first use; project editors).

        ``files`` are ``ModelFile(path, address, size)`` of blobs already stored
        (``put_blob``); ``NotFound`` lists the ones that are not. ``metrics`` is the snapshot
        policies compare against (NaN and infinities are left out); ``scan`` is
        ``{"status": "clean" | "unsafe" | "trusted" | "not_scanned", ...}``.
        """
        from ..registry import ModelFile

        if isinstance(files, ModelFile) or not all(isinstance(f, ModelFile) for f in files):
            raise InvalidArgument("files must be a sequence of ModelFile(path, address, size)")
        spec = NewVersion(
            source_uri=source_uri,
            flavor=flavor,
            files=tuple(files),
            source_run_id=source_run_id,
            signature=None if signature is None else dict(signature),
            metrics=_finite_metrics(metrics),
            datasets=tuple(dict(d) for d in datasets),
            scan=None if scan is None else dict(scan),
            model_card=None if model_card is None else dict(model_card),
            description=description,
            tags=dict(tags or {}),
        )
        return self._backend.register_model_version(
            _name("project", project), _name("model name", name), spec
        )

    def get_model_version(self, project: str, name: str, version: int) -> ModelVersion:
        """One version of a registered model. ``NotFound``."""
        return self._backend.get_model_version(
            _name("project", project), _name("model name", name), _version(version)
        )

    def list_model_versions(self, project: str, name: str) -> list[ModelVersion]:
        """Every version of a registered model, newest first."""
        return self._backend.list_model_versions(
            _name("project", project), _name("model name", name)
        )

    def resolve_model_uri(self, project: str, uri: str) -> ModelVersion:
        """The version ``models:/<name>/<version>`` or ``models:/<name>@<alias>`` names now.
        ``InvalidArgument`` for another form; ``NotFound`` for an unknown model, version or
        alias."""
        from ..registry import parse_model_uri

        parse_model_uri(uri)  # the same message local and remote, before any request
        return self._backend.resolve_model_uri(_name("project", project), uri)

    def register_model(self, uri: str, name: str) -> ModelVersion:
        """Register the model a run logged (``runs:/<run id>/<path>``) as the next version of
        ``name`` in the run's project (editors). The server reads and scans the files."""
        if not isinstance(uri, str):
            raise InvalidArgument("uri must be a runs:/<run id>/<path> string")
        return self._backend.register_model_from_run(uri, _name("model", name))

    def load_model(
        self,
        uri: str,
        *,
        project: str = "default",
        trust: TrustDecision | None = None,
        dest: str | os.PathLike[str] | None = None,
    ) -> LoadedModel:
        """Download and load ``models:/<name>/<version>``, ``models:/<name>@<alias>`` or
        ``runs:/<run id>/<path>`` (into ``dest``, else a temporary folder kept while the model
        lives). The files are scanned before anything loads: a model whose loading runs code
        needs ``trust`` (``mlsteward.models.TrustDecision``), which is recorded in the audit
        trail first. ``predict`` enforces the model's signature."""
        import shutil
        import tempfile
        import weakref

        from ..models._model_dir import load_model_dir

        if not isinstance(uri, str) or not uri.startswith(("models:/", "runs:/")):
            raise InvalidArgument(
                f"{str(uri)[:100]!r} is not a model URI: use models:/<name>/<version>, "
                "models:/<name>@<alias> or runs:/<run id>/<path>"
            )
        owned = dest is None
        folder = Path(tempfile.mkdtemp(prefix="mlsteward-model-") if dest is None else dest)
        try:
            if uri.startswith("runs:/"):
                from ..registry._from_run import parse_run_uri

                run_id, path = parse_run_uri(uri)
                self.download_artifact(run_id, path, folder / "model")  # type: ignore[attr-defined]
                where = folder / "model"
            else:
                self.download_model_version(project, uri, folder)
                where = folder

            def audit(scan: dict[str, Any]) -> None:
                assert trust is not None
                self._backend.record_trust_decision(
                    uri, trust.reason, scan, project if uri.startswith("models:/") else None
                )

            model = load_model_dir(where, trust=trust, on_trust=audit)
        except BaseException:
            if owned:
                shutil.rmtree(folder, ignore_errors=True)
            raise
        if owned:
            weakref.finalize(model, shutil.rmtree, folder, True)
        return model

    def download_model_version(
        self, project: str, uri: str, dest: str | os.PathLike[str]
    ) -> ModelVersion:
        """Write every file of the version ``uri`` names under folder ``dest`` (created when
        missing), keeping each file's path; return that version.

        Each file appears only complete, through a temporary file renamed on success. A file
        path that would land outside ``dest`` is ``InvalidArgument`` before anything is
        written; a size that differs from the version's record is ``IntegrityError``.
        """
        version = self.resolve_model_uri(project, uri)
        root = Path(dest)
        targets = version_destinations(version, root)
        for _, target in targets:
            target.parent.mkdir(parents=True, exist_ok=True)
        sizes = self._backend.download_model_files(
            project, version.model_name, version.version, targets
        )
        _check_sizes(version, targets, sizes)
        return version

    def download_model_file(
        self, project: str, uri: str, path: str, dest: str | os.PathLike[str]
    ) -> Path:
        """Write one file of the version ``uri`` names to ``dest`` (into it, when ``dest`` is
        an existing folder); return the local path written. ``NotFound`` for a path the
        version does not list; ``InvalidArgument`` for an absolute path or ``..``."""
        check_file_path(path)
        version = self.resolve_model_uri(project, uri)
        target = file_destination(path, Path(dest))
        sizes = self._backend.download_model_files(
            project, version.model_name, version.version, [(path, target)]
        )
        _check_sizes(version, [(path, target)], sizes)
        return target

    # -- aliases --------------------------------------------------------------------------------

    def set_alias(self, project: str, name: str, alias: str, version: int) -> ModelVersion:
        """Point ``alias`` at ``version`` (project maintainers) when the alias's policy allows
        it without an approval; otherwise ``PolicyNotMet``, whose ``details["unmet"]`` lists
        every unmet condition (request a promotion instead)."""
        return self._backend.set_alias(
            _name("project", project),
            _name("model name", name),
            _name("alias", alias),
            _version(version),
        )

    def delete_alias(self, project: str, name: str, alias: str) -> None:
        """Remove ``alias`` from the model (project maintainers). ``NotFound``."""
        self._backend.delete_alias(
            _name("project", project), _name("model name", name), _name("alias", alias)
        )

    def alias_history(self, project: str, name: str, alias: str | None = None) -> list[AliasPeriod]:
        """Which version held each alias (or only ``alias``), from when to when, set and
        ended by whom; oldest first."""
        return self._backend.alias_history(
            _name("project", project),
            _name("model name", name),
            None if alias is None else _name("alias", alias),
        )

    # -- promotion requests ---------------------------------------------------------------------

    def request_promotion(
        self, project: str, name: str, version: int, alias: str, *, comment: str = ""
    ) -> PromotionRequest:
        """Ask for ``version`` to take ``alias`` (project editors). ``Conflict`` while the
        version has an open request for the alias."""
        return self._backend.request_promotion(
            _name("project", project),
            _name("model name", name),
            _version(version),
            _name("alias", alias),
            comment,
        )

    def approve_promotion(
        self, project: str, request_id: str, comment: str
    ) -> tuple[PromotionRequest, list[dict[str, str]]]:
        """Approve a pending request (a project maintainer other than the requester; a
        comment is required). Returns the request and the policy conditions still unmet: the
        alias moved when that list is empty, else fix them and ``apply_promotion``."""
        return self._backend.approve_promotion(
            _name("project", project), _name("request id", request_id), comment
        )

    def apply_promotion(self, project: str, request_id: str) -> PromotionRequest:
        """Move the alias of an approved request (project maintainers); ``PolicyNotMet``
        lists every condition that still does not hold."""
        return self._backend.apply_promotion(
            _name("project", project), _name("request id", request_id)
        )

    def reject_promotion(self, project: str, request_id: str, comment: str) -> PromotionRequest:
        """Reject an open request (project maintainers; a comment is required)."""
        return self._backend.reject_promotion(
            _name("project", project), _name("request id", request_id), comment
        )

    def cancel_promotion(self, project: str, request_id: str) -> PromotionRequest:
        """Withdraw your own open request."""
        return self._backend.cancel_promotion(
            _name("project", project), _name("request id", request_id)
        )

    def list_promotion_requests(
        self, project: str, name: str, *, status: RequestStatus | str | None = None
    ) -> list[PromotionRequest]:
        """A model's promotion requests, newest first, optionally of one status (any case)."""
        return self._backend.list_promotion_requests(
            _name("project", project), _name("model name", name), _status(status)
        )

    # -- alias policies -------------------------------------------------------------------------

    def set_alias_policy(
        self,
        project: str,
        alias: str,
        conditions: Sequence[Mapping[str, Any]],
        model: str | None = None,
    ) -> list[dict[str, Any]]:
        """Set the conditions ``alias`` needs, for one model (project maintainers) or, with
        ``model=None``, the project's default (project owners); ``[]`` removes them all.
        Returns the stored conditions, e.g. ``[{"type": "approval"}, {"type":
        "metric_at_least", "metric": "auc", "threshold": 0.9}]``."""
        return self._backend.set_alias_policy(
            _name("project", project),
            _name("alias", alias),
            [dict(c) for c in conditions],
            None if model is None else _name("model name", model),
        )

    def get_alias_policy(
        self, project: str, alias: str, model: str | None = None
    ) -> list[dict[str, Any]]:
        """The conditions that apply to ``alias`` for ``model`` (its own, else the
        project's), or the project's default with ``model=None``."""
        return self._backend.get_alias_policy(
            _name("project", project),
            _name("alias", alias),
            None if model is None else _name("model name", model),
        )


def _check_sizes(
    version: ModelVersion, targets: Sequence[tuple[str, Path]], sizes: Sequence[int]
) -> None:
    expected = {f.path: f.size for f in version.files}
    for (path, target), size in zip(targets, sizes, strict=True):
        if size != expected.get(path, size):
            raise IntegrityError(
                f"file {path!r} of {version.uri} is {size} bytes, the version records "
                f"{expected[path]}: the blob does not match the registry (written to {target})",
                details={"path": path, "size": size, "expected": expected[path]},
            )
