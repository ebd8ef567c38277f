"""The fraud demo's synthetic transactions: deterministic, shaped as documented, PII the catalog
recognises, and a shift that moves the distributions and defeats a model trained before it."""

from __future__ import annotations

import datetime as dt
import math
import sys
from typing import Any

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from mlsteward.demos import FEATURES, LABEL, PII_COLUMNS, generate_transactions
from mlsteward.demos._fraud_data import (
    CATEGORICAL_FEATURES,
    COUNTRIES,
    DEFAULT_START,
    MERCHANT_CATEGORIES,
    NUMERIC_FEATURES,
)
from mlsteward.demos._fraud_models import build_candidate, score
from mlsteward.errors import InvalidArgument, MissingExtra
from mlsteward.privacy import PiiClass, classify_frame, is_email, is_payment_card

COLUMNS = [
    "transaction_id",
    "timestamp",
    "card_number",
    "email",
    "customer_name",
    "amount",
    "hour",
    "distance_from_home_km",
    "transactions_last_24h",
    "avg_amount_30d",
    "amount_to_avg_ratio",
    "merchant_category",
    "country",
    "card_present",
    "is_fraud",
]
ROWS = 30_000


@pytest.fixture(scope="module")
def before() -> pd.DataFrame:
    return generate_transactions(ROWS, seed=11)


@pytest.fixture(scope="module")
def after() -> pd.DataFrame:
    return generate_transactions(ROWS, seed=12, shift=1.0)


def test_the_same_seed_gives_the_same_frame() -> None:
    first = generate_transactions(2_000, seed=5, shift=0.3)
    pd.testing.assert_frame_equal(first, generate_transactions(2_000, seed=5, shift=0.3))
    other = generate_transactions(2_000, seed=6, shift=0.3)
    assert not first["amount"].equals(other["amount"])
    assert set(first["transaction_id"]).isdisjoint(other["transaction_id"])


def test_columns_types_and_ranges(before: pd.DataFrame) -> None:
    assert list(before.columns) == COLUMNS
    assert len(before) == ROWS
    assert not set(FEATURES) & {*PII_COLUMNS, "transaction_id", "timestamp", LABEL}
    assert set(FEATURES) == set(NUMERIC_FEATURES) | set(CATEGORICAL_FEATURES)
    assert before["transaction_id"].is_unique
    assert before[list(FEATURES)].notna().all().all()
    assert set(before[LABEL].unique()) == {0, 1}
    assert before["card_present"].dtype == bool
    assert set(before["merchant_category"]) == set(MERCHANT_CATEGORIES)
    assert set(before["country"]) == set(COUNTRIES)
    assert (before["amount"] > 0).all()
    assert before["hour"].between(0, 23).all()
    assert before["transactions_last_24h"].between(1, 15).all()
    assert before["distance_from_home_km"].between(0, 20_000).all()
    ratio = before["amount"] / before["avg_amount_30d"]
    np.testing.assert_allclose(before["amount_to_avg_ratio"], ratio, rtol=1e-3)


def test_time_runs_forward_with_an_hour_of_day_pattern(before: pd.DataFrame) -> None:
    stamps = before["timestamp"]
    assert stamps.is_monotonic_increasing
    assert stamps.min() >= pd.Timestamp(DEFAULT_START)
    assert stamps.max() < pd.Timestamp(DEFAULT_START) + pd.Timedelta(days=28)
    assert (stamps.dt.hour == before["hour"]).all()
    legit = before[before[LABEL] == 0]["hour"]
    assert legit.between(9, 20).mean() > 0.6
    assert legit.between(0, 5).mean() < 0.1
    start = dt.datetime(2025, 3, 1, 14, 30, tzinfo=dt.timezone(dt.timedelta(hours=2)))
    later = generate_transactions(500, seed=1, start=start, days=2)
    midnight = pd.Timestamp("2025-03-01T00:00:00Z")
    assert later["timestamp"].min() >= midnight
    assert later["timestamp"].max() < midnight + pd.Timedelta(days=2)
    assert (later["timestamp"].dt.hour == later["hour"]).all()


@pytest.mark.parametrize("shift", [0.0, 0.5, 1.0], ids=["before", "half", "after"])
def test_about_one_and_a_half_percent_is_fraud(shift: float) -> None:
    rate = generate_transactions(60_000, seed=3, shift=shift)[LABEL].mean()
    assert 0.01 <= rate <= 0.02


def test_pii_columns_are_what_the_catalog_detector_finds(before: pd.DataFrame) -> None:
    assert all(is_payment_card(v) for v in before["card_number"].head(2000))
    assert all(is_email(v) for v in before["email"].head(2000))
    found = classify_frame(before)
    classes = {name: c.pii_class for name, c in found.items() if c.pii_class is not None}
    assert classes == {"card_number": PiiClass.PAYMENT_CARD, "email": PiiClass.EMAIL}
    # Names are personal data the detector has no validator for: the demo documents them.
    assert before["customer_name"].str.fullmatch(r"[A-Z][a-z]+ [A-Z][a-z]+").all()
    per_card = before.groupby("card_number")["email"].nunique()
    assert (per_card == 1).all()  # one card holder per card


