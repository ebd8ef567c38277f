"""A real server with prediction logging, for the prediction-log and feedback tests."""

from __future__ import annotations

import contextlib
import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pandas as pd
import uvicorn

from mlsteward.models._model_dir import load_model_dir, save_model
from mlsteward.serving._app import create_app
from mlsteward.serving._core import ModelRepository, ServedModel
from mlsteward.serving._metrics import ObservabilityMiddleware, ServingMetrics
from mlsteward.serving._prediction_log import PredictionLogger


def iris_model(folder: Path) -> tuple[ServedModel, pd.DataFrame]:
    """A HistGradientBoosting classifier on iris served as ``iris`` version 1; the features."""
    from sklearn.datasets import load_iris
    from sklearn.ensemble import HistGradientBoostingClassifier

    x, y = load_iris(return_X_y=True, as_frame=True)
    model = HistGradientBoostingClassifier(max_iter=20, random_state=0).fit(x, y)
    save_model(model, folder, input_example=x.head(5))
    return ServedModel("iris", "1", load_model_dir(folder), "sklearn"), x


@contextlib.contextmanager
def running(app: Any, *, lifespan: str = "on") -> Iterator[str]:
    """``app`` under uvicorn on a free port; stopped (gracefully) when the block ends."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    config = uvicorn.Config(app, log_level="warning", lifespan=lifespan)
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not server.started:
        assert thread.is_alive(), "uvicorn stopped"
        assert time.monotonic() < deadline, "uvicorn did not start"
        time.sleep(0.01)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(60)
        sock.close()
    assert not thread.is_alive(), "the server did not stop"


def server_app(model: ServedModel, logger: PredictionLogger | None, metrics: ServingMetrics) -> Any:
    repository = ModelRepository([model])
    app = create_app(repository, metrics=metrics, prediction_logger=logger)
    return ObservabilityMiddleware(app, metrics=metrics, repository=repository)


def windows_in(folder: Path) -> list[Path]:
    return sorted(p.parent for p in folder.glob("*/*/*/window.json"))
