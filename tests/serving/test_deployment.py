"""Deployments through real servers: canary weights, sticky keys, zero-downtime switches,
instant and automatic rollback, shadow traffic, statistics, plan polling and bad input.

Every version is a real scikit-learn model saved and loaded with ``mlsteward.models``; the
server is uvicorn on 127.0.0.1, run on an event loop of the test's own so that the test can
``apply`` plans on it."""

from __future__ import annotations

import asyncio
import contextlib
import json
import math
import socket
import threading
import time
from collections import Counter
from collections.abc import Callable, Coroutine, Iterator
from pathlib import Path
from typing import Any

import httpx
import pandas as pd
import pytest
import uvicorn

from mlsteward.errors import InvalidArgument, StewardError
from mlsteward.models._model_dir import load_model_dir, save_model
from mlsteward.serving import ServedModel
from mlsteward.serving._deployment import DeploymentRuntime, create_deployment_app
from mlsteward.serving._metrics import ServingMetrics
from mlsteward.serving._routing import AutoRollbackRule, Route, Router, RoutingPlan

from ._support import iris_frame

ROWS = iris_frame()[0]


@pytest.fixture(scope="module")
def folders(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """Saved model folders by version: ``1`` and ``2`` two iris classifiers, ``1b`` the same
    model as ``1``, ``0`` one that always answers class 0, ``9`` one that raises on every
    request (trained on three columns, its signature states four)."""
    from sklearn.dummy import DummyClassifier
    from sklearn.ensemble import HistGradientBoostingClassifier

    x, y = iris_frame()
    root = tmp_path_factory.mktemp("deployment")
    first = HistGradientBoostingClassifier(max_iter=20, random_state=0).fit(x, y)
    models = {
        "1": first,
        "1b": first,
        "2": HistGradientBoostingClassifier(max_iter=5, random_state=1).fit(x, y),
        "0": DummyClassifier(strategy="constant", constant=0).fit(x, y),
    }
    folders = {}
    for version, model in models.items():
        folders[version] = root / version
        save_model(model, folders[version], input_example=x.head(5))
    folders["9"] = root / "9"
    broken = HistGradientBoostingClassifier(max_iter=5).fit(x.iloc[:, :3], y)
    save_model(broken, folders["9"], signature=load_model_dir(folders["1"]).signature)
    return folders


class _Gate:
    """A predictor wrapper that blocks until ``opened`` (and says when it was entered)."""

    def __init__(self, inner: Any) -> None:
        self.inner = inner
        self.open = threading.Event()
        self.entered = threading.Event()

    def predict(self, data: Any) -> Any:
        self.entered.set()
        assert self.open.wait(timeout=60), "the gate was never opened"
        return self.inner.predict(data)


class _Loader:
    """The ``load`` of a runtime: versions from ``folders``, counted; optionally gated, or
    wrapping a version's predictor."""

    def __init__(self, folders: dict[str, Path]) -> None:
        self.folders = folders
        self.loads: list[str] = []
        self.gates: dict[str, threading.Event] = {}
        self.entered: dict[str, threading.Event] = {}
        self.wrap: dict[str, Callable[[Any], Any]] = {}

    def gate(self, version: str) -> threading.Event:
        self.entered[version] = threading.Event()
        self.gates[version] = threading.Event()
        return self.gates[version]

    def __call__(self, version: str) -> ServedModel:
        self.loads.append(version)
        if version in self.gates:
            self.entered[version].set()
            assert self.gates[version].wait(timeout=60)
        if version not in self.folders:
            raise FileNotFoundError(f"no folder for version {version}")
        loaded = load_model_dir(self.folders[version])
        if version in self.wrap:
            loaded.predictor = self.wrap[version](loaded.predictor)
        return ServedModel("iris", version, loaded, "sklearn")


def _plan(
    *weights: tuple[str, int], stable: str = "1", revision: int = 1, **options: Any
) -> RoutingPlan:
    routes = tuple(Route(version, weight) for version, weight in weights)
    return RoutingPlan("iris", revision, stable, routes, **options)


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class _Server:
    def __init__(self, url: str, loop: asyncio.AbstractEventLoop) -> None:
        self.url = url
        self.loop = loop

    def run(self, work: Coroutine[Any, Any, Any]) -> Any:
        """Run ``work`` on the server's event loop; its result."""
        return asyncio.run_coroutine_threadsafe(work, self.loop).result(timeout=60)

    def stats(self) -> dict[str, Any]:
        response = httpx.get(f"{self.url}/deployment", timeout=10)
        assert response.status_code == 200
        return dict(response.json())


@contextlib.contextmanager
def _serve(runtime: DeploymentRuntime, **options: Any) -> Iterator[_Server]:
    app = create_deployment_app(runtime, **options)
    port = _free_port()
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
    loop = asyncio.new_event_loop()
    thread = threading.Thread(target=loop.run_until_complete, args=(server.serve(),), daemon=True)
    thread.start()
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 60
    while True:
        with contextlib.suppress(httpx.TransportError):
            if httpx.get(f"{url}/v2/health/ready", timeout=2).status_code == 200:
                break
        assert thread.is_alive(), "the server stopped while starting"
        assert time.monotonic() < deadline, "the server never became ready"
        time.sleep(0.05)
    try:
        yield _Server(url, loop)
    finally:
        server.should_exit = True
        thread.join(timeout=60)
        loop.close()


def _record(i: int) -> dict[str, float]:
    return {str(k): float(v) for k, v in ROWS.iloc[i % len(ROWS)].items()}


def _predict(client: httpx.Client, url: str, i: int = 0, **headers: str) -> httpx.Response:
    return client.post(
        f"{url}/v1/models/iris/predict", json={"records": [_record(i)]}, headers=headers, timeout=30
    )


def _within_binomial(count: int, trials: int, share: float, sigmas: float = 4.5) -> bool:
    return abs(count - trials * share) <= sigmas * math.sqrt(trials * share * (1 - share))


def _wait_for(condition: Callable[[], bool], what: str, seconds: float = 30) -> None:
    deadline = time.monotonic() + seconds
    while not condition():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.02)


