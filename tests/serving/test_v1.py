"""The plain /v1 prediction API: records in, one prediction with its own id per row out, and the
platform's error shape for every bad request."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import anyio.to_thread
import httpx
import numpy as np
import pandas as pd
import pytest
from starlette.applications import Starlette
from starlette.testclient import TestClient

from mlsteward.models._model_dir import load_model_dir, save_model
from mlsteward.serving._core import ModelRepository, Predict, ServedModel
from mlsteward.serving._v1 import v1_routes

UUID4_HEX = re.compile(r"^[0-9a-f]{12}4[0-9a-f]{3}[89ab][0-9a-f]{15}$")


async def threaded_predict(model: ServedModel, data: Any) -> Any:
    return await anyio.to_thread.run_sync(model.predict, data)


def _served(folder: Path, name: str, version: str, model: Any, example: Any) -> ServedModel:
    save_model(model, folder, input_example=example)
    return ServedModel(name, version, load_model_dir(folder), "sklearn")


@pytest.fixture(scope="module")
def iris(tmp_path_factory: pytest.TempPathFactory) -> tuple[ServedModel, pd.DataFrame]:
    from sklearn.datasets import load_iris
    from sklearn.ensemble import HistGradientBoostingClassifier

    x, y = load_iris(return_X_y=True, as_frame=True)
    model = HistGradientBoostingClassifier(max_iter=20, random_state=0).fit(x, y)
    return _served(tmp_path_factory.mktemp("iris") / "m", "iris", "1", model, x.head(5)), x


@pytest.fixture(scope="module")
def diabetes(tmp_path_factory: pytest.TempPathFactory) -> tuple[ServedModel, pd.DataFrame]:
    from sklearn.datasets import load_diabetes
    from sklearn.ensemble import HistGradientBoostingRegressor

    x, y = load_diabetes(return_X_y=True, as_frame=True)
    model = HistGradientBoostingRegressor(max_iter=20, random_state=0).fit(x, y)
    folder = tmp_path_factory.mktemp("diabetes") / "m"
    return _served(folder, "diabetes", "7", model, x.head(5)), x


def client_for(*models: ServedModel, predict: Predict = threaded_predict, **options: Any) -> Any:
    repository = ModelRepository(list(models))
    return TestClient(Starlette(routes=v1_routes(repository, predict, **options)))


def records(frame: pd.DataFrame) -> list[dict[str, Any]]:
    return list(frame.to_dict(orient="records"))


@pytest.mark.parametrize("which", ["iris", "diabetes"])
def test_records_give_the_models_predictions_with_an_id_each(
    which: str, request: pytest.FixtureRequest
) -> None:
    served, x = request.getfixturevalue(which)
    rows = x.iloc[[0, 3, 60, 61, 120, 140]]
    response = client_for(served).post(
        f"/v1/models/{served.name}/predict", json={"records": records(rows)}
    )
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["model"] == served.name
    assert body["version"] == served.version
    assert [p["prediction"] for p in body["predictions"]] == served.loaded.predict(rows).tolist()
    ids = [p["id"] for p in body["predictions"]]
    assert all(UUID4_HEX.match(i) for i in ids)
    assert len(set(ids)) == len(ids)
    again = client_for(served).post(
        f"/v1/models/{served.name}/predict", json={"records": records(rows)}
    )
    assert not set(ids) & {p["id"] for p in again.json()["predictions"]}


def test_the_named_model_answers(
    iris: tuple[ServedModel, pd.DataFrame], diabetes: tuple[ServedModel, pd.DataFrame]
) -> None:
    client = client_for(iris[0], diabetes[0])
    rows = diabetes[1].head(3)
    response = client.post("/v1/models/diabetes/predict", json={"records": records(rows)})
    assert response.status_code == 200, response.text
    assert response.json()["model"] == "diabetes"
    got = [p["prediction"] for p in response.json()["predictions"]]
    assert got == diabetes[0].loaded.predict(rows).tolist()


def test_max_rows_records_are_accepted(diabetes: tuple[ServedModel, pd.DataFrame]) -> None:
    served, x = diabetes
    rows = pd.concat([x] * 3, ignore_index=True)  # 1,326 rows, parsed off the event loop
    response = client_for(served, max_rows=len(rows)).post(
        "/v1/models/diabetes/predict", json={"records": records(rows)}
    )
    assert response.status_code == 200, response.text
    got = [p["prediction"] for p in response.json()["predictions"]]
    assert got == served.loaded.predict(rows).tolist()


@pytest.mark.parametrize(
    ("output", "per_row"),
    [
        (
            pd.DataFrame({"label": [1, 2], "score": [0.5, 0.25]}),
            [
                {"label": 1, "score": 0.5},
                {"label": 2, "score": 0.25},
            ],
        ),
        (np.array([[0.1, 0.9], [0.8, 0.2]]), [[0.1, 0.9], [0.8, 0.2]]),
        (
            {"label": np.array([1, 2]), "score": np.array([0.5, 0.25])},
            [
                {"label": 1, "score": 0.5},
                {"label": 2, "score": 0.25},
            ],
        ),
        (pd.Series(["a", "b"]), ["a", "b"]),
    ],
    ids=["dataframe", "2d", "named", "series"],
)
def test_each_row_gets_its_own_prediction(
    iris: tuple[ServedModel, pd.DataFrame], output: Any, per_row: list[Any]
) -> None:
    served, x = iris

    async def predict(model: ServedModel, data: Any) -> Any:
        return output

    response = client_for(served, predict=predict).post(
        "/v1/models/iris/predict", json={"records": records(x.head(2))}
    )
    assert response.status_code == 200, response.text
    assert [p["prediction"] for p in response.json()["predictions"]] == per_row


# Bad input: the platform's error shape ------------------------------------------------------


def assert_error(response: httpx.Response, status: int, code: str, *words: str) -> None:
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == "application/json"
    body = response.json()
    assert set(body) == {"error"}
    assert set(body["error"]) == {"code", "message", "details"}
    assert body["error"]["code"] == code
    for word in words:
        assert word in body["error"]["message"]
    assert "Traceback" not in body["error"]["message"]


@pytest.mark.parametrize(
    ("body", "words"),
    [
        (b'{"records": [', ["not valid JSON"]),
        (b"", ["not valid JSON"]),
        (b"[]", ['{"records"']),
        (b"{}", ['{"records"']),
        (b'{"records": [{"a": 1}], "extra": 1}', ["unknown key 'extra'"]),
        (b'{"records": {"a": 1}}', ["must be a list"]),
        (b'{"records": []}', ["empty"]),
        (b'{"records": [[5.1, 3.5, 1.4, 0.2]]}', ["record 0", "not a dict"]),
        (b'{"records": [{"1": 1}, 3]}', ["record 1", "not a dict"]),
    ],
)
def test_malformed_bodies_are_400(
    iris: tuple[ServedModel, pd.DataFrame], body: bytes, words: list[str]
) -> None:
    response = client_for(iris[0]).post(
        "/v1/models/iris/predict", content=body, headers={"Content-Type": "application/json"}
    )
    assert_error(response, 400, "invalid_argument", *words)


def test_values_that_do_not_fit_the_signature_are_400(
    iris: tuple[ServedModel, pd.DataFrame],
) -> None:
    served, x = iris
    client = client_for(served)
    first, second = x.columns[0], x.columns[1]
    good = records(x.head(1))[0]
    cases: list[tuple[dict[str, Any], list[str]]] = [
        ({**good, first: "wide"}, [repr(first), "float64"]),
        ({**good, first: False}, [repr(first), "float64"]),
        ({**good, first: {"nested": 1}}, [repr(first), "float64"]),
        ({**good, second: None}, [repr(second), "not nullable"]),
    ]
    for record, words in cases:
        response = client.post("/v1/models/iris/predict", json={"records": [good, record]})
        assert_error(response, 400, "signature_violation", *words)
        assert response.json()["error"]["details"]["column"] in (first, second)
    # A key absent from some records is a null there; absent from all, a missing column.
    lacking = {k: v for k, v in good.items() if k != second}
    for rows, words in (([good, lacking], ["not nullable"]), ([lacking], ["missing"])):
        response = client.post("/v1/models/iris/predict", json={"records": rows})
        assert_error(response, 400, "signature_violation", repr(second), *words)


def test_nan_is_refused_where_not_nullable(iris: tuple[ServedModel, pd.DataFrame]) -> None:
    served, x = iris
    record = {**records(x.head(1))[0], x.columns[2]: float("nan")}
    response = client_for(served).post(
        "/v1/models/iris/predict",
        content=json.dumps({"records": [record]}),  # a NaN literal, as json.dumps writes it
        headers={"Content-Type": "application/json"},
    )
    assert_error(response, 400, "signature_violation", repr(x.columns[2]), "not nullable")


def test_an_unknown_model_is_404(iris: tuple[ServedModel, pd.DataFrame]) -> None:
    response = client_for(iris[0]).post("/v1/models/fraud/predict", json={"records": [{"a": 1}]})
    assert_error(response, 404, "not_found", "'fraud'", "iris")


@pytest.mark.parametrize("content_type", [None, "text/csv", "text/plain"])
def test_other_content_types_are_415(
    iris: tuple[ServedModel, pd.DataFrame], content_type: str | None
) -> None:
    served, x = iris
    headers = {} if content_type is None else {"Content-Type": content_type}
    body = json.dumps({"records": records(x.head(1))})
    response = client_for(served).post("/v1/models/iris/predict", content=body, headers=headers)
    assert_error(response, 415, "invalid_argument", "application/json")


def test_a_body_over_the_cap_is_413(iris: tuple[ServedModel, pd.DataFrame]) -> None:
    served, x = iris
    client = client_for(served, max_body_bytes=2000)
    body = json.dumps({"records": records(x.head(40))})
    assert len(body) > 2000
    response = client.post(
        "/v1/models/iris/predict", content=body, headers={"Content-Type": "application/json"}
    )
    assert_error(response, 413, "payload_too_large", "2000 bytes")
    assert response.json()["error"]["details"] == {"limit": 2000}

    def chunks() -> Iterator[bytes]:  # no Content-Length
        yield body.encode()

    response = client.post(
        "/v1/models/iris/predict", content=chunks(), headers={"Content-Type": "application/json"}
    )
    assert_error(response, 413, "payload_too_large")


def test_more_than_max_rows_is_413(iris: tuple[ServedModel, pd.DataFrame]) -> None:
    served, x = iris
    client = client_for(served, max_rows=5)
    response = client.post("/v1/models/iris/predict", json={"records": records(x.head(6))})
    assert_error(response, 413, "payload_too_large", "6 records", "limit of 5")
    assert response.json()["error"]["details"] == {"limit": 5, "got": 6}
    ok = client.post("/v1/models/iris/predict", json={"records": records(x.head(5))})
    assert ok.status_code == 200, ok.text


def test_a_model_that_raises_gives_500(iris: tuple[ServedModel, pd.DataFrame]) -> None:
    served, x = iris

    async def broken(model: ServedModel, data: Any) -> Any:
        raise ZeroDivisionError("secret internal detail")

    response = client_for(served, predict=broken).post(
        "/v1/models/iris/predict", json={"records": records(x.head(1))}
    )
    assert_error(response, 500, "internal", "ZeroDivisionError")
    assert "secret internal detail" not in response.text


def test_output_that_does_not_fit_the_rows_is_500(iris: tuple[ServedModel, pd.DataFrame]) -> None:
    served, x = iris

    async def short(model: ServedModel, data: Any) -> Any:
        return np.array([1])

    response = client_for(served, predict=short).post(
        "/v1/models/iris/predict", json={"records": records(x.head(3))}
    )
    assert_error(response, 500, "internal", "3 input rows")


def test_predict_takes_only_post(iris: tuple[ServedModel, pd.DataFrame]) -> None:
    response = client_for(iris[0]).get("/v1/models/iris/predict")
    assert response.status_code == 405
    assert response.headers["allow"] == "POST"
    assert response.json()["error"]["code"] == "invalid_argument"
