"""Registered models and their versions: create, read, list, describe, resolve model URIs."""

from __future__ import annotations

import math
import re
import uuid
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sqlalchemy import Connection, Row, delete, func, insert, select, update

from ..errors import AlreadyExists, InvalidArgument, NotFound, PermissionDenied
from ..security import Actor, Role, fetch_project, require_project_role
from ..store import utcnow
from ..store._numbering import next_number
from ..store._tables import blob_refs
from ..tracking._artifacts import artifact_owner_id
from ._model import (
    MAX_DESCRIPTION_LENGTH,
    ModelFile,
    ModelVersion,
    ModelVersionId,
    RegisteredModel,
    RegisteredModelId,
    check_alias,
    check_model_name,
    check_tags,
    check_text,
)
from ._tables import model_aliases, model_versions, registered_models
from ._webhooks import emit_event

if TYPE_CHECKING:
    from ..platform import Platform

MAX_FILES = 10_000
VERSION_FILE_OWNER = "model_version"
"""``blob_refs.owner_type`` of model version files; ``owner_id`` is ``<version_id>/<path>``."""
MAX_DATASETS = 100
_URI = re.compile(r"models:/(?P<name>[^/@]+)(?:/(?P<version>[0-9]+)|@(?P<alias>[^/@]+))")
_ADDRESS = re.compile(r"[0-9a-f]{64}")
_SCAN_STATUSES = frozenset({"clean", "unsafe", "trusted", "not_scanned"})


def _model_from_row(conn: Connection, row: Row[Any]) -> RegisteredModel:
    aliases = {
        alias: version
        for alias, version in conn.execute(
            select(model_aliases.c.alias, model_versions.c.version)
            .join(model_versions, model_versions.c.id == model_aliases.c.version_id)
            .where(model_aliases.c.model_id == row.id)
            .order_by(model_aliases.c.alias)
        )
    }
    latest = conn.execute(
        select(func.max(model_versions.c.version)).where(model_versions.c.model_id == row.id)
    ).scalar_one_or_none()
    return RegisteredModel(
        RegisteredModelId(row.id),
        row.project_id,
        row.name,
        row.description,
        row.created_at,
        row.created_by,
        row.updated_at,
        dict(row.tags),
        aliases,
        latest,
    )


def _version_from_row(conn: Connection, row: Row[Any], model_name: str) -> ModelVersion:
    aliases = tuple(
        conn.execute(
            select(model_aliases.c.alias)
            .where(model_aliases.c.version_id == row.id)
            .order_by(model_aliases.c.alias)
        ).scalars()
    )
    return ModelVersion(
        id=ModelVersionId(row.id),
        model_id=RegisteredModelId(row.model_id),
        model_name=model_name,
        version=row.version,
        source_run_id=row.source_run_id,
        source_uri=row.source_uri,
        flavor=row.flavor,
        files=tuple(ModelFile(f["path"], f["address"], f["size"]) for f in row.files),
        signature=row.signature,
        metrics={k: float(v) for k, v in row.metrics.items()},
        datasets=tuple(row.datasets),
        scan=dict(row.scan),
        package=row.package,
        model_card=dict(row.model_card),
        description=row.description,
        tags=dict(row.tags),
        created_at=row.created_at,
        created_by=row.created_by,
        aliases=aliases,
    )


def fetch_model_row(
    conn: Connection, project_id: str, name: str, *, lock: bool = False
) -> Row[Any]:
    """The registered model's row (``lock``: ``FOR UPDATE`` on PostgreSQL, serialising
    version numbering and alias moves per model); ``NotFound`` if there is none."""
    query = select(registered_models).where(
        registered_models.c.project_id == project_id, registered_models.c.name == name
    )
    row = conn.execute(query.with_for_update() if lock else query).first()
    if row is None:
        raise NotFound(f"no registered model named {name!r} in this project")
    return row


