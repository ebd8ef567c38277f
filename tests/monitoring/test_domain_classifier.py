"""The multivariate drift detector: a change no single column shows (a correlation that
flips) is caught, like samples are not, the columns that separate are named, and bad input is
refused."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
import pytest

from mlsteward.errors import InvalidArgument
from mlsteward.monitoring import compare_profiles, domain_classifier_drift
from mlsteward.profiles import profile_frame


def _pairs(rows: int, seed: int, correlation: float) -> pd.DataFrame:
    """Two standard normal columns with the given correlation, a noise column and a category."""
    rng = np.random.default_rng(seed)
    x = rng.normal(size=rows)
    y = correlation * x + np.sqrt(1 - correlation**2) * rng.normal(size=rows)
    return pd.DataFrame(
        {
            "x": x,
            "y": y,
            "noise": rng.normal(size=rows),
            "colour": rng.choice(["red", "green", "blue"], size=rows),
            "prediction_id": [f"p{seed}-{i}" for i in range(rows)],
        }
    )


def test_a_flipped_correlation_is_caught_though_no_column_drifts() -> None:
    reference, current = _pairs(4000, 1, 0.9), _pairs(4000, 2, -0.9)
    features = ["x", "y", "noise", "colour"]
    per_column = compare_profiles(
        profile_frame(reference[features]), profile_frame(current[features])
    )
    assert per_column.drifted_names() == []  # every column alone looks the same
    found = domain_classifier_drift(reference, current)
    assert found.drifted
    assert found.auc > 0.9
    assert found.auc_low > 0.5
    assert {name for name, _ in found.top_columns[:2]} == {"x", "y"}
    assert "prediction_id" not in found.columns
    assert found.to_json()["method"] == "domain_classifier"


def test_two_samples_of_one_distribution_do_not_drift_and_the_answer_repeats() -> None:
    reference, current = _pairs(3000, 3, 0.5), _pairs(3000, 4, 0.5)
    found = domain_classifier_drift(reference, current)
    assert not found.drifted
    assert found.auc < 0.55
    assert domain_classifier_drift(reference, current) == found


def test_the_sample_is_balanced_and_capped() -> None:
    found = domain_classifier_drift(_pairs(5000, 5, 0.2), _pairs(300, 6, 0.2), max_rows=400)
    assert (found.reference_rows, found.current_rows) == (200, 200)
    assert found.columns == ("x", "y", "noise", "colour")


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        ({"reference": [1, 2]}, "reference must be a pandas DataFrame"),
        ({"current": _pairs(10, 7, 0.0)}, "at least 50 are needed"),
        ({"columns": ["nope"]}, "columns not in both frames"),
        ({"columns": "x"}, "columns must be a list"),
        ({"threshold": 0.4}, "threshold must be between 0.5 and 1"),
        ({"threshold": True}, "threshold must be a number"),
        ({"max_rows": 10}, "max_rows must be a whole number of at least 100"),
        ({"current": pd.DataFrame({"other": np.arange(100.0)})}, "no column in common"),
    ],
    ids=["not-a-frame", "too-few", "unknown", "string", "low", "bool", "rows", "disjoint"],
)
def test_bad_input_is_refused(arguments: dict[str, Any], message: str) -> None:
    call: dict[str, Any] = {"reference": _pairs(200, 8, 0.0), "current": _pairs(200, 9, 0.0)}
    call.update(arguments)
    reference, current = call.pop("reference"), call.pop("current")
    with pytest.raises(InvalidArgument) as raised:
        domain_classifier_drift(reference, current, **call)
    assert message in raised.value.message