# -- routing ------------------------------------------------------------------------------------


def test_canary_weights_hold_over_2000_requests(folders: dict[str, Path]) -> None:
    runtime = DeploymentRuntime(_plan(("1", 90), ("2", 10)), _Loader(folders))
    with _serve(runtime) as server, httpx.Client() as client:
        versions: Counter[str] = Counter()
        for i in range(2000):
            response = _predict(client, server.url, i)
            assert response.status_code == 200, response.text
            version = response.headers["X-Model-Version"]
            assert response.json()["version"] == version
            versions[version] += 1
        assert set(versions) == {"1", "2"}
        assert _within_binomial(versions["2"], 2000, 0.10), versions
        stats = server.stats()
        assert stats["versions"]["1"]["requests"] == versions["1"]
        assert stats["versions"]["2"]["requests"] == versions["2"]


def test_every_protocol_is_routed_and_says_its_version(folders: dict[str, Path]) -> None:
    runtime = DeploymentRuntime(_plan(("1", 50), ("2", 50)), _Loader(folders))
    frame = ROWS.head(2)
    oip = {
        "inputs": [
            {"name": str(c), "shape": [2], "datatype": "FP64", "data": frame[c].tolist()}
            for c in frame.columns
        ]
    }
    split = {"dataframe_split": {"columns": list(frame.columns), "data": frame.values.tolist()}}
    with _serve(runtime) as server, httpx.Client() as client:
        seen: dict[str, set[str]] = {"oip": set(), "mlflow": set()}
        for _ in range(40):
            answer = client.post(f"{server.url}/v2/models/iris/infer", json=oip, timeout=30)
            assert answer.status_code == 200
            assert answer.json()["model_version"] == answer.headers["X-Model-Version"]
            seen["oip"].add(answer.headers["X-Model-Version"])
            answer = client.post(f"{server.url}/invocations", json=split, timeout=30)
            assert answer.status_code == 200
            seen["mlflow"].add(answer.headers["X-Model-Version"])
        assert seen == {"oip": {"1", "2"}, "mlflow": {"1", "2"}}
        # A URL naming a version goes to that version.
        for version in ("1", "2"):
            url = f"{server.url}/v2/models/iris/versions/{version}/infer"
            answers = [client.post(url, json=oip, timeout=30) for _ in range(10)]
            assert {a.headers["X-Model-Version"] for a in answers} == {version}
            assert {a.json()["model_version"] for a in answers} == {version}


