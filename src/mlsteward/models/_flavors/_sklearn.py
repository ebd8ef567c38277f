"""scikit-learn models stored with skops, which rebuilds objects without unpickling them.

At save the flavor records the types skops does not trust by default (``trusted_types``). At
load it trusts only the types that were recorded **and** sit on the allow-list below; any other
type in the file raises ``UnsafeModelFile`` unless the caller passes ``trust=True``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from mlsteward.errors import InvalidArgument, UnsafeModelFile

from ._base import (
    FlavorConfig,
    Predictor,
    check_config,
    check_options,
    import_extra,
    mro_roots,
    new_config,
    only_file,
    pinned_requirements,
    resolve_file,
    wrap_load_error,
)

__all__ = ["SklearnFlavor", "is_allow_listed"]

_MODEL_FILE = "model.skops"
_ALLOWED_PREFIXES = ("sklearn.", "numpy.", "scipy.")
# Names inside the allowed packages that read or write files, compile code or exist for tests:
# a model has no business referencing them, so one that does needs a human decision.
_DENIED_PARTS = frozenset(
    {
        "_testing",
        "ctypeslib",
        "datasets",
        "distutils",
        "externals",
        "f2py",
        "fromfile",
        "genfromtxt",
        "io",
        "load",
        "loads",
        "loadtxt",
        "memmap",
        "save",
        "savetxt",
        "savez",
        "savez_compressed",
        "testing",
        "tofile",
    }
)


def is_allow_listed(type_name: str) -> bool:
    """Whether a fully qualified type name from a skops file may be trusted without a human."""
    return type_name.startswith(_ALLOWED_PREFIXES) and not (
        set(type_name.split(".")) & _DENIED_PARTS
    )


class SklearnFlavor:
    """scikit-learn estimators and pipelines as ``model.skops``."""

    name = "sklearn"
    extra = "sklearn"
    executes_code = False

    def handles(self, model: object) -> bool:
        return any(root == "sklearn" for root, _ in mro_roots(model))

    def save(self, model: object, directory: Path, **options: Any) -> FlavorConfig:
        check_options(self.name, directory, options, ())
        if not callable(getattr(model, "predict", None)):
            raise InvalidArgument(
                f"{type(model).__name__} has no predict method; save an estimator or a "
                "pipeline that ends in one",
            )
        sklearn = import_extra("sklearn", self.extra)
        sio = import_extra("skops.io", self.extra)
        path = directory / _MODEL_FILE
        try:
            sio.dump(model, path)
        except Exception as exc:
            path.unlink(missing_ok=True)
            raise InvalidArgument(
                f"skops cannot store this {type(model).__name__}: {exc}",
            ) from exc
        config = new_config(self.name, "skops", [_MODEL_FILE], str(sklearn.__version__))
        config["skops_version"] = str(import_extra("skops", self.extra).__version__)
        config["model_class"] = f"{type(model).__module__}.{type(model).__qualname__}"
        config["trusted_types"] = sorted(sio.get_untrusted_types(file=path))
        return config

    def load(self, directory: Path, config: FlavorConfig, *, trust: bool = False) -> Predictor:
        check_config(config, self.name, ["skops"])
        recorded = config.get("trusted_types", [])
        if not isinstance(recorded, list) or not all(isinstance(t, str) for t in recorded):
            raise InvalidArgument("trusted_types in the sklearn flavor config must be strings")
        path = resolve_file(directory, only_file(config))
        sio = import_extra("skops.io", self.extra)
        try:
            found = list(sio.get_untrusted_types(file=path))
        except Exception as exc:
            raise wrap_load_error(exc, path, self.name) from exc
        if trust:
            allowed = found
        else:
            allowed = [t for t in found if t in recorded and is_allow_listed(t)]
            refused = sorted(set(found) - set(allowed))
            if refused:
                raise UnsafeModelFile(
                    f"{path.name} references types outside the allow-list or not recorded "
                    f"when it was saved: {', '.join(refused)}. Review them and load with "
                    "trust=True only if you trust the file's author.",
                    details={"globals": refused, "file": str(path)},
                )
        try:
            model = sio.load(path, trusted=allowed)
        except Exception as exc:
            raise wrap_load_error(exc, path, self.name) from exc
        if not callable(getattr(model, "predict", None)):
            raise InvalidArgument(f"{path.name} holds a {type(model).__name__}, not a predictor")
        # A fitted estimator already is a Predictor: predict_proba exists exactly when the
        # estimator (or a pipeline's last step) has it.
        loaded: Predictor = model
        return loaded

    def requirements(self) -> list[str]:
        return pinned_requirements(["scikit-learn", "skops"], self.extra)
