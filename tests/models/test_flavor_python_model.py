"""Generic Python models: code and artifacts packaged with the model, loaded elsewhere."""

from __future__ import annotations

import json
import shutil
import sys
from pathlib import Path

import numpy
import pytest
from numpy.testing import assert_array_equal

from mlsteward.errors import IntegrityError, InvalidArgument
from mlsteward.models._flavors import PythonModelFlavor, flavor_for, get_flavor
from tests.models import python_model_example
from tests.models._flavor_support import fresh_predictions, save_case
from tests.models.python_model_example import MeanModel, ThresholdModel

DATA = numpy.random.default_rng(0).normal(size=(50, 3))


def _weights(tmp_path: Path) -> Path:
    path = tmp_path / "weights.json"
    path.write_text(json.dumps([0.5, -1.0, 2.0]))
    return path


def test_model_round_trips_in_a_fresh_process(tmp_path: Path) -> None:
    model = ThresholdModel(threshold=0.25)
    model.load_context({"weights": _weights(tmp_path)})
    assert flavor_for(model).name == "python"
    assert flavor_for(model).executes_code
    saved = save_case(
        "python",
        model,
        tmp_path / "threshold",
        DATA,
        artifacts={"weights": _weights(tmp_path)},
        init_kwargs={"threshold": 0.25},
    )
    save_case("python", MeanModel(2.5), tmp_path / "mean", DATA, init_kwargs={"value": 2.5})
    assert saved.config["class_path"] == "python_model_example:ThresholdModel"
    assert saved.config["files"] == [
        "artifacts/weights/weights.json",
        "code/python_model_example.py",
    ]
    _weights(tmp_path).unlink()  # the saved copy must be the one that is read

    threshold, mean = fresh_predictions(tmp_path / "threshold", tmp_path / "mean")
    assert_array_equal(threshold["predict"], model.predict(DATA))
    assert_array_equal(threshold["predict_proba"], model.predict_proba(DATA))
    assert_array_equal(mean["predict"], numpy.full(len(DATA), 2.5))
    assert mean["predict_proba"] is None


def test_packaged_code_is_what_runs(tmp_path: Path) -> None:
    """Loading imports code/ from the model, not the original module."""
    config = PythonModelFlavor().save(MeanModel(), tmp_path, init_kwargs={"value": 1.0})
    packaged = tmp_path / "code" / "python_model_example.py"
    packaged.write_text(
        packaged.read_text().replace("numpy.full(len(data), self.value)", "numpy.zeros(len(data))")
    )
    loaded = PythonModelFlavor().load(tmp_path, config)
    assert_array_equal(loaded.predict(DATA), numpy.zeros(len(DATA)))
    assert str(tmp_path / "code") not in sys.path
    assert type(loaded).__module__ == "python_model_example"
    assert sys.modules["tests.models.python_model_example"] is python_model_example


def test_code_paths_package_a_directory(tmp_path: Path) -> None:
    package = tmp_path / "src" / "mypkg"
    package.mkdir(parents=True)
    (package / "__init__.py").write_text("")
    shutil.copy(python_model_example.__file__, package / "models.py")
    sys.path.insert(0, str(tmp_path / "src"))
    try:
        from mypkg.models import MeanModel as PackagedMean  # type: ignore[import-not-found]

        (tmp_path / "out").mkdir()
        config = PythonModelFlavor().save(
            PackagedMean(), tmp_path / "out", code_paths=[package], init_kwargs={"value": 4.0}
        )
    finally:
        sys.path.remove(str(tmp_path / "src"))
        for name in [n for n in sys.modules if n.split(".")[0] == "mypkg"]:
            del sys.modules[name]
    assert config["class_path"] == "mypkg.models:MeanModel"
    assert "code/mypkg/models.py" in config["files"]
    shutil.rmtree(tmp_path / "src")
    loaded = get_flavor("python").load(tmp_path / "out", config)
    assert_array_equal(loaded.predict(DATA[:2]), [4.0, 4.0])


def test_save_refuses_bad_options(tmp_path: Path) -> None:
    flavor = PythonModelFlavor()
    other = tmp_path / "other.py"
    other.write_text("")
    with pytest.raises(InvalidArgument, match="none of the code_paths"):
        flavor.save(MeanModel(), tmp_path, code_paths=[other])
    with pytest.raises(InvalidArgument, match="code_paths do not exist"):
        flavor.save(MeanModel(), tmp_path, code_paths=[tmp_path / "absent.py"])
    with pytest.raises(InvalidArgument, match="artifact name"):
        flavor.save(MeanModel(), tmp_path, artifacts={"../escape": _weights(tmp_path)})
    with pytest.raises(InvalidArgument, match="does not exist"):
        flavor.save(MeanModel(), tmp_path, artifacts={"w": tmp_path / "absent"})
    with pytest.raises(InvalidArgument, match="must be JSON"):
        flavor.save(MeanModel(), tmp_path, init_kwargs={"value": object()})
    with pytest.raises(InvalidArgument, match="PythonModel subclasses"):
        flavor.save(object(), tmp_path)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["other.py", "weights.json"]


def test_missing_artifact_and_hostile_paths_are_refused(tmp_path: Path) -> None:
    flavor = PythonModelFlavor()
    model_dir = tmp_path / "m"
    model_dir.mkdir()
    config = flavor.save(ThresholdModel(), model_dir, artifacts={"weights": _weights(tmp_path)})
    with pytest.raises(InvalidArgument, match="stay inside"):
        flavor.load(model_dir, {**config, "artifacts": {"weights": "../weights.json"}})
    with pytest.raises(InvalidArgument, match="not in the packaged code"):
        flavor.load(model_dir, {**config, "class_path": "os:system"})
    (model_dir / "artifacts" / "weights" / "weights.json").unlink()
    with pytest.raises(IntegrityError, match=r"'artifacts/weights/weights\.json' is missing"):
        flavor.load(model_dir, config)


def test_non_model_class_in_packaged_code_is_never_called(tmp_path: Path) -> None:
    config = PythonModelFlavor().save(MeanModel(), tmp_path)
    with pytest.raises(InvalidArgument, match="not a PythonModel subclass"):
        PythonModelFlavor().load(tmp_path, {**config, "class_path": "python_model_example:json"})
