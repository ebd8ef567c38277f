"""The inference server's observability: Prometheus metrics by model and protocol, request ids
and one JSON access-log line per request, over the real protocol routes."""

from __future__ import annotations

import contextlib
import json
import logging
import re
import socket
import subprocess
import sys
import threading
import time
from collections.abc import AsyncIterator, Iterator
from typing import Any

import anyio
import anyio.to_thread
import httpx
import pandas as pd
import pytest
import uvicorn
from prometheus_client.parser import text_string_to_metric_families
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Route
from starlette.testclient import TestClient

from mlsteward._http_log import JsonFormatter
from mlsteward.models._model_dir import load_model_dir, save_model
from mlsteward.serving._core import ModelRepository, Predict, ServedModel
from mlsteward.serving._metrics import ObservabilityMiddleware, ServingMetrics, metrics_route
from mlsteward.serving._mlflow_protocol import mlflow_routes
from mlsteward.serving._oip import oip_routes
from mlsteward.serving._v1 import v1_routes

UUID4_HEX = re.compile(r"^[0-9a-f]{12}4[0-9a-f]{3}[89ab][0-9a-f]{15}$")
SECRET = "sk-live-0123456789abcdefghijklmnop"
Samples = dict[tuple[str, frozenset[tuple[str, str]]], float]


async def threaded_predict(model: ServedModel, data: Any) -> Any:
    return await anyio.to_thread.run_sync(model.predict, data)


@pytest.fixture(scope="module")
def iris(tmp_path_factory: pytest.TempPathFactory) -> tuple[ServedModel, pd.DataFrame]:
    from sklearn.datasets import load_iris
    from sklearn.ensemble import HistGradientBoostingClassifier

    x, y = load_iris(return_X_y=True, as_frame=True)
    model = HistGradientBoostingClassifier(max_iter=20, random_state=0).fit(x, y)
    folder = tmp_path_factory.mktemp("iris") / "m"
    save_model(model, folder, input_example=x.head(5))
    return ServedModel("iris", "1", load_model_dir(folder), "sklearn"), x


def serve(
    repository: ModelRepository,
    metrics: ServingMetrics,
    predict: Predict = threaded_predict,
    extra: tuple[BaseRoute, ...] = (),
    **starlette: Any,
) -> ObservabilityMiddleware:
    """Every protocol and /metrics over ``repository``, wrapped as the server wraps it."""
    routes = [
        *extra,
        *oip_routes(repository, predict),
        *mlflow_routes(repository, predict),
        *v1_routes(repository, predict),
        metrics_route(metrics),
    ]
    app = Starlette(routes=routes, **starlette)
    return ObservabilityMiddleware(app, metrics=metrics, repository=repository)


def ready(*models: ServedModel) -> ModelRepository:
    repository = ModelRepository(list(models))
    repository.ready = True
    return repository


def scrape(client: TestClient) -> Samples:
    response = client.get("/metrics")
    assert response.status_code == 200
    return {
        (sample.name, frozenset(sample.labels.items())): sample.value
        for family in text_string_to_metric_families(response.text)
        for sample in family.samples
    }


def value(samples: Samples, name: str, **labels: str) -> float:
    return samples.get((name, frozenset(labels.items())), 0.0)


def oip_body(frame: pd.DataFrame) -> dict[str, Any]:
    return {
        "inputs": [
            {"name": c, "shape": [len(frame)], "datatype": "FP64", "data": frame[c].tolist()}
            for c in frame.columns
        ]
    }


def records(frame: pd.DataFrame) -> dict[str, Any]:
    return {"records": frame.to_dict(orient="records")}


def split(frame: pd.DataFrame) -> dict[str, Any]:
    return {"dataframe_split": frame.to_dict(orient="split", index=False)}


# --- counting ---------------------------------------------------------------------------


