"""MLflow-compatible scoring: every request format gives the model's own predictions, and every
bad request a 4xx in MLflow's error shape."""

from __future__ import annotations

import json
import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import anyio.to_thread
import httpx
import numpy as np
import pandas as pd
import pytest
import uvicorn
from starlette.applications import Starlette
from starlette.testclient import TestClient

import mlsteward
from mlsteward.errors import Unavailable
from mlsteward.models._model_dir import LoadedModel, load_model_dir, save_model
from mlsteward.serving._core import ModelRepository, Predict, ServedModel
from mlsteward.serving._mlflow_protocol import mlflow_routes


async def threaded_predict(model: ServedModel, data: Any) -> Any:
    return await anyio.to_thread.run_sync(model.predict, data)


def _saved(folder: Path, model: Any, example: Any) -> LoadedModel:
    save_model(model, folder, input_example=example)
    return load_model_dir(folder)


@pytest.fixture(scope="module")
def iris(tmp_path_factory: pytest.TempPathFactory) -> tuple[ServedModel, pd.DataFrame]:
    from sklearn.datasets import load_iris
    from sklearn.ensemble import HistGradientBoostingClassifier

    x, y = load_iris(return_X_y=True, as_frame=True)
    model = HistGradientBoostingClassifier(max_iter=20, random_state=0).fit(x, y)
    loaded = _saved(tmp_path_factory.mktemp("iris") / "m", model, x.head(5))
    return ServedModel("iris", "1", loaded, "sklearn"), x


@pytest.fixture(scope="module")
def diabetes(tmp_path_factory: pytest.TempPathFactory) -> tuple[ServedModel, pd.DataFrame]:
    """A regression model: float predictions."""
    from sklearn.datasets import load_diabetes
    from sklearn.ensemble import HistGradientBoostingRegressor

    x, y = load_diabetes(return_X_y=True, as_frame=True)
    model = HistGradientBoostingRegressor(max_iter=20, random_state=0).fit(x, y)
    loaded = _saved(tmp_path_factory.mktemp("diabetes") / "m", model, x.head(5))
    return ServedModel("diabetes", "4", loaded, "sklearn"), x


@pytest.fixture(scope="module")
def tensor_model(tmp_path_factory: pytest.TempPathFactory) -> tuple[ServedModel, Any]:
    """A model fitted on a numpy array: one unnamed float64 tensor of shape (-1, 4)."""
    from sklearn.datasets import load_iris
    from sklearn.linear_model import LogisticRegression

    x, y = load_iris(return_X_y=True)
    model = LogisticRegression(max_iter=500).fit(x, y)
    loaded = _saved(tmp_path_factory.mktemp("tensor") / "m", model, x[:5])
    assert loaded.signature is not None
    assert loaded.signature.inputs.kind == "tensor"
    return ServedModel("tensor", "2", loaded, "sklearn"), x


def client_for(
    *models: ServedModel, predict: Predict = threaded_predict, ready: bool = True, **options: Any
) -> TestClient:
    repository = ModelRepository(list(models))
    repository.ready = ready
    return TestClient(Starlette(routes=mlflow_routes(repository, predict, **options)))


def expected(served: ServedModel, rows: pd.DataFrame) -> list[Any]:
    return list(served.loaded.predict(rows).tolist())


ROWS = [0, 1, 50, 51, 100, 149]


def bodies(frame: pd.DataFrame) -> dict[str, Any]:
    """The same rows in every JSON format MLflow takes."""
    records = frame.to_dict(orient="records")
    return {
        "dataframe_split": {"dataframe_split": json.loads(frame.to_json(orient="split"))},
        "dataframe_split_no_index": {
            "dataframe_split": {"columns": list(frame.columns), "data": frame.values.tolist()}
        },
        "dataframe_records": {"dataframe_records": records},
        "instances_records": {"instances": records},
        "instances_rows": {"instances": frame.values.tolist()},
        "inputs_columns": {"inputs": frame.to_dict(orient="list")},
        "inputs_rows": {"inputs": frame.values.tolist()},
        "with_params": {"dataframe_records": records, "params": {"threshold": 0.5}},
    }


FORMATS = list(bodies(pd.DataFrame({"a": [1.0]})))


