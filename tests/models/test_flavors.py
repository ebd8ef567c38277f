"""The flavor registry and what every flavor shares: dispatch, plugins, missing extras,
config checks and cheap imports."""

from __future__ import annotations

import importlib.metadata
import json
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import lightgbm
import numpy
import pytest
import xgboost
from skl2onnx import to_onnx
from sklearn.datasets import load_iris
from sklearn.linear_model import LinearRegression

import mlsteward.models._flavors as flavors
from mlsteward.errors import AlreadyExists, IntegrityError, InvalidArgument, MissingExtra
from mlsteward.models._flavors import (
    FLAVORS,
    FlavorConfig,
    Predictor,
    SklearnFlavor,
    flavor_for,
    get_flavor,
    register_flavor,
)
from tests.models.flavor_models import TiedNet
from tests.models.python_model_example import MeanModel

X, Y = load_iris(return_X_y=True)
X32 = X.astype(numpy.float32)

MODELS: dict[str, Callable[[], Any]] = {
    "sklearn": lambda: LinearRegression().fit(X, Y),
    "xgboost": lambda: xgboost.XGBClassifier(n_estimators=2).fit(X, Y),
    "lightgbm": lambda: lightgbm.LGBMClassifier(n_estimators=2, verbose=-1).fit(X, Y),
    "onnx": lambda: to_onnx(LinearRegression().fit(X32, Y), X32[:1]),
    "torch": lambda: TiedNet(),
    "python": lambda: MeanModel(),
}


@pytest.fixture(autouse=True)
def _isolated_registry(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(flavors, "FLAVORS", dict(FLAVORS))


@pytest.mark.parametrize("name", MODELS)
def test_flavor_for_picks_the_framework(name: str) -> None:
    assert flavor_for(MODELS[name]()).name == name
    assert get_flavor(name).name == name


def test_unsupported_model_is_refused_with_the_supported_list() -> None:
    with pytest.raises(InvalidArgument, match=r"no model flavor handles builtins\.dict") as info:
        flavor_for({"weights": [1, 2]})
    assert "lightgbm, onnx, python, sklearn, torch, xgboost" in info.value.message
    assert info.value.details["type"] == "builtins.dict"


def test_unknown_flavor_name_is_refused() -> None:
    with pytest.raises(InvalidArgument, match="unknown model flavor 'catboost'; known flavors: "):
        get_flavor("catboost")


class _PluginFlavor(SklearnFlavor):
    """A plugin that claims LinearRegression before the built-in does."""

    name = "linear-plugin"

    def handles(self, model: object) -> bool:
        return type(model).__name__ == "LinearRegression"


def test_plugins_register_and_take_precedence() -> None:
    plugin = _PluginFlavor()
    register_flavor(plugin)
    assert flavors.FLAVORS["linear-plugin"] is plugin
    assert flavor_for(LinearRegression()) is plugin
    assert flavor_for(MODELS["xgboost"]()).name == "xgboost"
    with pytest.raises(AlreadyExists, match="replace=True"):
        register_flavor(_PluginFlavor())
    register_flavor(_PluginFlavor(), replace=True)
    assert flavors.FLAVORS["linear-plugin"] is not plugin


def test_dispatch_imports_no_framework() -> None:
    code = """
import json, sys
from mlsteward.models._flavors import flavor_for
Fake = type("XGBClassifier", (), {"__module__": "xgboost.sklearn"})
Proto = type("ModelProto", (), {"__module__": "onnx.onnx_ml_pb2"})
names = [flavor_for(Fake()).name, flavor_for(Proto()).name]
heavy = {"sklearn", "skops", "xgboost", "lightgbm", "onnx", "onnxruntime", "torch",
         "safetensors", "pandas", "numpy"}
print(json.dumps([names, sorted(heavy & {m.split(".")[0] for m in sys.modules})]))
"""
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout) == [["xgboost", "onnx"], []]


# flavor -> (module blocked at save, module blocked at load)
BLOCKED = {
    "sklearn": ("sklearn", "skops.io"),
    "xgboost": ("xgboost", "xgboost"),
    "lightgbm": ("lightgbm", "lightgbm"),
    "onnx": ("onnx", "onnxruntime"),
    "torch": ("safetensors.torch", "torch"),
}


