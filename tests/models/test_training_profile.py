"""The training data's profile saved with a model: written by ``save_model(training_data=)``,
carried by run artifacts and registered versions, read back (or refused when malformed)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

from mlsteward.errors import InvalidArgument
from mlsteward.models._model_dir import load_model_dir, read_metadata, save_model
from mlsteward.models._training_profile import TRAINING_PROFILE_FILE, read_training_profile
from mlsteward.profiles import profile_frame
from mlsteward.settings import Settings


@pytest.fixture(scope="module")
def fitted() -> tuple[Any, pd.DataFrame]:
    from sklearn.linear_model import LinearRegression

    rng = np.random.default_rng(3)
    x = pd.DataFrame({"a": rng.uniform(0, 1, 50), "b": rng.uniform(10, 20, 50)})
    return LinearRegression().fit(x, x["a"] + x["b"]), x


def test_the_profile_is_saved_beside_the_model(
    fitted: tuple[Any, pd.DataFrame], tmp_path: Path
) -> None:
    model, x = fitted
    save_model(model, tmp_path / "m", input_example=x.head(2), training_data=x)
    profile = read_training_profile(tmp_path / "m")
    assert profile is not None
    assert profile.row_count == 50
    assert profile.columns["b"].min == x["b"].min()
    assert profile.columns["b"].max == x["b"].max()
    stored = json.loads((tmp_path / "m" / TRAINING_PROFILE_FILE).read_text())
    assert stored["type"] == "mlsteward.dataset_profile"
    assert "schema_version" in stored


def test_a_given_profile_is_stored_as_is(fitted: tuple[Any, pd.DataFrame], tmp_path: Path) -> None:
    model, x = fitted
    save_model(model, tmp_path / "m", training_data=profile_frame(x.head(10)))
    profile = read_training_profile(tmp_path / "m")
    assert profile is not None
    assert profile.row_count == 10


def test_a_model_saved_without_training_data_has_no_profile(
    fitted: tuple[Any, pd.DataFrame], tmp_path: Path
) -> None:
    model, _ = fitted
    save_model(model, tmp_path / "m")
    assert read_training_profile(tmp_path / "m") is None


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (pd.DataFrame({"a": []}), "training_data has no rows"),
        ([1, 2, 3], "profile_frame takes"),
    ],
    ids=["empty", "not-a-table"],
)
def test_bad_training_data_is_refused_before_anything_is_written(
    fitted: tuple[Any, pd.DataFrame], tmp_path: Path, data: Any, message: str
) -> None:
    model, _ = fitted
    with pytest.raises(InvalidArgument, match=message):
        save_model(model, tmp_path / "m", training_data=data)
    assert not (tmp_path / "m").exists()


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (b"{not json", "is not valid JSON"),
        (b'{"type": "something.else"}', "expected type 'mlsteward.dataset_profile'"),
        (b"[]", "must be a mapping"),
    ],
    ids=["not-json", "wrong-type", "not-a-mapping"],
)
def test_a_malformed_profile_file_is_an_invalid_argument(
    fitted: tuple[Any, pd.DataFrame], tmp_path: Path, content: bytes, message: str
) -> None:
    model, _ = fitted
    save_model(model, tmp_path / "m")
    (tmp_path / "m" / TRAINING_PROFILE_FILE).write_bytes(content)
    with pytest.raises(InvalidArgument, match=message):
        read_training_profile(tmp_path / "m")


def test_a_logged_and_registered_model_carries_its_profile(
    fitted: tuple[Any, pd.DataFrame], settings: Settings
) -> None:
    from mlsteward.client import Client

    model, x = fitted
    with Client(settings) as client:
        with client.start_run(environment=False) as run:
            run.log_model(model, training_data=x, registered_model_name="sum")
        loaded = client.load_model("models:/sum/1")
    assert read_metadata(loaded.folder).flavor == "sklearn"
    profile = read_training_profile(loaded.folder)
    assert profile is not None
    assert profile.row_count == 50
    assert load_model_dir(loaded.folder).predict(x.head(1)).shape == (1,)