@pytest.mark.parametrize("fmt", FORMATS)
@pytest.mark.parametrize("which", ["iris", "diabetes"])
def test_every_json_format_gives_the_models_predictions(
    fmt: str, which: str, request: pytest.FixtureRequest
) -> None:
    served, x = request.getfixturevalue(which)
    rows = x.iloc[ROWS]
    response = client_for(served).post("/invocations", json=bodies(rows)[fmt])
    assert response.status_code == 200, response.text
    assert response.headers["content-type"] == "application/json"
    assert response.json() == {"predictions": expected(served, rows)}


@pytest.mark.parametrize("which", ["iris", "diabetes"])
def test_csv_gives_the_models_predictions(which: str, request: pytest.FixtureRequest) -> None:
    served, x = request.getfixturevalue(which)
    rows = x.iloc[ROWS]
    response = client_for(served).post(
        "/invocations",
        content=rows.to_csv(index=False),
        headers={"Content-Type": "text/csv; charset=utf-8"},
    )
    assert response.status_code == 200, response.text
    assert response.json() == {"predictions": expected(served, rows)}


def test_csv_integers_and_numeric_text_are_read_as_the_float_columns(
    iris: tuple[ServedModel, pd.DataFrame],
) -> None:
    served, x = iris
    rows = x.iloc[[0, 1]]
    # Whole numbers parse as int64, and a quoted number as text: both become float64.
    csv = "\n".join([",".join(f'"{c}"' for c in x.columns), '5,3,1,"0"', '4.9,"3.0",1.4,0.2'])
    response = client_for(served).post(
        "/invocations", content=csv, headers={"Content-Type": "text/csv"}
    )
    assert response.status_code == 200, response.text
    floats = pd.DataFrame([[5.0, 3.0, 1.0, 0.0], [4.9, 3.0, 1.4, 0.2]], columns=x.columns)
    assert response.json() == {"predictions": expected(served, floats)}
    assert rows.shape == floats.shape


def test_integers_in_json_are_read_as_the_float_columns(
    iris: tuple[ServedModel, pd.DataFrame],
) -> None:
    served, x = iris
    body = {"dataframe_split": {"columns": list(x.columns), "data": [[5, 3, 1, 0]]}}
    response = client_for(served).post("/invocations", json=body)
    assert response.status_code == 200, response.text
    floats = pd.DataFrame([[5.0, 3.0, 1.0, 0.0]], columns=x.columns)
    assert response.json() == {"predictions": expected(served, floats)}


def test_a_large_batch_is_scored(diabetes: tuple[ServedModel, pd.DataFrame]) -> None:
    served, x = diabetes
    rows = pd.concat([x] * 8, ignore_index=True)  # 3,536 rows, about 1 MB: parsed off the loop
    response = client_for(served).post(
        "/invocations", json={"dataframe_records": rows.to_dict(orient="records")}
    )
    assert response.status_code == 200, response.text
    assert response.json()["predictions"] == expected(served, rows)


def test_tensor_inputs_give_the_models_predictions(tensor_model: tuple[ServedModel, Any]) -> None:
    served, x = tensor_model
    rows = x[[0, 60, 120]]
    want = served.loaded.predict(rows).tolist()
    client = client_for(served)
    for body in ({"inputs": rows.tolist()}, {"instances": rows.tolist()}):
        response = client.post("/invocations", json=body)
        assert response.status_code == 200, response.text
        assert response.json() == {"predictions": want}


def test_a_wrong_tensor_shape_is_refused(tensor_model: tuple[ServedModel, Any]) -> None:
    served, _ = tensor_model
    response = client_for(served).post("/invocations", json={"inputs": [[1.0, 2.0, 3.0]]})
    assert response.status_code == 400
    assert response.json()["error_code"] == "BAD_REQUEST"
    assert "shape" in response.json()["message"]


