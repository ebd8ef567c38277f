"""Models through the client, in process and over HTTP alike: log with run.log_model and
register it, load it back by models:/ and runs:/ URIs, and trust decisions that are audited."""

from __future__ import annotations

import uuid
from typing import Any

import numpy
import pytest
from sklearn.datasets import load_iris
from sklearn.linear_model import LogisticRegression

from mlsteward.errors import InvalidArgument, NotFound, UnsafeModelFile
from mlsteward.models import TrustDecision
from mlsteward.security import SYSTEM, create_project, list_audit_events

from ..models.python_model_example import MeanModel
from .conftest import World


@pytest.fixture(scope="module")
def iris() -> tuple[Any, Any]:
    frame = load_iris(as_frame=True).frame.drop(columns="target")
    return LogisticRegression(max_iter=300).fit(frame, load_iris().target), frame


def test_log_register_and_load_by_uri(world: World, iris: tuple[Any, Any]) -> None:
    model, frame = iris
    client = world.admin()
    project = f"p{uuid.uuid4().hex[:8]}"
    create_project(world.platform, SYSTEM, project)
    with client.start_run(project, "fraud", environment=False) as run:
        run.log_metric("auc", 0.97)
        logged = run.log_model(model, input_example=frame.head(4), registered_model_name="fraud")
    assert logged.version is not None
    assert (logged.version.version, logged.version.scan["status"]) == (1, "clean")
    assert logged.version.metrics == {"auc": 0.97}
    by_version = client.load_model("models:/fraud/1", project=project)
    numpy.testing.assert_array_equal(by_version.predict(frame), model.predict(frame))
    by_run = client.load_model(logged.uri)
    numpy.testing.assert_array_equal(by_run.predict_proba(frame), model.predict_proba(frame))
    again = client.register_model(logged.uri, "fraud")
    assert again.version == 2
    with pytest.raises(NotFound):
        client.load_model("models:/fraud@production", project=project)
    with pytest.raises(InvalidArgument):
        client.load_model("s3://bucket/model")


def test_a_model_that_runs_code_loads_only_with_an_audited_trust_decision(world: World) -> None:
    client = world.admin()
    with client.start_run("default", "python-models", environment=False) as run:
        logged = run.log_model(MeanModel(4.0), init_kwargs={"value": 4.0})
    with pytest.raises(UnsafeModelFile):
        client.load_model(logged.uri)
    model = client.load_model(logged.uri, trust=TrustDecision("we wrote MeanModel"))
    assert model.predict(numpy.zeros((2, 1))).tolist() == [4.0, 4.0]
    [event] = list_audit_events(
        world.platform, SYSTEM, action="model.trust", target_id=logged.uri, limit=5
    )
    assert event.details["reason"] == "we wrote MeanModel"
    assert event.actor_name == "admin"


def test_the_fluent_load_model_uses_the_default_client(world: World, iris: tuple[Any, Any]) -> None:
    import mlsteward
    from mlsteward.tracking import _fluent

    model, frame = iris
    client = world.admin()
    with client.start_run("default", "fluent", environment=False) as run:
        logged = run.log_model(model)
    _fluent.set_default_client(client)
    try:
        loaded = mlsteward.load_model(logged.uri)
    finally:
        _fluent.set_default_client(None)
    numpy.testing.assert_array_equal(loaded.predict(frame), model.predict(frame))
