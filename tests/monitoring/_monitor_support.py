"""What monitor tests share: a registered model saved with its training data's profile, and
prediction windows recorded the way serving's ``PlatformSink`` records them (a profile of
inputs and outputs, sampled rows and feedback labels as Parquet blobs)."""

from __future__ import annotations

import datetime as dt
import io
import json

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from mlsteward.monitoring import PredictionWindow, record_prediction_window
from mlsteward.monitoring._serving_stats import ServingStats
from mlsteward.platform import Platform
from mlsteward.profiles import profile_frame
from mlsteward.registry import ModelFile, register_model_version
from mlsteward.security import SYSTEM, Actor, add_member, authenticate_password, create_user

from ..server._support import cheap_password_hashing


def user(platform: Platform, name: str, role: str, project: str = "default") -> Actor:
    with cheap_password_hashing():
        create_user(platform, SYSTEM, name, "a-long-password-1")
        add_member(platform, SYSTEM, project, name, role)
        return authenticate_password(platform, name, "a-long-password-1")


def inputs(rows: int, seed: int, *, amount_shift: float = 0.0) -> pd.DataFrame:
    """Three input columns; ``amount_shift`` moves the mean of ``amount`` (drift)."""
    rng = np.random.default_rng(seed)
    return pd.DataFrame(
        {
            "amount": rng.normal(100.0 + amount_shift, 10.0, rows),
            "age": rng.normal(40.0, 5.0, rows),
            "country": rng.choice(["FR", "DE", "IT"], rows),
        }
    )


def register_model(
    platform: Platform, name: str = "fraud", *, training: pd.DataFrame | None = None
) -> int:
    """A version of ``name`` whose files hold the training profile of ``training`` (none
    when it is None); its number."""
    files = [ModelFile("MLmodel", platform.blobs.put_bytes(b"model").address, 5)]
    if training is not None:
        text = json.dumps(profile_frame(training).to_dict()).encode()
        blob = platform.blobs.put_bytes(text)
        files.append(ModelFile("training_profile.json", blob.address, blob.size))
    version = register_model_version(
        platform, SYSTEM, "default", name, source_uri="runs:/r/m", flavor="sklearn", files=files
    )
    return version.version


def _parquet(table: pa.Table) -> bytes:
    buffer = io.BytesIO()
    pq.write_table(table, buffer)
    return buffer.getvalue()


def record_window(
    platform: Platform,
    start: dt.datetime,
    frame: pd.DataFrame,
    predictions: np.ndarray,
    *,
    labels: dict[str, object] | None = None,
    model: str = "fraud",
    version: str = "1",
    deployment: str | None = None,
    seconds: int = 60,
    prefix: str = "p",
    serving: ServingStats | None = None,
    source: str = "test",
) -> PredictionWindow:
    """Record one window of ``frame``'s rows (all sampled, ids ``<prefix><i>``) predicted
    ``predictions``, with feedback ``labels`` (prediction id -> label, sent as JSON) and the
    ``serving`` statistics of server process ``source``."""
    both = frame.assign(prediction=predictions)
    ids = [f"{prefix}{i}" for i in range(len(frame))]
    profile = json.dumps(profile_frame(both).to_dict()).encode()
    rows = _parquet(pa.Table.from_pandas(both.assign(prediction_id=ids), preserve_index=False))
    given = labels or {}
    feedback = _parquet(
        pa.table(
            {
                "prediction_id": pa.array(list(given), pa.string()),
                "label": pa.array([json.dumps(v) for v in given.values()], pa.string()),
                "received_at": pa.array([start] * len(given), pa.timestamp("us", tz="UTC")),
            }
        )
    )
    addresses = {
        field: platform.blobs.put_bytes(data).address
        for field, data in (
            ("profile_address", profile),
            ("rows_address", rows),
            ("feedback_address", feedback),
        )
    }
    return record_prediction_window(
        platform, SYSTEM, "default", model_name=model, model_version=version,
        start=start, end=start + dt.timedelta(seconds=seconds), rows=len(frame),
        sampled_rows=len(frame), feedback_labels=len(given), output_columns=["prediction"],
        source=source, deployment=deployment, serving=serving, **addresses,
    )  # fmt: skip