@pytest.mark.parametrize(
    ("output", "predictions"),
    [
        (
            pd.DataFrame({"label": [1, 2], "score": [0.5, 0.25]}),
            [
                {"label": 1, "score": 0.5},
                {"label": 2, "score": 0.25},
            ],
        ),
        (np.array([[0.1, 0.9], [0.8, 0.2]]), [[0.1, 0.9], [0.8, 0.2]]),
        (pd.Series(["a", "b"]), ["a", "b"]),
        ({"label": np.array([1, 2])}, {"label": [1, 2]}),
        (np.array([np.nan, 1.5]), [None, 1.5]),
        (
            np.array(["2024-05-01T12:00:00", "NaT"], dtype="datetime64[s]"),
            ["2024-05-01T12:00:00", None],
        ),
        (np.array([b"\x00\xff", b"ok"], dtype=object), ["AP8=", "b2s="]),
    ],
    ids=["dataframe", "2d", "series", "named", "nan", "datetime", "bytes-as-base64"],
)
def test_outputs_are_written_like_mlflow(
    iris: tuple[ServedModel, pd.DataFrame], output: Any, predictions: Any
) -> None:
    served, x = iris

    async def predict(model: ServedModel, data: Any) -> Any:
        return output

    response = client_for(served, predict=predict).post(
        "/invocations", json={"dataframe_records": x.head(2).to_dict(orient="records")}
    )
    assert response.status_code == 200, response.text
    assert response.json() == {"predictions": predictions}


# Bad input: a 4xx with MLflow's error shape -----------------------------------------------------


def _record(x: pd.DataFrame, **changes: Any) -> dict[str, Any]:
    record: dict[str, Any] = x.iloc[0].to_dict()
    record.update(changes)
    return record


def assert_error(response: httpx.Response, status: int, *words: str) -> None:
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == "application/json"
    body = response.json()
    assert set(body) == {"error_code", "message"}
    assert body["error_code"] == ("BAD_REQUEST" if status < 500 else "INTERNAL_ERROR")
    for word in words:
        assert word in body["message"]
    assert "Traceback" not in body["message"]


@pytest.mark.parametrize(
    ("body", "words"),
    [
        (b'{"dataframe_records": [', ["not valid JSON"]),
        (b"", ["not valid JSON"]),
        (b"[1, 2]", ["exactly one of", "a list"]),
        (b'"text"', ["exactly one of", "a string"]),
        (b'{"inputs": [[1]], "instances": [[1]]}', ["exactly one of", "got instances, inputs"]),
        (b"{}", ["exactly one of", "none"]),
        (b'{"params": {}}', ["exactly one of", "none"]),
        (b'{"data": [[1, 2, 3, 4]]}', ["unknown key 'data'"]),
        (b'{"inputs": [[1, 2, 3, 4]], "extra": 1}', ["unknown key 'extra'"]),
        (b'{"dataframe_records": []}', ["empty"]),
        (b'{"dataframe_records": {"a": 1}}', ["must be a list"]),
        (b'{"dataframe_records": [1, 2]}', ["record 0", "not a dict"]),
        (b'{"instances": []}', ["empty"]),
        (b'{"inputs": {}}', ["non-empty object"]),
        (b'{"inputs": 3}', ["must be a list"]),
        (b'{"inputs": [[1, 2, 3]]}', ["row 0 has 3 values", "4 columns"]),
        (b'{"inputs": [[1, 2, 3, 4], [1, 2]]}', ["row 1 has 2 values"]),
        (b'{"dataframe_split": [[1, 2, 3, 4]]}', ["must be an object"]),
        (b'{"dataframe_split": {"data": [], "columns": ["a"]}}', ["empty"]),
        (b'{"dataframe_split": {"data": [[1]], "orient": "x"}}', ["unknown key 'orient'"]),
        (b'{"dataframe_split": {"data": [[1]], "columns": [1]}}', ["column names"]),
        (b'{"dataframe_split": {"data": [[1]], "columns": "a"}}', ["list of names"]),
        (b'{"inputs": [[1, 2, 3, 4]], "params": [1]}', ["params must be an object"]),
        (b'{"inputs": {"a": [1, 2], "b": [1]}}', ["different lengths"]),
    ],
)
def test_malformed_json_bodies_are_400(
    iris: tuple[ServedModel, pd.DataFrame], body: bytes, words: list[str]
) -> None:
    served, _ = iris
    response = client_for(served).post(
        "/invocations", content=body, headers={"Content-Type": "application/json"}
    )
    assert_error(response, 400, *words)


