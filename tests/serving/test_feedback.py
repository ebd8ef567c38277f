"""Delayed labels over a real server: ``POST /v1/models/{name}/feedback`` lands labels in the
window's feedback Parquet with their prediction ids; bad input is a 4xx and records nothing."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import httpx
import pandas as pd
import pyarrow.parquet as pq
import pytest

from mlsteward.serving._core import ServedModel
from mlsteward.serving._metrics import ServingMetrics
from mlsteward.serving._prediction_log import PredictionLogger
from mlsteward.serving._prediction_sinks import FolderSink

from ._logging_support import iris_model, running, server_app, windows_in


@pytest.fixture(scope="module")
def iris(tmp_path_factory: pytest.TempPathFactory) -> tuple[ServedModel, pd.DataFrame]:
    return iris_model(tmp_path_factory.mktemp("iris") / "m")


def test_labels_land_in_the_window_feedback_with_their_prediction_ids(
    iris: Any, tmp_path: Path
) -> None:
    model, x = iris
    metrics = ServingMetrics()
    logger = PredictionLogger(FolderSink(tmp_path), window_seconds=86_400, metrics=metrics)
    with running(server_app(model, logger, metrics)) as base:
        answer = httpx.post(
            f"{base}/v1/models/iris/predict",
            json={"records": x.head(3).to_dict(orient="records")},
            timeout=30,
        )
        ids = [p["id"] for p in answer.json()["predictions"]]
        labels = [
            {"prediction_id": ids[0], "label": 0},
            {"prediction_id": ids[1], "label": "setosa"},
            {"prediction_id": ids[2], "label": 1.5},
            {"prediction_id": "req-oip-0", "label": True},
        ]
        sent = httpx.post(f"{base}/v1/models/iris/feedback", json={"labels": labels}, timeout=30)
        assert sent.status_code == 202
        assert sent.json() == {"accepted": 4}
    (window,) = windows_in(tmp_path)
    feedback = pq.read_table(window / "feedback.parquet").to_pandas()
    assert feedback["prediction_id"].tolist() == [*ids, "req-oip-0"]
    assert [json.loads(v) for v in feedback["label"]] == [0, "setosa", 1.5, True]
    assert str(feedback["received_at"].dtype).startswith("datetime64")
    assert json.loads((window / "window.json").read_text())["feedback_labels"] == 4


def _label(i: int) -> dict[str, Any]:
    return {"prediction_id": f"p{i}", "label": 1}


BAD_BODIES: list[tuple[str, bytes, str, int, str]] = [
    ("not-json", b"{labels:", "application/json", 400, "not valid JSON"),
    ("not-an-object", b"[1, 2]", "application/json", 400, "must be a JSON object"),
    ("no-labels-key", b'{"label": []}', "application/json", 400, "must be a JSON object"),
    ("unknown-key", b'{"labels": [], "x": 1}', "application/json", 400, "unknown key 'x'"),
    ("labels-not-a-list", b'{"labels": {"a": 1}}', "application/json", 400, "non-empty list"),
    ("empty", b'{"labels": []}', "application/json", 400, "non-empty list"),
    ("entry-not-an-object", b'{"labels": [1]}', "application/json", 400, "labels[0] must be"),
    (
        "missing-label",
        b'{"labels": [{"prediction_id": "a"}]}',
        "application/json",
        400,
        "exactly prediction_id and label",
    ),
    (
        "extra-field",
        b'{"labels": [{"prediction_id": "a", "label": 1, "x": 2}]}',
        "application/json",
        400,
        "exactly prediction_id and label",
    ),
    (
        "id-a-number",
        b'{"labels": [{"prediction_id": 7, "label": 1}]}',
        "application/json",
        400,
        "prediction_id must be",
    ),
    (
        "id-empty",
        b'{"labels": [{"prediction_id": "", "label": 1}]}',
        "application/json",
        400,
        "prediction_id must be",
    ),
    (
        "id-too-long",
        json.dumps({"labels": [{"prediction_id": "a" * 201, "label": 1}]}).encode(),
        "application/json",
        400,
        "prediction_id must be",
    ),
    (
        "label-null",
        b'{"labels": [{"prediction_id": "a", "label": null}]}',
        "application/json",
        400,
        "not null",
    ),
    (
        "label-object",
        b'{"labels": [{"prediction_id": "a", "label": {"x": 1}}]}',
        "application/json",
        400,
        "not dict",
    ),
    (
        "label-nan",
        b'{"labels": [{"prediction_id": "a", "label": NaN}]}',
        "application/json",
        400,
        "not a finite number",
    ),
    (
        "second-entry-bad",
        b'{"labels": [{"prediction_id": "a", "label": 1}, {"prediction_id": 2, "label": 1}]}',
        "application/json",
        400,
        "labels[1].prediction_id",
    ),
    (
        "too-many",
        json.dumps({"labels": [_label(i) for i in range(10_001)]}).encode(),
        "application/json",
        413,
        "more than the limit of 10000",
    ),
    (
        "oversized-body",
        b'{"labels": [{"prediction_id": "' + b"a" * (5 * 1024 * 1024) + b'", "label": 1}]}',
        "application/json",
        413,
        "larger than the limit",
    ),
    ("csv", b"prediction_id,label\na,1\n", "text/csv", 415, "must be application/json"),
]


def test_every_bad_feedback_is_a_4xx_and_nothing_is_recorded(iris: Any, tmp_path: Path) -> None:
    model, _ = iris
    metrics = ServingMetrics()
    logger = PredictionLogger(FolderSink(tmp_path), window_seconds=86_400, metrics=metrics)
    with running(server_app(model, logger, metrics)) as base:
        for case, body, content_type, status, message in BAD_BODIES:
            answer = httpx.post(
                f"{base}/v1/models/iris/feedback",
                content=body,
                headers={"content-type": content_type},
                timeout=30,
            )
            assert answer.status_code == status, case
            error = answer.json()["error"]
            assert message in error["message"], (case, error["message"])
        unknown = httpx.post(
            f"{base}/v1/models/nope/feedback", json={"labels": [_label(1)]}, timeout=30
        )
        assert unknown.status_code == 404
        assert "no model named 'nope'" in unknown.json()["error"]["message"]
        wrong_method = httpx.get(f"{base}/v1/models/iris/feedback", timeout=30)
        assert wrong_method.status_code == 405
        assert wrong_method.headers["allow"] == "POST"
    assert windows_in(tmp_path) == []  # no label of any of them was recorded


def test_a_server_without_prediction_logging_takes_no_feedback(iris: Any) -> None:
    model, _ = iris
    metrics = ServingMetrics()
    with running(server_app(model, None, metrics)) as base:
        answer = httpx.post(
            f"{base}/v1/models/iris/feedback", json={"labels": [_label(1)]}, timeout=30
        )
    assert answer.status_code == 404
    assert "--prediction-log" in answer.json()["error"]["message"]


def test_labels_beyond_the_queue_bound_get_503_with_retry_after(iris: Any) -> None:
    model, _ = iris
    metrics = ServingMetrics()
    logger = PredictionLogger(FolderSink("/nonexistent-never-written"), max_waiting_rows=3)
    with running(server_app(model, logger, metrics), lifespan="off") as base:
        first = httpx.post(
            f"{base}/v1/models/iris/feedback",
            json={"labels": [_label(i) for i in range(3)]},
            timeout=30,
        )
        second = httpx.post(
            f"{base}/v1/models/iris/feedback", json={"labels": [_label(9)]}, timeout=30
        )
    assert first.status_code == 202
    assert second.status_code == 503
    assert second.headers["retry-after"] == "1"
    assert "retry later" in second.json()["error"]["message"]


@pytest.mark.parametrize("labels", [10_000], ids=["at-the-limit"])
def test_the_label_limit_itself_is_accepted(iris: Any, tmp_path: Path, labels: int) -> None:
    model, _ = iris
    metrics = ServingMetrics()
    logger = PredictionLogger(FolderSink(tmp_path), window_seconds=86_400, metrics=metrics)
    with running(server_app(model, logger, metrics)) as base:
        answer = httpx.post(
            f"{base}/v1/models/iris/feedback",
            json={"labels": [_label(i) for i in range(labels)]},
            timeout=30,
        )
        assert answer.status_code == 202
    (window,) = windows_in(tmp_path)
    assert pq.read_table(window / "feedback.parquet").num_rows == labels
