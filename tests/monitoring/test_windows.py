"""Prediction windows on the platform: the serving ``PlatformSink`` stores a window's files as
blobs and records it through ``record_prediction_window`` (editors, audited, blobs kept from
garbage collection), ``list_prediction_windows`` reads them back; on SQLite and PostgreSQL."""

from __future__ import annotations

import datetime as dt
import io
import json
from typing import Any

import numpy as np
import pandas as pd
import pyarrow.parquet as pq
import pytest
from sqlalchemy import func, select

from mlsteward.errors import InvalidArgument, NotFound, PermissionDenied
from mlsteward.monitoring import (
    list_prediction_windows,
    record_prediction_window,
    training_pii_columns,
)
from mlsteward.monitoring._tables import prediction_windows
from mlsteward.platform import Platform, referenced_blob_addresses
from mlsteward.profiles import DatasetProfile
from mlsteward.security import (
    SYSTEM,
    Actor,
    add_member,
    authenticate_password,
    create_user,
    list_audit_events,
)
from mlsteward.serving._core import ServedModel
from mlsteward.serving._prediction_log import ClosedWindow, PredictionLogger
from mlsteward.serving._prediction_sinks import PlatformSink

from ..data._lineage_rows import add_dataset, new_run, register_from, set_detected_class
from ..server._support import cheap_password_hashing

START = dt.datetime(2026, 11, 29, 13, 0, tzinfo=dt.UTC)


def user(platform: Platform, name: str, role: str) -> Actor:
    with cheap_password_hashing():
        create_user(platform, SYSTEM, name, "a-long-password-1")
        add_member(platform, SYSTEM, "default", name, role)
        return authenticate_password(platform, name, "a-long-password-1")


def count(platform: Platform) -> int:
    with platform.db.read() as conn:
        return int(conn.execute(select(func.count()).select_from(prediction_windows)).scalar_one())


class _Recording:
    def __init__(self) -> None:
        self.windows: list[ClosedWindow] = []

    def ship(self, window: ClosedWindow) -> None:
        self.windows.append(window)


def closed_window() -> tuple[ClosedWindow, pd.DataFrame]:
    """A real window from the prediction log: 40 rows, all sampled, two labels."""
    frame = pd.DataFrame({"amount": np.arange(40, dtype=float), "country": ["FR", "DE"] * 20})
    sink = _Recording()
    logger = PredictionLogger(sink, window_seconds=86_400, sample_rate=1.0)
    model = ServedModel("fraud", "3", loaded=None, platform="sklearn")  # type: ignore[arg-type]
    logger.start()
    ids = [f"p{i}" for i in range(40)]
    logger.submit(model, frame, np.arange(40) % 2, ids=ids, request_id=None)
    logger.submit_feedback(model, [("p1", "1"), ("p2", "0")])
    logger.close()
    (window,) = sink.windows
    return window, frame


def test_the_platform_sink_records_a_window_whose_blobs_are_readable(
    backend_platform: Platform,
) -> None:
    platform = backend_platform
    editor = user(platform, "eve", "editor")
    window, frame = closed_window()
    PlatformSink(platform, editor, "default", deployment="fraud-prod").ship(window)

    (stored,) = list_prediction_windows(platform, editor, "default")
    assert (stored.model_name, stored.model_version, stored.deployment) == (
        "fraud",
        "3",
        "fraud-prod",
    )
    assert (stored.rows, stored.sampled_rows, stored.feedback_labels) == (40, 40, 2)
    assert stored.output_columns == ("prediction",)
    assert stored.start == dt.datetime.fromtimestamp(window.start, dt.UTC)
    assert stored.end - stored.start == dt.timedelta(days=1)
    assert stored.created_by == "eve"
    assert stored.to_json()["profile_address"] == stored.profile_address

    profile = DatasetProfile.from_dict(json.loads(platform.blobs.get_bytes(stored.profile_address)))
    assert profile.row_count == 40
    assert profile.columns["amount"].max == 39.0
    rows = pq.read_table(io.BytesIO(platform.blobs.get_bytes(stored.rows_address))).to_pandas()
    assert rows["amount"].tolist() == frame["amount"].tolist()
    assert rows["prediction_id"].tolist()[:2] == ["p0", "p1"]
    feedback = pq.read_table(io.BytesIO(platform.blobs.get_bytes(stored.feedback_address)))
    assert feedback.column("prediction_id").to_pylist() == ["p1", "p2"]

    referenced = referenced_blob_addresses(platform)
    for address in (stored.profile_address, stored.rows_address, stored.feedback_address):
        assert address in referenced
    (event,) = list_audit_events(platform, SYSTEM, action="monitoring.prediction_window.record")
    assert event.target_id == stored.id
    assert event.details["rows"] == 40


