"""Synthetic monitoring data for the report tests (seeded): a reference table and hourly
windows of predictions, with drift injected from ``DRIFT_FROM`` on (``amount`` shifts, the
``country`` mix changes), labels and a sensitive attribute for quality and fairness."""

from __future__ import annotations

import datetime as dt
from typing import Any

import numpy as np
import pandas as pd

from mlsteward.monitoring import fairness_report, quality_over_time
from mlsteward.monitoring._report import MonitoringReport, build_report
from mlsteward.profiles import DatasetProfile, profile_frame

HOSTILE = "<img src=x onerror=alert(1)>"
BREAKOUT = "</script><script>alert(1)</script>"
START = dt.datetime(2026, 3, 1, tzinfo=dt.UTC)
WINDOWS = 8
ROWS = 400  # per window
DRIFT_FROM = 4
COUNTRIES = np.array(["fr", "de", "us", "es"])


def frame(rows: int, seed: int, *, drift: bool = False) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    mix = [0.1, 0.2, 0.6, 0.1] if drift else [0.5, 0.3, 0.1, 0.1]
    amount = rng.normal(150.0 if drift else 100.0, 20.0, rows)
    return pd.DataFrame(
        {
            "amount": amount,
            "country": rng.choice(COUNTRIES, rows, p=mix),
            "tenure": rng.integers(0, 120, rows),
            HOSTILE: rng.normal(0.0, 1.0, rows),
            BREAKOUT: rng.choice(["a", "b"], rows),
            "prediction": (amount + rng.normal(0, 20, rows) > 120).astype(np.int64),
        }
    )


def windows(count: int = WINDOWS) -> list[tuple[dt.datetime, dt.datetime, pd.DataFrame]]:
    return [
        (
            START + dt.timedelta(hours=i),
            START + dt.timedelta(hours=i + 1),
            frame(ROWS, 100 + i, drift=i >= DRIFT_FROM),
        )
        for i in range(count)
    ]


def labelled(data: pd.DataFrame, seed: int) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    out = data.copy()
    flip = rng.random(len(out)) < 0.15
    out["label"] = np.where(flip, 1 - out["prediction"], out["prediction"])
    out["group"] = rng.choice(["x", "y"], len(out))
    return out


def reference_profile() -> DatasetProfile:
    return profile_frame(frame(3000, 1))


def sample_report(count: int = WINDOWS, **extra: Any) -> MonitoringReport:
    """A report over ``count`` windows with drift, quality, fairness and infra figures."""
    triples = windows(count)
    joined = [labelled(f, 500 + i) for i, (_, _, f) in enumerate(triples)]
    quality = quality_over_time(
        [(s, e, j) for (s, e, _), j in zip(triples, joined, strict=True)], task="classification"
    )
    fairness = [fairness_report(j, "group", "prediction", "label") for j in joined]
    infra = [{"requests": ROWS + i, "error_rate": 0.01 * i} for i in range(count)]
    return build_report(
        reference_profile(),
        [(s, e, profile_frame(f)) for s, e, f in triples],
        quality=quality,
        fairness=fairness,
        infra=infra,
        title=extra.pop("title", "Churn monitoring"),
        subject=extra.pop(
            "subject",
            {"monitor": "churn-drift", "model": HOSTILE, "version": "3", "reference": BREAKOUT},
        ),
        generated_at=START + dt.timedelta(days=1),
        **extra,
    )