def _categorical_p(a: pd.Series, b: pd.Series) -> float:
    table = pd.crosstab(
        np.r_[np.zeros(len(a)), np.ones(len(b))], np.r_[a.astype(str), b.astype(str)]
    )
    return float(stats.chi2_contingency(table).pvalue)


@pytest.mark.parametrize("column", list(FEATURES), ids=list(FEATURES))
def test_the_shift_moves_each_feature(
    before: pd.DataFrame, after: pd.DataFrame, column: str
) -> None:
    twin = generate_transactions(ROWS, seed=13)  # another sample of the same regime
    if column in NUMERIC_FEATURES:
        drifted = stats.ks_2samp(before[column], after[column]).pvalue
        same = stats.ks_2samp(before[column], twin[column]).pvalue
    else:
        drifted = _categorical_p(before[column], after[column])
        same = _categorical_p(before[column], twin[column])
    assert drifted < 1e-6
    assert same > 1e-3


def test_after_the_shift_fraud_is_small_online_bursts(
    before: pd.DataFrame, after: pd.DataFrame
) -> None:
    old = before[before[LABEL] == 1]
    new = after[after[LABEL] == 1]
    assert old["amount_to_avg_ratio"].median() > 3
    assert new["amount_to_avg_ratio"].median() < 0.3
    assert (old["country"] != "US").mean() > 0.6
    assert new["merchant_category"].isin(["digital_goods", "gift_cards"]).mean() > 0.6
    assert new["transactions_last_24h"].median() > old["transactions_last_24h"].median()
    assert (~new["card_present"]).mean() > 0.9


def test_shifted_numbers_stay_in_the_training_ranges(
    before: pd.DataFrame, after: pd.DataFrame
) -> None:
    """An inference server checks inputs against the training profile (10 % tolerance)."""
    for column in NUMERIC_FEATURES:
        low, high = before[column].min(), before[column].max()
        slack = 0.1 * (high - low)
        assert low - slack <= after[column].min(), column
        assert after[column].max() <= high + slack, column


def test_a_model_trained_before_the_shift_misses_fraud_after_it(
    before: pd.DataFrame, after: pd.DataFrame
) -> None:
    model, _ = build_candidate("logistic_regression", seed=0)
    model.fit(before[list(FEATURES)], before[LABEL])
    held_out = generate_transactions(ROWS, seed=14)
    then = score(model, held_out[list(FEATURES)], held_out[LABEL])
    now = score(model, after[list(FEATURES)], after[LABEL])
    assert then["recall"] > 0.7
    assert now["recall"] < then["recall"] / 2
    retrained, _ = build_candidate("logistic_regression", seed=0)
    retrained.fit(after[list(FEATURES)], after[LABEL])
    fresh = generate_transactions(ROWS, seed=15, shift=1.0)
    assert score(retrained, fresh[list(FEATURES)], fresh[LABEL])["recall"] > 0.7


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        ({"rows": 0}, "rows must be a whole number"),
        ({"rows": -5}, "rows must be a whole number"),
        ({"rows": True}, "rows must be a whole number"),
        ({"rows": 2.5}, "rows must be a whole number"),
        ({"rows": 10**9}, "rows must be a whole number"),
        ({"seed": -1}, "seed must be a non-negative"),
        ({"seed": "1"}, "seed must be a non-negative"),
        ({"shift": 1.5}, "shift must be a number from 0 to 1"),
        ({"shift": -0.1}, "shift must be a number from 0 to 1"),
        ({"shift": math.nan}, "shift must be a number from 0 to 1"),
        ({"shift": "1"}, "shift must be a number from 0 to 1"),
        ({"start": dt.datetime(2026, 1, 1)}, "timezone-aware"),
        ({"start": "2026-01-01"}, "timezone-aware"),
        ({"days": 0}, "days must be a whole number"),
    ],
    ids=[
        "no-rows",
        "negative-rows",
        "bool-rows",
        "float-rows",
        "too-many-rows",
        "negative-seed",
        "text-seed",
        "shift-above-one",
        "negative-shift",
        "nan-shift",
        "text-shift",
        "naive-start",
        "text-start",
        "no-days",
    ],
)
def test_bad_arguments(arguments: dict[str, Any], message: str) -> None:
    given: dict[str, Any] = {"rows": 10, "seed": 1, **arguments}
    rows = given.pop("rows")
    with pytest.raises(InvalidArgument, match=message):
        generate_transactions(rows, **given)


def test_without_pandas_the_error_names_the_extra(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "pandas", None)
    with pytest.raises(MissingExtra, match=r"pip install 'mlsteward\[pandas\]'"):
        generate_transactions(10, seed=1)
