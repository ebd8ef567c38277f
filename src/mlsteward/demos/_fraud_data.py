"""Synthetic card transactions for the fraud demo: seeded, with PII columns, and a fraud
pattern that moves when ``shift`` goes from 0 to 1.

Every row is drawn from one of four regimes: legitimate or fraudulent, each before or after the
shift (a row is "after" with probability ``shift``, so 0.5 is an even mixture).

* Legitimate, before: daytime hours, card present 70 %, the home country (US) 85 %, amounts
  log-normal around each merchant category's typical price, close to the card's 30-day
  average, few transactions in the last 24 hours.
* Fraud pattern A (before): large amounts (3-10 times the 30-day average) at electronics,
  travel and jewelry merchants, abroad (far from home), mostly at night, card not present.
* Legitimate, after: more online shopping (card present 40 %), more digital goods and gift
  cards, evening hours, more foreign merchants.
* Fraud pattern B (after): bursts of small online purchases (a few dollars, far below the
  30-day average) of gift cards and digital goods, in daytime, mostly from the home country
  or Brazil, with many transactions in the last 24 hours.

A model trained on pattern A misses most of pattern B (its recall falls), and the feature
distributions move visibly (hour, amounts, merchant mix, card presence, transaction counts).
Numeric features after the shift stay inside the value ranges seen before it (for frames of
some 20,000 rows and more: the bounds are reached in both), so an inference server that checks
inputs against the training profile keeps accepting them. The label rate is
about 1.5 % in both regimes; 8 % of fraud rows look legitimate (no model catches those).
"""

from __future__ import annotations

import datetime as dt
import math
from typing import TYPE_CHECKING, Any, Final

from ..errors import InvalidArgument, MissingExtra

if TYPE_CHECKING:
    import numpy as np
    import pandas as pd

__all__ = [
    "CATEGORICAL_FEATURES",
    "COUNTRIES",
    "DEFAULT_START",
    "FEATURES",
    "HOME_COUNTRY",
    "LABEL",
    "MAX_ROWS",
    "MERCHANT_CATEGORIES",
    "NUMERIC_FEATURES",
    "PII_COLUMNS",
    "generate_transactions",
    "require_extra",
]

LABEL: Final = "is_fraud"
HOME_COUNTRY: Final = "US"
COUNTRIES: Final = ("US", "CA", "MX", "GB", "DE", "FR", "ES", "IT", "NL", "JP", "AU", "BR")
MERCHANT_CATEGORIES: Final = (
    "grocery",
    "restaurant",
    "fuel",
    "pharmacy",
    "clothing",
    "online_retail",
    "electronics",
    "travel",
    "jewelry",
    "digital_goods",
    "gift_cards",
)
NUMERIC_FEATURES: Final = (
    "amount",
    "hour",
    "distance_from_home_km",
    "transactions_last_24h",
    "avg_amount_30d",
    "amount_to_avg_ratio",
)
CATEGORICAL_FEATURES: Final = ("merchant_category", "country", "card_present")
FEATURES: Final = NUMERIC_FEATURES + CATEGORICAL_FEATURES
"""The model's input columns: no PII, no ids, no timestamp."""
PII_COLUMNS: Final = ("card_number", "email", "customer_name")
DEFAULT_START: Final = dt.datetime(2026, 1, 5, tzinfo=dt.UTC)
MAX_ROWS: Final = 10_000_000
FRAUD_RATE: Final = 0.015
HIDDEN_FRAUD: Final = 0.08  # fraud rows drawn like legitimate ones
MAX_TRANSACTIONS_24H: Final = 15
MAX_DISTANCE_KM: Final = 20_000.0
MAX_AVG_AMOUNT: Final = 800.0  # reached in both regimes: it bounds the served inputs