def test_an_unknown_version_or_model_is_404_with_the_error_json(folders: dict[str, Path]) -> None:
    runtime = DeploymentRuntime(_plan(("1", 100)), _Loader(folders))
    oip = {"inputs": [{"name": "x", "shape": [1], "datatype": "FP64", "data": [1.0]}]}
    with _serve(runtime) as server, httpx.Client() as client:
        answer = client.post(f"{server.url}/v2/models/iris/versions/7/infer", json=oip)
        assert answer.status_code == 404
        assert answer.json() == {"error": "model 'iris' has no version '7' loaded here (loaded: 1)"}
        assert "X-Model-Version" not in answer.headers
        answer = client.post(f"{server.url}/v2/models/fraud/infer", json=oip)
        assert answer.status_code == 404
        assert "no model named 'fraud'" in answer.json()["error"]
        answer = client.post(f"{server.url}/v1/models/fraud/predict", json={"records": [{}]})
        assert answer.status_code == 404
        assert answer.json()["error"]["code"] == "not_found"
        stats = server.stats()
        assert stats["versions"]["1"]["requests"] == 0  # nothing was routed


def test_sticky_keys_stay_on_one_version(folders: dict[str, Path]) -> None:
    plan = _plan(("1", 70), ("2", 30), sticky_header="X-Routing-Key")
    runtime = DeploymentRuntime(plan, _Loader(folders))
    router = Router(plan)
    with _serve(runtime) as server, httpx.Client() as client:
        chosen: dict[str, set[str]] = {}
        for round_ in range(3):
            for k in range(60):
                key = f"customer-{k}"
                response = _predict(client, server.url, k + round_, **{"X-Routing-Key": key})
                assert response.status_code == 200
                chosen.setdefault(key, set()).add(response.headers["X-Model-Version"])
        assert all(len(versions) == 1 for versions in chosen.values()), chosen
        assert {key: router.choose(key) for key in chosen} == {
            key: next(iter(versions)) for key, versions in chosen.items()
        }
        assert {next(iter(v)) for v in chosen.values()} == {"1", "2"}
        # Raising the canary moves keys onto it only.
        server.run(
            runtime.apply(_plan(("1", 40), ("2", 60), revision=2, sticky_header="X-Routing-Key"))
        )
        for k in range(60):
            key = f"customer-{k}"
            version = _predict(client, server.url, k, **{"X-Routing-Key": key}).headers[
                "X-Model-Version"
            ]
            if chosen[key] == {"2"}:
                assert version == "2"


# -- switching and rollback ---------------------------------------------------------------------


def test_a_rollback_takes_effect_for_the_very_next_request(folders: dict[str, Path]) -> None:
    loader = _Loader(folders)
    plan = _plan(("1", 50), ("2", 50), revision=4)
    runtime = DeploymentRuntime(plan, loader)
    with _serve(runtime) as server, httpx.Client() as client:
        assert {_predict(client, server.url, i).headers["X-Model-Version"] for i in range(40)} == {
            "1",
            "2",
        }
        server.run(runtime.apply(plan.rolled_back()))
        versions = [_predict(client, server.url, i).headers["X-Model-Version"] for i in range(60)]
        assert set(versions) == {"1"}
        assert runtime.plan.revision == 5
        # The old revision again: ignored.
        server.run(runtime.apply(plan))
        assert runtime.plan.revision == 5
        assert {_predict(client, server.url, i).headers["X-Model-Version"] for i in range(20)} == {
            "1"
        }
        stats = server.stats()
        assert stats["versions"]["2"]["loaded"] is False
        assert stats["versions"]["2"]["role"] == "retired"
        assert stats["revision"] == 5
        assert sorted(loader.loads) == ["1", "2"]  # nothing was loaded twice


