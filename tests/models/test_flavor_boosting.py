"""XGBoost and LightGBM in their native formats: fresh-process round trips, errors."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import lightgbm
import numpy
import pytest
import xgboost
from numpy.testing import assert_array_equal
from sklearn.datasets import load_breast_cancer, load_iris, make_regression

from mlsteward.errors import IntegrityError, InvalidArgument
from mlsteward.models._flavors import LightGBMFlavor, XGBoostFlavor, flavor_for, get_flavor
from tests.models._flavor_support import fresh_predictions, save_case


def _xgboost_models() -> dict[str, tuple[Any, Any, dict[str, Any]]]:
    X, y = load_iris(return_X_y=True)
    Xc, yc = load_breast_cancer(return_X_y=True)
    Xr, yr = make_regression(n_samples=200, n_features=6, random_state=0)
    booster = xgboost.train(
        {"objective": "binary:logistic", "max_depth": 2, "seed": 0},
        xgboost.DMatrix(Xc, label=yc),
        num_boost_round=5,
    )
    return {
        "multiclass": (xgboost.XGBClassifier(n_estimators=8, max_depth=3).fit(X, y), X, {}),
        "binary_json": (
            xgboost.XGBClassifier(n_estimators=8, max_depth=2).fit(Xc, yc),
            Xc,
            {"format": "json"},
        ),
        "regressor": (xgboost.XGBRegressor(n_estimators=8).fit(Xr, yr), Xr, {}),
        "booster": (booster, Xc, {}),
    }


def _lightgbm_models() -> dict[str, tuple[Any, Any]]:
    X, y = load_iris(return_X_y=True)
    Xc, yc = load_breast_cancer(return_X_y=True)
    Xr, yr = make_regression(n_samples=200, n_features=6, random_state=0)
    labels = numpy.array(["benign", "malignant"])[yc]
    params: dict[str, Any] = {"n_estimators": 10, "verbose": -1, "random_state": 0}
    return {
        "multiclass": (lightgbm.LGBMClassifier(**params).fit(X, y), X),
        "binary_string_labels": (lightgbm.LGBMClassifier(**params).fit(Xc, labels), Xc),
        "regressor": (lightgbm.LGBMRegressor(**params).fit(Xr, yr), Xr),
        "booster": (lightgbm.train({"verbose": -1}, lightgbm.Dataset(Xr, yr), 5), Xr),
    }


def _reference(model: Any, data: Any) -> tuple[Any, Any]:
    if isinstance(model, xgboost.Booster):
        return model.predict(xgboost.DMatrix(data)), None
    proba = model.predict_proba(data) if hasattr(model, "predict_proba") else None
    return model.predict(data), proba


def test_xgboost_models_round_trip_in_a_fresh_process(tmp_path: Path) -> None:
    models = _xgboost_models()
    for name, (model, data, options) in models.items():
        assert flavor_for(model).name == "xgboost"
        saved = save_case("xgboost", model, tmp_path / name, data, **options)
        assert saved.config["format"] == ("xgboost-json" if options else "xgboost-ubj")
    results = fresh_predictions(*(tmp_path / name for name in models))
    for (name, (model, data, _)), found in zip(models.items(), results, strict=True):
        predicted, proba = _reference(model, data)
        assert_array_equal(found["predict"], predicted, err_msg=name)
        if proba is None:
            assert found["predict_proba"] is None, name
        else:
            assert_array_equal(found["predict_proba"], proba, err_msg=name)
        assert "lightgbm" not in found["modules"]
        assert "torch" not in found["modules"]


def test_lightgbm_models_round_trip_in_a_fresh_process(tmp_path: Path) -> None:
    models = _lightgbm_models()
    for name, (model, data) in models.items():
        assert flavor_for(model).name == "lightgbm"
        saved = save_case("lightgbm", model, tmp_path / name, data)
        assert saved.config["files"] == ["model.txt"]
    results = fresh_predictions(*(tmp_path / name for name in models))
    for (name, (model, data)), found in zip(models.items(), results, strict=True):
        assert_array_equal(found["predict"], model.predict(data), err_msg=name)
        if hasattr(model, "predict_proba"):
            assert_array_equal(found["predict_proba"], model.predict_proba(data), err_msg=name)
        else:
            assert found["predict_proba"] is None, name


def test_lightgbm_classifier_config_records_labels(tmp_path: Path) -> None:
    model, data = _lightgbm_models()["binary_string_labels"]
    config = LightGBMFlavor().save(model, tmp_path)
    assert config["classes"] == ["benign", "malignant"]
    assert config["num_class"] == 2
    assert config["objective"] == "binary"
    loaded = LightGBMFlavor().load(tmp_path, config)
    assert loaded.predict(data[:3]).dtype == model.predict(data[:3]).dtype


@pytest.mark.parametrize(
    ("flavor", "filename"), [("xgboost", "model.ubj"), ("lightgbm", "model.txt")]
)
def test_corrupt_model_file_raises_integrity_error(
    tmp_path: Path, flavor: str, filename: str
) -> None:
    Xr, yr = make_regression(n_samples=50, n_features=3, random_state=0)
    params: dict[str, Any] = {"n_estimators": 3}
    model = (
        lightgbm.LGBMRegressor(verbose=-1, **params)
        if flavor == "lightgbm"
        else xgboost.XGBRegressor(**params)
    ).fit(Xr, yr)
    config = get_flavor(flavor).save(model, tmp_path)
    (tmp_path / filename).write_bytes(b"\x00garbage\xff" * 10)
    with pytest.raises(IntegrityError, match=rf"{flavor} model file '{filename}'.*corrupt"):
        get_flavor(flavor).load(tmp_path, config)


@pytest.mark.parametrize("flavor", ["xgboost", "lightgbm"])
def test_unfitted_model_is_refused(tmp_path: Path, flavor: str) -> None:
    model = xgboost.XGBRegressor() if flavor == "xgboost" else lightgbm.LGBMRegressor()
    with pytest.raises(InvalidArgument, match="fitted"):
        get_flavor(flavor).save(model, tmp_path)
    assert list(tmp_path.iterdir()) == []


def test_hostile_model_class_in_config_is_refused(tmp_path: Path) -> None:
    Xr, yr = make_regression(n_samples=50, n_features=3, random_state=0)
    model = xgboost.XGBRegressor(n_estimators=3).fit(Xr, yr)
    config = XGBoostFlavor().save(model, tmp_path)
    with pytest.raises(InvalidArgument, match="unknown XGBoost model_class"):
        XGBoostFlavor().load(tmp_path, {**config, "model_class": "DMatrix"})
    with pytest.raises(InvalidArgument, match="'ubj' or 'json'"):
        XGBoostFlavor().save(model, tmp_path, format="pickle")
