"""The Open Inference Protocol routes: every endpoint, every datatype, JSON and binary tensors,
every bad input, and the real ``tritonclient[http]`` client against a real server."""

from __future__ import annotations

import contextlib
import gzip
import json
import socket
import struct
import threading
import time
import zlib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import anyio
import numpy as np
import pandas as pd
import pytest
import uvicorn
from starlette.applications import Starlette
from starlette.testclient import TestClient

import mlsteward
from mlsteward.errors import Unavailable
from mlsteward.models import ColumnSpec, Schema, Signature
from mlsteward.models._model_dir import LoadedModel, ModelMetadata, load_model_dir, save_model
from mlsteward.serving import ModelRepository, ServedModel
from mlsteward.serving._oip import oip_routes

HEADER = "Inference-Header-Content-Length"


async def predict(model: ServedModel, data: Any) -> Any:
    return await anyio.to_thread.run_sync(model.predict, data)


@pytest.fixture(scope="module")
def iris(tmp_path_factory: pytest.TempPathFactory) -> tuple[ServedModel, pd.DataFrame]:
    """The iris classifier (table signature, with predict_proba) and its features."""
    from sklearn.datasets import load_iris
    from sklearn.ensemble import HistGradientBoostingClassifier

    x, y = load_iris(return_X_y=True, as_frame=True)
    folder = tmp_path_factory.mktemp("iris") / "m"
    model = HistGradientBoostingClassifier(max_iter=20, random_state=0).fit(x, y)
    save_model(model, folder, input_example=x.head(5))
    return ServedModel("iris", "1", load_model_dir(folder), "sklearn"), x


@pytest.fixture(scope="module")
def iris_tensor(tmp_path_factory: pytest.TempPathFactory) -> tuple[ServedModel, np.ndarray]:
    """A regressor on a NumPy matrix: a signature with one unnamed tensor of shape (-1, 4)."""
    from sklearn.datasets import load_iris
    from sklearn.linear_model import LinearRegression

    x, y = load_iris(return_X_y=True)
    folder = tmp_path_factory.mktemp("iris-tensor") / "m"
    save_model(LinearRegression().fit(x, y), folder, input_example=x[:5])
    return ServedModel("iris-tensor", "7", load_model_dir(folder), "sklearn"), x


class _Echo:
    """A model that gives back its input: column ``x`` of a table, or the tensor itself."""

    def predict(self, data: Any) -> Any:
        if isinstance(data, pd.DataFrame):
            return data["x"].to_numpy()
        if isinstance(data, dict):
            return data["b"] * 2
        return data


class _Failing:
    def predict(self, data: Any) -> Any:
        raise RuntimeError("the weights are on fire")


def _served(name: str, predictor: Any, signature: Signature | None, folder: Path) -> ServedModel:
    metadata = ModelMetadata(
        flavor="python",
        flavor_config={},
        signature=signature,
        requirements=(),
        input_example=None,
        example_predictions=None,
        created_at="",
        mlsteward_version=mlsteward.__version__,
    )
    return ServedModel(name, "1", LoadedModel(metadata, predictor, folder), "python")


def _echo(dtype: str | None, tmp_path: Path, nullable: bool = False) -> ServedModel:
    """An echo model over a one-column table of ``dtype`` (None: no signature)."""
    signature = (
        None
        if dtype is None
        else Signature(Schema("table", (ColumnSpec("x", dtype, nullable=nullable),)))
    )
    return _served("echo", _Echo(), signature, tmp_path)


def _client(*models: ServedModel, ready: bool = True, **options: Any) -> TestClient:
    repository = ModelRepository(list(models))
    repository.ready = ready
    return TestClient(Starlette(routes=oip_routes(repository, predict, **options)))


def _columns(frame: pd.DataFrame, rows: slice = slice(0, 3)) -> list[dict[str, Any]]:
    part = frame.iloc[rows]
    return [
        {"name": name, "datatype": "FP64", "shape": [len(part)], "data": part[name].tolist()}
        for name in frame.columns
    ]


def _binary_body(document: dict[str, Any], *blobs: bytes) -> tuple[bytes, dict[str, str]]:
    header = json.dumps(document).encode()
    return header + b"".join(blobs), {HEADER: str(len(header))}


def _split_response(response: Any) -> tuple[dict[str, Any], bytes]:
    length = int(response.headers[HEADER])
    return json.loads(response.content[:length]), response.content[length:]


def _bytes_tensor(*elements: bytes) -> bytes:
    return b"".join(struct.pack("<I", len(e)) + e for e in elements)


# -- health, server and model metadata ----------------------------------------------------------


def test_health_live_and_ready_follow_the_repository(iris: Any) -> None:
    repository = ModelRepository([iris[0]])
    client = TestClient(Starlette(routes=oip_routes(repository, predict)))
    assert client.get("/v2/health/live").status_code == 200
    not_ready = client.get("/v2/health/ready")
    assert not_ready.status_code == 503
    assert "not ready" in not_ready.json()["error"]
    assert client.get("/v2/models/iris/ready").status_code == 503
    repository.ready = True
    assert client.get("/v2/health/ready").status_code == 200
    assert client.get("/v2/models/iris/ready").json() == {"name": "iris", "ready": True}
    assert client.get("/v2/models/iris/versions/1/ready").status_code == 200


def test_server_metadata() -> None:
    body = _client().get("/v2").json()
    assert body == {
        "name": "mlsteward",
        "version": mlsteward.__version__,
        "extensions": ["binary_tensor_data"],
    }


def test_model_metadata_of_a_table_signature(iris: Any) -> None:
    model, x = iris
    client = _client(model)
    body = client.get("/v2/models/iris").json()
    assert body["name"] == "iris"
    assert body["versions"] == ["1"]
    assert body["platform"] == "sklearn"
    assert body["inputs"] == [
        {"name": name, "datatype": "FP64", "shape": [-1]} for name in x.columns
    ]
    assert body["outputs"] == [
        {"name": "predict", "datatype": "INT64", "shape": [-1]},
        {"name": "predict_proba", "datatype": "FP64", "shape": [-1, -1]},
    ]
    assert client.get("/v2/models/iris/versions/1").json() == body