@pytest.mark.parametrize("name", BLOCKED)
def test_missing_framework_names_the_extra(
    name: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    flavor, model = get_flavor(name), MODELS[name]()
    at_save, at_load = BLOCKED[name]
    (tmp_path / "ok").mkdir()
    (tmp_path / "blocked").mkdir()
    config = flavor.save(model, tmp_path / "ok", **_options(name))
    with monkeypatch.context() as patch:
        patch.setitem(sys.modules, at_save, None)  # what an absent package looks like
        with pytest.raises(MissingExtra, match=rf"pip install 'mlsteward\[{name}\]'") as info:
            flavor.save(model, tmp_path / "blocked", **_options(name))
    assert info.value.details == {"extra": name, "module": at_save}
    assert list((tmp_path / "blocked").iterdir()) == []
    with monkeypatch.context() as patch:
        patch.setitem(sys.modules, at_load, None)
        with pytest.raises(MissingExtra, match=rf"pip install 'mlsteward\[{name}\]'"):
            flavor.load(tmp_path / "ok", config)
    assert isinstance(flavor.load(tmp_path / "ok", config), Predictor)


def _options(name: str) -> dict[str, Any]:
    return {"init_kwargs": {"width": 4}} if name == "torch" else {}


@pytest.mark.parametrize(
    ("name", "dists"),
    [
        ("sklearn", ["scikit-learn", "skops"]),
        ("xgboost", ["xgboost"]),
        ("lightgbm", ["lightgbm"]),
        ("onnx", ["onnxruntime"]),
        ("torch", ["torch", "safetensors"]),
        ("python", []),
    ],
)
def test_requirements_pin_installed_versions(name: str, dists: list[str]) -> None:
    assert get_flavor(name).requirements() == [
        f"{d}=={importlib.metadata.version(d)}" for d in dists
    ]


@pytest.fixture
def saved(tmp_path: Path) -> tuple[Path, FlavorConfig]:
    config = SklearnFlavor().save(MODELS["sklearn"](), tmp_path)
    return tmp_path, config


def test_config_is_tagged_and_json(saved: tuple[Path, FlavorConfig]) -> None:
    _, config = saved
    assert json.loads(json.dumps(config)) == config
    assert config["schema_version"] == 1
    assert config["flavor"] == "sklearn"
    assert config["framework_version"] == importlib.metadata.version("scikit-learn")


@pytest.mark.parametrize(
    ("change", "error", "message"),
    [
        ({"flavor": "torch"}, InvalidArgument, "for the 'torch' flavor, not 'sklearn'"),
        ({"schema_version": 99}, InvalidArgument, "newer than this release reads"),
        ({"format": "pickle"}, InvalidArgument, "cannot read format 'pickle'"),
        ({"files": ["../model.skops"]}, InvalidArgument, "stay inside the model directory"),
        ({"files": ["/etc/passwd"]}, InvalidArgument, "stay inside the model directory"),
        ({"files": "model.skops"}, InvalidArgument, "list its files"),
        ({"files": ["a.skops", "b.skops"]}, InvalidArgument, "has one file"),
        ({"files": ["other.skops"]}, IntegrityError, "'other.skops' is missing from"),
        ({"trusted_types": "all"}, InvalidArgument, "trusted_types"),
    ],
)
def test_malformed_config_is_refused(
    saved: tuple[Path, FlavorConfig], change: dict[str, Any], error: type, message: str
) -> None:
    directory, config = saved
    with pytest.raises(error, match=message):
        SklearnFlavor().load(directory, {**config, **change})


def test_missing_model_file_is_an_integrity_error(saved: tuple[Path, FlavorConfig]) -> None:
    directory, config = saved
    (directory / "model.skops").unlink()
    with pytest.raises(IntegrityError, match=r"model\.skops' is missing") as info:
        SklearnFlavor().load(directory, config)
    assert info.value.details == {"file": "model.skops"}