def test_inference_requests_are_counted_by_model_protocol_and_status(iris: Any) -> None:
    model, x = iris
    metrics = ServingMetrics()
    client = TestClient(serve(ready(model), metrics))
    for _ in range(2):
        assert client.post("/v2/models/iris/infer", json=oip_body(x.head(3))).status_code == 200
    assert client.post("/v2/models/iris/versions/1/infer", json=oip_body(x.head(1))).is_success
    assert client.post("/invocations", json=split(x.head(2))).status_code == 200
    assert client.post("/v1/models/iris/predict", json=records(x.head(2))).status_code == 200
    bad = client.post(
        "/v1/models/iris/predict",
        content=b"{not json",
        headers={"content-type": "application/json"},
    )
    assert bad.status_code == 400

    samples = scrape(client)
    requests = "mlsteward_inference_requests_total"
    assert value(samples, requests, model="iris", protocol="oip", status="200") == 3
    assert value(samples, requests, model="iris", protocol="mlflow", status="200") == 1
    assert value(samples, requests, model="iris", protocol="v1", status="200") == 1
    assert value(samples, requests, model="iris", protocol="v1", status="400") == 1
    duration = "mlsteward_inference_request_duration_seconds_count"
    assert value(samples, duration, model="iris", protocol="oip") == 3
    assert value(samples, duration, model="iris", protocol="v1") == 2
    errors = "mlsteward_inference_errors_total"
    assert value(samples, errors, model="iris", protocol="v1", kind="client") == 1
    assert value(samples, errors, model="iris", protocol="oip", kind="client") == 0
    assert value(samples, "mlsteward_inference_requests_in_flight") == 0


def test_health_metadata_and_metrics_requests_are_not_counted(iris: Any) -> None:
    metrics = ServingMetrics()
    client = TestClient(serve(ready(iris[0]), metrics))
    for path in ("/v2/health/live", "/v2/health/ready", "/ping", "/health", "/version", "/v2"):
        assert client.get(path).status_code == 200, path
    assert client.get("/v2/models/iris").status_code == 200
    assert client.get("/v2/models/iris/ready").status_code == 200
    assert client.get("/nowhere").status_code == 404
    scrape(client)  # the scrape itself is not counted either
    samples = scrape(client)
    counted = [key for key in samples if key[0] == "mlsteward_inference_requests_total"]
    assert counted == []


def test_unknown_model_names_do_not_grow_the_metrics(iris: Any) -> None:
    """A label per name a caller makes up would let callers grow the metrics without bound."""
    _, x = iris
    metrics = ServingMetrics()
    client = TestClient(serve(ready(iris[0]), metrics))
    for name in ("made-up-1", "made-up-2", "made-up-3"):
        assert client.post(f"/v2/models/{name}/infer", json=oip_body(x.head(1))).status_code == 404
    assert client.post("/v1/models/made-up-4/predict", json=records(x.head(1))).status_code == 404
    text = client.get("/metrics").text
    assert "made-up" not in text
    samples = scrape(client)
    requests = "mlsteward_inference_requests_total"
    assert value(samples, requests, model="<unknown>", protocol="oip", status="404") == 3
    assert value(samples, requests, model="<unknown>", protocol="v1", status="404") == 1
    errors = "mlsteward_inference_errors_total"
    assert value(samples, errors, model="<unknown>", protocol="oip", kind="client") == 3


def test_invocations_of_a_server_with_several_models_count_as_unknown(iris: Any) -> None:
    model, x = iris
    twin = ServedModel("twin", "1", model.loaded, "sklearn")
    metrics = ServingMetrics()
    client = TestClient(serve(ready(model, twin), metrics))
    assert client.post("/invocations", json=split(x.head(1))).status_code == 404
    samples = scrape(client)
    requests = "mlsteward_inference_requests_total"
    assert value(samples, requests, model="<unknown>", protocol="mlflow", status="404") == 1


