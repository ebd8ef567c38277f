"""A burst far over capacity: 503 with Retry-After for what does not fit in the queue, right
answers for the rest, and the server recovers."""

from __future__ import annotations

import asyncio
import threading
import time
from pathlib import Path
from typing import Any

import httpx
import pytest

from mlsteward.models._model_dir import load_model_dir
from mlsteward.serving import ModelRepository, ServedModel
from mlsteward.serving._app import create_app

from ._support import iris_frame, ready_server, save_iris_model


class _Gated:
    def __init__(self, inner: Any) -> None:
        self.inner = inner
        self.gate = threading.Event()
        self.gate.set()

    def predict(self, frame: Any) -> Any:
        self.gate.wait(timeout=30)
        return self.inner.predict(frame)


def test_a_burst_is_shed_with_retry_after_and_the_server_recovers(tmp_path: Path) -> None:
    model = save_iris_model(tmp_path / "m")
    loaded = load_model_dir(tmp_path / "m")
    gated = _Gated(loaded.predictor)
    loaded.predictor = gated
    repository = ModelRepository([ServedModel("iris", "1", loaded, "sklearn")])
    app = create_app(repository, predict_threads=1, max_batch_rows=4, max_queue_rows=16)
    x, _ = iris_frame()

    async def burst(url: str) -> list[httpx.Response]:
        async with httpx.AsyncClient(base_url=url, timeout=60) as client:

            async def one(i: int) -> httpx.Response:
                body = {"dataframe_split": x.iloc[[i]].to_dict(orient="split")}
                return await client.post("/invocations", json=body)

            first = asyncio.create_task(one(0))  # held by the gate: the queue fills behind it
            await asyncio.sleep(0.2)
            tasks = [asyncio.create_task(one(i)) for i in range(1, 120)]
            await asyncio.sleep(1.0)
            gated.gate.set()
            return await asyncio.gather(first, *tasks)

    with ready_server(app) as url:
        gated.gate.clear()
        answers = asyncio.run(burst(url))
        statuses = [a.status_code for a in answers]
        assert set(statuses) == {200, 503}
        assert statuses.count(200) >= 17  # the one held plus a full queue
        for i, answer in enumerate(answers):
            if answer.status_code == 200:
                assert answer.json()["predictions"] == model.predict(x.iloc[[i]]).tolist()
            else:
                assert answer.headers["retry-after"] == "1"
                assert answer.json()["error_code"] == "TEMPORARILY_UNAVAILABLE"
        after = httpx.post(
            f"{url}/invocations", json={"dataframe_split": x.iloc[[5]].to_dict(orient="split")}
        )
        assert after.status_code == 200  # recovered once the burst is over
        metadata = httpx.post(
            f"{url}/v2/models/iris/infer",
            json={
                "inputs": [
                    {"name": c, "datatype": "FP64", "shape": [1], "data": [float(x[c][5])]}
                    for c in x.columns
                ]
            },
        )
        assert metadata.status_code == 200


@pytest.mark.parametrize("rows", [1, 1000])
def test_batched_answers_equal_direct_predictions(tmp_path: Path, rows: int) -> None:
    model = save_iris_model(tmp_path / "m")
    repository = ModelRepository([ServedModel("iris", "1", load_model_dir(tmp_path / "m"), "sk")])
    app = create_app(repository, max_batch_rows=64)
    x, _ = iris_frame()
    frame = x.sample(rows, replace=True, random_state=1).reset_index(drop=True)

    async def many(url: str) -> list[httpx.Response]:
        async with httpx.AsyncClient(base_url=url, timeout=60) as client:
            parts = [frame.iloc[i : i + 50] for i in range(0, rows, 50)] if rows > 1 else [frame]
            return await asyncio.gather(
                *(
                    client.post("/v1/models/iris/predict", json={"records": p.to_dict("records")})
                    for p in parts
                )
            )

    with ready_server(app) as url:
        answers = asyncio.run(many(url))
    got = [p["prediction"] for a in answers for p in a.json()["predictions"]]
    assert got == model.predict(frame).tolist()


def test_a_request_waiting_past_the_timeout_gets_503_and_the_server_goes_on(
    tmp_path: Path,
) -> None:
    model = save_iris_model(tmp_path / "m")
    loaded = load_model_dir(tmp_path / "m")
    gated = _Gated(loaded.predictor)
    loaded.predictor = gated
    repository = ModelRepository([ServedModel("iris", "1", loaded, "sklearn")])
    app = create_app(repository, predict_threads=1, request_timeout=0.5)
    x, _ = iris_frame()
    body = {"records": x.iloc[[2]].to_dict("records")}
    with ready_server(app) as url:
        gated.gate.clear()  # the model hangs
        started = time.monotonic()
        late = httpx.post(f"{url}/v1/models/iris/predict", json=body, timeout=30)
        waited = time.monotonic() - started
        gated.gate.set()
        assert late.status_code == 503
        assert late.headers["retry-after"] == "1"
        assert "longer than the server's limit of 0.5 s" in late.json()["error"]["message"]
        assert waited < 5
        again = httpx.post(f"{url}/v1/models/iris/predict", json=body, timeout=30)
        assert again.status_code == 200
        assert again.json()["predictions"][0]["prediction"] == model.predict(x.iloc[[2]])[0]