def test_listing_filters_by_model_version_deployment_and_time(backend_platform: Platform) -> None:
    platform = backend_platform
    blob = platform.blobs.put_bytes(b"{}").address

    def record(model: str, version: str, hours: int, deployment: str | None = None) -> str:
        return record_prediction_window(
            platform, SYSTEM, "default", model_name=model, model_version=version,
            start=START + dt.timedelta(hours=hours), end=START + dt.timedelta(hours=hours + 1),
            rows=5, sampled_rows=1, feedback_labels=0, profile_address=blob,
            rows_address=blob, feedback_address=blob, deployment=deployment,
        ).id  # fmt: skip

    a = record("fraud", "1", 0)
    b = record("fraud", "2", 1, "prod")
    c = record("churn", "1", 2)
    viewer = user(platform, "val", "viewer")

    def ids(**filters: Any) -> list[str]:
        return [w.id for w in list_prediction_windows(platform, viewer, "default", **filters)]

    assert ids() == [a, b, c]
    assert ids(model_name="fraud") == [a, b]
    assert ids(model_name="fraud", model_version="2") == [b]
    assert ids(deployment="prod") == [b]
    assert ids(since=START + dt.timedelta(hours=1)) == [b, c]
    assert ids(until=START + dt.timedelta(hours=1)) == [a]
    assert ids(limit=1) == [a]


def _good(platform: Platform) -> dict[str, Any]:
    blob = platform.blobs.put_bytes(b"window").address
    return {
        "model_name": "fraud",
        "model_version": "1",
        "start": START,
        "end": START + dt.timedelta(minutes=1),
        "rows": 10,
        "sampled_rows": 1,
        "feedback_labels": 0,
        "profile_address": blob,
        "rows_address": blob,
        "feedback_address": blob,
    }


BAD_FIELDS: list[tuple[str, dict[str, Any], str]] = [
    ("bad-address", {"rows_address": "../../etc/passwd"}, "invalid blob address"),
    ("absent-blob", {"profile_address": "a" * 64}, "is not in the blob store"),
    ("end-before-start", {"end": START - dt.timedelta(seconds=1)}, "must end after it starts"),
    ("naive-start", {"start": dt.datetime(2026, 11, 29)}, "timezone-aware"),
    ("negative-rows", {"rows": -1}, "rows must be a whole number"),
    ("rows-a-float", {"rows": 1.5}, "rows must be a whole number"),
    ("rows-a-bool", {"feedback_labels": True}, "feedback_labels must be a whole number"),
    ("more-sampled-than-rows", {"sampled_rows": 11}, "sampled_rows cannot be more"),
    ("empty-model", {"model_name": ""}, "model_name must be a non-empty string"),
    ("long-version", {"model_version": "9" * 65}, "model_version must be"),
    ("deployment-a-number", {"deployment": 5}, "deployment must be"),
    ("outputs-a-string", {"output_columns": "prediction"}, "output_columns must be a list"),
    ("outputs-not-strings", {"output_columns": [1]}, "output_columns must be a list"),
]


@pytest.mark.parametrize(
    ("changes", "message"), [c[1:] for c in BAD_FIELDS], ids=[c[0] for c in BAD_FIELDS]
)
def test_bad_windows_are_refused_and_nothing_is_written(
    platform: Platform, changes: dict[str, Any], message: str
) -> None:
    fields = {**_good(platform), **changes}
    with pytest.raises(InvalidArgument) as raised:
        record_prediction_window(platform, SYSTEM, "default", **fields)
    assert message in raised.value.message
    assert count(platform) == 0
    assert list_audit_events(platform, SYSTEM, action="monitoring.prediction_window.record") == []


def test_recording_needs_write_on_the_project_and_reading_needs_membership(
    platform: Platform,
) -> None:
    viewer = user(platform, "vic", "viewer")
    with pytest.raises(PermissionDenied):
        record_prediction_window(platform, viewer, "default", **_good(platform))
    assert count(platform) == 0
    with pytest.raises(NotFound):
        record_prediction_window(platform, SYSTEM, "nope", **_good(platform))
    with cheap_password_hashing():
        create_user(platform, SYSTEM, "out", "a-long-password-1")
        outsider = authenticate_password(platform, "out", "a-long-password-1")
    with pytest.raises((PermissionDenied, NotFound)):
        list_prediction_windows(platform, outsider, "default")


@pytest.mark.parametrize(
    ("filters", "message"),
    [({"limit": 0}, "limit"), ({"limit": 10_001}, "limit"), ({"model_name": ""}, "model_name")],
    ids=["limit-0", "limit-too-big", "empty-model"],
)
def test_bad_list_filters_are_refused(
    platform: Platform, filters: dict[str, Any], message: str
) -> None:
    with pytest.raises(InvalidArgument) as raised:
        list_prediction_windows(platform, SYSTEM, "default", **filters)
    assert message in raised.value.message


def test_training_pii_columns_follow_the_lineage_to_the_catalog(platform: Platform) -> None:
    (version_id,) = add_dataset(platform, "transactions", columns=["email", "card", "amount"])
    set_detected_class(platform, "transactions", "email", "email")
    set_detected_class(platform, "transactions", "card", "payment_card")
    run_id = new_run(platform)
    version = register_from(platform, run_id, datasets=[{"dataset_version_id": version_id}])
    found = training_pii_columns(platform, SYSTEM, "default", "fraud", version.version)
    assert found == {"card": "payment_card", "email": "email"}
    assert training_pii_columns(platform, SYSTEM, "default", "fraud", str(version.version)) == found
    untracked = register_from(platform, None, name="other")
    assert training_pii_columns(platform, SYSTEM, "default", "other", untracked.version) == {}
    assert training_pii_columns(platform, SYSTEM, "default", "unknown", 1) == {}
    with pytest.raises(InvalidArgument) as raised:
        training_pii_columns(platform, SYSTEM, "default", "fraud", "latest")
    assert "must be a number" in raised.value.message