def fetch_version_row(conn: Connection, model_id: str, version: int) -> Row[Any]:
    row = conn.execute(
        select(model_versions).where(
            model_versions.c.model_id == model_id, model_versions.c.version == version
        )
    ).first()
    if row is None:
        raise NotFound(f"the model has no version {version}")
    return row


def version_by_id(conn: Connection, version_id: str, model_name: str) -> ModelVersion:
    row = conn.execute(select(model_versions).where(model_versions.c.id == version_id)).first()
    if row is None:
        raise NotFound("no such model version")
    return _version_from_row(conn, row, model_name)


def check_version_number(version: object) -> int:
    if isinstance(version, bool) or not isinstance(version, int) or not 0 < version < 2**31:
        raise InvalidArgument(f"version must be a positive integer, not {version!r}")
    return version


def create_registered_model(
    platform: Platform,
    actor: Actor,
    project: str,
    name: str,
    *,
    description: str = "",
    tags: Mapping[str, str] | None = None,
) -> RegisteredModel:
    """Register a model name in a project (editors); ``AlreadyExists`` if taken."""
    check_model_name(name)
    check_text("description", description, MAX_DESCRIPTION_LENGTH)
    checked_tags = check_tags(dict(tags or {}))
    with platform.db.write() as conn:
        project_row = fetch_project(conn, project)
        require_project_role(conn, actor, project_row.id, Role.EDITOR)
        _insert_model(conn, project_row.id, name, description, checked_tags, actor)
        platform.audit.record(
            conn,
            actor,
            "registry.model.create",
            target_type="registered_model",
            target_id=name,
            project_id=project_row.id,
        )
        return _model_from_row(conn, fetch_model_row(conn, project_row.id, name))


def _insert_model(
    conn: Connection,
    project_id: str,
    name: str,
    description: str,
    tags: dict[str, str],
    actor: Actor,
) -> None:
    taken = conn.execute(
        select(registered_models.c.id).where(
            registered_models.c.project_id == project_id, registered_models.c.name == name
        )
    ).first()
    if taken is not None:
        raise AlreadyExists(f"a model named {name!r} is registered in this project already")
    now = utcnow()
    conn.execute(
        insert(registered_models).values(
            id=uuid.uuid4().hex,
            project_id=project_id,
            name=name,
            description=description,
            created_at=now,
            created_by=actor.name,
            updated_at=now,
            tags=tags,
        )
    )


def get_registered_model(
    platform: Platform, actor: Actor, project: str, name: str
) -> RegisteredModel:
    """A registered model with its aliases and latest version number (viewers)."""
    with platform.db.read() as conn:
        project_row = fetch_project(conn, project)
        require_project_role(conn, actor, project_row.id, Role.VIEWER)
        return _model_from_row(conn, fetch_model_row(conn, project_row.id, name))


def list_registered_models(platform: Platform, actor: Actor, project: str) -> list[RegisteredModel]:
    """Every registered model of the project, by name (viewers)."""
    with platform.db.read() as conn:
        project_row = fetch_project(conn, project)
        require_project_role(conn, actor, project_row.id, Role.VIEWER)
        rows = conn.execute(
            select(registered_models)
            .where(registered_models.c.project_id == project_row.id)
            .order_by(registered_models.c.name)
        ).all()
        return [_model_from_row(conn, row) for row in rows]


def update_registered_model(
    platform: Platform,
    actor: Actor,
    project: str,
    name: str,
    *,
    description: str | None = None,
    tags: Mapping[str, str] | None = None,
) -> RegisteredModel:
    """Replace the description and/or the tags of a registered model (editors)."""
    values: dict[str, Any] = {}
    if description is not None:
        values["description"] = check_text("description", description, MAX_DESCRIPTION_LENGTH)
    if tags is not None:
        values["tags"] = check_tags(dict(tags))
    with platform.db.write() as conn:
        project_row = fetch_project(conn, project)
        require_project_role(conn, actor, project_row.id, Role.EDITOR)
        row = fetch_model_row(conn, project_row.id, name, lock=True)
        if values:
            conn.execute(
                update(registered_models)
                .where(registered_models.c.id == row.id)
                .values(updated_at=utcnow(), **values)
            )
            platform.audit.record(
                conn,
                actor,
                "registry.model.update",
                target_type="registered_model",
                target_id=name,
                project_id=project_row.id,
                details={"fields": sorted(values)},
            )
        return _model_from_row(conn, fetch_model_row(conn, project_row.id, name))