def test_bad_input_on_every_protocol_counts_as_client_errors(iris: Any) -> None:
    metrics = ServingMetrics()
    client = TestClient(serve(ready(iris[0]), metrics))
    json_type = {"content-type": "application/json"}
    answers = [
        client.post("/v2/models/iris/infer", content=b"[", headers=json_type),
        client.post("/v2/models/iris/infer", json={"inputs": [{"name": "x"}]}),
        client.get("/v2/models/iris/infer"),
        client.post("/invocations", content=b"a,b", headers={"content-type": "text/xml"}),
        client.post("/invocations", json={"dataframe_split": {"columns": ["nope"], "data": [[1]]}}),
        client.post("/v1/models/iris/predict", json={"records": [{"nope": 1}]}),
    ]
    assert [r.status_code for r in answers] == [400, 400, 405, 415, 400, 400]
    samples = scrape(client)
    errors = "mlsteward_inference_errors_total"
    assert value(samples, errors, model="iris", protocol="oip", kind="client") == 3
    assert value(samples, errors, model="iris", protocol="mlflow", kind="client") == 2
    assert value(samples, errors, model="iris", protocol="v1", kind="client") == 1
    for protocol in ("oip", "mlflow", "v1"):
        for kind in ("model", "server"):
            assert value(samples, errors, model="iris", protocol=protocol, kind=kind) == 0


def test_a_model_that_raises_counts_as_a_model_error(iris: Any) -> None:
    _, x = iris

    async def failing(model: ServedModel, data: Any) -> Any:
        raise RuntimeError("the model broke")

    metrics = ServingMetrics()
    client = TestClient(serve(ready(iris[0]), metrics, predict=failing))
    assert client.post("/v2/models/iris/infer", json=oip_body(x.head(1))).status_code == 500
    assert client.post("/invocations", json=split(x.head(1))).status_code == 500
    assert client.post("/v1/models/iris/predict", json=records(x.head(1))).status_code == 500
    samples = scrape(client)
    errors = "mlsteward_inference_errors_total"
    for protocol in ("oip", "mlflow", "v1"):
        assert value(samples, errors, model="iris", protocol=protocol, kind="model") == 1
        assert value(samples, errors, model="iris", protocol=protocol, kind="server") == 0
        labels = {"model": "iris", "protocol": protocol, "status": "500"}
        assert value(samples, "mlsteward_inference_requests_total", **labels) == 1


def test_not_ready_and_escaping_exceptions_count_as_server_errors(iris: Any) -> None:
    _, x = iris

    async def crash(request: Request) -> Response:
        raise RuntimeError("a bug in the server")

    async def says_server(request: Request) -> Response:
        request.state.error_kind = "server"
        return JSONResponse({"error": "the queue failed"}, status_code=500)

    extra = (
        Route("/v2/models/{name}/versions/crash/infer", crash, methods=["POST"]),
        Route("/v2/models/{name}/versions/queue/infer", says_server, methods=["POST"]),
    )
    repository = ModelRepository([iris[0]])  # not ready: 503
    metrics = ServingMetrics()
    client = TestClient(serve(repository, metrics, extra=extra), raise_server_exceptions=False)
    assert client.post("/v2/models/iris/infer", json=oip_body(x.head(1))).status_code == 503
    crashed = client.post("/v2/models/iris/versions/crash/infer", json={})
    assert crashed.status_code == 500
    assert UUID4_HEX.fullmatch(crashed.headers["x-request-id"])
    assert client.post("/v2/models/iris/versions/queue/infer", json={}).status_code == 500
    samples = scrape(client)
    errors = "mlsteward_inference_errors_total"
    assert value(samples, errors, model="iris", protocol="oip", kind="server") == 3
    assert value(samples, errors, model="iris", protocol="oip", kind="model") == 0
    assert value(samples, "mlsteward_inference_requests_in_flight") == 0


def test_an_exception_escaping_the_app_is_counted_then_raised(iris: Any) -> None:
    async def crash(request: Request) -> Response:
        raise RuntimeError("a bug in the server")

    metrics = ServingMetrics()
    app = ObservabilityMiddleware(
        # A bare router has no ServerErrorMiddleware: nothing has answered when it raises.
        Starlette(routes=[Route("/v1/models/{name}/predict", crash, methods=["POST"])]).router,
        metrics=metrics,
        repository=ready(iris[0]),
    )
    with pytest.raises(RuntimeError, match="a bug in the server"):
        TestClient(app).post("/v1/models/iris/predict", json={})
    sample = metrics.registry.get_sample_value
    labels = {"model": "iris", "protocol": "v1"}
    assert sample("mlsteward_inference_requests_total", {**labels, "status": "500"}) == 1
    assert sample("mlsteward_inference_errors_total", {**labels, "kind": "server"}) == 1
    assert sample("mlsteward_inference_requests_in_flight") == 0