# Typical price (median, dollars) and spread (log-normal sigma) per merchant category.
_PRICES: Final = {
    "grocery": (45.0, 0.6),
    "restaurant": (32.0, 0.5),
    "fuel": (48.0, 0.35),
    "pharmacy": (22.0, 0.6),
    "clothing": (70.0, 0.6),
    "online_retail": (55.0, 0.8),
    "electronics": (180.0, 0.8),
    "travel": (320.0, 0.7),
    "jewelry": (250.0, 0.8),
    "digital_goods": (12.0, 0.7),
    "gift_cards": (40.0, 0.5),
}
# Merchant mix per regime, in MERCHANT_CATEGORIES order.
_MERCHANT_MIX: Final = {
    "legit": (22, 18, 12, 8, 10, 14, 5, 3, 1, 5, 2),
    "shifted": (14, 14, 8, 6, 9, 22, 6, 3, 1, 11, 6),
    "fraud_a": (1, 1, 1, 1, 4, 12, 38, 25, 17, 0, 0),
    "fraud_b": (1, 1, 0, 0, 1, 7, 2, 0, 0, 44, 44),
}
# Hour-of-day weights per regime (24 values).
_HOURS: Final = {
    "legit": (1, 1, 1, 1, 1, 2, 4, 7, 9, 10, 11, 12, 13, 12, 11, 11, 12, 13, 13, 11, 9, 6, 4, 2),
    "shifted": (2, 1, 1, 1, 1, 2, 3, 5, 6, 7, 8, 9, 10, 10, 10, 10, 11, 13, 15, 16, 16, 14, 10, 5),
    "fraud_a": (14, 16, 15, 14, 12, 9, 4, 2, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 2, 3, 6, 10),
    "fraud_b": (1, 1, 1, 1, 1, 1, 2, 4, 8, 10, 11, 11, 11, 11, 11, 11, 10, 9, 8, 6, 4, 3, 2, 1),
}
# Share of transactions in the home country, and the foreign mix (COUNTRIES[1:] order).
_HOME_SHARE: Final = {"legit": 0.85, "shifted": 0.72, "fraud_a": 0.15, "fraud_b": 0.55}
_FOREIGN_MIX: Final = {
    "legit": (20, 16, 12, 10, 8, 7, 6, 5, 6, 5, 5),
    "shifted": (16, 12, 10, 8, 7, 6, 5, 5, 5, 4, 22),
    "fraud_a": (4, 6, 12, 10, 9, 10, 8, 12, 9, 10, 10),
    "fraud_b": (2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 80),
}
_CARD_PRESENT: Final = {"legit": 0.7, "shifted": 0.4, "fraud_a": 0.1, "fraud_b": 0.02}

_FIRST_NAMES: Final = (
    "Ada", "Alan", "Amara", "Ben", "Carmen", "Chen", "Dana", "Elif", "Emma", "Farid", "Grace",
    "Hana", "Ivan", "Jonas", "Kai", "Lena", "Luis", "Maya", "Noah", "Olga", "Priya", "Quinn",
    "Ravi", "Sara", "Tomas", "Uma", "Victor", "Wei", "Yara", "Zoe",
)  # fmt: skip
_LAST_NAMES: Final = (
    "Adams", "Baker", "Costa", "Dubois", "Evans", "Fischer", "Garcia", "Hansen", "Ito", "Jensen",
    "Kowalski", "Lopez", "Martin", "Novak", "Okafor", "Patel", "Rossi", "Silva", "Tanaka",
    "Umarov", "Vargas", "Weber", "Xu", "Young", "Zhang",
)  # fmt: skip
_MAIL_DOMAINS: Final = ("example.com", "example.org", "example.net", "mail.example")


def require_extra(module: str, extra: str) -> None:
    """``MissingExtra`` naming the pip extra when ``module`` cannot be imported."""
    import importlib

    try:
        importlib.import_module(module)
    except ImportError as exc:
        raise MissingExtra(
            f"the fraud demo needs {module!r}, which is not installed: run pip install "
            f"'mlsteward[{extra}]'",
            details={"extra": extra, "module": module},
        ) from exc


def _check_arguments(rows: object, seed: object, shift: object, start: object) -> None:
    if isinstance(rows, bool) or not isinstance(rows, int) or not 1 <= rows <= MAX_ROWS:
        raise InvalidArgument(f"rows must be a whole number from 1 to {MAX_ROWS}, not {rows!r}")
    if isinstance(seed, bool) or not isinstance(seed, int) or seed < 0:
        raise InvalidArgument(f"seed must be a non-negative whole number, not {seed!r}")
    if (
        isinstance(shift, bool)
        or not isinstance(shift, int | float)
        or not math.isfinite(shift)
        or not 0.0 <= shift <= 1.0
    ):
        raise InvalidArgument(f"shift must be a number from 0 to 1, not {shift!r}")
    if not isinstance(start, dt.datetime) or start.tzinfo is None:
        raise InvalidArgument("start must be a timezone-aware datetime, e.g. in UTC")


