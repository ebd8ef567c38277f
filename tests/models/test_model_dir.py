"""Saved model folders: metadata, signature inferred from the input example, recorded
predictions, enforcement at predict, scanning, and the trust decision for code-running models."""

from __future__ import annotations

import json
import pickle
from pathlib import Path
from typing import Any

import numpy
import pytest
from sklearn.datasets import load_iris
from sklearn.linear_model import LogisticRegression

from mlsteward.errors import InvalidArgument, NotFound, SignatureViolation, UnsafeModelFile
from mlsteward.models import TrustDecision
from mlsteward.models._model_dir import (
    METADATA_FILE,
    load_model_dir,
    read_metadata,
    save_model,
    scan_model_dir,
)

from .python_model_example import MeanModel


@pytest.fixture(scope="module")
def iris_model() -> tuple[Any, Any]:
    frame = load_iris(as_frame=True).frame.drop(columns="target")
    target = load_iris().target
    return LogisticRegression(max_iter=500).fit(frame, target), frame


def test_a_saved_model_predicts_what_the_original_did(
    tmp_path: Path, iris_model: tuple[Any, Any]
) -> None:
    model, frame = iris_model
    metadata = save_model(model, tmp_path / "m", input_example=frame.head(5))
    assert metadata.flavor == "sklearn"
    assert metadata.signature is not None
    names = [c.name for c in metadata.signature.inputs.columns]
    assert names == list(frame.columns)
    assert any(r.startswith("scikit-learn==") for r in metadata.requirements)
    loaded = load_model_dir(tmp_path / "m")
    numpy.testing.assert_array_equal(loaded.predict(frame), model.predict(frame))
    numpy.testing.assert_array_equal(loaded.predict_proba(frame), model.predict_proba(frame))
    assert loaded.example_predictions() == model.predict(frame.head(5)).tolist()
    numpy.testing.assert_array_equal(
        loaded.predict(loaded.input_example()), model.predict(frame.head(5))
    )
    assert scan_model_dir(tmp_path / "m")["status"] == "clean"
    assert read_metadata(tmp_path / "m") == metadata


def test_the_signature_is_enforced_at_predict(tmp_path: Path, iris_model: tuple[Any, Any]) -> None:
    model, frame = iris_model
    save_model(model, tmp_path / "m", input_example=frame.head(3))
    loaded = load_model_dir(tmp_path / "m")
    with pytest.raises(SignatureViolation) as missing:
        loaded.predict(frame.drop(columns="petal width (cm)"))
    assert missing.value.details["column"] == "petal width (cm)"
    text = frame.astype({"sepal length (cm)": str})
    with pytest.raises(SignatureViolation, match="sepal length"):
        loaded.predict(text)


def test_a_model_that_runs_code_needs_an_audited_trust_decision(tmp_path: Path) -> None:
    model = MeanModel(2.5)  # rebuilt from init_kwargs: no pickled instance state
    save_model(model, tmp_path / "m", input_example=numpy.zeros((2, 3)), init_kwargs={"value": 2.5})
    with pytest.raises(UnsafeModelFile) as refused:
        load_model_dir(tmp_path / "m")
    assert refused.value.details["files"] == ["code/"]
    seen: list[dict[str, Any]] = []
    loaded = load_model_dir(
        tmp_path / "m", trust=TrustDecision("reviewed the code"), on_trust=seen.append
    )
    assert seen[0]["reason"] == "reviewed the code"
    assert seen[0]["executes_code"] is True
    numpy.testing.assert_array_equal(loaded.predict(numpy.zeros((2, 3))), [2.5, 2.5])


class _Canary:
    def __init__(self, path: str) -> None:
        self.path = path

    def __reduce__(self) -> tuple[Any, ...]:
        return (Path.touch, (Path(self.path),))


def test_a_hostile_pickle_beside_the_model_is_refused_and_never_runs(
    tmp_path: Path, iris_model: tuple[Any, Any]
) -> None:
    model, _ = iris_model
    save_model(model, tmp_path / "m")
    canary = tmp_path / "CANARY"
    (tmp_path / "m" / "extra.pkl").write_bytes(pickle.dumps(_Canary(str(canary))))
    scan = scan_model_dir(tmp_path / "m")
    assert scan["status"] == "unsafe"
    assert scan["files"] == ["extra.pkl"]
    with pytest.raises(UnsafeModelFile):
        load_model_dir(tmp_path / "m")
    assert not canary.exists()