def test_a_switch_to_a_new_version_under_load_fails_no_request(folders: dict[str, Path]) -> None:
    loader = _Loader(folders)
    runtime = DeploymentRuntime(_plan(("1", 100)), loader)
    with _serve(runtime) as server:
        results: list[tuple[float, int, str]] = []
        lock = threading.Lock()
        stop = threading.Event()

        def hammer(seed: int) -> None:
            with httpx.Client() as client:
                i = seed
                while not stop.is_set():
                    started = time.monotonic()
                    response = _predict(client, server.url, i)
                    with lock:
                        results.append(
                            (started, response.status_code, response.headers["X-Model-Version"])
                        )
                    i += 1

        threads = [threading.Thread(target=hammer, args=(s,)) for s in range(4)]
        for thread in threads:
            thread.start()
        try:
            _wait_for(lambda: len(results) >= 50, "requests before the switch")
            gate = loader.gate("2")
            switched = asyncio.run_coroutine_threadsafe(
                runtime.apply(_plan(("2", 100), stable="2", revision=2)), server.loop
            )
            assert loader.entered["2"].wait(timeout=30)
            during = len(results)
            _wait_for(lambda: len(results) >= during + 50, "requests while version 2 loads")
            gate.set()
            switched.result(timeout=60)
            after = time.monotonic()
            _wait_for(lambda: sum(1 for r in results if r[2] == "2") >= 100, "answers of version 2")
        finally:
            stop.set()
            for thread in threads:
                thread.join(timeout=60)
        assert {status for _, status, _ in results} == {200}
        assert {version for started, _, version in results if started > after} == {"2"}
        assert sum(1 for r in results if r[2] == "1") >= 100
        _wait_for(lambda: not server.stats()["versions"]["1"]["loaded"], "version 1 released")


def test_a_plan_whose_version_fails_to_load_leaves_the_old_plan_serving(
    folders: dict[str, Path],
) -> None:
    loader = _Loader(folders)
    plan = _plan(("1", 100))
    runtime = DeploymentRuntime(plan, loader)
    with _serve(runtime) as server, httpx.Client() as client:
        with pytest.raises(StewardError, match="version 404 of iris could not be loaded") as err:
            server.run(runtime.apply(_plan(("1", 50), ("404", 50), revision=2)))
        assert "FileNotFoundError" in err.value.message
        assert err.value.details == {"model": "iris", "version": "404"}
        assert runtime.plan is plan
        assert {_predict(client, server.url, i).headers["X-Model-Version"] for i in range(20)} == {
            "1"
        }
        assert set(server.stats()["versions"]) == {"1"}
        with pytest.raises(InvalidArgument, match="serves 'iris'; a plan for 'fraud'"):
            server.run(runtime.apply(RoutingPlan("fraud", 9, "1", (Route("1", 100),))))
        with pytest.raises(InvalidArgument, match="apply needs a RoutingPlan"):
            server.run(runtime.apply({"model": "iris"}))  # type: ignore[arg-type]
        assert runtime.plan is plan


def test_a_failing_canary_is_rolled_back_automatically(folders: dict[str, Path]) -> None:
    told: list[tuple[RoutingPlan, str, str]] = []
    called = threading.Event()

    def on_auto_rollback(new_plan: RoutingPlan, reason: str) -> None:
        told.append((new_plan, reason, threading.current_thread().name))
        called.set()

    rule = AutoRollbackRule(max_error_rate=0.2, min_requests=20, window_seconds=60)
    plan = _plan(("1", 50), ("9", 50), revision=3, auto_rollback=rule)
    runtime = DeploymentRuntime(plan, _Loader(folders), on_auto_rollback=on_auto_rollback)
    main_thread = threading.current_thread().name
    with _serve(runtime, metrics=ServingMetrics()) as server, httpx.Client() as client:
        statuses: Counter[tuple[str, int]] = Counter()
        for i in range(400):
            response = _predict(client, server.url, i)
            statuses[response.headers["X-Model-Version"], response.status_code] += 1
            if runtime.plan.revision != 3:
                break
        # The 20th failure of the canary rolled it back, before its answer was complete.
        assert statuses[("9", 500)] == 20
        assert set(statuses) == {("1", 200), ("9", 500)}
        after = [_predict(client, server.url, i) for i in range(50)]
        assert {(r.headers["X-Model-Version"], r.status_code) for r in after} == {("1", 200)}
        assert called.wait(timeout=30)
        ((new_plan, reason, thread),) = told
        assert new_plan == plan.rolled_back()
        assert new_plan.revision == 4
        assert runtime.plan == new_plan
        assert "canary version 9: 20 of 20 requests failed" in reason
        assert "over the limit of 20.0%" in reason
        assert thread != main_thread
        stats = server.stats()
        (event,) = stats["auto_rollbacks"]
        assert event["reason"] == reason
        assert (event["version"], event["revision"], event["new_revision"]) == ("9", 3, 4)
        assert stats["versions"]["9"]["errors_total"] == 20
        assert stats["versions"]["9"]["loaded"] is False
        metrics = httpx.get(f"{server.url}/metrics").text
        assert 'mlsteward_deployment_auto_rollbacks_total{model="iris",version="9"} 1.0' in metrics
        assert (
            'mlsteward_deployment_requests_total{model="iris",status="500",version="9"} 20.0'
            in metrics
        )
        assert 'mlsteward_model_load_seconds{model="iris",version="1"}' in metrics
        assert 'mlsteward_model_load_seconds{model="iris",version="9"}' not in metrics