def test_requests_in_flight_are_tracked(iris: Any) -> None:
    _, x = iris
    metrics = ServingMetrics()
    seen: list[float | None] = []

    async def watching(model: ServedModel, data: Any) -> Any:
        seen.append(metrics.registry.get_sample_value("mlsteward_inference_requests_in_flight"))
        return await threaded_predict(model, data)

    client = TestClient(serve(ready(iris[0]), metrics, predict=watching))
    assert client.post("/v1/models/iris/predict", json=records(x.head(1))).status_code == 200
    assert seen == [1.0]
    assert value(scrape(client), "mlsteward_inference_requests_in_flight") == 0


def test_latency_lands_in_the_right_bucket(iris: Any) -> None:
    _, x = iris

    async def slow(model: ServedModel, data: Any) -> Any:
        await anyio.sleep(0.06)
        return await threaded_predict(model, data)

    metrics = ServingMetrics()
    client = TestClient(serve(ready(iris[0]), metrics, predict=slow))
    assert client.post("/v2/models/iris/infer", json=oip_body(x.head(2))).status_code == 200
    samples = scrape(client)
    bucket = "mlsteward_inference_request_duration_seconds_bucket"
    labels = {"model": "iris", "protocol": "oip"}
    assert value(samples, bucket, **labels, le="0.001") == 0
    assert value(samples, bucket, **labels, le="0.05") == 0
    assert value(samples, bucket, **labels, le="10.0") == 1
    assert value(samples, bucket, **labels, le="+Inf") == 1
    total = value(samples, "mlsteward_inference_request_duration_seconds_sum", **labels)
    assert 0.06 <= total < 10


# --- /metrics and the methods other parts call ------------------------------------------


def test_metrics_endpoint_speaks_the_prometheus_text_format(iris: Any) -> None:
    metrics = ServingMetrics()
    client = TestClient(serve(ready(iris[0]), metrics))
    response = client.get("/metrics")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain; version=")
    families = {f.name: f.type for f in text_string_to_metric_families(response.text)}
    assert (
        families.items()
        >= {
            "mlsteward_inference_requests": "counter",
            "mlsteward_inference_request_duration_seconds": "histogram",
            "mlsteward_inference_requests_in_flight": "gauge",
            "mlsteward_inference_batch_rows": "histogram",
            "mlsteward_inference_queue_rows": "gauge",
            "mlsteward_inference_shed": "counter",
            "mlsteward_model_load_seconds": "gauge",
            "mlsteward_prediction_log_dropped_rows": "counter",
            "mlsteward_prediction_log_dropped_windows": "counter",
            "mlsteward_inference_errors": "counter",
        }.items()
    )
    assert client.head("/metrics").status_code == 200


def test_metrics_endpoint_refuses_other_methods_with_json(iris: Any) -> None:
    client = TestClient(serve(ready(iris[0]), ServingMetrics()))
    for method in ("POST", "PUT", "DELETE"):
        response = client.request(method, "/metrics", content=b"x")
        assert response.status_code == 405
        assert response.json() == {"error": "use GET here"}
        assert response.headers["allow"] == "GET, HEAD"