def _check_files(files: Sequence[ModelFile]) -> list[dict[str, Any]]:
    if not files or len(files) > MAX_FILES:
        raise InvalidArgument(f"a model version has 1 to {MAX_FILES} files")
    seen: set[str] = set()
    checked = []
    for f in files:
        if not isinstance(f, ModelFile):
            raise InvalidArgument("files must be ModelFile(path, address, size) values")
        parts = f.path.split("/")
        if not f.path or f.path.startswith("/") or any(p in ("", ".", "..") for p in parts):
            raise InvalidArgument(f"model file path {f.path!r} must be relative and plain")
        if f.path in seen:
            raise InvalidArgument(f"model file {f.path!r} is listed twice")
        if (
            not isinstance(f.size, int)
            or f.size < 0
            or not re.fullmatch(r"[0-9a-f]{64}", f.address)
        ):
            raise InvalidArgument(f"model file {f.path!r} needs a blob address and a size")
        seen.add(f.path)
        checked.append(f.to_json())
    return sorted(checked, key=lambda f: f["path"])


def _check_metrics(metrics: Mapping[str, float]) -> dict[str, float]:
    checked: dict[str, float] = {}
    for key, value in metrics.items():
        if (
            not isinstance(key, str)
            or isinstance(value, bool)
            or not isinstance(value, int | float)
        ):
            raise InvalidArgument("metrics are a mapping of metric keys to numbers")
        if math.isfinite(value):  # the snapshot keeps comparable values only
            checked[key] = float(value)
    return checked