def test_a_plan_overtaken_by_an_automatic_rollback_while_loading_is_dropped(
    folders: dict[str, Path],
) -> None:
    loader = _Loader(folders)
    rule = AutoRollbackRule(max_error_rate=0.0, min_requests=3)
    plan = _plan(("1", 0), ("9", 100), auto_rollback=rule)
    runtime = DeploymentRuntime(plan, loader)
    with _serve(runtime) as server, httpx.Client() as client:
        gate = loader.gate("2")
        pending = asyncio.run_coroutine_threadsafe(
            runtime.apply(_plan(("9", 50), ("2", 50), revision=2)), server.loop
        )
        assert loader.entered["2"].wait(timeout=30)
        assert [_predict(client, server.url, i).status_code for i in range(3)] == [500] * 3
        assert runtime.plan == plan.rolled_back()  # revision 2 too
        gate.set()
        pending.result(timeout=60)
        assert runtime.plan == plan.rolled_back()
        assert {_predict(client, server.url, i).headers["X-Model-Version"] for i in range(10)} == {
            "1"
        }
        assert set(server.stats()["versions"]) == {"1", "9"}  # 2 was released unused
        assert loader.loads.count("2") == 1


def test_a_failing_rollback_callback_is_logged_and_serving_goes_on(
    folders: dict[str, Path], caplog: pytest.LogCaptureFixture
) -> None:
    def broken(new_plan: RoutingPlan, reason: str) -> None:
        raise ConnectionError("the platform is down")

    rule = AutoRollbackRule(max_error_rate=0.0, min_requests=5)
    plan = _plan(("1", 0), ("9", 100), auto_rollback=rule)
    runtime = DeploymentRuntime(plan, _Loader(folders), on_auto_rollback=broken)
    with _serve(runtime) as server, httpx.Client() as client:
        codes = [_predict(client, server.url, i).status_code for i in range(5)]
        assert codes == [500] * 5
        assert runtime.plan.routes == (Route("1", 100),)
        _wait_for(
            lambda: any("recording the automatic rollback" in r.message for r in caplog.records),
            "the callback's failure in the log",
        )
        assert [_predict(client, server.url, i).status_code for i in range(10)] == [200] * 10


def test_a_slow_canary_is_rolled_back_on_its_p99(folders: dict[str, Path]) -> None:
    loader = _Loader(folders)
    gates: list[_Gate] = []

    def gated(inner: Any) -> Any:
        gates.append(_Gate(inner))
        gates[-1].open.set()  # open for the warm-up; closed below
        return gates[-1]

    loader.wrap["2"] = gated
    rule = AutoRollbackRule(max_error_rate=1.0, max_p99_ms=150.0, min_requests=3)
    plan = _plan(("1", 0), ("2", 100), auto_rollback=rule)
    runtime = DeploymentRuntime(plan, loader)
    with _serve(runtime) as server, httpx.Client() as client:
        (gate,) = gates
        gate.open.clear()
        for _ in range(3):  # each request waits past the limit
            opener = threading.Timer(0.3, gate.open.set)
            opener.start()
            assert _predict(client, server.url).headers["X-Model-Version"] == "2"
            gate.open.clear()
        gate.open.set()
        assert runtime.plan.routes == (Route("1", 100),)
        (event,) = server.stats()["auto_rollbacks"]
        assert "p99 latency" in event["reason"]
        assert "over the limit of 150 ms" in event["reason"]


