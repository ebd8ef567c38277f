"""Generic Python models: a ``PythonModel`` subclass packaged with its source and artifacts.

**Loading runs the packaged code** (``executes_code = True``): the class's module is imported
from the model's ``code/`` directory and its ``__init__`` and ``load_context`` are called. The
flavor does not decide whether that is acceptable; callers gate it with a trust decision.

Layout: ``code/<file or package>`` (the class's own module file unless ``code_paths`` are given)
and ``artifacts/<name>/<original file name>``. While the class is imported, ``code/`` is first on
``sys.path``; it is removed afterwards, so packaged modules should import their siblings at
import time, not lazily inside ``predict``. Two loaded models whose code has the same top-level
module name replace each other in ``sys.modules`` (each keeps working with its own classes).
"""

from __future__ import annotations

import abc
import importlib
import inspect
import platform
import re
import shutil
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from mlsteward.errors import InvalidArgument

from ._base import (
    FlavorConfig,
    Predictor,
    check_config,
    check_options,
    import_path_of,
    json_kwargs,
    new_config,
    resolve_file,
    resolve_import_path,
)

__all__ = ["PythonModel", "PythonModelFlavor"]

_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,127}$")
_SKIP = shutil.ignore_patterns("__pycache__", "*.pyc")


class PythonModel(abc.ABC):
    """Base class of a model written in plain Python.

    The constructor takes JSON keyword arguments only (they are recorded at save). After
    construction, ``load_context`` receives the path of each packaged artifact by name."""

    def load_context(self, artifacts: dict[str, Path]) -> None:  # noqa: B027 (optional hook)
        """Read artifacts (weights, vocabularies) into memory; called once at load."""

    @abc.abstractmethod
    def predict(self, data: Any) -> Any:
        """Predictions for ``data``."""


def _code_entry(path: Path) -> str:
    """The importable top-level name a copied code path provides."""
    return path.stem if path.is_file() else path.name


class PythonModelFlavor:
    """``PythonModel`` subclasses with their code under ``code/`` and files under
    ``artifacts/``."""

    name = "python"
    extra = "python"  # nothing to install beyond mlsteward itself
    executes_code = True

    def handles(self, model: object) -> bool:
        return isinstance(model, PythonModel)

    def save(self, model: object, directory: Path, **options: Any) -> FlavorConfig:
        """Options: ``code_paths`` (files or package directories holding the class; default
        its module file), ``artifacts`` (name -> file or directory), ``init_kwargs`` (JSON)."""
        check_options(self.name, directory, options, ["artifacts", "code_paths", "init_kwargs"])
        if not isinstance(model, PythonModel):
            raise InvalidArgument(
                f"the python flavor saves PythonModel subclasses, not {type(model).__name__}",
            )
        init_kwargs = json_kwargs(options.get("init_kwargs"), "python model init_kwargs")
        cls = type(model)
        module_name, qualname = import_path_of(cls).split(":")
        sources = _code_sources(cls, options.get("code_paths"))
        artifacts = _artifact_sources(options.get("artifacts"))
        entries = [_code_entry(p) for p in sources]
        if len(set(entries)) != len(entries):
            raise InvalidArgument(f"code_paths provide the same module name twice: {entries}")
        # The module as importable from code/: the longest dotted suffix rooted in an entry.
        parts = module_name.split(".")
        packaged = next(
            (".".join(parts[i:]) for i in range(len(parts)) if parts[i] in entries), None
        )
        if packaged is None:
            raise InvalidArgument(
                f"{qualname} is defined in {module_name}, which none of the code_paths "
                f"({', '.join(entries)}) provides",
            )
        code_dir, artifacts_dir = directory / "code", directory / "artifacts"
        code_dir.mkdir()
        for source in sources:
            _copy(source, code_dir / source.name)
        recorded: dict[str, str] = {}
        for name, source in artifacts.items():
            (artifacts_dir / name).mkdir(parents=True)
            _copy(source, artifacts_dir / name / source.name)
            recorded[name] = f"artifacts/{name}/{source.name}"
        files = sorted(
            p.relative_to(directory).as_posix()
            for root in (code_dir, artifacts_dir)
            if root.exists()
            for p in root.rglob("*")
            if p.is_file()
        )
        config = new_config(self.name, "python", files, platform.python_version())
        config["class_path"] = f"{packaged}:{qualname}"
        config["code"] = [source.name for source in sources]
        config["artifacts"] = recorded
        config["init_kwargs"] = init_kwargs
        return config

    def load(self, directory: Path, config: FlavorConfig, *, trust: bool = False) -> Predictor:
        """Import the packaged class, build it and call ``load_context`` (runs its code)."""
        check_config(config, self.name, ["python"])
        for relative in config["files"]:
            resolve_file(directory, relative)
        code, artifacts = config.get("code"), config.get("artifacts")
        init_kwargs = config.get("init_kwargs", {})
        if not isinstance(code, list) or not all(isinstance(c, str) for c in code):
            raise InvalidArgument("code in the python flavor config must list file names")
        if not isinstance(artifacts, Mapping) or not isinstance(init_kwargs, Mapping):
            raise InvalidArgument("artifacts and init_kwargs must be objects")
        artifact_paths = {
            str(name): resolve_file(directory, str(relative))
            for name, relative in artifacts.items()
        }
        code_dir = directory / "code"
        entries = {Path(c).stem if c.endswith(".py") else c for c in code}
        for entry in code:
            resolve_file(code_dir, entry)
        class_path = config.get("class_path")
        top = str(class_path).split(":")[0].split(".")[0]
        if top not in entries:
            raise InvalidArgument(f"class_path {class_path!r} is not in the packaged code")
        cls = _import_packaged(code_dir.resolve(), entries, class_path)
        if not (isinstance(cls, type) and issubclass(cls, PythonModel)):
            raise InvalidArgument(
                f"{class_path} is not a PythonModel subclass; refusing to call it"
            )
        try:
            model = cls(**init_kwargs)
            model.load_context(artifact_paths)
        except Exception as exc:
            raise InvalidArgument(f"building {class_path} failed: {exc}") from exc
        return model

    def requirements(self) -> list[str]:
        """None: the packaged code's own dependencies are the caller's to declare."""
        return []


