"""Prediction logging over a real server: every protocol feeds one window's profile and row log,
the window ships to a folder (on close and on shutdown), a slow or failing sink never holds a
request, and the queue stays bounded."""

from __future__ import annotations

import json
import threading
import time
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import pandas as pd
import pyarrow.parquet as pq
import pytest
from prometheus_client.parser import text_string_to_metric_families

from mlsteward.errors import InvalidArgument
from mlsteward.profiles import DatasetProfile, profile_frame
from mlsteward.serving._core import ServedModel
from mlsteward.serving._metrics import ServingMetrics
from mlsteward.serving._prediction_log import (
    PREDICTION_IDS,
    ClosedWindow,
    LoggingPredict,
    PredictionLogger,
    PredictionLogOptions,
    is_sampled,
)
from mlsteward.serving._prediction_sinks import FolderSink
from mlsteward.serving._prediction_tables import input_frame, mask_frame, output_frame

from ._logging_support import iris_model, running, server_app, windows_in

COLUMNS_CHECKED = ("count", "null_count", "min", "max", "mean")


@pytest.fixture(scope="module")
def iris(tmp_path_factory: pytest.TempPathFactory) -> tuple[ServedModel, pd.DataFrame]:
    return iris_model(tmp_path_factory.mktemp("iris") / "m")


class RecordingSink:
    def __init__(self) -> None:
        self.windows: list[ClosedWindow] = []

    def ship(self, window: ClosedWindow) -> None:
        self.windows.append(window)


class FailingSink:
    def __init__(self) -> None:
        self.calls = 0

    def ship(self, window: ClosedWindow) -> None:
        self.calls += 1
        raise OSError("the disk is full")


class HangingSink:
    def __init__(self) -> None:
        self.release = threading.Event()
        self.entered = threading.Event()

    def ship(self, window: ClosedWindow) -> None:
        self.entered.set()
        self.release.wait(60)


def scrape(base: str) -> dict[tuple[str, frozenset[tuple[str, str]]], float]:
    text = httpx.get(f"{base}/metrics", timeout=10).text
    return {
        (s.name, frozenset(s.labels.items())): s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
    }


def oip_body(frame: pd.DataFrame) -> dict[str, Any]:
    return {
        "inputs": [
            {"name": c, "shape": [len(frame)], "datatype": "FP64", "data": frame[c].tolist()}
            for c in frame.columns
        ]
    }


def send_all_protocols(base: str, x: pd.DataFrame) -> list[str]:
    """Rows 0-4 on /v1, 5-11 on OIP, 12-17 on /invocations; the prediction ids, in order."""
    v1 = httpx.post(
        f"{base}/v1/models/iris/predict",
        json={"records": x.iloc[0:5].to_dict(orient="records")},
        timeout=30,
    )
    oip = httpx.post(
        f"{base}/v2/models/iris/infer",
        json=oip_body(x.iloc[5:12]),
        headers={"X-Request-ID": "req-oip"},
        timeout=30,
    )
    mlflow = httpx.post(
        f"{base}/invocations",
        json={"dataframe_split": x.iloc[12:18].to_dict(orient="split", index=False)},
        headers={"X-Request-ID": "req-mlflow"},
        timeout=30,
    )
    assert [v1.status_code, oip.status_code, mlflow.status_code] == [200, 200, 200]
    v1_ids = [p["id"] for p in v1.json()["predictions"]]
    return [
        *v1_ids,
        *(f"req-oip-{i}" for i in range(7)),
        *(f"req-mlflow-{i}" for i in range(6)),
    ]


# --- a real server, every protocol --------------------------------------------------------