def register_model_version(
    platform: Platform,
    actor: Actor,
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
    _server_scan: Mapping[str, Any] | None = None,
) -> ModelVersion:
    """Add the next version of ``name`` (created if it is not registered yet; editors).

    ``files`` are blobs already in the store; ``metrics`` is the snapshot policies compare
    against (non-finite values are left out). The server scans the files itself (``scan_files``
    below): only a platform administrator may record a ``scan`` instead (``{"status": "clean"
    | "unsafe" | "trusted" | "not_scanned", ...}``), because policies rely on it. Files must be
    artifacts of runs or files of versions in the same project (administrators may use any
    blob): a version never exposes another project's data. Versions are numbered 1, 2, ...
    per model, also under
    concurrent registrations.
    """
    check_model_name(name)
    file_rows = _check_files(files)
    snapshot = _check_metrics(metrics or {})
    if scan is not None and not actor.is_admin:
        raise PermissionDenied(
            "only platform administrators may record a scan result: the server scans the "
            "model files itself (leave scan out)"
        )
    if scan is not None and dict(scan).get("status") not in _SCAN_STATUSES:
        raise InvalidArgument(f"scan status must be one of {sorted(_SCAN_STATUSES)}")
    if len(datasets) > MAX_DATASETS or not all(isinstance(d, Mapping) for d in datasets):
        raise InvalidArgument(f"datasets are at most {MAX_DATASETS} mappings")
    check_text("description", description, MAX_DESCRIPTION_LENGTH)
    checked_tags = check_tags(dict(tags or {}))
    check_text("source_uri", source_uri, 2000)
    check_text("flavor", flavor, 64)
    if model_card:
        from ._model_card import check_model_card

        model_card = check_model_card(model_card)
    missing = [f["path"] for f in file_rows if not platform.blobs.exists(f["address"])]
    if missing:
        raise NotFound(
            f"{len(missing)} model file(s) are not in the blob store (first: {missing[0]!r}): "
            "upload them before registering the version",
            details={"files": missing[:20]},
        )
    with platform.db.read() as conn:
        project_row = fetch_project(conn, project)
        require_project_role(conn, actor, project_row.id, Role.EDITOR)
        _check_blob_access(conn, actor, project_row.id, file_rows)
    if _server_scan is not None:  # scanned by this process from the same blobs (from a run)
        scan_record = dict(_server_scan)
    elif scan is not None:
        scan_record = dict(scan)
    else:
        scan_record = scan_files(platform, file_rows)
    with platform.db.write() as conn:
        project_row = fetch_project(conn, project)
        require_project_role(conn, actor, project_row.id, Role.EDITOR)
        try:
            model_row = fetch_model_row(conn, project_row.id, name, lock=True)
        except NotFound:
            _insert_model(conn, project_row.id, name, "", {}, actor)
            platform.audit.record(
                conn,
                actor,
                "registry.model.create",
                target_type="registered_model",
                target_id=name,
                project_id=project_row.id,
            )
            model_row = fetch_model_row(conn, project_row.id, name, lock=True)
        number = next_number(
            conn, model_versions.c.version, model_versions.c.model_id, model_row.id
        )
        version_id = uuid.uuid4().hex
        conn.execute(
            insert(model_versions).values(
                id=version_id,
                model_id=model_row.id,
                version=number,
                source_run_id=source_run_id,
                source_uri=source_uri,
                flavor=flavor,
                files=file_rows,
                signature=dict(signature) if signature is not None else None,
                metrics=snapshot,
                datasets=[dict(d) for d in datasets],
                scan=scan_record,
                package=None,
                model_card=dict(model_card or {}),
                description=description,
                tags=checked_tags,
                created_at=utcnow(),
                created_by=actor.name,
            )
        )
        from ..data._lineage import record_model_version_lineage  # data imports the registry

        record_model_version_lineage(  # run -produced-> version, dataset versions -> run
            conn, actor, project_row.id, version_id, source_run_id, datasets
        )
        now = utcnow()
        conn.execute(  # blob gc keeps every file a version lists
            insert(blob_refs),
            [
                {
                    "address": f["address"],
                    "owner_type": VERSION_FILE_OWNER,
                    "owner_id": artifact_owner_id(version_id, f["path"]),
                    "size": f["size"],
                    "created_at": now,
                }
                for f in file_rows
            ],
        )
        conn.execute(
            update(registered_models)
            .where(registered_models.c.id == model_row.id)
            .values(updated_at=now)
        )
        emit_event(
            conn,
            project_row.id,
            "model_version.created",
            {
                "model": name,
                "version": number,
                "source_uri": source_uri,
                "flavor": flavor,
                "actor": actor.name,
            },
        )
        platform.audit.record(
            conn,
            actor,
            "registry.version.create",
            target_type="model_version",
            target_id=f"{name}/{number}",
            project_id=project_row.id,
            details={"source": source_uri, "flavor": flavor, "scan": scan_record.get("status")},
        )
        return version_by_id(conn, version_id, name)


def _check_blob_access(
    conn: Connection, actor: Actor, project_id: str, files: list[dict[str, Any]]
) -> None:
    """``PermissionDenied`` unless every file is an artifact of a run, or a file of a version,
    in this project (administrators may use any blob)."""
    if actor.is_admin:
        return
    from ..tracking._tables import run_artifacts, runs

    wanted = {f["address"] for f in files}
    known = set(
        conn.execute(
            select(run_artifacts.c.address)
            .join(runs, runs.c.id == run_artifacts.c.run_id)
            .where(runs.c.project_id == project_id, run_artifacts.c.address.in_(wanted))
        ).scalars()
    )
    if wanted - known:
        for listed in conn.execute(
            select(model_versions.c.files)
            .join(registered_models, registered_models.c.id == model_versions.c.model_id)
            .where(registered_models.c.project_id == project_id)
        ).scalars():
            known.update(f["address"] for f in listed)
    foreign = sorted(f["path"] for f in files if f["address"] not in known)
    if foreign:
        raise PermissionDenied(
            f"{len(foreign)} file(s) are neither run artifacts nor model files of this project "
            f"(first: {foreign[0]!r}): log them to a run of the project first",
            details={"files": foreign[:20]},
        )


