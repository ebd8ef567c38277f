"""What every flavor shares: the protocols, the config checks and lazy framework imports.

A flavor turns one framework's model into files in a directory plus a JSON-serialisable
``FlavorConfig``, and turns them back into a ``Predictor``. Frameworks are imported inside the
functions that need them, so importing this package costs nothing.
"""

from __future__ import annotations

import importlib
import importlib.metadata
import json
import re
from collections.abc import Iterable, Mapping
from pathlib import Path, PurePosixPath
from types import ModuleType
from typing import Any, Protocol, runtime_checkable

from mlsteward.errors import IntegrityError, InvalidArgument, MissingExtra

__all__ = [
    "CONFIG_SCHEMA_VERSION",
    "Flavor",
    "FlavorConfig",
    "Predictor",
    "check_config",
    "check_options",
    "import_extra",
    "import_path_of",
    "json_kwargs",
    "mro_roots",
    "new_config",
    "only_file",
    "pinned_requirements",
    "resolve_file",
    "resolve_import_path",
    "wrap_load_error",
]

FlavorConfig = dict[str, Any]
"""JSON-serialisable description of a saved model: ``schema_version``, ``flavor``, ``format``,
``files`` (relative POSIX paths written), ``framework_version`` and flavor specifics."""

CONFIG_SCHEMA_VERSION = 1

_IMPORT_PATH = re.compile(r"^[A-Za-z_]\w*(\.[A-Za-z_]\w*)*:[A-Za-z_]\w*(\.[A-Za-z_]\w*)*$")


@runtime_checkable
class Predictor(Protocol):
    """A loaded model. ``predict_proba`` exists only when the underlying model has it:
    test with ``hasattr(predictor, "predict_proba")``."""

    def predict(self, data: Any) -> Any:
        """Predictions for ``data`` as a NumPy array (the model's own type for Python models)."""
        ...


class Flavor(Protocol):
    """Save and load the models of one framework."""

    name: str
    """Registry key and the ``flavor`` tag of the config, e.g. ``"sklearn"``."""
    extra: str
    """The pip extra that installs the framework: ``pip install 'mlsteward[<extra>]'``."""
    executes_code: bool
    """True when loading imports code packaged with the model (the caller decides on trust)."""

    def handles(self, model: object) -> bool:
        """Whether ``model`` is this framework's, judged by module names (no framework import)."""
        ...

    def save(self, model: object, directory: Path, **options: Any) -> FlavorConfig:
        """Write ``model`` into the existing ``directory``; return the config to store with it.

        Raises ``InvalidArgument`` for a model or option this flavor cannot save and
        ``MissingExtra`` when the framework is not installed."""
        ...

    def load(self, directory: Path, config: FlavorConfig, *, trust: bool = False) -> Predictor:
        """Rebuild the model saved in ``directory`` as described by ``config``.

        ``trust=True`` accepts content the flavor would otherwise refuse (``UnsafeModelFile``);
        the caller audits that decision. Raises ``InvalidArgument`` for a malformed config,
        ``IntegrityError`` for missing or corrupt files, ``MissingExtra`` without the framework."""
        ...

    def requirements(self) -> list[str]:
        """Pinned ``dist==version`` of the installed packages a saved model needs to load."""
        ...


def import_extra(module: str, extra: str) -> ModuleType:
    """Import ``module``; if it is missing, raise ``MissingExtra`` naming the pip extra."""
    try:
        return importlib.import_module(module)
    except ImportError as exc:
        raise MissingExtra(
            f"the {extra!r} model flavor needs {module!r}, which is not installed: "
            f"run pip install 'mlsteward[{extra}]'",
            details={"extra": extra, "module": module},
        ) from exc


def pinned_requirements(distributions: Iterable[str], extra: str) -> list[str]:
    """``dist==version`` for each installed distribution; ``MissingExtra`` for a missing one."""
    pins = []
    for dist in distributions:
        try:
            pins.append(f"{dist}=={importlib.metadata.version(dist)}")
        except importlib.metadata.PackageNotFoundError as exc:
            raise MissingExtra(
                f"{dist!r} is not installed: run pip install 'mlsteward[{extra}]'",
                details={"extra": extra, "distribution": dist},
            ) from exc
    return pins


def mro_roots(model: object) -> list[tuple[str, str]]:
    """(top-level module, class name) of every class in the model type's MRO."""
    return [(cls.__module__.split(".")[0], cls.__name__) for cls in type(model).__mro__]


def check_options(
    flavor: str, directory: Path, options: Mapping[str, Any], allowed: Iterable[str]
) -> None:
    """Refuse a missing target directory and save options the flavor does not know (a typo
    would otherwise be ignored)."""
    if not Path(directory).is_dir():
        raise InvalidArgument(f"save into an existing directory; {directory} is not one")
    unknown = sorted(set(options) - set(allowed))
    if unknown:
        raise InvalidArgument(
            f"the {flavor!r} flavor does not take the option(s) {', '.join(unknown)}; "
            f"it takes: {', '.join(sorted(allowed)) or 'none'}",
            details={"unknown": unknown},
        )