def test_model_metadata_of_a_tensor_signature(iris_tensor: Any) -> None:
    body = _client(iris_tensor[0]).get("/v2/models/iris-tensor/versions/7").json()
    assert body["inputs"] == [{"name": "input", "datatype": "FP64", "shape": [-1, 4]}]
    assert body["outputs"] == [{"name": "predict", "datatype": "FP64", "shape": [-1]}]


def test_metadata_maps_every_signature_dtype(tmp_path: Path) -> None:
    dtypes = {
        "bool": "BOOL",
        "int8": "INT8",
        "int16": "INT16",
        "int32": "INT32",
        "int64": "INT64",
        "uint8": "UINT8",
        "uint16": "UINT16",
        "uint32": "UINT32",
        "uint64": "UINT64",
        "float32": "FP32",
        "float64": "FP64",
        "string": "BYTES",
        "binary": "BYTES",
        "datetime64[ns]": "BYTES",
    }
    columns = tuple(ColumnSpec(f"c_{dtype}", dtype) for dtype in dtypes)
    model = _served("all", _Echo(), Signature(Schema("table", columns)), tmp_path)
    body = _client(model).get("/v2/models/all").json()
    assert [(i["name"], i["datatype"]) for i in body["inputs"]] == [
        (f"c_{dtype}", oip) for dtype, oip in dtypes.items()
    ]


@pytest.mark.parametrize(
    "path",
    [
        "/v2/models/nope",
        "/v2/models/nope/ready",
        "/v2/models/iris/versions/2",
        "/v2/models/iris/versions/2/ready",
    ],
)
def test_unknown_model_or_version_is_404(iris: Any, path: str) -> None:
    response = _client(iris[0]).get(path)
    assert response.status_code == 404
    assert "iris" in response.json()["error"]


def test_unknown_version_on_infer_is_404(iris: Any) -> None:
    body = {"inputs": _columns(iris[1])}
    response = _client(iris[0]).post("/v2/models/iris/versions/9/infer", json=body)
    assert response.status_code == 404
    assert response.json() == {"error": "model 'iris' is served at version 1, not '9'"}


def test_wrong_method_is_a_json_405(iris: Any) -> None:
    client = _client(iris[0])
    response = client.get("/v2/models/iris/infer")
    assert response.status_code == 405
    assert response.headers["allow"] == "POST"
    assert "POST" in response.json()["error"]
    assert client.delete("/v2/health/live").status_code == 405


# -- inference: JSON ----------------------------------------------------------------------------


def test_json_inference_matches_the_model(iris: Any) -> None:
    model, x = iris
    body = {"id": "req-1", "inputs": _columns(x, slice(40, 110))}
    response = _client(model).post("/v2/models/iris/infer", json=body)
    assert response.status_code == 200
    assert response.headers["content-type"] == "application/json"
    result = response.json()
    assert result["model_name"] == "iris"
    assert result["model_version"] == "1"
    assert result["id"] == "req-1"
    [output] = result["outputs"]
    expected = model.loaded.predict(x.iloc[40:110])
    assert output == {
        "name": "predict",
        "datatype": "INT64",
        "shape": [70],
        "data": expected.tolist(),
    }
    assert len(set(output["data"])) == 3  # the rows span every class


@pytest.mark.parametrize(
    "variant",
    [
        "plain",
        "with_parameters",
        "reordered",
        "ints_in_fp64",
        "int64_column",
        "all_int64",
        "single_row",
    ],
)
def test_plain_columns_read_at_once_match_the_general_reading(iris: Any, variant: str) -> None:
    """Plain FP64 columns are read as one block; every request the block reading declines
    (parameters, an int among the floats) goes the general way: all give the model's own
    predictions, whatever the order of the inputs."""
    model, x = iris
    rows = slice(0, 1) if variant == "single_row" else slice(40, 110)
    inputs = _columns(x, rows)
    if variant == "with_parameters":
        inputs = [{**item, "parameters": {}} for item in inputs]
    elif variant == "reordered":
        inputs = inputs[::-1]
    elif variant in ("ints_in_fp64", "int64_column"):
        datatype = "FP64" if variant == "ints_in_fp64" else "INT64"
        rounded = [round(v) for v in inputs[0]["data"]]
        inputs[0] = {**inputs[0], "datatype": datatype, "data": rounded}
    elif variant == "all_int64":  # one block, of another dtype than the signature's
        inputs = [
            {**item, "datatype": "INT64", "data": [round(v) for v in item["data"]]}
            for item in inputs
        ]
    response = _client(model).post("/v2/models/iris/infer", json={"inputs": inputs})
    assert response.status_code == 200, response.text
    frame = x.iloc[rows].copy()
    if variant in ("ints_in_fp64", "int64_column"):
        frame[x.columns[0]] = frame[x.columns[0]].round()
    elif variant == "all_int64":
        frame = frame.round()
    assert response.json()["outputs"][0]["data"] == model.loaded.predict(frame).tolist()


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"name": "sepal width (cm)"}, "input 'sepal width (cm)' is given more than once"),
        ({"name": "colour"}, "the model has no input 'colour'"),
        ({"data": [1.0, 2.0], "shape": [2]}, "has 2 rows but the inputs before it have 1"),
        ({"shape": [2]}, "has 1 values but shape [2] needs 2"),
        ({"data": [], "shape": [0]}, "holds no values"),
    ],
    ids=["duplicate", "unknown", "ragged", "short", "empty"],
)
def test_plain_columns_that_do_not_fit_get_the_general_errors(
    iris: Any, change: dict[str, Any], message: str
) -> None:
    model, x = iris
    inputs = _columns(x, slice(0, 1))
    inputs[-1] = {**inputs[-1], **change}
    response = _client(model).post("/v2/models/iris/infer", json={"inputs": inputs})
    assert response.status_code == 400, response.text
    assert message in response.json()["error"]