def test_batching_queue_shedding_loading_and_log_drops_are_exposed(iris: Any) -> None:
    metrics = ServingMetrics()
    metrics.observe_batch("iris", 3)
    metrics.observe_batch("iris", 40)
    metrics.change_queue_rows("iris", 12)  # e.g. two versions of a deployment
    metrics.change_queue_rows("iris", 3)
    metrics.change_queue_rows("iris", -10)
    metrics.shed("iris")
    metrics.shed("iris")
    metrics.model_loaded("iris", "1", 0.25)
    metrics.model_loaded("other", "4", 1.5)
    metrics.model_loaded("iris", "2", 0.5)  # a new version replaces the old one
    metrics.prediction_log_dropped_rows(4, "queue_full")
    metrics.prediction_log_dropped_rows(1, "queue_full")
    metrics.prediction_log_dropped_windows()
    samples = scrape(TestClient(serve(ready(iris[0]), metrics)))
    assert value(samples, "mlsteward_inference_batch_rows_count", model="iris") == 2
    assert value(samples, "mlsteward_inference_batch_rows_sum", model="iris") == 43
    assert value(samples, "mlsteward_inference_batch_rows_bucket", model="iris", le="4.0") == 1
    assert value(samples, "mlsteward_inference_queue_rows", model="iris") == 5
    assert value(samples, "mlsteward_inference_shed_total", model="iris") == 2
    loads = {k[1]: v for k, v in samples.items() if k[0] == "mlsteward_model_load_seconds"}
    assert loads == {
        frozenset({("model", "iris"), ("version", "2")}): 0.5,
        frozenset({("model", "other"), ("version", "4")}): 1.5,
    }
    assert value(samples, "mlsteward_prediction_log_dropped_rows_total", reason="queue_full") == 5
    assert value(samples, "mlsteward_prediction_log_dropped_windows_total") == 1


def test_each_metrics_object_counts_on_its_own(iris: Any) -> None:
    _, x = iris
    first, second = ServingMetrics(), ServingMetrics()
    client = TestClient(serve(ready(iris[0]), first))
    TestClient(serve(ready(iris[0]), second))
    assert client.post("/v1/models/iris/predict", json=records(x.head(1))).status_code == 200
    labels = {"model": "iris", "protocol": "v1", "status": "200"}
    assert first.registry.get_sample_value("mlsteward_inference_requests_total", labels) == 1
    assert second.registry.get_sample_value("mlsteward_inference_requests_total", labels) is None


# --- request ids ------------------------------------------------------------------------


def test_request_ids_are_echoed_or_made_and_kept_in_the_request_state(iris: Any) -> None:
    async def show(request: Request) -> Response:
        return JSONResponse({"request_id": request.state.request_id})

    client = TestClient(serve(ready(iris[0]), ServingMetrics(), extra=(Route("/show", show),)))
    echoed = client.get("/show", headers={"X-Request-ID": "trace-42.a_b"})
    assert echoed.headers["x-request-id"] == "trace-42.a_b"
    assert echoed.json() == {"request_id": "trace-42.a_b"}
    made = {client.get("/show").headers["x-request-id"] for _ in range(3)}
    assert len(made) == 3
    assert all(UUID4_HEX.fullmatch(request_id) for request_id in made)
    for answer in (client.get("/nowhere"), client.post("/v1/models/iris/predict", json={})):
        assert answer.status_code in (400, 404)
        assert UUID4_HEX.fullmatch(answer.headers["x-request-id"])
    probe = client.get("/v2/health/live", headers={"X-Request-ID": "probe"})
    assert probe.headers["x-request-id"] == "probe"


@pytest.mark.parametrize(
    "hostile",
    [
        "x" * 65,
        "a b",
        "",
        '"}, {"admin": true',
        "../../etc/passwd",
        "id\tnext",
        "caf\xe9",
        "<script>alert(1)</script>",
    ],
)
def test_a_hostile_request_id_is_replaced(iris: Any, hostile: str) -> None:
    async def show(request: Request) -> Response:
        return JSONResponse({"request_id": request.state.request_id})

    client = TestClient(serve(ready(iris[0]), ServingMetrics(), extra=(Route("/show", show),)))
    response = client.get("/show", headers=[(b"X-Request-ID", hostile.encode("latin-1"))])
    assert UUID4_HEX.fullmatch(response.headers["x-request-id"])
    assert response.json()["request_id"] == response.headers["x-request-id"]
    assert len(response.headers.get_list("x-request-id")) == 1


# --- access log -------------------------------------------------------------------------


def access_lines(caplog: pytest.LogCaptureFixture) -> list[dict[str, Any]]:
    formatter = JsonFormatter()
    return [
        json.loads(formatter.format(record))
        for record in caplog.records
        if record.name == "mlsteward.serving.access"
    ]