def test_every_protocol_feeds_the_window_profile_and_row_log(iris: Any, tmp_path: Path) -> None:
    model, x = iris
    metrics = ServingMetrics()
    logger = PredictionLogger(
        FolderSink(tmp_path), window_seconds=3600, sample_rate=1.0, metrics=metrics
    )
    with running(server_app(model, logger, metrics)) as base:
        ids = send_all_protocols(base, x)
    (window,) = windows_in(tmp_path)  # shipped on shutdown; warm-up predictions not logged
    assert window.parent == tmp_path / "iris" / "1"

    inputs = x.iloc[0:18].reset_index(drop=True)
    expected = profile_frame(inputs.assign(prediction=model.loaded.predict(inputs)))
    profile = DatasetProfile.from_dict(json.loads((window / "profile.json").read_text()))
    assert profile.row_count == expected.row_count == 18
    assert list(profile.columns) == [*x.columns, "prediction"]
    for name, column in expected.columns.items():
        for field in COLUMNS_CHECKED:
            assert getattr(profile.columns[name], field) == pytest.approx(getattr(column, field))
        assert profile.columns[name].quantile(0.5) == pytest.approx(column.quantile(0.5))
        assert profile.columns[name].distinct_estimate() == pytest.approx(
            column.distinct_estimate()
        )

    rows = pq.read_table(window / "rows.parquet").to_pandas()
    assert rows["prediction_id"].tolist() == ids
    assert np.allclose(rows[list(x.columns)].to_numpy(), inputs.to_numpy())
    assert rows["prediction"].tolist() == model.loaded.predict(inputs).tolist()
    manifest = json.loads((window / "window.json").read_text())
    assert manifest["type"] == "mlsteward.prediction_window"
    assert manifest["schema_version"] == 1
    assert (manifest["rows"], manifest["sampled_rows"], manifest["feedback_labels"]) == (18, 18, 0)
    assert manifest["output_columns"] == ["prediction"]
    assert manifest["input_columns"] == list(x.columns)
    assert not list(tmp_path.glob(".partial-*"))


def test_a_window_closes_while_the_server_runs(iris: Any, tmp_path: Path) -> None:
    model, x = iris
    metrics = ServingMetrics()
    logger = PredictionLogger(FolderSink(tmp_path), window_seconds=0.2, metrics=metrics)
    with running(server_app(model, logger, metrics)) as base:
        answer = httpx.post(
            f"{base}/v1/models/iris/predict",
            json={"records": x.head(3).to_dict(orient="records")},
            timeout=30,
        )
        assert answer.status_code == 200
        deadline = time.monotonic() + 30
        while not windows_in(tmp_path):
            assert time.monotonic() < deadline, "no window was shipped"
            time.sleep(0.05)
        shipped = windows_in(tmp_path)
    assert len(shipped) == 1  # no rows after it: no more windows, not even on shutdown
    manifest = json.loads((shipped[0] / "window.json").read_text())
    assert manifest["rows"] == 3


def test_graceful_shutdown_ships_the_open_window(iris: Any, tmp_path: Path) -> None:
    model, x = iris
    metrics = ServingMetrics()
    logger = PredictionLogger(FolderSink(tmp_path), window_seconds=86_400, metrics=metrics)
    with running(server_app(model, logger, metrics)) as base:
        answer = httpx.post(
            f"{base}/invocations",
            json={"dataframe_split": x.head(4).to_dict(orient="split", index=False)},
            timeout=30,
        )
        assert answer.status_code == 200
        assert windows_in(tmp_path) == []  # the day-long window is still open
    (window,) = windows_in(tmp_path)
    assert json.loads((window / "window.json").read_text())["rows"] == 4


def test_the_cli_options_build_a_logger_with_a_folder_sink(tmp_path: Path) -> None:
    options = PredictionLogOptions(
        lambda: FolderSink(tmp_path), window_seconds=5, sample_rate=0.5, mask_columns={"a": None}
    )
    logger = options.logger(None)
    assert isinstance(logger.sink, FolderSink)
    assert (logger.window_seconds, logger.sample_rate, logger.mask_columns) == (
        5.0,
        0.5,
        {"a": None},
    )


# --- sampling and masking -----------------------------------------------------------------


def _submit_frame(logger: PredictionLogger, model: ServedModel, frame: pd.DataFrame) -> list[str]:
    ids = [f"id-{i}" for i in range(len(frame))]
    assert logger.submit(model, frame, np.zeros(len(frame)), ids=ids, request_id=None)
    return ids


def test_the_sample_rate_is_honoured_and_the_same_ids_give_the_same_sample(iris: Any) -> None:
    model, _ = iris
    frame = pd.DataFrame({"a": np.arange(20_000, dtype=float)})
    sinks = [RecordingSink(), RecordingSink()]
    for sink in sinks:
        logger = PredictionLogger(sink, window_seconds=86_400, sample_rate=0.1)
        logger.start()
        _submit_frame(logger, model, frame)
        logger.close()
    first, second = (sink.windows[0] for sink in sinks)
    assert first.rows == 20_000
    # Binomial(20000, 0.1): mean 2000, standard deviation 42; 5 deviations either side.
    assert 1790 <= first.sampled_rows <= 2210
    assert first.sampled["prediction_id"].tolist() == second.sampled["prediction_id"].tolist()
    assert all(is_sampled(i, 0.1) for i in first.sampled["prediction_id"])
    assert first.sampled["a"].tolist() == [
        float(i.removeprefix("id-")) for i in first.sampled["prediction_id"]
    ]