def test_plain_columns_followed_by_stray_binary_data_are_400(iris: Any) -> None:
    model, x = iris
    content, headers = _binary_body({"inputs": _columns(x, slice(0, 1))}, b"\0" * 8)
    response = _infer(_client(model), content, headers=headers)
    assert response.status_code == 400
    assert "8 bytes follow the JSON" in response.json()["error"]


def test_nested_data_with_shape_n_by_1(iris: Any) -> None:
    model, x = iris
    inputs = [
        {"name": n, "datatype": "FP32", "shape": [3, 1], "data": [[v] for v in x[n][48:51]]}
        for n in x.columns
    ]
    response = _client(model).post("/v2/models/iris/versions/1/infer", json={"inputs": inputs})
    assert response.status_code == 200, response.text
    data = response.json()["outputs"][0]["data"]
    assert data == model.loaded.predict(x.iloc[48:51].astype("float32")).tolist()


def test_predict_proba_only_when_asked_for(iris: Any) -> None:
    model, x = iris
    calls: list[int] = []
    loaded = load_model_dir(model.loaded.folder)
    real_proba = loaded.predict_proba

    def counting_proba(data: Any) -> Any:
        calls.append(len(data))
        return real_proba(data)

    loaded.predict_proba = counting_proba
    served = ServedModel("iris", "1", loaded, "sklearn")
    client = _client(served)
    body: dict[str, Any] = {"inputs": _columns(x, slice(0, 60))}
    assert client.post("/v2/models/iris/infer", json=body).status_code == 200
    assert calls == []
    body["outputs"] = [{"name": "predict_proba"}]
    result = client.post("/v2/models/iris/infer", json=body).json()
    assert calls == [60]
    [output] = result["outputs"]
    assert output["name"] == "predict_proba"
    assert output["datatype"] == "FP64"
    assert output["shape"] == [60, 3]
    expected = model.loaded.predict_proba(x.iloc[0:60])
    np.testing.assert_allclose(np.array(output["data"]).reshape(60, 3), expected)


def test_tensor_signature_takes_the_array(iris_tensor: Any) -> None:
    model, x = iris_tensor
    body = {
        "inputs": [{"name": "any", "datatype": "FP64", "shape": [5, 4], "data": x[:5].tolist()}]
    }
    response = _client(model).post("/v2/models/iris-tensor/infer", json=body)
    assert response.status_code == 200, response.text
    np.testing.assert_allclose(response.json()["outputs"][0]["data"], model.loaded.predict(x[:5]))


def test_named_tensors_become_a_dict(tmp_path: Path) -> None:
    schema = Schema(
        "tensor", (ColumnSpec("a", "float64", (-1,)), ColumnSpec("b", "int32", (-1, 2)))
    )
    model = _served("named", _Echo(), Signature(schema), tmp_path)
    inputs = [
        {"name": "a", "datatype": "FP64", "shape": [2], "data": [1.5, 2.5]},
        {"name": "b", "datatype": "INT32", "shape": [2, 2], "data": [1, 2, 3, 4]},
    ]
    response = _client(model).post("/v2/models/named/infer", json={"inputs": inputs})
    assert response.json()["outputs"][0] == {
        "name": "predict",
        "datatype": "INT32",
        "shape": [2, 2],
        "data": [2, 4, 6, 8],
    }


JSON_VALUES = {
    "BOOL": [True, False, True],
    "UINT8": [0, 7, 255],
    "UINT16": [0, 7, 65535],
    "UINT32": [0, 7, 2**32 - 1],
    "UINT64": [0, 7, 2**64 - 1],
    "INT8": [-128, 0, 127],
    "INT16": [-(2**15), 0, 2**15 - 1],
    "INT32": [-(2**31), 0, 2**31 - 1],
    "INT64": [-(2**63), 0, 2**63 - 1],
    "FP32": [-1.5, 0.0, 3.25],
    "FP64": [-1.5e300, 0.0, 3.25],
    "BYTES": ["a", "", "é✓"],
}
SIGNATURE_DTYPE = {"BOOL": "bool", "FP32": "float32", "FP64": "float64", "BYTES": "string"}


@pytest.mark.parametrize("datatype", list(JSON_VALUES))
def test_every_datatype_round_trips_as_json(datatype: str, tmp_path: Path) -> None:
    dtype = SIGNATURE_DTYPE.get(datatype, datatype.lower())
    client = _client(_echo(dtype, tmp_path))
    values = JSON_VALUES[datatype]
    body = {"inputs": [{"name": "x", "datatype": datatype, "shape": [3], "data": values}]}
    response = client.post("/v2/models/echo/infer", json=body)
    assert response.status_code == 200, response.text
    assert response.json()["outputs"][0] == {
        "name": "predict",
        "datatype": datatype,
        "shape": [3],
        "data": values,
    }


BINARY_VALUES = {
    "BOOL": np.array([True, False, True]),
    "UINT8": np.array([0, 7, 255], np.uint8),
    "UINT16": np.array([0, 7, 65535], np.uint16),
    "UINT32": np.array([0, 7, 2**32 - 1], np.uint32),
    "UINT64": np.array([0, 7, 2**64 - 1], np.uint64),
    "INT8": np.array([-128, 0, 127], np.int8),
    "INT16": np.array([-(2**15), 0, 2**15 - 1], np.int16),
    "INT32": np.array([-(2**31), 0, 2**31 - 1], np.int32),
    "INT64": np.array([-(2**63), 0, 2**63 - 1], np.int64),
    "FP16": np.array([-1.5, 0.0, 65504.0], np.float16),
    "FP32": np.array([-1.5, np.inf, 3.25], np.float32),
    "FP64": np.array([-1.5e300, -np.inf, 3.25], np.float64),
}