def _luhn_cards(rng: np.random.Generator, count: int) -> np.ndarray:
    """``count`` 16-digit Visa-style numbers (prefix 4) with a valid Luhn check digit."""
    import numpy as np

    body = rng.integers(0, 10, size=(count, 15))
    body[:, 0] = 4
    # From the right of the full number, the check digit is position 1: the body's last digit
    # (position 2) and every second one before it are doubled.
    doubled = body[:, ::-1][:, ::2] * 2
    total = (doubled - 9 * (doubled > 9)).sum(axis=1) + body[:, ::-1][:, 1::2].sum(axis=1)
    check = (10 - total % 10) % 10
    digits = np.concatenate([body, check[:, None]], axis=1)
    return np.array(["".join(map(str, row)) for row in digits.tolist()])


def _customers(rng: np.random.Generator, count: int) -> dict[str, np.ndarray]:
    """The PII of ``count`` card holders, and each one's typical spending scale."""
    import numpy as np

    first = rng.integers(0, len(_FIRST_NAMES), count)
    last = rng.integers(0, len(_LAST_NAMES), count)
    domain = rng.integers(0, len(_MAIL_DOMAINS), count)
    names = [f"{_FIRST_NAMES[f]} {_LAST_NAMES[s]}" for f, s in zip(first, last, strict=True)]
    emails = [
        f"{_FIRST_NAMES[f].lower()}.{_LAST_NAMES[s].lower()}{i}@{_MAIL_DOMAINS[d]}"
        for i, (f, s, d) in enumerate(zip(first, last, domain, strict=True))
    ]
    return {
        "card_number": _luhn_cards(rng, count),
        "email": np.array(emails),
        "customer_name": np.array(names),
        "scale": rng.lognormal(0.0, 0.3, count),
    }


def _draw(rng: np.random.Generator, weights: tuple[float, ...], count: int) -> np.ndarray:
    import numpy as np

    p = np.asarray(weights, dtype=float)
    return rng.choice(len(p), size=count, p=p / p.sum())


def _regime_features(rng: np.random.Generator, regime: str, count: int) -> dict[str, Any]:
    """The features of ``count`` rows of one regime (see the module docstring)."""
    import numpy as np

    merchant = _draw(rng, _MERCHANT_MIX[regime], count)
    hour = _draw(rng, _HOURS[regime], count)
    foreign = rng.random(count) >= _HOME_SHARE[regime]
    country = np.where(foreign, 1 + _draw(rng, _FOREIGN_MIX[regime], count), 0)
    card_present = rng.random(count) < _CARD_PRESENT[regime]
    median = np.array([_PRICES[m][0] for m in MERCHANT_CATEGORIES])[merchant]
    sigma = np.array([_PRICES[m][1] for m in MERCHANT_CATEGORIES])[merchant]
    typical = median * np.exp(rng.normal(0.0, 0.25, count))  # the card's usual spend there
    if regime == "fraud_a":
        ratio = rng.lognormal(math.log(5.0), 0.35, count)
        transactions = 1 + rng.poisson(4.0, count)
    elif regime == "fraud_b":
        ratio = rng.lognormal(math.log(0.12), 0.4, count)
        typical = np.maximum(typical, 30.0)  # small charges on a card used to larger ones
        transactions = 1 + rng.poisson(7.0, count)
    else:
        ratio = rng.lognormal(0.0, sigma * 0.5, count)
        transactions = 1 + rng.negative_binomial(1.5, 0.4 if regime == "legit" else 0.33, count)
    home_distance = rng.exponential(12.0, count)
    abroad_distance = rng.lognormal(math.log(2500.0), 0.6, count)
    return {
        "merchant": merchant,
        "hour": hour,
        "country": country,
        "card_present": card_present,
        "amount": typical * ratio,
        "avg_amount_30d": typical,
        "transactions_last_24h": np.minimum(transactions, MAX_TRANSACTIONS_24H),
        # Nowhere on Earth is farther than half its circumference.
        "distance_from_home_km": np.minimum(
            np.where(foreign, abroad_distance, home_distance), MAX_DISTANCE_KM
        ),
    }