def write_model_files(platform: Platform, files: Sequence[ModelFile], folder: Path) -> None:
    """Write each file from the blob store under ``folder`` (paths checked before the first
    write, so none lands outside it)."""
    from ..tracking._artifacts import check_artifact_path

    targets = [
        (f.address, folder.joinpath(*check_artifact_path(f.path, "model file path").split("/")))
        for f in files
    ]
    for address, target in targets:
        target.parent.mkdir(parents=True, exist_ok=True)
        platform.blobs.get_file(address, target)


def scan_files(platform: Platform, files: list[dict[str, Any]]) -> dict[str, Any]:
    """Scan a version's files as stored: a model folder (with ``mlsteward.yaml``) is scanned
    like ``load_model_dir`` would; anything else is ``not_scanned``."""
    import tempfile

    from ..errors import MissingExtra
    from ..models._model_dir import METADATA_FILE, scan_model_dir

    if not any(f["path"] == METADATA_FILE for f in files):
        return {"status": "not_scanned", "reason": f"no {METADATA_FILE}: not a saved model"}
    with tempfile.TemporaryDirectory(prefix="mlsteward-scan-") as tmp:
        folder = Path(tmp)
        write_model_files(
            platform, [ModelFile(f["path"], f["address"], f["size"]) for f in files], folder
        )
        try:
            return scan_model_dir(folder)
        except MissingExtra as exc:
            return {"status": "not_scanned", "reason": exc.message}


def get_model_version(
    platform: Platform, actor: Actor, project: str, name: str, version: int
) -> ModelVersion:
    """One version of a registered model (viewers)."""
    check_version_number(version)
    with platform.db.read() as conn:
        project_row = fetch_project(conn, project)
        require_project_role(conn, actor, project_row.id, Role.VIEWER)
        model_row = fetch_model_row(conn, project_row.id, name)
        return _version_from_row(conn, fetch_version_row(conn, model_row.id, version), name)


def list_model_versions(
    platform: Platform, actor: Actor, project: str, name: str
) -> list[ModelVersion]:
    """Every version of a registered model, newest first (viewers)."""
    with platform.db.read() as conn:
        project_row = fetch_project(conn, project)
        require_project_role(conn, actor, project_row.id, Role.VIEWER)
        model_row = fetch_model_row(conn, project_row.id, name)
        rows = conn.execute(
            select(model_versions)
            .where(model_versions.c.model_id == model_row.id)
            .order_by(model_versions.c.version.desc())
        ).all()
        return [_version_from_row(conn, row, name) for row in rows]


def parse_model_uri(uri: str) -> tuple[str, int | None, str | None]:
    """``models:/<name>/<version>`` or ``models:/<name>@<alias>`` as (name, version, alias)."""
    match = _URI.fullmatch(uri) if isinstance(uri, str) else None
    if match is None:
        raise InvalidArgument(
            f"{str(uri)[:100]!r} is not a model URI: use models:/<name>/<version> or "
            "models:/<name>@<alias>",
            details={"field": "uri"},
        )
    name = check_model_name(match["name"])
    if match["version"] is not None:
        return name, check_version_number(int(match["version"])), None
    return name, None, check_alias(match["alias"])