def test_bad_folders_and_metadata(tmp_path: Path, iris_model: tuple[Any, Any]) -> None:
    model, _ = iris_model
    with pytest.raises(NotFound):
        load_model_dir(tmp_path / "nothing")
    (tmp_path / "full").mkdir()
    (tmp_path / "full" / "x").write_text("x")
    with pytest.raises(InvalidArgument, match="not an empty folder"):
        save_model(model, tmp_path / "full")
    save_model(model, tmp_path / "m")
    meta = tmp_path / "m" / METADATA_FILE
    original = meta.read_text()
    for broken in (
        "[unclosed",
        "just text",
        original.replace("mlsteward.model", "mlsteward.other"),
        original.replace("schema_version: 1", "schema_version: 99"),
        original.replace("input_example: null", "input_example: ../../etc/passwd"),
        "!!python/object/apply:os.system ['touch CANARY']",
    ):
        meta.write_text(broken)
        with pytest.raises(InvalidArgument):
            read_metadata(tmp_path / "m")
    assert not (tmp_path / "CANARY").exists()
    meta.write_text(json.dumps({"type": "mlsteward.model"}))
    with pytest.raises(InvalidArgument):
        read_metadata(tmp_path / "m")


def test_a_trust_decision_is_audited(platform: Any) -> None:
    from mlsteward.models._trust import record_trust_decision
    from mlsteward.security import SYSTEM, list_audit_events

    scan = {"globals": ["os.system"], "files": ["extra.pkl"]}
    record_trust_decision(
        platform, SYSTEM, target="runs:/abc/model", reason="our own file", scan=scan
    )
    [event] = list_audit_events(platform, SYSTEM, action="model.trust")
    assert event.details["globals"] == ["os.system"]
    assert event.details["reason"] == "our own file"
    for reason in ("", "  ", "x" * 3000):
        with pytest.raises(InvalidArgument):
            record_trust_decision(platform, SYSTEM, target="t", reason=reason, scan=scan)


def _flavor_cases() -> list[tuple[str, Any, Any]]:
    """(flavor, fitted model, training input) for every flavor, small and seeded."""
    import lightgbm
    import torch
    import xgboost
    from skl2onnx import to_onnx

    from .flavor_models import TinyNet

    x, y = load_iris(return_X_y=True)
    x = x.astype(numpy.float32)
    torch.manual_seed(0)
    return [
        ("sklearn", LogisticRegression(max_iter=300).fit(x, y), x),
        ("xgboost", xgboost.XGBClassifier(n_estimators=5, max_depth=2).fit(x, y), x),
        ("lightgbm", lightgbm.LGBMClassifier(n_estimators=5, verbose=-1).fit(x, y), x),
        ("onnx", to_onnx(LogisticRegression(max_iter=300).fit(x, y), x[:1]), x),
        ("torch", TinyNet(4, [8], 3).eval(), x),
        ("python", MeanModel(1.0), x),
    ]


@pytest.mark.parametrize("flavor", ["sklearn", "xgboost", "lightgbm", "onnx", "torch", "python"])
def test_every_flavor_enforces_its_signature(tmp_path: Path, flavor: str) -> None:
    """Per flavor: the reloaded model predicts like the original on the example, and input of
    the wrong shape or type is a SignatureViolation naming what was expected."""
    [(_, model, x)] = [case for case in _flavor_cases() if case[0] == flavor]
    options: dict[str, Any] = {}
    if flavor == "torch":
        options["init_kwargs"] = {"n_in": 4, "hidden": [8], "n_out": 3}
    if flavor == "python":
        options["init_kwargs"] = {"value": 1.0}
    save_model(model, tmp_path / "m", input_example=x[:5], **options)
    trust = TrustDecision("test model") if flavor == "python" else None
    loaded = load_model_dir(tmp_path / "m", trust=trust)
    numpy.testing.assert_allclose(
        numpy.asarray(loaded.predict(x[:5]), dtype=float),
        numpy.asarray(loaded.example_predictions(), dtype=float),
        rtol=1e-6,
    )
    with pytest.raises(SignatureViolation) as narrow:
        loaded.predict(x[:5, :3])  # a column short
    assert "shape" in narrow.value.message
    with pytest.raises(SignatureViolation):
        loaded.predict(x[:5].astype(str))  # text where numbers belong
