"""What a deployment's options make of its server process: each version's input-range check
and the prediction log shipped to the platform.

The prediction log masks, in its sampled rows, the columns the catalog classifies as PII in the
training data of the model's versions. A server masks one set of columns for all the versions
it serves, fixed when it starts: the PII columns of every version registered then. A version
registered later whose training data has PII columns outside that set is not loaded (a rollout
to it is not confirmed, and the server's log says why) until the deployment is restarted, so a
PII column never reaches the row log in clear.
"""

from __future__ import annotations

import dataclasses
from typing import TYPE_CHECKING

from ..errors import ConfigurationError, MissingExtra
from ._model import InputRangesMode

if TYPE_CHECKING:
    from ..platform import Platform
    from ..serving import ServedModel
    from ..serving._prediction_log import PredictionLogOptions
    from ._model import Deployment


def with_input_ranges(model: ServedModel, deployment: Deployment) -> ServedModel:
    """``model`` checking its inputs against the training data's ranges it carries, when the
    deployment's ``input_ranges`` is ``reject`` (unchanged otherwise, or without a profile).

    ``MissingExtra`` when reading the profile needs the ``data`` extra."""
    if deployment.input_ranges is InputRangesMode.OFF:
        return model
    from ..serving._input_ranges import InputRanges

    try:
        ranges = InputRanges.of_model(model.loaded, tolerance=deployment.range_tolerance)
    except MissingExtra as exc:
        raise MissingExtra(
            f"{exc} (version {model.version} of {deployment.model} carries its training "
            "data's profile; or deploy it with --input-ranges off)"
        ) from None
    return model if ranges is None else dataclasses.replace(model, input_ranges=ranges)


def masked_columns(platform: Platform, deployment: Deployment) -> dict[str, str | None]:
    """Column -> PII class (None: masked completely, where versions disagree on the class)
    for every PII column of the training data of every version of the deployment's model."""
    from ..monitoring import training_pii_columns
    from ..registry import list_model_versions
    from ..security import SYSTEM

    masked: dict[str, str | None] = {}
    project, model = deployment.project, deployment.model
    for version in list_model_versions(platform, SYSTEM, project, model):
        found = training_pii_columns(platform, SYSTEM, project, model, version.version)
        for column, pii_class in found.items():
            masked[column] = pii_class if masked.get(column, pii_class) == pii_class else None
    return masked


def check_masked(
    platform: Platform, deployment: Deployment, version: str, masked: dict[str, str | None]
) -> None:
    """``ConfigurationError`` when the training data of ``version`` has PII columns that
    ``masked`` (what the server's prediction log masks) leaves out."""
    from ..monitoring import training_pii_columns
    from ..security import SYSTEM

    found = training_pii_columns(platform, SYSTEM, deployment.project, deployment.model, version)
    unmasked = sorted(set(found) - set(masked))
    if unmasked:
        shown = ", ".join(repr(column) for column in unmasked[:10])
        raise ConfigurationError(
            f"version {version} of {deployment.model} was trained on PII columns ({shown}) "
            f"that the prediction log of this server does not mask: restart the deployment "
            f"(`mlsteward deploy stop {deployment.name}`, then `mlsteward deploy start "
            f"{deployment.name}`) to serve it"
        )


def prediction_log_options(
    platform: Platform, deployment: Deployment, masked: dict[str, str | None]
) -> PredictionLogOptions:
    """The deployment's prediction log: windows of ``log_window`` seconds with a
    ``log_sample_rate`` share of the rows (``masked`` columns masked), recorded in the
    deployment's project as the ``system`` actor with the deployment's name."""
    from ..security import SYSTEM
    from ..serving._prediction_log import PredictionLogOptions
    from ..serving._prediction_sinks import PlatformSink

    def sink() -> PlatformSink:
        # A deployment's server runs one process (no fork), so it shares the platform.
        return PlatformSink(platform, SYSTEM, deployment.project, deployment=deployment.name)

    return PredictionLogOptions(
        sink, deployment.log_window, deployment.log_sample_rate, dict(masked)
    )
