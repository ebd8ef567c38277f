"""The fraud demo's candidate models and how they are scored.

Three scikit-learn pipelines, each weighting the rare fraud class up: a scaled logistic
regression, a random forest and histogram gradient boosting. Unknown categories (a merchant
category or country first seen after training) are encoded as "none of the known ones", so a
model keeps predicting when the traffic shifts. Everything is stored with skops (no pickle).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any, Final

from ._fraud_data import CATEGORICAL_FEATURES, NUMERIC_FEATURES

if TYPE_CHECKING:
    from sklearn.pipeline import Pipeline

__all__ = ["CANDIDATES", "METRICS", "build_candidate", "score"]

METRICS: Final = ("recall", "precision", "f1", "roc_auc", "pr_auc")
"""The held-out metrics every candidate run logs (``pr_auc``: average precision)."""


def _one_hot() -> Any:
    from sklearn.preprocessing import OneHotEncoder

    return OneHotEncoder(handle_unknown="ignore", sparse_output=False)


def _columns(numeric: Any, categorical: Any) -> Any:
    from sklearn.compose import ColumnTransformer

    return ColumnTransformer(
        [
            ("numeric", numeric, list(NUMERIC_FEATURES)),
            ("categorical", categorical, list(CATEGORICAL_FEATURES)),
        ]
    )


def _logistic_regression(seed: int) -> tuple[Pipeline, dict[str, Any]]:
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import Pipeline
    from sklearn.preprocessing import StandardScaler

    params = {"C": 1.0, "class_weight": "balanced", "max_iter": 1000}
    model = LogisticRegression(random_state=seed, **params)
    return Pipeline(
        [("features", _columns(StandardScaler(), _one_hot())), ("model", model)]
    ), params


def _random_forest(seed: int) -> tuple[Pipeline, dict[str, Any]]:
    from sklearn.ensemble import RandomForestClassifier
    from sklearn.pipeline import Pipeline

    params = {
        "n_estimators": 60,
        "max_depth": 12,
        "min_samples_leaf": 3,
        "class_weight": "balanced_subsample",
    }
    model = RandomForestClassifier(random_state=seed, n_jobs=1, **params)
    return Pipeline([("features", _columns("passthrough", _one_hot())), ("model", model)]), params


def _gradient_boosting(seed: int) -> tuple[Pipeline, dict[str, Any]]:
    from sklearn.ensemble import HistGradientBoostingClassifier
    from sklearn.pipeline import Pipeline
    from sklearn.preprocessing import OrdinalEncoder

    params = {"max_iter": 80, "learning_rate": 0.1, "class_weight": "balanced"}
    model = HistGradientBoostingClassifier(random_state=seed, early_stopping=False, **params)
    encoder = OrdinalEncoder(handle_unknown="use_encoded_value", unknown_value=-1)
    return Pipeline([("features", _columns("passthrough", encoder)), ("model", model)]), params


CANDIDATES: Final[dict[str, Callable[[int], tuple[Pipeline, dict[str, Any]]]]] = {
    "logistic_regression": _logistic_regression,
    "random_forest": _random_forest,
    "gradient_boosting": _gradient_boosting,
}
"""Candidate name -> a builder of ``(unfitted pipeline, the parameters to log)``."""


def build_candidate(name: str, seed: int) -> tuple[Pipeline, dict[str, Any]]:
    """The unfitted pipeline of candidate ``name`` and its parameters to log."""
    return CANDIDATES[name](seed)


def score(model: Any, features: Any, labels: Any) -> dict[str, float]:
    """The ``METRICS`` of a fitted classifier on held-out rows (fraud is the positive class;
    recall, precision and F1 at the model's own 0.5 threshold)."""
    from sklearn.metrics import (
        average_precision_score,
        f1_score,
        precision_score,
        recall_score,
        roc_auc_score,
    )

    predicted = model.predict(features)
    probability = model.predict_proba(features)[:, 1]
    return {
        "recall": float(recall_score(labels, predicted, zero_division=0)),
        "precision": float(precision_score(labels, predicted, zero_division=0)),
        "f1": float(f1_score(labels, predicted, zero_division=0)),
        "roc_auc": float(roc_auc_score(labels, probability)),
        "pr_auc": float(average_precision_score(labels, probability)),
    }