@pytest.mark.parametrize("datatype", list(BINARY_VALUES))
def test_every_datatype_round_trips_as_binary(datatype: str, tmp_path: Path) -> None:
    """Without a signature the tensor reaches the model as sent (FP16 included)."""
    array = BINARY_VALUES[datatype]
    raw = array.astype(array.dtype.newbyteorder("<")).tobytes()
    document = {
        "inputs": [
            {
                "name": "x",
                "datatype": datatype,
                "shape": [3],
                "parameters": {"binary_data_size": len(raw)},
            }
        ],
        "parameters": {"binary_data_output": True},
    }
    body, headers = _binary_body(document, raw)
    response = _client(_echo(None, tmp_path)).post(
        "/v2/models/echo/infer", content=body, headers=headers
    )
    assert response.status_code == 200, response.text
    assert response.headers["content-type"] == "application/octet-stream"
    header, tail = _split_response(response)
    assert header["outputs"] == [
        {
            "name": "predict",
            "datatype": datatype,
            "shape": [3],
            "parameters": {"binary_data_size": len(raw)},
        }
    ]
    assert tail == raw


def test_non_finite_floats_are_null_in_json_and_exact_in_binary(tmp_path: Path) -> None:
    raw = np.array([np.nan, np.inf, 1.5]).tobytes()
    document: dict[str, Any] = {
        "inputs": [
            {"name": "x", "datatype": "FP64", "shape": [3], "parameters": {"binary_data_size": 24}}
        ]
    }
    client = _client(_echo(None, tmp_path))
    body, headers = _binary_body(document, raw)
    response = client.post("/v2/models/echo/infer", content=body, headers=headers)
    assert response.json()["outputs"][0]["data"] == [None, None, 1.5]
    document["parameters"] = {"binary_data_output": True}
    body, headers = _binary_body(document, raw)
    response = client.post("/v2/models/echo/infer", content=body, headers=headers)
    assert _split_response(response)[1] == raw


def test_fp16_json_input_is_widened_for_a_float32_signature(tmp_path: Path) -> None:
    body = {"inputs": [{"name": "x", "datatype": "FP16", "shape": [2], "data": [0.5, 2.0]}]}
    response = _client(_echo("float32", tmp_path)).post("/v2/models/echo/infer", json=body)
    assert response.json()["outputs"][0]["datatype"] == "FP32"
    assert response.json()["outputs"][0]["data"] == [0.5, 2.0]


def _post_bytes(model: ServedModel, raw: bytes, count: int) -> Any:
    """``raw`` as one binary BYTES input ``x`` of ``count`` elements; the output as binary."""
    document = {
        "inputs": [
            {
                "name": "x",
                "datatype": "BYTES",
                "shape": [count],
                "parameters": {"binary_data_size": len(raw)},
            }
        ],
        "outputs": [{"name": "predict", "parameters": {"binary_data": True}}],
    }
    body, headers = _binary_body(document, raw)
    return _client(model).post("/v2/models/echo/infer", content=body, headers=headers)


def test_binary_bytes_reach_a_binary_column_unchanged(tmp_path: Path) -> None:
    raw = _bytes_tensor(b"caf\xc3\xa9", b"", b"\x00\xff")
    response = _post_bytes(_echo("binary", tmp_path), raw, 3)
    assert response.status_code == 200, response.text
    header, tail = _split_response(response)
    assert header["outputs"][0]["datatype"] == "BYTES"
    assert tail == raw


def test_binary_bytes_for_a_string_column_must_be_utf8(tmp_path: Path) -> None:
    model = _echo("string", tmp_path)
    response = _post_bytes(model, _bytes_tensor(b"caf\xc3\xa9", b"\xff"), 2)
    assert response.status_code == 400
    assert response.json() == {"error": "input 'x' holds bytes that are not UTF-8"}
    response = _post_bytes(model, _bytes_tensor(b"caf\xc3\xa9", b""), 2)
    assert _split_response(response)[1] == _bytes_tensor(b"caf\xc3\xa9", b"")


def test_datetime_columns_take_iso_8601_text(tmp_path: Path) -> None:
    client = _client(_echo("datetime64[ns]", tmp_path))

    def infer(*values: str) -> Any:
        tensor = {"name": "x", "datatype": "BYTES", "shape": [len(values)], "data": values}
        return client.post("/v2/models/echo/infer", json={"inputs": [tensor]})

    response = infer("2024-02-29T12:30:00.123456789", "1999-12-31")
    assert response.json()["outputs"][0] == {
        "name": "predict",
        "datatype": "BYTES",
        "shape": [2],
        "data": ["2024-02-29T12:30:00.123456789", "1999-12-31T00:00:00.000000000"],
    }
    for bad, message in [
        ("yesterday", "must hold ISO-8601 dates and times (datetime64[ns])"),
        ("2024-13-01", "Month out of range"),
        ("2024-01-01T10:00:00Z", "has a time zone; send naive (UTC) times"),
        ("2024-01-01 10:00:00+02:00", "has a time zone; send naive (UTC) times"),
    ]:
        response = infer("2024-01-01", bad)
        assert response.status_code == 400, bad
        assert message in response.json()["error"]


def test_output_bytes_that_are_not_utf8_need_binary(tmp_path: Path) -> None:
    raw = _bytes_tensor(b"\xff")
    document = {
        "inputs": [
            {"name": "x", "datatype": "BYTES", "shape": [1], "parameters": {"binary_data_size": 5}}
        ]
    }
    body, headers = _binary_body(document, raw)
    response = _client(_echo("binary", tmp_path)).post(
        "/v2/models/echo/infer", content=body, headers=headers
    )
    assert response.status_code == 400
    assert "ask for it as binary data" in response.json()["error"]