def test_values_that_do_not_fit_the_signature_are_400(
    iris: tuple[ServedModel, pd.DataFrame],
) -> None:
    served, x = iris
    client = client_for(served)
    first = x.columns[0]
    cases: list[tuple[Any, list[str]]] = [
        ({"dataframe_records": [_record(x, **{first: "wide"})]}, [repr(first), "float64"]),
        ({"dataframe_records": [_record(x, **{first: True})]}, [repr(first), "float64"]),
        ({"dataframe_records": [_record(x, **{first: [1.0]})]}, [repr(first), "float64"]),
        ({"dataframe_records": [_record(x, **{first: None})]}, [repr(first), "not nullable"]),
        ({"inputs": {c: [1.0] for c in x.columns[1:]}}, ["missing", repr(first)]),
        (
            {"dataframe_split": {"columns": list(x.columns[1:]), "data": [[1.0, 2.0, 3.0]]}},
            ["missing", repr(first)],
        ),
        ({"instances": [{"petal": 1.0}]}, ["missing"]),
    ]
    for body, words in cases:
        assert_error(client.post("/invocations", json=body), 400, *words)


def test_nan_literals_are_read_and_refused_where_not_nullable(
    iris: tuple[ServedModel, pd.DataFrame],
) -> None:
    served, x = iris
    # Python's json.dumps writes NaN literals; MLflow reads them, so we do too.
    body = json.dumps({"dataframe_records": [_record(x, **{x.columns[1]: float("nan")})]})
    response = client_for(served).post(
        "/invocations", content=body, headers={"Content-Type": "application/json"}
    )
    assert_error(response, 400, repr(x.columns[1]), "not nullable")


@pytest.mark.parametrize(
    ("csv", "words"),
    [
        ("", ["not CSV"]),
        ("{columns}\n", ["no rows"]),
        ("{columns}\n5.1,3.5,wide,0.2\n", ["'petal length (cm)'", "'wide'"]),
        ("{columns}\n5.1,3.5,1.4\n", ["missing", "'petal width (cm)'"]),
        ("{columns}\n5.1,,1.4,0.2\n", ["'sepal width (cm)'", "not nullable"]),
        ("{columns}\n1,2,3,4,5,6\n", ["not CSV"]),
    ],
    ids=["empty", "header-only", "text", "missing-column", "gap", "ragged"],
)
def test_bad_csv_is_400(iris: tuple[ServedModel, pd.DataFrame], csv: str, words: list[str]) -> None:
    served, x = iris
    columns = list(x.columns) if "missing" not in words else list(x.columns[:3])
    body = csv.format(columns=",".join(columns))
    response = client_for(served).post(
        "/invocations", content=body, headers={"Content-Type": "text/csv"}
    )
    assert_error(response, 400, *words)


def test_csv_that_is_not_utf8_is_400(iris: tuple[ServedModel, pd.DataFrame]) -> None:
    served, _ = iris
    response = client_for(served).post(
        "/invocations", content=b"a\n\xff\xfe\n", headers={"Content-Type": "text/csv"}
    )
    assert_error(response, 400, "UTF-8")


@pytest.mark.parametrize(
    "content_type",
    [
        None,
        "text/plain",
        "application/x-www-form-urlencoded",
        "application/json; charset=latin-1",
        "application/json; format=pandas-split",
    ],
)
def test_other_content_types_are_415(
    iris: tuple[ServedModel, pd.DataFrame], content_type: str | None
) -> None:
    served, x = iris
    headers = {} if content_type is None else {"Content-Type": content_type}
    body = json.dumps({"dataframe_records": [_record(x)]})
    response = client_for(served).post("/invocations", content=body, headers=headers)
    assert_error(response, 415)


def test_a_body_over_the_cap_is_413(iris: tuple[ServedModel, pd.DataFrame]) -> None:
    served, x = iris
    client = client_for(served, max_body_bytes=1000)
    body = json.dumps({"dataframe_records": [_record(x)] * 50})
    assert len(body) > 1000
    assert_error(
        client.post("/invocations", content=body, headers={"Content-Type": "application/json"}),
        413,
        "1000 bytes",
    )

    def chunks() -> Iterator[bytes]:  # no Content-Length: the cap holds while streaming
        for _ in range(100):
            yield b" " * 100

    response = client.post(
        "/invocations", content=chunks(), headers={"Content-Type": "application/json"}
    )
    assert_error(response, 413, "1000 bytes")
    # Exactly at the cap is fine.
    small = json.dumps({"dataframe_records": [_record(x)]}).encode()
    padded = small + b" " * (1000 - len(small))
    ok = client.post("/invocations", content=padded, headers={"Content-Type": "application/json"})
    assert ok.status_code == 200, ok.text


