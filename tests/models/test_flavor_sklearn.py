"""scikit-learn through skops: round trips in a fresh process and the trust gate."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy
import pandas
import pytest
from numpy.testing import assert_array_equal
from sklearn.compose import ColumnTransformer
from sklearn.datasets import load_breast_cancer, load_iris
from sklearn.ensemble import GradientBoostingClassifier, RandomForestRegressor
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import OneHotEncoder, StandardScaler

from mlsteward.errors import IntegrityError, InvalidArgument, UnsafeModelFile
from mlsteward.models._flavors import SklearnFlavor, flavor_for, get_flavor
from mlsteward.models._flavors._sklearn import is_allow_listed
from tests.models._flavor_support import fresh_predictions, save_case
from tests.models.flavor_models import ClipTransformer


def _iris_frame() -> tuple[pandas.DataFrame, Any]:
    X, y = load_iris(return_X_y=True, as_frame=True)
    X = X.rename(columns=lambda c: c.replace(" (cm)", "").replace(" ", "_"))
    X["size"] = numpy.where(X["sepal_length"] > 5.8, "large", "small")
    return X, y


def _models() -> dict[str, tuple[Any, Any]]:
    X, y = load_iris(return_X_y=True)
    Xc, yc = load_breast_cancer(return_X_y=True)
    frame, frame_y = _iris_frame()
    columns = ColumnTransformer(
        [
            ("num", StandardScaler(), ["sepal_length", "sepal_width", "petal_length"]),
            ("cat", OneHotEncoder(handle_unknown="ignore"), ["size"]),
        ]
    )
    return {
        "logistic": (LogisticRegression(max_iter=1000).fit(X, y), X),
        "gradient_boosting": (
            GradientBoostingClassifier(n_estimators=20, random_state=0).fit(Xc, yc),
            Xc,
        ),
        "random_forest": (RandomForestRegressor(n_estimators=10, random_state=0).fit(X, y), X),
        "pipeline": (
            make_pipeline(columns, LogisticRegression(max_iter=1000)).fit(frame, frame_y),
            frame,
        ),
    }


def test_models_round_trip_in_a_fresh_process(tmp_path: Path) -> None:
    models = _models()
    for name, (model, data) in models.items():
        assert flavor_for(model).name == "sklearn"
        save_case("sklearn", model, tmp_path / name, data)
    results = fresh_predictions(*(tmp_path / name for name in models))
    for (name, (model, data)), found in zip(models.items(), results, strict=True):
        assert_array_equal(found["predict"], model.predict(data), err_msg=name)
        if hasattr(model, "predict_proba"):
            assert_array_equal(found["predict_proba"], model.predict_proba(data), err_msg=name)
        else:
            assert found["predict_proba"] is None, name


def test_config_records_the_trusted_types_and_format(tmp_path: Path) -> None:
    model, _ = _models()["gradient_boosting"]
    saved = save_case("sklearn", model, tmp_path, numpy.zeros((1, 30)))
    assert saved.config["format"] == "skops"
    assert saved.config["files"] == ["model.skops"]
    assert saved.config["trusted_types"] == ["sklearn.tree._tree.Tree"]
    assert saved.config["model_class"].endswith("GradientBoostingClassifier")
    assert sorted(p.name for p in saved.directory.iterdir()) == ["model.skops"]


def test_custom_class_is_refused_then_loaded_with_trust(tmp_path: Path) -> None:
    X, y = load_iris(return_X_y=True)
    model = make_pipeline(ClipTransformer(2.0), LogisticRegression(max_iter=1000)).fit(X, y)
    flavor = get_flavor("sklearn")
    config = flavor.save(model, tmp_path)
    custom = "tests.models.flavor_models.ClipTransformer"
    assert custom in config["trusted_types"]  # recorded, but not on the allow-list

    with pytest.raises(UnsafeModelFile, match="ClipTransformer") as info:
        flavor.load(tmp_path, config)
    assert info.value.details == {"globals": [custom], "file": str(tmp_path / "model.skops")}
    assert "trust=True" in info.value.message

    loaded = flavor.load(tmp_path, config, trust=True)
    assert_array_equal(loaded.predict(X), model.predict(X))


def test_a_type_missing_from_the_recorded_list_is_refused(tmp_path: Path) -> None:
    """A file swapped after save holds types its config never declared."""
    X, y = load_iris(return_X_y=True)
    flavor = get_flavor("sklearn")
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    config = flavor.save(LogisticRegression(max_iter=1000).fit(X, y), tmp_path / "a")
    other = flavor.save(RandomForestRegressor(n_estimators=2).fit(X, y), tmp_path / "b")
    (tmp_path / "a" / "model.skops").write_bytes((tmp_path / "b" / "model.skops").read_bytes())
    assert other["trusted_types"]
    assert not config["trusted_types"]
    with pytest.raises(UnsafeModelFile) as info:
        flavor.load(tmp_path / "a", config)
    assert info.value.details["globals"] == ["sklearn.tree._tree.Tree"]


@pytest.mark.parametrize(
    ("name", "allowed"),
    [
        ("sklearn.tree._tree.Tree", True),
        ("numpy.float64", True),
        ("scipy.sparse._csr.csr_matrix", True),
        ("numpy.load", False),
        ("numpy.lib._npyio_impl.load", False),
        ("scipy.io.loadmat", False),
        ("sklearn.datasets.fetch_openml", False),
        ("builtins.eval", False),
        ("os.system", False),
        ("sklearnx.Evil", False),
    ],
)
def test_allow_list(name: str, allowed: bool) -> None:
    assert is_allow_listed(name) is allowed


def test_corrupt_file_raises_integrity_error_naming_it(tmp_path: Path) -> None:
    X, y = load_iris(return_X_y=True)
    flavor = SklearnFlavor()
    config = flavor.save(LogisticRegression(max_iter=1000).fit(X, y), tmp_path)
    (tmp_path / "model.skops").write_bytes(b"not a zip file")
    with pytest.raises(IntegrityError, match=r"'model\.skops'.*corrupt") as info:
        flavor.load(tmp_path, config)
    assert info.value.details["file"] == str(tmp_path / "model.skops")


def test_estimator_without_predict_is_refused_and_nothing_written(tmp_path: Path) -> None:
    with pytest.raises(InvalidArgument, match="no predict method"):
        SklearnFlavor().save(StandardScaler().fit([[0.0], [1.0]]), tmp_path)
    assert list(tmp_path.iterdir()) == []


def test_unknown_option_and_missing_directory_are_refused(tmp_path: Path) -> None:
    with pytest.raises(InvalidArgument, match="does not take the option"):
        SklearnFlavor().save(LogisticRegression(), tmp_path, compress=True)
    with pytest.raises(InvalidArgument, match="existing directory"):
        SklearnFlavor().save(LogisticRegression(), tmp_path / "absent")
    assert list(tmp_path.iterdir()) == []