def _features(
    rng: np.random.Generator, is_fraud: np.ndarray, shift: float
) -> dict[str, np.ndarray]:
    """Every row's features, each row drawn from its regime."""
    import numpy as np

    rows = len(is_fraud)
    after = rng.random(rows) < shift
    hidden = is_fraud & (rng.random(rows) < HIDDEN_FRAUD)
    regime = np.where(is_fraud & ~hidden, np.where(after, 3, 2), np.where(after, 1, 0))
    names = ("legit", "shifted", "fraud_a", "fraud_b")
    out: dict[str, np.ndarray] = {}
    for code, name in enumerate(names):
        where = np.flatnonzero(regime == code)
        drawn = _regime_features(rng, name, len(where))
        for column, values in drawn.items():
            if column not in out:
                out[column] = np.empty(rows, dtype=values.dtype)
            out[column][where] = values
    return out


def generate_transactions(
    rows: int,
    *,
    seed: int,
    shift: float = 0.0,
    start: dt.datetime = DEFAULT_START,
    days: int = 28,
) -> pd.DataFrame:
    """``rows`` synthetic card transactions, ordered by time, as a pandas DataFrame.

    The same ``rows``, ``seed``, ``shift`` and ``start`` give the same frame. ``shift`` (0 to
    1) is the share of rows drawn from the shifted regimes (fraud pattern B and the moved
    legitimate traffic, see the module docstring). Timestamps spread over ``days`` days from
    midnight (UTC) of ``start``'s day, with an hour-of-day pattern (``hour`` is their hour).
    Columns: ``transaction_id``, ``timestamp``, the PII columns ``card_number`` (Luhn-valid),
    ``email`` and ``customer_name``, the ``FEATURES`` and the label ``is_fraud`` (0 or 1).
    Raises ``InvalidArgument`` for bad arguments and ``MissingExtra`` without pandas.
    """
    _check_arguments(rows, seed, shift, start)
    if isinstance(days, bool) or not isinstance(days, int) or not 1 <= days <= 3660:
        raise InvalidArgument(f"days must be a whole number from 1 to 3660, not {days!r}")
    require_extra("pandas", "pandas")
    import numpy as np
    import pandas as pd

    rng = np.random.default_rng([seed, round(float(shift) * 1_000_000)])
    is_fraud = rng.random(rows) < FRAUD_RATE
    features = _features(rng, is_fraud, float(shift))
    people = _customers(rng, max(50, rows // 25))
    holder = rng.integers(0, len(people["scale"]), rows)
    avg = np.minimum(features["avg_amount_30d"] * people["scale"][holder], MAX_AVG_AMOUNT)
    amount = np.maximum(np.round(features["amount"] * people["scale"][holder], 2), 0.5)
    seconds = rng.integers(0, 3600, rows)
    day = rng.integers(0, days, rows)
    offsets = (day * 86400 + features["hour"] * 3600 + seconds).astype("int64")
    order = np.argsort(offsets, kind="stable")
    base = pd.Timestamp(start).tz_convert("UTC").normalize()  # hour 0 is midnight UTC
    prefix = f"tx{seed}-s{float(shift):g}-"
    frame = pd.DataFrame(
        {
            "transaction_id": [f"{prefix}{i:08d}" for i in range(rows)],
            "timestamp": base + pd.to_timedelta(offsets[order], unit="s"),
            "card_number": people["card_number"][holder][order],
            "email": people["email"][holder][order],
            "customer_name": people["customer_name"][holder][order],
            "amount": amount[order],
            "hour": features["hour"][order].astype("int64"),
            "distance_from_home_km": np.round(features["distance_from_home_km"][order], 1),
            "transactions_last_24h": features["transactions_last_24h"][order].astype("int64"),
            "avg_amount_30d": np.round(avg[order], 2),
            "amount_to_avg_ratio": np.round(amount[order] / np.round(avg[order], 2), 4),
            "merchant_category": np.asarray(MERCHANT_CATEGORIES)[features["merchant"][order]],
            "country": np.asarray(COUNTRIES)[features["country"][order]],
            "card_present": features["card_present"][order],
            LABEL: is_fraud[order].astype("int64"),
        }
    )
    return frame
