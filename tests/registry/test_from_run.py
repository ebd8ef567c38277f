"""A run logs a model; the registry registers it from the run's artifacts, scanning the files
itself; the version's files load back to the same predictions."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy
import pytest
from sklearn.datasets import load_iris
from sklearn.linear_model import LogisticRegression

from mlsteward import Client
from mlsteward.errors import InvalidArgument, NotFound
from mlsteward.models._model_dir import load_model_dir
from mlsteward.platform import Platform
from mlsteward.registry._from_run import parse_run_uri, register_model_from_run
from mlsteward.security import SYSTEM
from mlsteward.settings import Settings


@pytest.fixture(scope="module")
def iris() -> tuple[Any, Any]:
    frame = load_iris(as_frame=True).frame.drop(columns="target")
    return LogisticRegression(max_iter=500).fit(frame, load_iris().target), frame


def test_log_model_then_register_and_load_the_version(
    settings: Settings, platform: Platform, iris: tuple[Any, Any], tmp_path: Path
) -> None:
    model, frame = iris
    client = Client(settings)
    with client.start_run("default", "fraud") as run:
        run.log_metric("auc", 0.93)
        logged = run.log_model(model, input_example=frame.head(5))
    client.close()
    assert logged.uri == f"runs:/{run.id}/model"
    assert logged.metadata.signature is not None
    version = register_model_from_run(platform, SYSTEM, logged.uri, "fraud")
    assert (version.version, version.flavor, version.source_run_id) == (1, "sklearn", run.id)
    assert version.scan["status"] == "clean"
    assert version.metrics == {"auc": 0.93}
    assert version.signature == logged.metadata.signature.to_dict()
    paths = {f.path for f in version.files}
    assert {"mlsteward.yaml", "model.skops", "input_example.json"} <= paths
    folder = tmp_path / "v1"
    for file in version.files:
        (folder / file.path).parent.mkdir(parents=True, exist_ok=True)
        platform.blobs.get_file(file.address, folder / file.path)
    loaded = load_model_dir(folder)
    numpy.testing.assert_array_equal(loaded.predict(frame), model.predict(frame))


@pytest.mark.parametrize(
    "uri",
    [
        "",
        "runs:/",
        "runs:/abc/model",
        "models:/x/1",
        f"runs:/{'a' * 32}/../x",
        f"runs:/{'a' * 32}/",
    ],
)
def test_malformed_run_uris(uri: str) -> None:
    with pytest.raises(InvalidArgument):
        parse_run_uri(uri)


def test_a_run_without_that_model(settings: Settings, platform: Platform) -> None:
    client = Client(settings)
    with client.start_run("default", "e") as run:
        pass
    client.close()
    with pytest.raises(NotFound, match=r"log it with run\.log_model"):
        register_model_from_run(platform, SYSTEM, f"runs:/{run.id}/model", "fraud")