def test_binary_inputs_mixed_with_json_inputs(iris: Any) -> None:
    model, x = iris
    rows = x.iloc[95:105]
    blobs = []
    inputs = []
    for index, name in enumerate(x.columns):
        if index % 2:
            inputs.append(
                {"name": name, "datatype": "FP64", "shape": [10], "data": rows[name].tolist()}
            )
        else:
            raw = rows[name].to_numpy("<f8").tobytes()
            blobs.append(raw)
            inputs.append(
                {
                    "name": name,
                    "datatype": "FP64",
                    "shape": [10, 1],
                    "parameters": {"binary_data_size": len(raw)},
                }
            )
    document = {"inputs": inputs, "outputs": [{"name": "predict"}, {"name": "predict_proba"}]}
    body, headers = _binary_body(document, *blobs)
    response = _client(model).post("/v2/models/iris/infer", content=body, headers=headers)
    assert response.status_code == 200, response.text
    assert response.headers["content-type"] == "application/json"  # no output asked for binary
    predict_out, proba_out = response.json()["outputs"]
    assert predict_out["data"] == model.loaded.predict(rows).tolist()
    np.testing.assert_allclose(
        np.array(proba_out["data"]).reshape(10, 3), model.loaded.predict_proba(rows)
    )


def test_gzip_and_deflate_bodies(iris: Any) -> None:
    model, x = iris
    raw = json.dumps({"inputs": _columns(x)}).encode()
    expected = model.loaded.predict(x.iloc[0:3]).tolist()
    client = _client(model)
    for encoding, packed in [("gzip", gzip.compress(raw)), ("deflate", zlib.compress(raw))]:
        response = client.post(
            "/v2/models/iris/infer", content=packed, headers={"Content-Encoding": encoding}
        )
        assert response.status_code == 200, response.text
        assert response.json()["outputs"][0]["data"] == expected


# -- errors -------------------------------------------------------------------------------------


def _infer(client: TestClient, body: Any, **kwargs: Any) -> Any:
    content = body if isinstance(body, bytes) else json.dumps(body).encode()
    return client.post("/v2/models/iris/infer", content=content, **kwargs)


def _iris_input(**changes: Any) -> dict[str, Any]:
    columns = [
        {"name": name, "datatype": "FP64", "shape": [2], "data": [5.0, 6.0]}
        for name in ("sepal length (cm)", "sepal width (cm)", "petal length (cm)")
    ]
    last = {"name": "petal width (cm)", "datatype": "FP64", "shape": [2], "data": [1.0, 2.0]}
    last.update(changes)
    return {"inputs": [*columns, {k: v for k, v in last.items() if v is not ...}]}


BAD_JSON_REQUESTS: list[tuple[str, Any, str]] = [
    ("malformed", b'{"inputs": [', "the inference request is not valid JSON"),
    (
        "nested 5,000 deep",
        b'{"inputs": ' + b"[" * 5000 + b"]" * 5000 + b"}",
        "the inference request is not valid JSON",
    ),
    ("huge shape", _iris_input(shape=[2**62, 2**62]), "has 2 values but shape"),
    ("invalid UTF-8", b'{"id": "\xff", "inputs": []}', "the inference request is not valid JSON"),
    ("NaN literal", b'{"inputs": [NaN]}', "the inference request is not valid JSON"),
    ("not an object", b"[1, 2]", "the inference request must be a JSON object"),
    ("no inputs", {"id": "x"}, "inputs must be a non-empty list of tensors"),
    ("empty inputs", {"inputs": []}, "inputs must be a non-empty list of tensors"),
    ("input not an object", {"inputs": [3]}, "inputs[0] must be an object; got int"),
    ("id not a string", {"id": 3, "inputs": []}, "id must be a string; got int"),
    ("name missing", {"inputs": [{"shape": [1]}]}, "inputs[0].name must be a string"),
    ("name empty", _iris_input(name=""), "inputs[3].name must be 1 to 1024 characters"),
    ("name too long", _iris_input(name="n" * 1025), "inputs[3].name must be 1 to 1024 characters"),
    (
        "unknown datatype",
        _iris_input(datatype="FLOAT"),
        "input 'petal width (cm)' has datatype 'FLOAT'; use one of BOOL, UINT8",
    ),
    ("BF16", _iris_input(datatype="BF16"), "has datatype 'BF16'"),
    ("shape not a list", _iris_input(shape=2), "shape must be a list of at most 32 sizes"),
    ("negative shape", _iris_input(shape=[-1]), "shape must hold non-negative integers"),
    ("bool in shape", _iris_input(shape=[True, 2]), "shape must hold non-negative integers"),
    ("empty tensor", _iris_input(shape=[0], data=[]), "which holds no values"),
    ("no data", _iris_input(data=...), "has neither data nor binary_data_size"),
    ("data not a list", _iris_input(data="1,2"), "data must be a list"),
    ("too few values", _iris_input(data=[1.0]), "has 1 values but shape [2] needs 2"),
    ("too many values", _iris_input(data=[1.0, 2.0, 3.0]), "has 3 values but shape [2] needs 2"),
    ("strings as FP64", _iris_input(data=["1", "2"]), "is FP64: its values must be numbers"),
    ("nulls as FP64", _iris_input(data=[None, 1.0]), "is FP64: its values must be numbers"),
    ("bools as FP64", _iris_input(data=[True, False]), "is FP64: its values must be numbers"),
    ("objects as FP64", _iris_input(data=[{}, {}]), "is FP64: its values must be numbers"),
    (
        "nested wrongly",
        _iris_input(shape=[2, 1], data=[[1.0], [2.0, 3.0]]),
        "data is not nested as shape [2, 1]",
    ),
    (
        "nested too deep",
        _iris_input(shape=[2], data=[[1.0], [2.0]]),
        "data is nested deeper than shape [2]",
    ),
    ("ragged flat", _iris_input(data=[1.0, [2.0]]), "its values must be numbers"),
    (
        "2-D table column",
        _iris_input(shape=[1, 2]),
        "input 'petal width (cm)' is a table column: give it shape [N] or [N, 1], not [1, 2]",
    ),
    (
        "rows disagree",
        _iris_input(shape=[3], data=[1.0, 2.0, 3.0]),
        "input 'petal width (cm)' has 3 rows but the inputs before it have 2",
    ),
    ("unknown input", _iris_input(name="colour"), "the model has no input 'colour'"),
    (
        "duplicate input",
        _iris_input(name="sepal length (cm)"),
        "input 'sepal length (cm)' is given more than once",
    ),
    (
        "missing column",
        {"inputs": _iris_input()["inputs"][:3]},
        "input is missing column 'petal width (cm)'",
    ),
    (
        "unknown output",
        _iris_input() | {"outputs": [{"name": "logits"}]},
        "there is no output 'logits'",
    ),
    (
        "duplicate output",
        _iris_input() | {"outputs": [{"name": "predict"}, {"name": "predict"}]},
        "output 'predict' is asked for more than once",
    ),
    (
        "binary_data not a bool",
        _iris_input() | {"outputs": [{"name": "predict", "parameters": {"binary_data": 1}}]},
        "output 'predict' binary_data must be true or false; got int",
    ),
    (
        "binary_data_output not a bool",
        _iris_input() | {"parameters": {"binary_data_output": "yes"}},
        "parameters.binary_data_output must be true or false; got str",
    ),
    (
        "classification extension",
        _iris_input() | {"outputs": [{"name": "predict", "parameters": {"class_count": 2}}]},
        "the classification extension is not supported",
    ),
    ("parameters not an object", _iris_input(parameters=[1]), "parameters must be an object"),
    (
        "shared memory",
        _iris_input(parameters={"shared_memory_region": "r"}),
        "shared memory is not supported",
    ),
    (
        "binary size without binary data",
        _iris_input(data=..., parameters={"binary_data_size": 16}),
        "says it has 16 bytes of binary data but only 0 bytes follow",
    ),
    (
        "binary size and data",
        _iris_input(parameters={"binary_data_size": 0}),
        "has both data and binary_data_size",
    ),
    (
        "binary size not an integer",
        _iris_input(parameters={"binary_data_size": "16"}),
        "binary_data_size must be an integer; got str",
    ),
]


