"""The fraud demo's first stages, each a function of a ``Client`` (in-process or remote):
version and validate the transactions, train candidate models as tracked runs, register the
best, and take a version to ``@production`` under a four-eyes policy.

The later stages (package, deploy, replay, monitor, retrain) call these again on fresh data.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Final

from ..errors import InvalidArgument
from ._fraud_data import COUNTRIES, FEATURES, LABEL, MERCHANT_CATEGORIES, require_extra
from ._fraud_models import CANDIDATES, METRICS, build_candidate, score

if TYPE_CHECKING:
    from ..client import Client
    from ..data import DatasetVersion
    from ..registry import ModelVersion, PromotionRequest
    from ..validation import ExpectationSuite, ValidationResult

__all__ = [
    "SUITE_NAME",
    "CandidateRun",
    "VersionedData",
    "fraud_suite",
    "production_policy",
    "register_best",
    "request_and_approve_production",
    "train_candidates",
    "version_data",
]

SUITE_NAME: Final = "fraud-transactions"
TRAINING_DATA_TAG: Final = "mlsteward.training_data"  # read by register_model_from_run
MIN_FRAUD_ROWS: Final = 10


@dataclass(frozen=True)
class VersionedData:
    """A dataset version of transactions, the PII columns the catalog marks in it and the
    result of validating it with the fraud suite."""

    version: DatasetVersion
    pii_columns: dict[str, str]
    validation: ValidationResult

    @property
    def valid(self) -> bool:
        return self.validation.success


@dataclass(frozen=True)
class CandidateRun:
    """One trained candidate: its tracked run, the logged model and its held-out metrics."""

    name: str
    project: str
    run_id: str
    model_uri: str
    metrics: dict[str, float]
    params: dict[str, Any] = field(default_factory=dict)


def _check_frame(frame: object) -> None:
    """``InvalidArgument`` unless ``frame`` is a non-empty DataFrame with the features and the
    label."""
    require_extra("pandas", "pandas")
    import pandas as pd

    if not isinstance(frame, pd.DataFrame):
        raise InvalidArgument(f"the transactions must be a pandas DataFrame, not {type(frame)}")
    missing = [c for c in (*FEATURES, LABEL) if c not in frame.columns]
    if missing:
        raise InvalidArgument(
            f"the transactions lack the columns {missing}: generate them with "
            "generate_transactions",
            details={"missing": missing},
        )
    if frame.empty:
        raise InvalidArgument("the transactions frame is empty: give at least one row")


def fraud_suite() -> ExpectationSuite:
    """The expectations every transactions version must meet: no missing features, positive
    amounts, hours of a day, known countries and merchant categories, a 0/1 label."""
    from ..validation import ExpectationSuite

    expectations: list[dict[str, Any]] = [
        {"expectation": "expect_column_values_to_not_be_null", "params": {"column": column}}
        for column in (*FEATURES, LABEL)
    ]
    bounds = {
        "amount": {"min_value": 0, "strict_min": True},
        "hour": {"min_value": 0, "max_value": 23},
        "distance_from_home_km": {"min_value": 0},
        "transactions_last_24h": {"min_value": 1},
    }
    expectations += [
        {"expectation": "expect_column_values_to_be_between", "params": {"column": c, **b}}
        for c, b in bounds.items()
    ]
    sets = {"country": COUNTRIES, "merchant_category": MERCHANT_CATEGORIES, LABEL: (0, 1)}
    expectations += [
        {
            "expectation": "expect_column_values_to_be_in_set",
            "params": {"column": c, "value_set": list(values)},
        }
        for c, values in sets.items()
    ]
    expectations.append(
        {"expectation": "expect_column_values_to_be_unique", "params": {"column": "transaction_id"}}
    )
    return ExpectationSuite.from_dict({"name": SUITE_NAME, "expectations": expectations})


def version_data(client: Client, frame: Any, *, project: str, dataset: str) -> VersionedData:
    """Version ``frame`` as the next Parquet version of ``dataset`` (the catalog classifies its
    PII columns as it is added), store the fraud suite and validate the version with it.

    The result is stored on the platform too, where the ``training_data_validated`` policy
    condition finds it. ``InvalidArgument`` (nothing written) for a frame that is not a
    non-empty DataFrame with the features and the label.
    """
    _check_frame(frame)
    if "transaction_id" not in frame.columns:
        raise InvalidArgument("the transactions lack the column 'transaction_id'")
    version = client.log_dataset(
        frame, dataset, project=project, message=f"{len(frame)} card transactions"
    )
    suite = fraud_suite()
    client.save_suite(project, suite)
    result = client.validate_dataset_version(project, version, suite.name)
    return VersionedData(version, client.dataset_pii_columns(project, dataset), result)


def _split(frame: Any, seed: int, test_size: float) -> tuple[Any, Any, Any, Any]:
    from sklearn.model_selection import train_test_split

    labels = frame[LABEL].astype("int64")
    positives = int(labels.sum())
    if positives < MIN_FRAUD_ROWS or len(labels) - positives < MIN_FRAUD_ROWS:
        raise InvalidArgument(
            f"training needs at least {MIN_FRAUD_ROWS} fraud and {MIN_FRAUD_ROWS} legitimate "
            f"rows; this frame has {positives} fraud rows of {len(labels)}: generate more rows"
        )
    features = frame[list(FEATURES)]
    parts = train_test_split(
        features, labels, test_size=test_size, random_state=seed, stratify=labels
    )
    return parts[0], parts[1], parts[2], parts[3]


def _training_reference(version: DatasetVersion, rows: int) -> str:
    """The run tag the registry copies into the version's datasets (and lineage)."""
    return json.dumps(
        {
            "name": version.dataset_name,
            "ref": version.ref,
            "dataset_version_id": version.id,
            "rows": rows,
        },
        sort_keys=True,
    )


