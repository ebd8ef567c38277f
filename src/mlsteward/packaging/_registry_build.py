"""Packages of registered model versions: resolve a ``models:/`` URI, gather the version's
files from the blob store, describe them in ``mlsteward.yaml``, pin what the flavor needs,
sign, store the archive as a blob and record it on the version.

A version logged with ``run.log_model`` is a saved model folder: its ``mlsteward.yaml``
(type ``mlsteward.model``) gives the flavor config, the signature, the pinned requirements,
the input example and the predictions recorded on it (``package test`` compares against
them). A version of loose files is packaged too, with the flavor's requirements and no
flavor config (``package test`` then only installs the lock).
"""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..errors import InvalidArgument
from ..security import Actor, Role, fetch_project, require_project_role
from ..store import utcnow
from ._build import build_package
from ._keystore import load_signing_key
from ._manifest import MODEL_DIR, PackageInfo
from ._signing import public_key_id
from ._trust import trusted_public_keys

if TYPE_CHECKING:
    from ..platform import Platform
    from ..registry import ModelVersion


def build_version_package(
    platform: Platform,
    actor: Actor,
    project: str,
    uri: str,
    output: Path,
    *,
    key_name: str,
    key_password: bytes | None = None,
    overwrite: bool = False,
) -> PackageInfo:
    """Build the signed package of the version ``uri`` names, write it to ``output``, store
    it in the blob store and record it on the version (maintainers of the project).

    The package is signed with the private key ``key_name`` of this home
    (``<home>/signing-keys/<name>.pem``); the version records it as verified only when that
    key is trusted. Raises ``InvalidArgument`` (bad URI, unknown flavor, bad key name or
    password), ``NotFound`` (unknown model, version, alias, key or output folder),
    ``PermissionDenied``, ``AlreadyExists`` (``output`` exists and not ``overwrite``) and
    ``MissingExtra`` (the flavor's framework is not installed, so its versions cannot be
    pinned). Nothing is written before every check passed.
    """
    from ..models import get_flavor
    from ..registry import record_package, resolve_model_uri

    version = resolve_model_uri(platform, actor, project, uri)
    with platform.db.read() as conn:
        require_project_role(conn, actor, fetch_project(conn, project).id, Role.MAINTAINER)
    get_flavor(version.flavor)  # an unknown flavor fails before anything is written
    signing_key = load_signing_key(platform.settings.home, key_name, password=key_password)
    output = Path(output)
    with tempfile.TemporaryDirectory(prefix="mlsteward-package-") as temp:
        source = Path(temp) / MODEL_DIR
        _download_files(platform, version, source)
        metadata = version_metadata(version, project, uri, actor, source)
        requirements = requirements_of(version, source)
        info = build_package(
            source,
            metadata=metadata,
            requirements=requirements,
            signing_key=signing_key,
            output=output,
            overwrite=overwrite,
        )
    blob = platform.blobs.put_file(output)
    trusted = public_key_id(signing_key.public_key()) in trusted_public_keys(platform)
    record_package(
        platform,
        actor,
        project,
        version.model_name,
        version.version,
        address=blob.address,
        size=blob.size,
        key_id=info.key_id,
        verified=trusted,
    )
    return info


def _download_files(platform: Platform, version: ModelVersion, root: Path) -> None:
    """Write each file of the version under the new folder ``root``, every path checked first."""
    from ..registry._models import write_model_files

    if not version.files:
        raise InvalidArgument(
            f"model {version.model_name!r} version {version.version} has no files to package"
        )
    root.mkdir()
    write_model_files(platform, version.files, root)


def version_metadata(
    version: ModelVersion, project: str, uri: str, actor: Actor, source: Path
) -> dict[str, Any]:
    """The ``mlsteward.yaml`` content for a version whose files are under ``source``."""
    from ..models._model_dir import METADATA_FILE, read_metadata

    saved = read_metadata(source) if (source / METADATA_FILE).is_file() else None
    if saved is not None and saved.flavor != version.flavor:
        raise InvalidArgument(
            f"the version's {METADATA_FILE} describes a {saved.flavor!r} model, not "
            f"{version.flavor!r}"
        )
    return {
        "model": {
            "name": version.model_name,
            "version": version.version,
            "uri": f"models:/{version.model_name}/{version.version}",
            "requested_uri": uri,
            "project": project,
            "aliases": list(version.aliases),
        },
        "flavor": version.flavor,
        "flavor_config": None if saved is None else saved.flavor_config,
        "signature": version.signature,
        "input_example": None if saved is None else _member(saved.input_example),
        "predictions": None if saved is None else _member(saved.example_predictions),
        "source": {"run_id": version.source_run_id, "uri": version.source_uri},
        "created_at": utcnow().isoformat(),
        "created_by": actor.name,
    }


def requirements_of(version: ModelVersion, source: Path) -> list[str]:
    """The pinned requirements the saved model recorded, else the installed flavor's."""
    from ..models import get_flavor
    from ..models._model_dir import METADATA_FILE, read_metadata

    if (source / METADATA_FILE).is_file():
        recorded = list(read_metadata(source).requirements)
        if recorded:
            return recorded
    return get_flavor(version.flavor).requirements()


def _member(name: str | None) -> str | None:
    return None if not name else f"{MODEL_DIR}/{name}"