@pytest.mark.parametrize(
    ("body", "message"),
    [case[1:] for case in BAD_JSON_REQUESTS],
    ids=[case[0] for case in BAD_JSON_REQUESTS],
)
def test_bad_json_requests_are_400(iris: Any, body: Any, message: str) -> None:
    response = _infer(_client(iris[0]), body)
    assert response.status_code == 400, response.text
    assert message in response.json()["error"]


@pytest.mark.parametrize(
    ("datatype", "values"),
    [
        ("UINT8", [256]),
        ("UINT64", [-1]),
        ("INT8", [-129]),
        ("INT64", [2**63]),
        ("INT32", [1.5]),
        ("INT16", [True]),
        ("BOOL", [1]),
        ("BOOL", ["true"]),
        ("FP32", [1e39]),
        ("FP16", [70000.0]),
        ("BYTES", [1]),
        ("BYTES", [None]),
        ("UINT64", [2**64]),
        ("UINT64", [1, 2**64]),
        ("UINT64", [-1, 2**63]),
        ("INT64", [1, 2**63]),
    ],
)
def test_values_that_do_not_fit_the_datatype_are_400(
    datatype: str, values: list[Any], tmp_path: Path
) -> None:
    shape = [len(values)]
    body = {"inputs": [{"name": "x", "datatype": datatype, "shape": shape, "data": values}]}
    response = _client(_echo(None, tmp_path)).post("/v2/models/echo/infer", json=body)
    assert response.status_code == 400, response.text
    assert datatype in response.json()["error"]


def test_signature_violations_are_400(iris: Any, tmp_path: Path) -> None:
    """Types the signature refuses, and NaN where it allows none (only binary carries NaN)."""
    response = _infer(_client(iris[0]), _iris_input(datatype="BYTES", data=["a", "b"]))
    assert response.status_code == 400
    assert response.json()["error"].startswith("column 'petal width (cm)' expected float64, got")
    raw = np.array([1.0, np.nan]).tobytes()
    body = _iris_input(data=..., parameters={"binary_data_size": 16})
    content, headers = _binary_body(body, raw)
    response = _infer(_client(iris[0]), content, headers=headers)
    assert response.status_code == 400
    assert response.json()["error"] == (
        "column 'petal width (cm)' is not nullable but has 1 null value"
    )
    tensor = Signature(Schema("tensor", (ColumnSpec(None, "float64", (-1, 4)),)))
    model = _served("t", _Echo(), tensor, tmp_path)
    wrong = {"inputs": [{"name": "x", "datatype": "FP64", "shape": [1, 3], "data": [1, 2, 3]}]}
    response = _client(model).post("/v2/models/t/infer", json=wrong)
    assert response.status_code == 400
    assert "expected shape (-1, 4), got (1, 3)" in response.json()["error"]
    two = {"inputs": [wrong["inputs"][0], {**wrong["inputs"][0], "name": "y"}]}
    response = _client(model).post("/v2/models/t/infer", json=two)
    assert response.json() == {"error": "the model takes one tensor; got 2 inputs"}


def _binary_case(parameters_size: int, blob: bytes, datatype: str = "FP64", shape: int = 2) -> Any:
    document = {
        "inputs": [
            {
                "name": "x",
                "datatype": datatype,
                "shape": [shape],
                "parameters": {"binary_data_size": parameters_size},
            }
        ]
    }
    return _binary_body(document, blob)


