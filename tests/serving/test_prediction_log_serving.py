"""Serving statistics in the prediction log over a real server: each window's ``serving``
counts are the requests its model version answered (client errors and model failures apart,
every latency in the histogram); warm-up predictions and requests for no served model are not
counted; a window whose every request failed still ships."""

from __future__ import annotations

import json
import time
from collections import Counter
from pathlib import Path
from typing import Any

import httpx
import pandas as pd
import pytest

from mlsteward.monitoring._serving_stats import ServingStats
from mlsteward.serving._app import create_app
from mlsteward.serving._core import ModelRepository, ServedModel
from mlsteward.serving._deployment import DeploymentRuntime, create_deployment_app
from mlsteward.serving._metrics import ObservabilityMiddleware, ServingMetrics
from mlsteward.serving._prediction_log import ClosedWindow, PredictionLogger
from mlsteward.serving._prediction_sinks import FolderSink, window_manifest
from mlsteward.serving._routing import Route, RoutingPlan

from ._logging_support import iris_model, running, windows_in
from .test_prediction_log import oip_body


@pytest.fixture(scope="module")
def iris(tmp_path_factory: pytest.TempPathFactory) -> tuple[ServedModel, pd.DataFrame]:
    return iris_model(tmp_path_factory.mktemp("iris") / "m")


class _RaisingPredictor:
    def predict(self, data: Any) -> Any:
        raise RuntimeError("the model broke")


class _Raising:
    """The iris model's loaded form, except that predicting raises (and no warm-up)."""

    def __init__(self, inner: Any) -> None:
        self._inner = inner
        self.predictor = _RaisingPredictor()

    def __getattr__(self, name: str) -> Any:
        return getattr(self._inner, name)

    def predict(self, data: Any) -> Any:
        raise RuntimeError("the model broke")

    def input_example(self) -> Any:
        return None


def _serving(window: Path) -> ServingStats | None:
    data = json.loads((window / "window.json").read_text())["serving"]
    return None if data is None else ServingStats.from_json(data)


def test_each_window_counts_the_requests_its_version_answered(iris: Any, tmp_path: Path) -> None:
    model, x = iris
    broken = ServedModel("broken", "7", _Raising(model.loaded), "sklearn")  # type: ignore[arg-type]
    repository = ModelRepository([model, broken])
    metrics = ServingMetrics()
    logger = PredictionLogger(FolderSink(tmp_path), window_seconds=86_400, metrics=metrics)
    app = create_app(repository, metrics=metrics, prediction_logger=logger)
    records = x.head(3).to_dict(orient="records")
    with running(ObservabilityMiddleware(app, metrics=metrics, repository=repository)) as base:
        statuses = [
            httpx.post(f"{base}/v1/models/iris/predict", json={"records": records}),
            httpx.post(f"{base}/v1/models/iris/predict", json={"records": records[:1]}),
            httpx.post(f"{base}/v2/models/iris/infer", json=oip_body(x.head(2))),
            httpx.post(f"{base}/v1/models/iris/predict", json={"records": [{"a": 1}]}),
            httpx.post(
                f"{base}/v1/models/iris/predict",
                content=b"{not json",
                headers={"Content-Type": "application/json"},
            ),
            httpx.post(f"{base}/v1/models/broken/predict", json={"records": records}),
            httpx.post(f"{base}/v1/models/nothing/predict", json={"records": records}),
            httpx.post(f"{base}/v2/models/iris/versions/9/infer", json=oip_body(x.head(2))),
        ]
        assert [a.status_code for a in statuses] == [200, 200, 200, 400, 400, 500, 404, 404]
    by_model = {w.parent.parent.name: w for w in windows_in(tmp_path)}
    assert set(by_model) == {"iris", "broken"}

    iris_stats = _serving(by_model["iris"])
    assert iris_stats is not None  # warm-up and the two 404s are not counted
    assert (iris_stats.requests, iris_stats.client_errors, iris_stats.errors) == (5, 2, 0)
    assert sum(iris_stats.latency_counts) == 5
    assert json.loads((by_model["iris"] / "window.json").read_text())["rows"] == 6

    broken_stats = _serving(by_model["broken"])  # shipped without a single logged row
    assert broken_stats is not None
    assert (broken_stats.requests, broken_stats.client_errors, broken_stats.errors) == (1, 0, 1)
    manifest = json.loads((by_model["broken"] / "window.json").read_text())
    assert (manifest["rows"], manifest["version"]) == (0, "7")