def test_a_model_that_raises_gives_500_without_a_traceback(
    iris: tuple[ServedModel, pd.DataFrame],
) -> None:
    served, x = iris

    async def broken(model: ServedModel, data: Any) -> Any:
        raise RuntimeError("secret internal detail")

    response = client_for(served, predict=broken).post(
        "/invocations", json={"dataframe_records": [_record(x)]}
    )
    assert_error(response, 500, "RuntimeError")
    assert "secret internal detail" not in response.text


def test_an_overloaded_predict_gives_503(iris: tuple[ServedModel, pd.DataFrame]) -> None:
    served, x = iris

    async def overloaded(model: ServedModel, data: Any) -> Any:
        raise Unavailable("the queue is full; retry later")

    response = client_for(served, predict=overloaded).post(
        "/invocations", json={"dataframe_records": [_record(x)]}
    )
    assert response.status_code == 503
    assert response.json() == {
        "error_code": "TEMPORARILY_UNAVAILABLE",
        "message": "the queue is full; retry later",
    }


def test_invocations_needs_exactly_one_served_model(
    iris: tuple[ServedModel, pd.DataFrame], diabetes: tuple[ServedModel, pd.DataFrame]
) -> None:
    for client in (client_for(), client_for(iris[0], diabetes[0])):
        response = client.post("/invocations", json={"dataframe_records": [{"a": 1}]})
        assert response.status_code == 404
        assert response.json()["error_code"] == "RESOURCE_DOES_NOT_EXIST"


def test_invocations_takes_only_post(iris: tuple[ServedModel, pd.DataFrame]) -> None:
    response = client_for(iris[0]).get("/invocations")
    assert response.status_code == 405
    assert response.headers["allow"] == "POST"
    assert response.json()["error_code"] == "BAD_REQUEST"


def test_ping_health_and_version(iris: tuple[ServedModel, pd.DataFrame]) -> None:
    client = client_for(iris[0])
    for path in ("/ping", "/health"):
        response = client.get(path)
        assert response.status_code == 200
        assert response.json() == {"status": "ok"}
    version = client.get("/version")
    assert version.status_code == 200
    assert version.text == mlsteward.__version__


def test_ping_is_503_until_the_models_are_ready(iris: tuple[ServedModel, pd.DataFrame]) -> None:
    client = client_for(iris[0], ready=False)
    for path in ("/ping", "/health"):
        response = client.get(path)
        assert response.status_code == 503
        assert response.json()["error_code"] == "TEMPORARILY_UNAVAILABLE"


# Over real HTTP -------------------------------------------------------------------------------


@pytest.fixture
def live_server(iris: tuple[ServedModel, pd.DataFrame]) -> Iterator[str]:
    repository = ModelRepository([iris[0]])
    repository.ready = True
    app = Starlette(routes=mlflow_routes(repository, threaded_predict, max_body_bytes=2**20))
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started:
        assert time.monotonic() < deadline, "the server did not start"
        time.sleep(0.02)
    yield f"http://127.0.0.1:{port}"
    server.should_exit = True
    thread.join(10)


def test_over_http_a_large_body_is_413_and_the_server_keeps_answering(
    live_server: str, iris: tuple[ServedModel, pd.DataFrame]
) -> None:
    served, x = iris
    big = b'{"inputs": [' + b"[1.0, 2.0, 3.0, 4.0], " * 500_000 + b"[1.0, 2.0, 3.0, 4.0]]}"
    assert len(big) > 10 * 2**20
    with httpx.Client(base_url=live_server, timeout=30) as client:
        response = client.post(
            "/invocations", content=big, headers={"Content-Type": "application/json"}
        )
        assert_error(response, 413, str(2**20))
        rows = x.iloc[ROWS]
        ok = client.post(
            "/invocations",
            json={"dataframe_split": {"columns": list(rows.columns), "data": rows.values.tolist()}},
        )
        assert ok.status_code == 200
        assert ok.json() == {"predictions": expected(served, rows)}