@pytest.mark.parametrize(
    ("case", "message"),
    [
        (_binary_case(16, b"\0" * 8), "says it has 16 bytes of binary data but only 8"),
        (_binary_case(16, b"\0" * 24), "24 bytes follow the JSON but the inputs' binary_data_size"),
        (_binary_case(8, b"\0" * 8), "has 8 bytes of binary data but shape [2] of FP64 needs 16"),
        (_binary_case(-1, b""), "says it has -1 bytes"),
        (_binary_case(2, b"\x01\x02", "BOOL"), "is BOOL: each byte must be 0 or 1"),
        (
            _binary_case(6, struct.pack("<I", 100) + b"ab", "BYTES", 1),
            "a BYTES element runs past its data",
        ),
        (_binary_case(3, b"\0\0\0", "BYTES", 1), "a BYTES element runs past its data"),
        (
            _binary_case(5, _bytes_tensor(b"a"), "BYTES", 2),
            "does not hold exactly the 2 BYTES elements",
        ),
        (
            _binary_case(10, _bytes_tensor(b"a", b"b"), "BYTES", 1),
            "does not hold exactly the 1 BYTES elements",
        ),
    ],
)
def test_binary_lengths_that_lie_are_400(
    case: tuple[bytes, dict[str, str]], message: str, tmp_path: Path
) -> None:
    body, headers = case
    response = _client(_echo(None, tmp_path)).post(
        "/v2/models/echo/infer", content=body, headers=headers
    )
    assert response.status_code == 400, response.text
    assert message in response.json()["error"]


@pytest.mark.parametrize("value", ["0", "-5", "abc", "100000", "1e3", b"\xb2", "9" * 30])
def test_header_length_that_lies_is_400(value: str | bytes, iris: Any) -> None:
    response = _infer(_client(iris[0]), _iris_input(), headers={HEADER: value})
    assert response.status_code == 400
    assert HEADER in response.json()["error"]


def test_header_length_cutting_the_json_short_is_400(iris: Any) -> None:
    response = _infer(_client(iris[0]), _iris_input(), headers={HEADER: "20"})
    assert response.status_code == 400
    assert "not valid JSON" in response.json()["error"]


@pytest.mark.parametrize(
    "content_type", ["text/csv", "multipart/form-data; boundary=x", "text/plain"]
)
def test_wrong_content_type_is_415(content_type: str, iris: Any) -> None:
    response = _infer(_client(iris[0]), _iris_input(), headers={"Content-Type": content_type})
    assert response.status_code == 415
    assert "is not accepted: send application/json" in response.json()["error"]


def test_json_content_types_are_accepted(iris: Any) -> None:
    client = _client(iris[0])
    for content_type in ["application/json; charset=utf-8", "application/octet-stream", ""]:
        headers = {"Content-Type": content_type} if content_type else {}
        assert _infer(client, _iris_input(), headers=headers).status_code == 200


def test_oversize_bodies_are_413(iris: Any) -> None:
    client = _client(iris[0], max_body_bytes=1000)
    body = json.dumps(_iris_input() | {"id": "x" * 2000}).encode()
    response = _infer(client, body)
    assert response.status_code == 413
    assert "larger than the limit of 1000 bytes" in response.json()["error"]

    def chunks() -> Iterator[bytes]:  # no Content-Length: the cap holds while streaming
        yield body[:600]
        yield body[600:]

    response = client.post("/v2/models/iris/infer", content=chunks())
    assert response.status_code == 413
    bomb = gzip.compress(b" " * 10_000)
    response = _infer(client, bomb, headers={"Content-Encoding": "gzip"})
    assert len(bomb) < 1000
    assert response.status_code == 413


def test_the_default_body_cap_is_64_mib(iris: Any) -> None:
    response = _infer(_client(iris[0]), b"{}", headers={"Content-Length": str(64 * 2**20 + 1)})
    assert response.status_code == 413


@pytest.mark.parametrize(
    ("headers", "body", "status", "message"),
    [
        ({"Content-Encoding": "br"}, b"{}", 415, "content encoding 'br' is not supported"),
        ({"Content-Encoding": "gzip"}, b"not gzip", 400, "cannot be decompressed"),
        ({"Content-Encoding": "gzip"}, gzip.compress(b"{}", mtime=0)[:-8], 400, "is truncated"),
    ],
)
def test_bad_content_encoding(
    iris: Any, headers: dict[str, str], body: bytes, status: int, message: str
) -> None:
    response = _infer(_client(iris[0]), body, headers=headers)
    assert response.status_code == status
    assert message in response.json()["error"]


def test_predict_proba_of_a_model_without_it_is_400(iris_tensor: Any) -> None:
    model, x = iris_tensor
    body = {
        "inputs": [{"name": "x", "datatype": "FP64", "shape": [1, 4], "data": x[0].tolist()}],
        "outputs": [{"name": "predict_proba"}],
    }
    response = _client(model).post("/v2/models/iris-tensor/infer", json=body)
    assert response.status_code == 400
    assert response.json() == {"error": "model 'iris-tensor' has no predict_proba output"}


def test_a_model_that_raises_is_500(tmp_path: Path) -> None:
    model = _served("broken", _Failing(), None, tmp_path)
    body = {"inputs": [{"name": "x", "datatype": "FP32", "shape": [1], "data": [1.0]}]}
    response = _client(model).post("/v2/models/broken/infer", json=body)
    assert response.status_code == 500
    assert response.json() == {"error": "the model failed on this input (RuntimeError)"}
    assert "fire" not in response.text  # the exception's text stays in the log


def test_infer_before_ready_is_503(iris: Any) -> None:
    response = _infer(_client(iris[0], ready=False), _iris_input())
    assert response.status_code == 503
    assert "not ready" in response.json()["error"]