def _train_one(
    client: Client,
    name: str,
    split: tuple[Any, Any, Any, Any],
    *,
    data: DatasetVersion,
    project: str,
    experiment: str,
    seed: int,
) -> CandidateRun:
    from threadpoolctl import threadpool_limits  # type: ignore[import-untyped]

    train_x, test_x, train_y, test_y = split
    model, params = build_candidate(name, seed)
    with client.start_run(project, experiment, name=name, environment=False) as run:
        run.log_params({"candidate": name, "seed": seed, "train_rows": len(train_x), **params})
        # One native thread: the demo's models are small, and oversubscribed shared cores
        # make OpenMP training many times slower.
        with threadpool_limits(limits=1):
            model.fit(train_x, train_y)
            metrics = score(model, test_x, test_y)
        run.log_metrics(metrics)
        run.set_tag(TRAINING_DATA_TAG, _training_reference(data, len(train_x)))
        logged = run.log_model(model, input_example=train_x.head(5), training_data=train_x)
    client.record_dataset_input(run.id, data, project=project)
    return CandidateRun(name, project, run.id, logged.uri, metrics, params)


def train_candidates(
    client: Client,
    frame: Any,
    *,
    data: DatasetVersion,
    project: str,
    experiment: str,
    seed: int,
    test_size: float = 0.25,
    candidates: Sequence[str] | None = None,
) -> list[CandidateRun]:
    """Train every candidate (``CANDIDATES``) on a stratified split of ``frame``, each as a
    tracked run of ``experiment``: parameters, held-out ``METRICS``, the model (skops, with
    an input example and the training data's profile) and ``data`` (the dataset version
    ``frame`` came from) as the run's input, for lineage. ``InvalidArgument`` for a frame
    without the features and label, or with fewer than 10 rows of either class.

    ``candidates``: the names of the candidates to train (default: all of them); an unknown
    or empty selection raises ``InvalidArgument``."""
    _check_frame(frame)
    names = list(CANDIDATES) if candidates is None else list(candidates)
    unknown = [n for n in names if n not in CANDIDATES]
    if unknown or not names:
        raise InvalidArgument(
            f"candidates must be some of {list(CANDIDATES)}, not {names!r}"[:300],
            details={"field": "candidates"},
        )
    require_extra("sklearn", "sklearn")
    if isinstance(seed, bool) or not isinstance(seed, int) or seed < 0:
        raise InvalidArgument(f"seed must be a non-negative whole number, not {seed!r}")
    if not isinstance(test_size, float) or not 0.05 <= test_size <= 0.5:
        raise InvalidArgument(f"test_size must be a fraction from 0.05 to 0.5, not {test_size!r}")
    split = _split(frame, seed, test_size)
    return [
        _train_one(
            client, name, split, data=data, project=project, experiment=experiment, seed=seed
        )
        for name in names
    ]


def register_best(
    client: Client,
    runs: Sequence[CandidateRun],
    *,
    project: str,
    model_name: str,
    metric: str = "pr_auc",
) -> ModelVersion:
    """Register the model of the run with the highest ``metric`` (the first on a tie) as the
    next version of ``model_name``; its metrics snapshot, source run and training data come
    from the run. ``InvalidArgument`` for an unknown metric, no runs, or runs of another
    project."""
    if metric not in METRICS:
        raise InvalidArgument(f"metric must be one of {list(METRICS)}, not {metric!r}")
    if not runs:
        raise InvalidArgument("no candidate runs to choose from: train some first")
    foreign = [r.run_id for r in runs if r.project != project]
    if foreign:
        raise InvalidArgument(f"runs {foreign} are not in project {project!r}")

    def value(run: CandidateRun) -> float:
        found = run.metrics.get(metric, math.nan)
        return found if math.isfinite(found) else -math.inf

    best = max(runs, key=value)
    return client.register_model(best.model_uri, model_name)


def production_policy(metric: str = "pr_auc", threshold: float = 0.5) -> list[dict[str, Any]]:
    """The conditions ``@production`` needs in the demo: a second person's approval, a clean
    scan, validated training data and ``metric`` at least ``threshold``."""
    if metric not in METRICS:
        raise InvalidArgument(f"metric must be one of {list(METRICS)}, not {metric!r}")
    return [
        {"type": "approval"},
        {"type": "clean_scan"},
        {"type": "training_data_validated"},
        {"type": "metric_at_least", "metric": metric, "threshold": threshold},
    ]


def request_and_approve_production(
    requester: Client,
    approver: Client,
    *,
    project: str,
    model_name: str,
    version: int,
    comment: str = "held-out metrics reviewed",
    policy: Sequence[Mapping[str, Any]] | None = None,
) -> tuple[PromotionRequest, list[dict[str, str]]]:
    """Ask (``requester``, an editor) for ``version`` to take ``@production`` and approve it
    as a second person (``approver``, a maintainer). With ``policy`` the approver first sets
    it on the model. Returns the request (``APPLIED`` when the alias moved) and the
    conditions still unmet."""
    if policy is not None:
        approver.set_alias_policy(project, "production", policy, model_name)
    request = requester.request_promotion(
        project, model_name, version, "production", comment="candidate with the best PR AUC"
    )
    return approver.approve_promotion(project, request.id, comment)
