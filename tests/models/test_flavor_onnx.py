"""ONNX graphs through onnxruntime: label and probability outputs, named inputs, errors."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy
import onnxruntime
import pandas
import pytest
from numpy.testing import assert_allclose, assert_array_equal
from skl2onnx import to_onnx
from sklearn.compose import ColumnTransformer
from sklearn.datasets import load_iris
from sklearn.linear_model import LinearRegression, LogisticRegression
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from mlsteward.errors import IntegrityError, InvalidArgument
from mlsteward.models._flavors import OnnxFlavor, flavor_for, get_flavor
from tests.models._flavor_support import fresh_predictions, save_case

X, Y = load_iris(return_X_y=True)
X32 = X.astype(numpy.float32)


def _session_outputs(model: Any, feed: dict[str, Any]) -> list[Any]:
    session = onnxruntime.InferenceSession(
        model.SerializeToString(), providers=["CPUExecutionProvider"]
    )
    return list(session.run(None, feed))


def _graphs() -> dict[str, Any]:
    classifier = LogisticRegression(max_iter=1000).fit(X32, Y)
    return {
        "zipmap": to_onnx(classifier, X32[:1]),
        "tensor_proba": to_onnx(classifier, X32[:1], options={"zipmap": False}),
        "regressor": to_onnx(LinearRegression().fit(X32, Y), X32[:1]),
    }


def test_graphs_round_trip_in_a_fresh_process(tmp_path: Path) -> None:
    graphs = _graphs()
    for name, graph in graphs.items():
        assert flavor_for(graph).name == "onnx"
        save_case("onnx", graph, tmp_path / name, X)  # float64 in: cast to the graph's float
    results = fresh_predictions(*(tmp_path / name for name in graphs))
    found = dict(zip(graphs, results, strict=True))

    label, zipped = _session_outputs(graphs["zipmap"], {"X": X32})
    assert_array_equal(found["zipmap"]["predict"], label)
    assert_array_equal(
        found["zipmap"]["predict_proba"], [[d[k] for k in (0, 1, 2)] for d in zipped]
    )

    label, proba = _session_outputs(graphs["tensor_proba"], {"X": X32})
    assert_array_equal(found["tensor_proba"]["predict"], label)
    assert_array_equal(found["tensor_proba"]["predict_proba"], proba)
    assert_allclose(found["zipmap"]["predict_proba"], proba, rtol=1e-6)

    (value,) = _session_outputs(graphs["regressor"], {"X": X32})
    assert found["regressor"]["predict"].shape == (len(X),)  # (n, 1) flattened like sklearn
    assert_array_equal(found["regressor"]["predict"], value.ravel())
    assert found["regressor"]["predict_proba"] is None
    assert "sklearn" not in found["regressor"]["modules"]


def test_named_inputs_from_a_dataframe_or_dict(tmp_path: Path) -> None:
    frame = pandas.DataFrame(X32[:, :2], columns=["a", "b"])
    columns = ColumnTransformer([("scale", StandardScaler(), ["a", "b"])])
    model = make_pipeline(columns, LogisticRegression(max_iter=1000)).fit(frame, Y)
    graph = to_onnx(
        model,
        initial_types=None,
        X=frame[:1],
        options={"zipmap": False},
    )
    config = OnnxFlavor().save(graph, tmp_path)
    assert config["inputs"] == ["a", "b"]
    loaded = OnnxFlavor().load(tmp_path, config)
    assert_array_equal(loaded.predict(frame), model.predict(frame))
    as_dict = {"a": frame["a"].to_numpy(), "b": frame["b"].to_numpy()}
    assert_array_equal(loaded.predict(as_dict), model.predict(frame))
    with pytest.raises(InvalidArgument, match=r"missing \['b'\]"):
        loaded.predict({"a": as_dict["a"]})


def test_serialised_bytes_are_accepted(tmp_path: Path) -> None:
    graph = _graphs()["regressor"]
    config = get_flavor("onnx").save(graph.SerializeToString(), tmp_path)
    assert config["format"] == "onnx"
    assert config["files"] == ["model.onnx"]
    assert (tmp_path / "model.onnx").read_bytes() == graph.SerializeToString()


def test_bad_bytes_and_bad_input_are_clear_errors(tmp_path: Path) -> None:
    with pytest.raises(InvalidArgument, match="not an ONNX model"):
        OnnxFlavor().save(b"\x08\x07garbage", tmp_path)
    assert list(tmp_path.iterdir()) == []
    config = OnnxFlavor().save(_graphs()["regressor"], tmp_path)
    loaded = OnnxFlavor().load(tmp_path, config)
    with pytest.raises(InvalidArgument, match="rejected the input"):
        loaded.predict(numpy.zeros((2, 7)))


def test_corrupt_file_raises_integrity_error(tmp_path: Path) -> None:
    config = OnnxFlavor().save(_graphs()["regressor"], tmp_path)
    (tmp_path / "model.onnx").write_bytes(b"\xff\xfe not protobuf")
    with pytest.raises(IntegrityError, match=r"onnx model file 'model\.onnx'.*corrupt") as info:
        OnnxFlavor().load(tmp_path, config)
    assert info.value.details["file"].endswith("model.onnx")
