"""Autologging for scikit-learn: a fit records params, training metrics, the model with its
signature and a training-data reference; nested fits are not logged twice; disable restores."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest
from sklearn.datasets import load_diabetes, load_iris
from sklearn.linear_model import LinearRegression, LogisticRegression
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

import mlsteward
from mlsteward import Client
from mlsteward.models._autolog import data_reference
from mlsteward.settings import Settings
from mlsteward.tracking import _fluent


@pytest.fixture
def client(settings: Settings) -> Iterator[Client]:
    client = Client(settings)
    _fluent.set_default_client(client)
    mlsteward.autolog(experiment="auto")
    yield client
    mlsteward.autolog(disable=True)
    _fluent.set_default_client(None)
    client.close()


def only_run(client: Client) -> Any:
    [run] = client.search_runs("default").runs
    return client.get_run(run.id)


def test_a_fit_is_recorded(client: Client) -> None:
    frame = load_iris(as_frame=True).frame
    x, y = frame.drop(columns="target"), frame["target"]
    model = LogisticRegression(max_iter=300).fit(x, y)
    run = only_run(client)
    assert run.status.value == "FINISHED"
    assert run.params["max_iter"] == "300"
    assert 0.9 < run.metrics["training_accuracy"] <= 1.0
    reference = json.loads(run.tags["mlsteward.training_data"])
    assert reference["shape"] == [150, 4]
    assert reference["columns"] == list(x.columns)
    assert reference["fingerprint"] == data_reference(x)["fingerprint"]
    assert run.tags["mlsteward.estimator"].endswith("LogisticRegression")
    files = {a.path for a in client.list_artifacts(run.id, "model")}
    assert {"model/mlsteward.yaml", "model/model.skops", "model/input_example.json"} <= files
    assert model.predict(x).shape == (150,)


def test_a_registered_autologged_model_references_its_training_data(
    client: Client, settings: Settings
) -> None:
    from mlsteward.platform import Platform
    from mlsteward.registry._from_run import register_model_from_run
    from mlsteward.security import SYSTEM

    x, y = load_iris(return_X_y=True)
    LogisticRegression(max_iter=300).fit(x, y)
    run = only_run(client)
    platform = Platform.open(settings)
    try:
        version = register_model_from_run(platform, SYSTEM, f"runs:/{run.id}/model", "iris")
    finally:
        platform.close()
    [reference] = version.datasets
    assert reference["shape"] == [150, 4]
    assert reference["fingerprint"] == data_reference(x)["fingerprint"]


def test_a_pipeline_is_logged_once_and_inside_an_active_run(client: Client) -> None:
    x, y = load_diabetes(return_X_y=True)
    with mlsteward.start_run("default", "mine") as run:
        make_pipeline(StandardScaler(), LinearRegression()).fit(x, y)
    [found] = client.search_runs("default").runs
    assert found.id == run.id
    assert "training_r2" in found.metrics
    assert found.params["memory"] == "None"  # the pipeline's own parameters, not its steps'


def test_disable_restores_fit(client: Client) -> None:
    mlsteward.autolog(disable=True)
    LogisticRegression().fit([[0.0], [1.0]], [0, 1])
    assert client.search_runs("default").runs == []
    assert not hasattr(LogisticRegression.fit, "__mlsteward_autolog__")
