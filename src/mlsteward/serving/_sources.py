"""Where a served model comes from: a signed package file (no platform database needed).

A package is verified completely (every byte, the file list, the signature by a trusted key)
while it is unpacked into a private folder; only then is the model loaded, and a model whose
loading would run code it carries (an unsafe pickle, a Python model's code) is refused.
"""

from __future__ import annotations

import re
import tempfile
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..errors import InvalidArgument
from ._core import ServedModel

if TYPE_CHECKING:
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,127}")


def _served_name(metadata: Mapping[str, Any], package: Path) -> tuple[str, str]:
    """The model name and version a package states (``model.name``/``model.version``), else
    the file name and "1"."""
    model = metadata.get("model")
    name, version = package.stem, "1"
    if isinstance(model, Mapping):
        name = str(model.get("name") or name)
        version = str(model.get("version") or version)
    if not _NAME.fullmatch(name):
        raise InvalidArgument(
            f"the package's model name {name!r} cannot be used in a URL: serve it with --name"
        )
    return name, version


def load_package_model(
    package: Path,
    *,
    trusted_keys: Mapping[str, Ed25519PublicKey],
    work_dir: Path | None = None,
    name: str | None = None,
) -> ServedModel:
    """Verify ``package``, unpack it into a new folder under ``work_dir`` (default: a new
    temporary folder) and load its model.

    Raises ``IntegrityError`` listing every problem of a package that does not verify,
    ``NotFound`` for a missing file, ``UnsafeModelFile`` for a model that would run code, and
    ``InvalidArgument`` for a package that holds no saved model.
    """
    from ..models._model_dir import METADATA_FILE, load_model_dir
    from ..packaging import extract_package

    package = Path(package)
    if work_dir is None:
        root = Path(tempfile.mkdtemp(prefix="mlsteward-serve-"))
    else:
        root = Path(work_dir)
        root.mkdir(parents=True, exist_ok=True)
    dest = root / "package"
    info = extract_package(package, dest, trusted_keys=trusted_keys)
    folder = dest / "model"
    if not (folder / METADATA_FILE).is_file():
        raise InvalidArgument(f"{package} holds no saved model ({METADATA_FILE} under model/)")
    loaded = load_model_dir(folder)
    served_name, version = _served_name(info.metadata, package)
    if name is not None:
        if not _NAME.fullmatch(name):
            raise InvalidArgument(f"model name {name!r} must match {_NAME.pattern}")
        served_name = name
    return ServedModel(served_name, version, loaded, loaded.metadata.flavor)