def _code_sources(cls: type, code_paths: Sequence[str | Path] | None) -> list[Path]:
    if code_paths is None:
        source = inspect.getsourcefile(cls)
        if source is None:
            raise InvalidArgument(f"cannot find the source file of {cls.__qualname__}")
        path = Path(source)
        if path.name == "__init__.py":  # a package's class: package the whole package
            path = path.parent
        return [path]
    if isinstance(code_paths, str | Path) or not code_paths:
        raise InvalidArgument("code_paths must be a non-empty list of files or directories")
    paths = [Path(p) for p in code_paths]
    missing = [str(p) for p in paths if not p.exists()]
    if missing:
        raise InvalidArgument(f"code_paths do not exist: {', '.join(missing)}")
    bad = [str(p) for p in paths if p.is_file() and p.suffix != ".py"]
    if bad:
        raise InvalidArgument(f"code_paths must be .py files or directories: {', '.join(bad)}")
    return paths


def _artifact_sources(artifacts: Mapping[str, str | Path] | None) -> dict[str, Path]:
    if artifacts is None:
        return {}
    if not isinstance(artifacts, Mapping):
        raise InvalidArgument("artifacts must map names to file or directory paths")
    found: dict[str, Path] = {}
    for name, source in artifacts.items():
        if not isinstance(name, str) or not _NAME.match(name) or name.strip(".") == "":
            raise InvalidArgument(
                f"artifact name {name!r} must be letters, digits, '_', '-' or '.' (max 128)",
            )
        path = Path(source)
        if not path.exists():
            raise InvalidArgument(f"artifact {name!r}: {path} does not exist")
        found[name] = path
    return found


def _copy(source: Path, target: Path) -> None:
    if source.is_dir():
        shutil.copytree(source, target, ignore=_SKIP)
    else:
        shutil.copy2(source, target)


def _import_packaged(code_dir: Path, entries: set[str], class_path: object) -> Any:
    """Import ``class_path`` with ``code_dir`` first on ``sys.path`` for the duration."""
    for name in list(sys.modules):
        if name.split(".")[0] not in entries:
            continue
        origin = getattr(sys.modules[name], "__file__", None) or ""
        if not Path(origin).resolve().is_relative_to(code_dir):
            del sys.modules[name]  # another model's (or the original) module of that name
    sys.path.insert(0, str(code_dir))
    importlib.invalidate_caches()
    try:
        return resolve_import_path(class_path)
    except InvalidArgument:
        raise
    except Exception as exc:  # the packaged module itself failed while importing
        raise InvalidArgument(f"importing the packaged code of {class_path} failed: {exc}") from exc
    finally:
        sys.path.remove(str(code_dir))