def test_a_deployment_counts_each_request_for_the_version_that_answered(
    iris: Any, tmp_path: Path
) -> None:
    model, x = iris

    def load(version: str) -> ServedModel:
        return ServedModel("iris", version, model.loaded, "sklearn")

    plan = RoutingPlan("iris", 1, "1", (Route("1", 50), Route("2", 50)))
    runtime = DeploymentRuntime(plan, load)
    metrics = ServingMetrics()
    logger = PredictionLogger(FolderSink(tmp_path / "log"), window_seconds=86_400, metrics=metrics)
    app = create_deployment_app(runtime, metrics=metrics, prediction_logger=logger)
    guarded = ObservabilityMiddleware(app, metrics=metrics, repository=runtime.repository)
    answered: Counter[str] = Counter()
    with running(guarded) as base, httpx.Client() as client:
        for i in range(40):
            body = {"records": x.iloc[i : i + 1].to_dict(orient="records")}
            answer = client.post(f"{base}/v1/models/iris/predict", json=body, timeout=30)
            assert answer.status_code == 200, answer.text
            answered[answer.headers["X-Model-Version"]] += 1
    counted = {w.parent.name: _serving(w) for w in windows_in(tmp_path / "log")}  # by version
    assert set(answered) == {"1", "2"}
    assert {v: s.requests for v, s in counted.items() if s is not None} == dict(answered)
    assert all(s is not None and s.errors == s.client_errors == 0 for s in counted.values())


def test_a_window_of_answers_only_closes_while_the_server_runs(iris: Any, tmp_path: Path) -> None:
    model, x = iris
    broken = ServedModel("broken", "7", _Raising(model.loaded), "sklearn")  # type: ignore[arg-type]
    repository = ModelRepository([broken])
    metrics = ServingMetrics()
    logger = PredictionLogger(FolderSink(tmp_path), window_seconds=0.2, metrics=metrics)
    app = create_app(repository, metrics=metrics, prediction_logger=logger)
    body = {"dataframe_split": x.head(2).to_dict(orient="split", index=False)}
    with running(ObservabilityMiddleware(app, metrics=metrics, repository=repository)) as base:
        assert httpx.post(f"{base}/invocations", json=body).status_code == 500
        deadline = time.monotonic() + 30
        while not windows_in(tmp_path):
            assert time.monotonic() < deadline, "no window was shipped"
            time.sleep(0.05)
        (window,) = windows_in(tmp_path)
    stats = _serving(window)
    assert stats is not None
    assert (stats.requests, stats.errors) == (1, 1)


def test_a_window_without_answers_has_no_serving_statistics(iris: Any) -> None:
    model, x = iris
    shipped: list[ClosedWindow] = []

    class Recording:
        def ship(self, window: ClosedWindow) -> None:
            shipped.append(window)

    logger = PredictionLogger(Recording(), window_seconds=86_400)
    logger.start()
    logger.submit(model, x.head(4), model.loaded.predict(x.head(4)), ids=None, request_id="r")
    logger.close()
    (window,) = shipped
    assert window.serving is None
    assert window_manifest(window)["serving"] is None


def test_observed_answers_fold_into_the_window_of_their_version() -> None:
    shipped: list[ClosedWindow] = []

    class Recording:
        def ship(self, window: ClosedWindow) -> None:
            shipped.append(window)

    logger = PredictionLogger(Recording(), window_seconds=86_400)
    logger.start()
    logger.observe_answer("iris", "1", 200, 0.004)
    logger.observe_answer("iris", "1", 503, 2.0)
    logger.observe_answer("iris", "2", 422, 0.001)
    logger.close()
    stats = {w.version: w.serving for w in shipped}
    assert set(stats) == {"1", "2"}
    assert stats["1"] is not None
    assert stats["2"] is not None
    assert (stats["1"].requests, stats["1"].errors, stats["1"].client_errors) == (2, 1, 0)
    assert (stats["2"].requests, stats["2"].errors, stats["2"].client_errors) == (1, 0, 1)
    assert all(w.rows == 0 for w in shipped)