def resolve_model_uri(platform: Platform, actor: Actor, project: str, uri: str) -> ModelVersion:
    """The version a ``models:/`` URI names now (viewers); ``NotFound`` for an unknown model,
    version or alias."""
    name, version, alias = parse_model_uri(uri)
    with platform.db.read() as conn:
        project_row = fetch_project(conn, project)
        require_project_role(conn, actor, project_row.id, Role.VIEWER)
        model_row = fetch_model_row(conn, project_row.id, name)
        if version is not None:
            return _version_from_row(conn, fetch_version_row(conn, model_row.id, version), name)
        version_id = conn.execute(
            select(model_aliases.c.version_id).where(
                model_aliases.c.model_id == model_row.id, model_aliases.c.alias == alias
            )
        ).scalar_one_or_none()
        if version_id is None:
            raise NotFound(f"model {name!r} has no alias @{alias}")
        return version_by_id(conn, version_id, name)


PACKAGE_OWNER = "model_package"
"""``blob_refs.owner_type`` of a version's package archive; ``owner_id`` is the version id."""


def record_package(
    platform: Platform,
    actor: Actor,
    project: str,
    name: str,
    version: int,
    *,
    address: str,
    size: int,
    key_id: str,
    verified: bool,
) -> ModelVersion:
    """Attach a built package (a blob already in the store) to a version (maintainers).

    ``verified`` says the package's signature and manifest checked out against a trusted
    key; the ``signed_package`` policy condition requires it. A newer package replaces the
    previous one (whose blob gc may then collect)."""
    check_version_number(version)
    if not _ADDRESS.fullmatch(str(address)) or not isinstance(size, int) or size < 0:
        raise InvalidArgument("a package needs a blob address and a size")
    if not isinstance(key_id, str) or not 0 < len(key_id) <= 64:
        raise InvalidArgument("key_id must be the signing key's id")
    if not platform.blobs.exists(address):
        raise NotFound("the package is not in the blob store: upload it first")
    with platform.db.write() as conn:
        project_row = fetch_project(conn, project)
        require_project_role(conn, actor, project_row.id, Role.MAINTAINER)
        model_row = fetch_model_row(conn, project_row.id, name, lock=True)
        row = fetch_version_row(conn, model_row.id, version)
        now = utcnow()
        package = {
            "address": address,
            "size": size,
            "key_id": key_id,
            "verified": bool(verified),
            "built_at": now.isoformat(),
            "built_by": actor.name,
        }
        conn.execute(
            update(model_versions).where(model_versions.c.id == row.id).values(package=package)
        )
        conn.execute(
            delete(blob_refs).where(
                blob_refs.c.owner_type == PACKAGE_OWNER, blob_refs.c.owner_id == row.id
            )
        )
        conn.execute(
            insert(blob_refs).values(
                address=address,
                owner_type=PACKAGE_OWNER,
                owner_id=row.id,
                size=size,
                created_at=now,
            )
        )
        platform.audit.record(
            conn,
            actor,
            "registry.version.package",
            target_type="model_version",
            target_id=f"{name}/{version}",
            project_id=project_row.id,
            details={"address": address, "key_id": key_id, "verified": bool(verified)},
        )
        return version_by_id(conn, row.id, name)


def set_model_card(
    platform: Platform,
    actor: Actor,
    project: str,
    name: str,
    version: int,
    card: Mapping[str, Any],
) -> ModelVersion:
    """Replace a version's model card (editors) with a complete card in ``ModelCard.to_dict``
    form (``update_model_card`` writes sections onto the current one)."""
    check_version_number(version)
    from ._model_card import check_model_card

    card = check_model_card(card)
    with platform.db.write() as conn:
        project_row = fetch_project(conn, project)
        require_project_role(conn, actor, project_row.id, Role.EDITOR)
        model_row = fetch_model_row(conn, project_row.id, name, lock=True)
        row = fetch_version_row(conn, model_row.id, version)
        conn.execute(
            update(model_versions)
            .where(model_versions.c.id == row.id)
            .values(model_card=dict(card))
        )
        platform.audit.record(
            conn,
            actor,
            "registry.version.model_card",
            target_type="model_version",
            target_id=f"{name}/{version}",
            project_id=project_row.id,
        )
        return version_by_id(conn, row.id, name)