# -- shadow -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("shadow", "disagreeing"), [("1b", False), ("0", True)], ids=["identical", "different"]
)
def test_shadow_disagreements_are_counted(
    folders: dict[str, Path], shadow: str, disagreeing: bool
) -> None:
    runtime = DeploymentRuntime(_plan(("1", 100), shadow=shadow), _Loader(folders))
    with _serve(runtime, metrics=ServingMetrics()) as server, httpx.Client() as client:
        # Rows 60 to 89 are classes 1 and 2: the constant model disagrees on each.
        for i in range(60, 90):
            response = _predict(client, server.url, i)
            assert response.headers["X-Model-Version"] == "1"
        _wait_for(lambda: server.stats()["shadow"]["requests"] == 30, "30 shadow comparisons")
        stats = server.stats()["shadow"]
        assert stats["version"] == shadow
        assert stats["disagreements"] == (30 if disagreeing else 0)
        assert stats["dropped"] == 0
        assert stats["errors"] == 0
        outcome = "disagree" if disagreeing else "agree"
        metrics = httpx.get(f"{server.url}/metrics").text
        line = (
            f'mlsteward_deployment_shadow_requests_total{{model="iris",outcome="{outcome}",'
            f'version="{shadow}"}} 30.0'
        )
        assert line in metrics
        # A request naming its version is not mirrored.
        url = f"{server.url}/v2/models/iris/versions/1/infer"
        frame = ROWS.head(1)
        inputs = [
            {"name": str(c), "shape": [1], "datatype": "FP64", "data": frame[c].tolist()}
            for c in frame.columns
        ]
        assert client.post(url, json={"inputs": inputs}).status_code == 200
        assert server.stats()["shadow"]["requests"] == 30


def test_a_slow_shadow_never_delays_answers(folders: dict[str, Path]) -> None:
    loader = _Loader(folders)
    gates: list[_Gate] = []

    def gated(inner: Any) -> Any:
        gates.append(_Gate(inner))
        gates[-1].open.set()
        return gates[-1]

    loader.wrap["2"] = gated
    runtime = DeploymentRuntime(_plan(("1", 100), shadow="2"), loader, max_shadow_in_flight=4)
    with _serve(runtime) as server, httpx.Client() as client:
        (gate,) = gates
        gate.open.clear()  # the shadow blocks until the end of the test
        try:
            for i in range(30):
                # An answer waiting for the shadow would time out here.
                response = _predict(client, server.url, i)
                assert response.status_code == 200
                assert response.headers["X-Model-Version"] == "1"
            stats = server.stats()["shadow"]
            assert stats["dropped"] == 26
            assert stats["requests"] == 0
        finally:
            gate.open.set()
        _wait_for(lambda: server.stats()["shadow"]["requests"] == 4, "the 4 shadow requests")


# -- statistics, polling and bad input ----------------------------------------------------------


def test_deployment_stats_describe_every_version(folders: dict[str, Path]) -> None:
    rule = AutoRollbackRule(max_error_rate=0.5, min_requests=1000, window_seconds=30)
    plan = _plan(("1", 80), ("2", 20), ("1b", 0), shadow="0", auto_rollback=rule)
    runtime = DeploymentRuntime(plan, _Loader(folders))
    with _serve(runtime) as server, httpx.Client() as client:
        for i in range(50):
            _predict(client, server.url, i)
        client.post(f"{server.url}/v1/models/iris/predict", json={"records": [{"x": 1}]})
        stats = server.stats()
        assert stats["model"] == "iris"
        assert stats["revision"] == 1
        assert stats["ready"] is True
        assert stats["plan"] == plan.to_json()
        assert stats["window_seconds"] == 30
        assert set(stats["versions"]) == {"0", "1", "1b", "2"}
        roles = {v: s["role"] for v, s in stats["versions"].items()}
        assert roles == {"0": "shadow", "1": "stable", "1b": "standby", "2": "canary"}
        assert {v: s["weight"] for v, s in stats["versions"].items()} == {
            "0": 0,
            "1": 80,
            "1b": 0,
            "2": 20,
        }
        routed = stats["versions"]["1"]["requests"] + stats["versions"]["2"]["requests"]
        assert routed == 51
        one = stats["versions"]["1"]
        assert one["errors"] == 0  # the bad request was a 400: the caller's error
        assert 0 < one["p50_ms"] <= one["p99_ms"]
        assert one["requests_total"] == one["requests"]
        series = stats["series"]
        assert series["step_seconds"] == 1
        assert len(series["versions"]["1"]["requests"]) == 300
        assert sum(series["versions"]["1"]["requests"]) == one["requests"]
        # the requests may have ended a second ago: some second of the series has a p99
        assert any(p is not None for p in series["versions"]["1"]["p99_ms"]) or not one["requests"]
        assert series["start"] <= time.time() < series["start"] + 301
        assert stats["shadow"]["version"] == "0"
        assert stats["auto_rollbacks"] == []
        assert httpx.post(f"{server.url}/deployment").status_code == 405