def test_the_access_log_is_one_json_line_per_request_without_secrets(
    iris: Any, caplog: pytest.LogCaptureFixture
) -> None:
    _, x = iris
    client = TestClient(serve(ready(iris[0]), ServingMetrics()))
    body = records(x.head(2))
    body["records"][0]["sepal length (cm)"] = "BODY-MARKER"
    with caplog.at_level(logging.DEBUG, logger="mlsteward.serving.access"):
        answer = client.post(
            f"/v1/models/iris/predict?api_key={SECRET}",
            json={"records": records(x.head(2))["records"]},
            headers={
                "Authorization": f"Bearer {SECRET}",
                "X-API-Key": SECRET,
                "Cookie": f"session={SECRET}",
                "X-Request-ID": "req-7",
            },
        )
        refused = client.post("/v1/models/iris/predict", json=body)
        client.get("/v2/health/ready")
    assert answer.status_code == 200
    assert refused.status_code == 400  # text in a float column
    lines = access_lines(caplog)
    assert len(lines) == 3
    first, second, health = lines
    assert first["message"] == "request"
    assert first["request_id"] == "req-7"
    assert (first["method"], first["path"], first["status"]) == (
        "POST",
        "/v1/models/iris/predict",
        200,
    )
    assert (first["model"], first["protocol"], first["client"]) == ("iris", "v1", "testclient")
    assert isinstance(first["duration_ms"], float)
    assert first["duration_ms"] >= 0
    assert first["ts"].endswith("+00:00")
    assert second["status"] == 400
    assert UUID4_HEX.fullmatch(second["request_id"])
    assert (health["path"], health["status"], health["model"], health["protocol"]) == (
        "/v2/health/ready",
        200,
        None,
        None,
    )
    # Probes poll: their successful answers are logged at DEBUG, the rest at INFO.
    assert [line["level"] for line in lines] == ["info", "info", "debug"]
    raw = caplog.text + "".join(json.dumps(line) for line in lines)
    for secret in (SECRET, "BODY-MARKER", "api_key", "Bearer", "session"):
        assert secret not in raw


def test_a_real_http_client_sees_the_request_id_and_is_logged_by_address(
    iris: Any, caplog: pytest.LogCaptureFixture
) -> None:
    _, x = iris
    metrics = ServingMetrics()
    access = caplog.at_level(logging.INFO, logger="mlsteward.serving.access")
    with access, _serve(serve(ready(iris[0]), metrics)) as base:
        answer = httpx.post(f"{base}/invocations", json=split(x.head(2)), timeout=10)
        scraped = httpx.get(f"{base}/metrics", timeout=10)
    assert answer.status_code == 200
    assert UUID4_HEX.fullmatch(answer.headers["x-request-id"])
    families = {f.name for f in text_string_to_metric_families(scraped.text)}
    assert "mlsteward_inference_requests" in families
    assert 'protocol="mlflow"' in scraped.text
    lines = access_lines(caplog)
    assert [line["path"] for line in lines] == ["/invocations"]  # the scrape is DEBUG
    assert lines[0]["client"] == "127.0.0.1"
    assert lines[0]["request_id"] == answer.headers["x-request-id"]


def test_lifespan_passes_through(iris: Any) -> None:
    """The middleware wraps the whole app: start-up and shutdown still reach it."""
    events: list[str] = []

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        events.append("start")
        yield
        events.append("stop")

    app = serve(ready(iris[0]), ServingMetrics(), lifespan=lifespan)
    with TestClient(app) as client:
        assert client.get("/v2/health/live").status_code == 200
    assert events == ["start", "stop"]


def test_the_inference_server_does_not_import_the_platform_server() -> None:
    code = (
        "import sys, json, mlsteward.serving._metrics; "
        "print(json.dumps(sorted(m for m in sys.modules if m.split('.')[0] == 'fastapi' "
        "or m.startswith('mlsteward.server'))))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert json.loads(out.stdout) == []


@contextlib.contextmanager
def _serve(app: Any) -> Iterator[str]:
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    server = uvicorn.Server(uvicorn.Config(app, log_level="warning", lifespan="off"))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    deadline = time.monotonic() + 15
    while not server.started:
        assert thread.is_alive(), "uvicorn stopped"
        assert time.monotonic() < deadline, "uvicorn did not start"
        time.sleep(0.01)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(15)
        sock.close()
