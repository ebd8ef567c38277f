"""What a deployment's options make of its server: the input-range check of each version, the
columns its prediction log masks (the PII of every version's training data) and where the log
goes."""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

import pytest

from mlsteward.deployments import Deployment, InputRangesMode, create_deployment
from mlsteward.deployments._server_options import (
    check_masked,
    masked_columns,
    prediction_log_options,
    with_input_ranges,
)
from mlsteward.errors import ConfigurationError, SignatureViolation
from mlsteward.platform import Platform
from mlsteward.security import SYSTEM
from mlsteward.serving import ServedModel
from mlsteward.serving._prediction_sinks import PlatformSink

from ..data._lineage_rows import add_dataset, new_run, register_from, set_detected_class
from ..serving._support import iris_frame


def _served(folder: Path, *, profiled: bool) -> ServedModel:
    from sklearn.ensemble import HistGradientBoostingClassifier

    from mlsteward.models._model_dir import load_model_dir, save_model

    x, y = iris_frame()
    model = HistGradientBoostingClassifier(max_iter=5, random_state=0).fit(x, y)
    save_model(model, folder, input_example=x.head(3), training_data=x if profiled else None)
    return ServedModel("iris", "1", load_model_dir(folder), "sklearn")


def _deployment(platform: Platform, **options: Any) -> Deployment:
    register_from(platform, None, name="iris")
    return create_deployment(platform, SYSTEM, "default", "api", "models:/iris/1", **options)


def test_reject_checks_inputs_against_the_training_ranges_widened_by_the_tolerance(
    platform: Platform, tmp_path: Path
) -> None:
    deployment = _deployment(platform, range_tolerance=1.0)
    served = with_input_ranges(_served(tmp_path / "m", profiled=True), deployment)
    assert served.input_ranges is not None
    assert served.input_ranges.tolerance == 1.0
    x, _ = iris_frame()
    column = "sepal length (cm)"  # trained on 4.3..7.9: a span of 3.6, so 0.7..11.5 passes
    served.input_ranges.check(x.head(2).assign(**{column: [11.0, 1.0]}))
    with pytest.raises(SignatureViolation) as raised:
        served.input_ranges.check(x.head(2).assign(**{column: [5.0, 12.0]}))
    assert f"column {column!r}, row 1: 12.0 is outside the range" in raised.value.message


def test_off_or_a_version_without_a_profile_checks_nothing(
    platform: Platform, tmp_path: Path
) -> None:
    deployment = _deployment(platform, input_ranges="off")
    assert deployment.input_ranges is InputRangesMode.OFF
    profiled = _served(tmp_path / "p", profiled=True)
    assert with_input_ranges(profiled, deployment) is profiled
    rejecting = dataclasses.replace(deployment, input_ranges=InputRangesMode.REJECT)
    bare = _served(tmp_path / "b", profiled=False)
    assert with_input_ranges(bare, rejecting).input_ranges is None


def _version_trained_on(platform: Platform, dataset: str, pii: dict[str, str]) -> int:
    (dataset_version,) = add_dataset(platform, dataset, columns=[*pii, "amount"])
    for column, pii_class in pii.items():
        set_detected_class(platform, dataset, column, pii_class)
    run_id = new_run(platform)
    version = register_from(platform, run_id, datasets=[{"dataset_version_id": dataset_version}])
    return version.version


def test_the_log_masks_the_pii_of_every_registered_versions_training_data(
    platform: Platform,
) -> None:
    _version_trained_on(platform, "first", {"email": "email", "card": "payment_card"})
    _version_trained_on(platform, "second", {"email": "email", "card": "iban"})
    register_from(platform, None)  # version 3: no known training data
    deployment = create_deployment(platform, SYSTEM, "default", "api", "models:/fraud/3")
    masked = masked_columns(platform, deployment)
    # The classes agree on 'email'; on 'card' they do not, so it is masked completely.
    assert masked == {"email": "email", "card": None}
    for version in ("1", "2", "3"):
        check_masked(platform, deployment, version, masked)

    later = _version_trained_on(platform, "third", {"phone": "phone", "email": "email"})
    with pytest.raises(ConfigurationError) as raised:
        check_masked(platform, deployment, str(later), masked)
    assert raised.value.message.startswith(
        f"version {later} of fraud was trained on PII columns ('phone') that the prediction "
        "log of this server does not mask"
    )
    assert "`mlsteward deploy stop api`, then `mlsteward deploy start api`" in raised.value.message
    assert masked_columns(platform, deployment)["phone"] == "phone"  # after a restart


def test_the_log_ships_to_the_platform_as_the_system_actor_naming_the_deployment(
    platform: Platform,
) -> None:
    deployment = _deployment(platform, log_window=2.5, log_sample_rate=0.5)
    options = prediction_log_options(platform, deployment, {"email": "email"})
    assert (options.window_seconds, options.sample_rate) == (2.5, 0.5)
    assert dict(options.mask_columns) == {"email": "email"}
    sink = options.sink()
    assert isinstance(sink, PlatformSink)
    assert (sink.platform, sink.actor, sink.project, sink.deployment) == (
        platform,
        SYSTEM,
        "default",
        "api",
    )