def test_an_overloaded_predict_is_503_with_retry_after(iris: Any) -> None:
    async def shedding(model: ServedModel, data: Any) -> Any:
        raise Unavailable("the queue is full: retry shortly", details={"retry_after": 1.2})

    repository = ModelRepository([iris[0]])
    repository.ready = True
    client = TestClient(Starlette(routes=oip_routes(repository, shedding)))
    response = _infer(client, _iris_input())
    assert response.status_code == 503
    assert response.headers["retry-after"] == "2"
    assert response.json() == {"error": "the queue is full: retry shortly"}


# -- the real tritonclient against a real server -------------------------------------------------


@contextlib.contextmanager
def _serve(app: Starlette) -> Iterator[str]:
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    config = uvicorn.Config(app, log_level="warning", lifespan="off")
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    deadline = time.monotonic() + 15
    while not server.started:
        assert thread.is_alive(), "uvicorn stopped"
        assert time.monotonic() < deadline, "uvicorn did not start"
        time.sleep(0.01)
    try:
        yield f"127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(15)
        sock.close()


@pytest.fixture(scope="module")
def triton(iris: Any, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    import tritonclient.http as httpclient

    strings = _echo("string", tmp_path_factory.mktemp("echo"))
    repository = ModelRepository([iris[0], strings])
    repository.ready = True
    with _serve(Starlette(routes=oip_routes(repository, predict))) as url:
        client = httpclient.InferenceServerClient(url)
        try:
            yield client
        finally:
            client.close()


def _triton_inputs(frame: pd.DataFrame, binary: bool) -> list[Any]:
    import tritonclient.http as httpclient

    inputs = []
    for name in frame.columns:
        tensor = httpclient.InferInput(name, [len(frame)], "FP64")
        tensor.set_data_from_numpy(frame[name].to_numpy(), binary_data=binary)
        inputs.append(tensor)
    return inputs


def test_tritonclient_health_and_metadata(triton: Any, iris: Any) -> None:
    assert triton.is_server_live()
    assert triton.is_server_ready()
    assert triton.is_model_ready("iris")
    assert triton.is_model_ready("iris", "1")
    assert not triton.is_model_ready("iris", "2")
    metadata = triton.get_server_metadata()
    assert metadata["name"] == "mlsteward"
    assert "binary_tensor_data" in metadata["extensions"]
    model = triton.get_model_metadata("iris", "1")
    assert [i["name"] for i in model["inputs"]] == list(iris[1].columns)


def test_tritonclient_json_inference(triton: Any, iris: Any) -> None:
    import tritonclient.http as httpclient

    model, x = iris
    rows = x.iloc[30:130]
    outputs = [
        httpclient.InferRequestedOutput("predict", binary_data=False),
        httpclient.InferRequestedOutput("predict_proba", binary_data=False),
    ]
    result = triton.infer(
        "iris", _triton_inputs(rows, binary=False), outputs=outputs, request_id="r1"
    )
    assert result.get_response()["id"] == "r1"
    assert result.get_output("predict")["data"] is not None  # really JSON
    np.testing.assert_array_equal(result.as_numpy("predict"), model.loaded.predict(rows))
    np.testing.assert_allclose(
        result.as_numpy("predict_proba"), model.loaded.predict_proba(rows), rtol=1e-12
    )


def test_tritonclient_binary_inference(triton: Any, iris: Any) -> None:
    import tritonclient.http as httpclient

    model, x = iris
    rows = x.iloc[10:150:3]
    outputs = [
        httpclient.InferRequestedOutput("predict", binary_data=True),
        httpclient.InferRequestedOutput("predict_proba", binary_data=True),
    ]
    result = triton.infer("iris", _triton_inputs(rows, binary=True), outputs=outputs)
    assert "data" not in result.get_output("predict")  # really binary
    np.testing.assert_array_equal(result.as_numpy("predict"), model.loaded.predict(rows))
    np.testing.assert_array_equal(
        result.as_numpy("predict_proba"), model.loaded.predict_proba(rows)
    )


def test_tritonclient_default_settings_and_compression(triton: Any, iris: Any) -> None:
    """No outputs named: the client asks for every output in binary; gzip both ways."""
    model, x = iris
    rows = x.iloc[::7]
    result = triton.infer("iris", _triton_inputs(rows, binary=True), model_version="1")
    np.testing.assert_array_equal(result.as_numpy("predict"), model.loaded.predict(rows))
    assert result.as_numpy("predict_proba") is None  # not asked for
    result = triton.infer(
        "iris", _triton_inputs(rows, binary=False), request_compression_algorithm="gzip"
    )
    np.testing.assert_array_equal(result.as_numpy("predict"), model.loaded.predict(rows))


def test_tritonclient_bytes_tensors(triton: Any) -> None:
    import tritonclient.http as httpclient

    words = np.array(["café", "", "naïve ✓"], dtype=object)
    for binary in (True, False):
        tensor = httpclient.InferInput("x", [3], "BYTES")
        tensor.set_data_from_numpy(words, binary_data=binary)
        output = httpclient.InferRequestedOutput("predict", binary_data=binary)
        result = triton.infer("echo", [tensor], outputs=[output])
        got = [v.decode() if binary else v for v in result.as_numpy("predict")]
        assert got == list(words)


def test_tritonclient_sees_errors(triton: Any, iris: Any) -> None:
    from tritonclient.utils import InferenceServerException

    with pytest.raises(InferenceServerException) as caught:
        triton.infer("nope", _triton_inputs(iris[1].head(1), binary=True))
    assert caught.value.status() == "404"
    assert "no model named 'nope'" in caught.value.message()
    with pytest.raises(InferenceServerException) as caught:
        triton.infer("iris", _triton_inputs(iris[1][["sepal width (cm)"]].head(2), binary=True))
    assert caught.value.status() == "400"
    assert "input is missing column 'sepal length (cm)'" in caught.value.message()