def test_plans_from_the_source_are_applied(folders: dict[str, Path]) -> None:
    plans: list[RoutingPlan | Exception | None] = [None]
    polls: list[int] = []

    def source() -> RoutingPlan | None:
        polls.append(1)
        current = plans[-1]
        if isinstance(current, Exception):
            raise current
        return current

    runtime = DeploymentRuntime(_plan(("1", 100), revision=5), _Loader(folders))
    with _serve(runtime, plan_source=source, poll_seconds=0.01) as server, httpx.Client() as c:
        plans.append(RuntimeError("the platform is unreachable"))
        seen = len(polls)
        _wait_for(lambda: len(polls) > seen + 3, "polls after a failing one")
        plans.append(_plan(("2", 100), stable="2", revision=4))  # older: ignored
        seen = len(polls)
        _wait_for(lambda: len(polls) > seen + 3, "more polls")
        assert runtime.plan.revision == 5
        plans.append(_plan(("2", 100), stable="2", revision=6))
        _wait_for(lambda: runtime.plan.revision == 6, "the new plan")
        assert {_predict(c, server.url, i).headers["X-Model-Version"] for i in range(10)} == {"2"}


def test_bad_options_are_refused(folders: dict[str, Path]) -> None:
    loader = _Loader(folders)
    runtime = DeploymentRuntime(_plan(("1", 100)), loader)
    with pytest.raises(InvalidArgument, match="poll_seconds must be over 0"):
        create_deployment_app(runtime, poll_seconds=0)
    with pytest.raises(InvalidArgument, match="unknown option 'workers'"):
        create_deployment_app(runtime, workers=2)
    with pytest.raises(InvalidArgument, match="needs a RoutingPlan"):
        DeploymentRuntime({"model": "iris"}, loader)  # type: ignore[arg-type]
    with pytest.raises(InvalidArgument, match="max_shadow_in_flight must be at least 1"):
        DeploymentRuntime(_plan(("1", 100)), loader, max_shadow_in_flight=0)
    with pytest.raises(InvalidArgument, match="come from its plan"):
        runtime.repository.add(ServedModel("iris", "3", load_model_dir(folders["1"]), "x"))
    assert loader.loads == []  # nothing was loaded
    assert runtime.plan.revision == 1


def test_a_plan_applied_before_start_is_the_one_loaded(folders: dict[str, Path]) -> None:
    loader = _Loader(folders)
    runtime = DeploymentRuntime(_plan(("1", 100)), loader)
    asyncio.run(runtime.apply(_plan(("2", 100), stable="2", revision=2)))
    assert loader.loads == []
    with _serve(runtime) as server, httpx.Client() as client:
        assert loader.loads == ["2"]
        assert _predict(client, server.url).headers["X-Model-Version"] == "2"


def test_the_shadow_sees_the_same_frame(folders: dict[str, Path]) -> None:
    seen: list[pd.DataFrame] = []

    class _Spy:
        def __init__(self, inner: Any) -> None:
            self.inner = inner

        def predict(self, data: Any) -> Any:
            seen.append(data)
            return self.inner.predict(data)

    loader = _Loader(folders)
    loader.wrap["1b"] = _Spy
    runtime = DeploymentRuntime(_plan(("1", 100), shadow="1b"), loader)
    with _serve(runtime) as server, httpx.Client() as client:
        seen.clear()  # the warm-up
        _predict(client, server.url, 120)
        _wait_for(lambda: len(seen) == 1, "the shadow's prediction")
        assert seen[0].iloc[0].tolist() == list(_record(120).values())