def test_sampled_rows_of_a_classifier_carry_its_class_probabilities(iris: Any) -> None:
    """What ROC AUC and log loss over time need: each sampled row's ``score.<class>``, equal
    to the model's own ``predict_proba``; rows not sampled cost no probability."""
    from sklearn.datasets import load_iris
    from sklearn.metrics import roc_auc_score

    from mlsteward.monitoring import ClassificationQuality, join_feedback, quality_over_time

    model, x = iris
    sink = RecordingSink()
    logger = PredictionLogger(sink, window_seconds=86_400, sample_rate=0.5)
    logger.start()
    ids = [f"id-{i}" for i in range(len(x))]
    assert logger.submit(model, x, model.loaded.predict(x), ids=ids, request_id=None)
    logger.close()
    (window,) = sink.windows
    sampled = window.sampled
    assert 0 < len(sampled) < len(x)
    rows = [ids.index(i) for i in sampled["prediction_id"]]
    expected = model.loaded.predict_proba(x.iloc[rows])
    scores = ["score.0", "score.1", "score.2"]
    assert sampled[scores].to_numpy().tolist() == expected.tolist()
    assert window.output_columns == ["prediction"]  # scores are in the rows, not the profile

    _, y = load_iris(return_X_y=True, as_frame=True)
    feedback = pd.DataFrame(
        {
            "prediction_id": sampled["prediction_id"],
            "label": [str(int(y.iloc[r])) for r in rows],
            "received_at": pd.Timestamp("2026-11-29", tz="UTC"),
        }
    )
    joined, coverage = join_feedback(sampled, feedback)
    assert coverage == 1.0
    (quality,) = quality_over_time(
        [(0, 1, joined)], task="classification", score_columns=scores, classes=[0, 1, 2]
    )
    assert quality.quality is not None
    auc = roc_auc_score(y.iloc[rows], expected, multi_class="ovr")
    assert isinstance(quality.quality, ClassificationQuality)
    assert quality.quality.roc_auc.value == pytest.approx(auc)


def test_a_predict_proba_that_fails_leaves_the_rows_without_scores(iris: Any) -> None:
    model, _ = iris
    sink = RecordingSink()
    logger = PredictionLogger(sink, window_seconds=86_400, sample_rate=1.0)
    logger.start()
    frame = pd.DataFrame({"a": [1.0, 2.0, 3.0]})  # not what the model takes: predict_proba fails
    _submit_frame(logger, model, frame)
    logger.close()
    (window,) = sink.windows
    assert list(window.sampled.columns) == ["prediction_id", "a", "prediction"]


def test_masked_columns_never_reach_the_row_log_in_clear(iris: Any, tmp_path: Path) -> None:
    model, _ = iris
    emails = [f"person{i}@example.com" for i in range(50)]
    cards = ["4111 1111 1111 1111", "5500 0000 0000 0004"] * 25
    names = [f"Name Surname{i}" for i in range(50)]
    frame = pd.DataFrame({"email": emails, "card": cards, "name": names, "amount": range(50)})
    logger = PredictionLogger(
        FolderSink(tmp_path),
        window_seconds=86_400,
        sample_rate=1.0,
        mask_columns={"email": "email", "card": "payment_card", "name": None},
    )
    logger.start()
    _submit_frame(logger, model, frame)
    logger.close()
    (window,) = windows_in(tmp_path)
    rows = pq.read_table(window / "rows.parquet").to_pandas()
    assert rows["amount"].tolist() == list(range(50))
    assert set(rows["email"]) == {"****@example.com"}
    assert set(rows["card"]) == {"****1111", "****0004"}
    assert set(rows["name"]) == {"****"}
    raw = b"".join(p.read_bytes() for p in window.iterdir())
    for clear in [*emails, *cards, *names]:
        assert clear.encode() not in raw
    profile = DatasetProfile.from_dict(json.loads((window / "profile.json").read_text()))
    assert profile.columns["email"].pii
    assert profile.columns["email"].frequent() == []
    assert not profile.columns["amount"].pii