def json_kwargs(kwargs: Mapping[str, Any] | None, what: str) -> dict[str, Any]:
    """A copy of ``kwargs`` after proving it survives a JSON round trip unchanged."""
    if kwargs is None:
        return {}
    if not isinstance(kwargs, Mapping) or not all(isinstance(k, str) for k in kwargs):
        raise InvalidArgument(f"{what} must be a mapping with string keys")
    try:
        restored = json.loads(json.dumps(dict(kwargs), allow_nan=False))
    except (TypeError, ValueError) as exc:
        raise InvalidArgument(
            f"{what} must be JSON (strings, numbers, booleans, null, lists, objects): {exc}",
        ) from exc
    if restored != dict(kwargs):
        raise InvalidArgument(
            f"{what} must survive JSON unchanged (use lists, not tuples; string keys only)",
        )
    return dict(restored)


def new_config(flavor: str, fmt: str, files: list[str], framework_version: str) -> FlavorConfig:
    """The keys every flavor config carries; flavors add their specifics."""
    return {
        "schema_version": CONFIG_SCHEMA_VERSION,
        "flavor": flavor,
        "format": fmt,
        "files": files,
        "framework_version": framework_version,
    }


def check_config(config: Mapping[str, Any], flavor: str, formats: Iterable[str]) -> None:
    """Refuse a config that was not written by ``flavor`` or names an unknown format."""
    if not isinstance(config, Mapping):
        raise InvalidArgument("a flavor config must be a JSON object")
    if config.get("flavor") != flavor:
        raise InvalidArgument(
            f"this config is for the {config.get('flavor')!r} flavor, not {flavor!r}",
        )
    version = config.get("schema_version", CONFIG_SCHEMA_VERSION)
    if not isinstance(version, int) or version > CONFIG_SCHEMA_VERSION:
        raise InvalidArgument(
            f"flavor config schema_version {version!r} is newer than this release reads "
            f"({CONFIG_SCHEMA_VERSION}); upgrade mlsteward",
        )
    allowed = set(formats)
    if config.get("format") not in allowed:
        raise InvalidArgument(
            f"the {flavor!r} flavor cannot read format {config.get('format')!r}; "
            f"it reads {', '.join(sorted(allowed))}",
        )
    files = config.get("files")
    if not isinstance(files, list) or not all(isinstance(f, str) for f in files):
        raise InvalidArgument("a flavor config must list its files as strings")


def only_file(config: FlavorConfig) -> str:
    """The single file of a one-file flavor config."""
    files: list[str] = config["files"]
    if len(files) != 1:
        raise InvalidArgument(f"a {config['flavor']} model has one file; the config lists {files}")
    return files[0]


def resolve_file(directory: Path, relative: str, *, must_exist: bool = True) -> Path:
    """``directory / relative`` for a relative POSIX path that stays inside ``directory``.

    Raises ``InvalidArgument`` for an absolute or escaping path (configs may be hostile) and
    ``IntegrityError`` when the file is missing."""
    pure = PurePosixPath(relative)
    if not relative or pure.is_absolute() or ".." in pure.parts or "\\" in relative:
        raise InvalidArgument(
            f"model file path {relative!r} must be relative and stay inside the model directory",
        )
    path = directory.joinpath(*pure.parts)
    if must_exist and not path.exists():
        raise IntegrityError(
            f"model file {relative!r} is missing from {directory}; the saved model is "
            "incomplete: save it again or restore the file",
            details={"file": relative},
        )
    return path


def import_path_of(cls: type) -> str:
    """``"package.module:Class"`` for an importable class; ``InvalidArgument`` otherwise."""
    module, qualname = cls.__module__, cls.__qualname__
    if module == "__main__" or "<locals>" in qualname:
        raise InvalidArgument(
            f"{qualname} is defined in {'__main__' if module == '__main__' else 'a function'}; "
            "a saved model's class must be importable: move it to a module at top level",
        )
    return f"{module}:{qualname}"


def resolve_import_path(path: object) -> Any:
    """The object that ``"package.module:Name"`` names (importing the module runs its code)."""
    if not isinstance(path, str) or not _IMPORT_PATH.match(path):
        raise InvalidArgument(f"import path {path!r} is not of the form 'package.module:Name'")
    module_name, qualname = str(path).split(":")
    try:
        target: Any = importlib.import_module(module_name)
        for part in qualname.split("."):
            target = getattr(target, part)
    except MissingExtra:
        raise
    except (ImportError, AttributeError) as exc:
        raise InvalidArgument(
            f"cannot import {path}: {exc}; install or add to the path the code that defines it",
        ) from exc
    return target


def wrap_load_error(exc: Exception, path: Path, flavor: str) -> IntegrityError:
    """An ``IntegrityError`` naming the file a framework failed to read."""
    first_line = (str(exc).strip().splitlines() or [type(exc).__name__])[0][:300]
    return IntegrityError(
        f"{flavor} model file {path.name!r} in {path.parent} could not be read, it is corrupt "
        f"or not a {flavor} model ({type(exc).__name__}: {first_line})",
        details={"file": str(path), "flavor": flavor},
    )