_SERVER_SCRIPT = """
import sys
from pathlib import Path

from mlsteward.models._model_dir import load_model_dir
from mlsteward.serving import Route, RoutingPlan, ServedModel
from mlsteward.serving._deployment import DeploymentRuntime
from mlsteward.serving._run import check_protection, run_deployment_server

root, port, keys = Path(sys.argv[1]), int(sys.argv[2]), Path(sys.argv[3])
plan = RoutingPlan("iris", 1, "1", (Route("1", 100),))
runtime = DeploymentRuntime(
    plan, lambda v: ServedModel("iris", v, load_model_dir(root / v), "sklearn")
)
protection = check_protection(
    host="127.0.0.1", api_key_file=keys, tls_certfile=None, tls_keyfile=None,
    rate_limit=None, burst=None, redis_url=None,
)
run_deployment_server(
    runtime, host="127.0.0.1", port=port, protection=protection,
    plan_source=lambda: RoutingPlan("iris", 2, "1", (Route("1", 50), Route("2", 50))),
    log_level="warning",
)
"""


def test_run_deployment_server_serves_guarded_and_stops_on_sigterm(
    folders: dict[str, Path], tmp_path: Path
) -> None:
    import signal
    import subprocess
    import sys

    key = "k" * 32
    keys = tmp_path / "keys.txt"
    keys.write_text(f"{key}\n")
    port = _free_port()
    root = folders["1"].parent
    log = tmp_path / "server.log"
    with log.open("wb") as output:
        process = subprocess.Popen(
            [sys.executable, "-c", _SERVER_SCRIPT, str(root), str(port), str(keys)],
            stdout=output,
            stderr=subprocess.STDOUT,
        )
    url = f"http://127.0.0.1:{port}"
    auth = {"Authorization": f"Bearer {key}"}
    try:
        _wait_for(
            lambda: _ready(url) or process.poll() is not None, "the server to start", seconds=90
        )
        assert process.poll() is None, log.read_text()
        assert httpx.get(f"{url}/deployment").status_code == 401
        _wait_for(
            lambda: httpx.get(f"{url}/deployment", headers=auth).json()["revision"] == 2,
            "the polled plan",
        )
        with httpx.Client(headers=auth) as client:
            versions = {_predict(client, url, i).headers["X-Model-Version"] for i in range(60)}
        assert versions == {"1", "2"}
        metrics = httpx.get(f"{url}/metrics", headers=auth).text
        assert 'mlsteward_deployment_requests_total{model="iris",status="200",version="2"}' in (
            metrics
        )
        process.send_signal(signal.SIGTERM)
        # uvicorn finishes the requests in flight, then re-raises the signal it caught.
        assert process.wait(timeout=60) == -signal.SIGTERM, log.read_text()
        assert "Traceback" not in log.read_text()
    finally:
        if process.poll() is None:
            process.kill()
            process.wait(timeout=30)


def _ready(url: str) -> bool:
    try:
        return httpx.get(f"{url}/v2/health/ready", timeout=2).status_code == 200
    except httpx.TransportError:
        return False


def test_routed_predictions_are_logged_under_the_version_that_answered(
    folders: dict[str, Path], tmp_path: Path
) -> None:
    import pyarrow.parquet as pq

    from mlsteward.serving._prediction_log import PredictionLogger
    from mlsteward.serving._prediction_sinks import FolderSink

    logger = PredictionLogger(FolderSink(tmp_path), window_seconds=3600, sample_rate=1.0)
    runtime = DeploymentRuntime(_plan(("1", 50), ("2", 50)), _Loader(folders))
    answered: Counter[str] = Counter()
    with _serve(runtime, prediction_logger=logger) as server, httpx.Client() as client:
        for i in range(40):
            response = _predict(client, server.url, i)
            assert response.status_code == 200, response.text
            answered[response.headers["X-Model-Version"]] += 1
        first_id = response.json()["predictions"][0]["id"]
        feedback = client.post(
            f"{server.url}/v1/models/iris/feedback",
            json={"labels": [{"prediction_id": first_id, "label": 1}]},
            timeout=30,
        )
        assert feedback.status_code == 202, feedback.text
    # Shipped on shutdown: one window per version that answered, holding its own rows.
    logged: Counter[str] = Counter()
    labels = 0
    for manifest in tmp_path.glob("iris/*/*/window.json"):
        window = json.loads(manifest.read_text())
        logged[manifest.parent.parent.name] += window["rows"]
        labels += window["feedback_labels"]
        if window["rows"]:
            rows = pq.read_table(manifest.parent / "rows.parquet").to_pandas()
            assert len(rows) == window["rows"]
    assert set(answered) == {"1", "2"}
    assert logged == answered
    assert labels == 1