def test_mask_frame_keeps_missing_values_missing() -> None:
    frame = pd.DataFrame({"email": ["a@example.com", None], "n": [1, 2]})
    masked = mask_frame(frame, {"email": "email", "absent": None})
    assert masked["email"].tolist()[0] == "****@example.com"
    assert pd.isna(masked["email"].tolist()[1])
    assert frame["email"].tolist()[0] == "a@example.com"  # the input is left alone


# --- tables of inputs and outputs ---------------------------------------------------------


@pytest.mark.parametrize(
    ("data", "columns"),
    [
        (pd.DataFrame({"a": [1, 2]}), ["a"]),
        (np.array([1.0, 2.0]), ["input"]),
        (np.array([[1.0, 2.0], [3.0, 4.0]]), ["0", "1"]),
        ({"x": np.array([1, 2]), "y": np.array([[1, 2], [3, 4]])}, ["x", "y.0", "y.1"]),
    ],
    ids=["frame", "vector", "matrix", "named-tensors"],
)
def test_inputs_become_tables(data: Any, columns: list[str]) -> None:
    frame = input_frame(data)
    assert frame is not None
    assert [str(c) for c in frame.columns] == columns
    assert len(frame) == 2


@pytest.mark.parametrize(
    "data",
    [np.zeros((2, 3, 3)), {"x": np.zeros(2), "y": np.zeros(3)}, "text", None, [[1, 2]]],
    ids=["image", "ragged-tensors", "string", "none", "list"],
)
def test_inputs_that_are_no_table_are_refused(data: Any) -> None:
    assert input_frame(data) is None


def test_outputs_become_prediction_columns() -> None:
    assert list(output_frame(np.array([1, 2]), 2, set()).columns) == ["prediction"]
    assert list(output_frame(np.zeros((2, 2)), 2, set()).columns) == [
        "prediction.0",
        "prediction.1",
    ]
    named = output_frame(pd.DataFrame({"p": [1, 2]}), 2, {"prediction.p"})
    assert list(named.columns) == ["output:prediction.p"]
    assert output_frame(np.zeros(3), 2, set()) is None  # not one value per row
    assert output_frame(np.float64(1.0), 1, set()) is None


def test_unsupported_inputs_are_counted_as_not_logged(iris: Any) -> None:
    model, _ = iris
    metrics = ServingMetrics()
    sink = RecordingSink()
    logger = PredictionLogger(sink, window_seconds=86_400, metrics=metrics)
    logger.start()
    assert logger.submit(model, np.zeros((4, 3, 3)), np.zeros(4), ids=None, request_id="r")
    logger.close()
    assert sink.windows == []
    assert logger.dropped_rows == 4
    samples = text_string_to_metric_families(metrics.exposition().decode())
    dropped = {
        s.labels.get("reason"): s.value
        for family in samples
        for s in family.samples
        if s.name == "mlsteward_prediction_log_dropped_rows_total"
    }
    assert dropped == {"unsupported_input": 4}


# --- sinks that fail or hang; the queue bound ---------------------------------------------


def test_a_failing_sink_is_retried_then_its_window_dropped_and_counted(iris: Any) -> None:
    model, x = iris
    metrics = ServingMetrics()
    sink = FailingSink()
    logger = PredictionLogger(sink, window_seconds=86_400, retry_delays=(0.0, 0.0), metrics=metrics)
    logger.start()
    _submit_frame(logger, model, x.head(7))
    logger.close()
    assert sink.calls == 3
    assert (logger.shipped_windows, logger.dropped_windows, logger.dropped_rows) == (0, 1, 7)
    text = metrics.exposition().decode()
    assert 'mlsteward_prediction_log_dropped_rows_total{reason="shipping_failed"} 7.0' in text
    assert "mlsteward_prediction_log_dropped_windows_total 1.0" in text


def test_a_hanging_sink_never_delays_a_request_and_windows_beyond_the_bound_are_dropped(
    iris: Any,
) -> None:
    model, x = iris
    metrics = ServingMetrics()
    sink = HangingSink()
    logger = PredictionLogger(sink, window_seconds=0.05, max_pending_windows=1, metrics=metrics)
    body = {"records": x.head(2).to_dict(orient="records")}
    try:
        with running(server_app(model, logger, metrics)) as base:
            deadline = time.monotonic() + 60
            while True:
                answer = httpx.post(f"{base}/v1/models/iris/predict", json=body, timeout=30)
                assert answer.status_code == 200
                if logger.dropped_windows >= 2:
                    break
                assert time.monotonic() < deadline, "no window was dropped"
                time.sleep(0.02)
            samples = scrape(base)
            assert samples[("mlsteward_prediction_log_dropped_windows_total", frozenset())] >= 2
            key = frozenset({("reason", "shipping_failed")})
            assert samples[("mlsteward_prediction_log_dropped_rows_total", key)] >= 4
            assert sink.entered.is_set()
            logger.close(timeout=0.5)  # the hung sink holds its thread: close gives up on it
    finally:
        sink.release.set()


def test_the_queue_bound_drops_whole_submissions_and_counts_them(iris: Any) -> None:
    model, x = iris
    metrics = ServingMetrics()
    logger = PredictionLogger(RecordingSink(), max_waiting_rows=10, metrics=metrics)
    body = {"records": x.head(3).to_dict(orient="records")}
    # Without the lifespan the logger's thread never starts: nothing drains the queue.
    with running(server_app(model, logger, metrics), lifespan="off") as base:
        answers = [
            httpx.post(f"{base}/v1/models/iris/predict", json=body, timeout=30) for _ in range(5)
        ]
        samples = scrape(base)
    assert [a.status_code for a in answers] == [200] * 5
    key = frozenset({("reason", "queue_full")})
    assert samples[("mlsteward_prediction_log_dropped_rows_total", key)] == 6  # 3 fit, 2 did not
    assert logger.dropped_rows == 6


def test_logging_predict_uses_the_ids_the_protocol_set(iris: Any) -> None:
    import anyio

    model, x = iris
    sink = RecordingSink()
    logger = PredictionLogger(sink, window_seconds=86_400, sample_rate=1.0)

    async def predict(model: ServedModel, data: Any) -> Any:
        return model.loaded.predict(data)

    async def main() -> None:
        PREDICTION_IDS.set(["a", "b"])
        await LoggingPredict(predict, logger)(model, x.head(2))

    logger.start()
    anyio.run(main)
    logger.close()
    assert sink.windows[0].sampled["prediction_id"].tolist() == ["a", "b"]


BAD_OPTIONS: list[tuple[str, dict[str, Any], str]] = [
    ("zero-window", {"window_seconds": 0}, "log window must be between"),
    ("negative-window", {"window_seconds": -1}, "log window must be between"),
    ("long-window", {"window_seconds": 86_401}, "log window must be between"),
    ("rate-above-1", {"sample_rate": 1.5}, "sample rate must be between 0 and 1"),
    ("negative-rate", {"sample_rate": -0.1}, "sample rate must be between 0 and 1"),
    ("no-queue", {"max_waiting_rows": 0}, "must be at least 1"),
    ("unknown-pii-class", {"mask_columns": {"email": "e-mail"}}, "unknown PII class 'e-mail'"),
]


@pytest.mark.parametrize(
    ("options", "message"), [c[1:] for c in BAD_OPTIONS], ids=[c[0] for c in BAD_OPTIONS]
)
def test_bad_logger_options_are_refused(options: dict[str, Any], message: str) -> None:
    with pytest.raises(InvalidArgument) as raised:
        PredictionLogger(RecordingSink(), **options)
    assert message in raised.value.message


def test_row_blocks_and_frames_fold_into_one_profile_like_a_direct_one(iris: Any) -> None:
    from mlsteward.serving._row_blocks import RowBlock

    model, x = iris
    sink = RecordingSink()
    logger = PredictionLogger(sink, window_seconds=86_400, sample_rate=1.0)
    names = tuple(x.columns)
    for row in range(10):  # single-row blocks, the common case under load
        block = RowBlock(names, x.iloc[row : row + 1].to_numpy())
        logger.submit(model, block, np.array([row % 3]), ids=None, request_id=f"r{row}")
    logger.submit(model, x.iloc[10:14], np.array([0, 1, 2, 0]), ids=list("abcd"), request_id=None)
    logger.start()  # everything waits in the queue: one batch folds both kinds
    logger.close()
    (window,) = sink.windows
    expected_frame = x.iloc[0:14].reset_index(drop=True)
    expected_frame["prediction"] = [r % 3 for r in range(10)] + [0, 1, 2, 0]
    expected = profile_frame(expected_frame)
    assert window.profile.row_count == 14
    for name, column in expected.columns.items():
        for field in COLUMNS_CHECKED:
            assert getattr(window.profile.columns[name], field) == pytest.approx(
                getattr(column, field)
            )
    assert sorted(window.sampled["prediction_id"]) == sorted(
        [f"r{row}-0" for row in range(10)] + list("abcd")
    )
    assert window.output_columns == ["prediction"]
