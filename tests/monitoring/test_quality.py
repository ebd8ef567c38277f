"""Model quality from delayed labels: the feedback joined to a window's sampled rows, metrics
equal to scikit-learn's on the same labels, intervals that hold the value and shrink with more
labels, quality per window from a real prediction log's files, and bad input."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
from sklearn import metrics
from sklearn.exceptions import UndefinedMetricWarning

from mlsteward.errors import InvalidArgument
from mlsteward.monitoring import (
    ClassificationQuality,
    MetricEstimate,
    RegressionQuality,
    classification_quality,
    join_feedback,
    quality_over_time,
    regression_quality,
)
from mlsteward.serving._core import ServedModel
from mlsteward.serving._feedback import parse_feedback
from mlsteward.serving._prediction_log import PredictionLogger
from mlsteward.serving._prediction_sinks import FolderSink

START = dt.datetime(2026, 11, 29, 13, 0, tzinfo=dt.UTC)
MINUTE = dt.timedelta(minutes=1)


def same(actual: float | None, expected: float) -> None:
    assert actual == pytest.approx(expected, rel=1e-12, abs=1e-12)


def binary_data(n: int, seed: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Labels, the positive class's probabilities, and the predictions they give."""
    rng = np.random.default_rng(seed)
    y = rng.integers(0, 2, n)
    probability = np.clip(0.35 * y + rng.uniform(0.02, 0.63, n), 0.01, 0.99)
    return y, probability, (probability > 0.5).astype(int)


def multiclass_data(n: int, seed: int, k: int = 4) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    y = rng.integers(0, k, n)
    logits = rng.normal(size=(n, k))
    logits[np.arange(n), y] += 1.2
    probabilities = np.exp(logits) / np.exp(logits).sum(axis=1, keepdims=True)
    return y, probabilities, probabilities.argmax(axis=1)


def regression_data(n: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    y = rng.normal(10.0, 3.0, n)
    return y, y + rng.normal(0.5, 1.5, n)


# -- equality with scikit-learn ------------------------------------------------------------


def test_binary_metrics_equal_scikit_learns() -> None:
    y, probability, predicted = binary_data(5_000, seed=1)
    quality = classification_quality(y, predicted, probability)

    assert (quality.kind, quality.n, quality.classes, quality.positive_label) == (
        "binary",
        5_000,
        (0, 1),
        1,
    )
    same(quality.accuracy.value, metrics.accuracy_score(y, predicted))
    same(quality.precision.value, metrics.precision_score(y, predicted))
    same(quality.recall.value, metrics.recall_score(y, predicted))
    same(quality.f1.value, metrics.f1_score(y, predicted))
    same(quality.roc_auc.value, metrics.roc_auc_score(y, probability))
    same(quality.log_loss.value, metrics.log_loss(y, probability))


def test_binary_metrics_of_named_classes_with_two_probability_columns() -> None:
    y, probability, predicted = binary_data(3_000, seed=2)
    labels = np.where(y == 1, "fraud", "legit")
    decisions = np.where(predicted == 1, "fraud", "legit")
    columns = np.column_stack([probability, 1 - probability])  # sorted: fraud, legit
    quality = classification_quality(labels, decisions, columns, positive_label="fraud")

    assert (quality.kind, quality.classes, quality.positive_label) == (
        "binary",
        ("fraud", "legit"),
        "fraud",
    )
    same(quality.precision.value, metrics.precision_score(labels, decisions, pos_label="fraud"))
    same(quality.recall.value, metrics.recall_score(labels, decisions, pos_label="fraud"))
    same(quality.f1.value, metrics.f1_score(labels, decisions, pos_label="fraud"))
    same(quality.roc_auc.value, metrics.roc_auc_score(labels == "fraud", probability))
    same(quality.log_loss.value, metrics.log_loss(labels, columns))


def test_boolean_labels_are_binary_with_true_positive() -> None:
    y, probability, predicted = binary_data(1_000, seed=3)
    quality = classification_quality(y.astype(bool), predicted.astype(bool), probability)
    assert (quality.kind, quality.classes, quality.positive_label) == (
        "binary",
        (False, True),
        True,
    )
    same(quality.f1.value, metrics.f1_score(y, predicted))


def test_multiclass_macro_metrics_equal_scikit_learns() -> None:
    y, probabilities, predicted = multiclass_data(4_000, seed=4)
    quality = classification_quality(y, predicted, probabilities)

    assert (quality.kind, quality.classes, quality.positive_label) == (
        "multiclass",
        (0, 1, 2, 3),
        None,
    )
    same(quality.accuracy.value, metrics.accuracy_score(y, predicted))
    same(quality.precision.value, metrics.precision_score(y, predicted, average="macro"))
    same(quality.recall.value, metrics.recall_score(y, predicted, average="macro"))
    same(quality.f1.value, metrics.f1_score(y, predicted, average="macro"))
    same(quality.roc_auc.value, metrics.roc_auc_score(y, probabilities, multi_class="ovr"))
    same(quality.log_loss.value, metrics.log_loss(y, probabilities))


def test_multiclass_string_classes_with_columns_in_a_given_order() -> None:
    y, probabilities, predicted = multiclass_data(2_000, seed=5, k=3)
    names = np.array(["setosa", "versicolor", "virginica"])
    order = ["virginica", "setosa", "versicolor"]  # the model's column order
    columns = probabilities[:, [2, 0, 1]]
    labels, decisions = names[y], names[predicted]
    quality = classification_quality(labels, decisions, columns, classes=order)

    assert quality.classes == tuple(order)
    same(quality.f1.value, metrics.f1_score(labels, decisions, average="macro"))
    # scikit-learn wants the columns in sorted class order: the model's, put back in order
    same(quality.roc_auc.value, metrics.roc_auc_score(labels, probabilities, multi_class="ovr"))
    same(quality.log_loss.value, metrics.log_loss(labels, probabilities))


def test_a_class_only_predicted_counts_as_zero_in_the_macro_average() -> None:
    y_true = [0, 0, 1, 1, 2, 2, 1, 0]
    y_pred = [0, 1, 1, 1, 2, 0, 3, 0]  # class 3 is never a label: its recall counts as 0
    quality = classification_quality(y_true, y_pred)
    with pytest.warns(UndefinedMetricWarning):
        expected = metrics.recall_score(y_true, y_pred, average="macro")
    same(quality.recall.value, expected)
    same(quality.precision.value, metrics.precision_score(y_true, y_pred, average="macro"))
    assert quality.classes == (0, 1, 2, 3)


def test_regression_metrics_equal_scikit_learns() -> None:
    y, predicted = regression_data(5_000, seed=6)
    quality = regression_quality(y, predicted)

    assert quality.n == 5_000
    same(quality.mae.value, metrics.mean_absolute_error(y, predicted))
    same(quality.rmse.value, float(np.sqrt(metrics.mean_squared_error(y, predicted))))
    same(quality.r2.value, metrics.r2_score(y, predicted))


# -- intervals -----------------------------------------------------------------------------


def width(estimate: MetricEstimate) -> float:
    assert estimate.lower is not None
    assert estimate.upper is not None
    return estimate.upper - estimate.lower


def _quality(kind: str, n: int) -> ClassificationQuality | RegressionQuality:
    if kind == "binary":
        y, probability, predicted = binary_data(n, seed=7)
        return classification_quality(y, predicted, probability)
    if kind == "multiclass":
        y, probabilities, predicted = multiclass_data(n, seed=8)
        return classification_quality(y, predicted, probabilities)
    y, predicted = regression_data(n, seed=9)
    return regression_quality(y, predicted)


@pytest.mark.parametrize("kind", ["binary", "multiclass", "regression"])
def test_intervals_hold_the_value_and_shrink_with_more_labels(kind: str) -> None:
    widths: dict[str, list[float]] = {}
    for n in (300, 3_000, 30_000):
        for name, estimate in _quality(kind, n).metrics.items():
            assert estimate.value is not None, name
            assert estimate.lower is not None, name
            assert estimate.upper is not None, name
            assert estimate.lower <= estimate.value <= estimate.upper, (name, n)
            widths.setdefault(name, []).append(estimate.upper - estimate.lower)
    for name, (small, medium, large) in widths.items():
        assert small > medium > large > 0, name


def test_the_same_labels_give_the_same_intervals_and_more_confidence_wider_ones() -> None:
    y, probabilities, predicted = multiclass_data(1_000, seed=10)
    first = classification_quality(y, predicted, probabilities)
    again = classification_quality(y, predicted, probabilities)
    wider = classification_quality(y, predicted, probabilities, confidence=0.99)

    assert first.to_json() == again.to_json()
    for name, estimate in first.metrics.items():
        broad = wider.metrics[name]
        assert broad.value == estimate.value
        assert width(broad) > width(estimate), name


def test_accuracy_has_the_wilson_interval() -> None:
    # 8 right of 10 at 95 %: the Wilson interval is 0.4902 to 0.9433 (to four places).
    quality = classification_quality([1] * 10, [1] * 8 + [0] * 2)
    assert quality.accuracy.value == 0.8
    assert quality.accuracy.lower == pytest.approx(0.4902, abs=1e-4)
    assert quality.accuracy.upper == pytest.approx(0.9433, abs=1e-4)


# -- undefined metrics ---------------------------------------------------------------------


def test_metrics_that_are_not_defined_are_none_with_the_reason() -> None:
    one_class = classification_quality([1, 1, 1], [1, 0, 1], [0.9, 0.2, 0.8])
    assert one_class.roc_auc == MetricEstimate(None, reason="the labels hold one class only")
    assert one_class.log_loss.value is None
    assert one_class.recall.value == pytest.approx(2 / 3)

    nothing_positive = classification_quality([0, 1, 0, 1], [0, 0, 0, 0])
    assert nothing_positive.precision == MetricEstimate(None, reason="no positive predictions")
    assert nothing_positive.recall.value == 0.0
    assert nothing_positive.f1.value == 0.0
    assert nothing_positive.roc_auc.reason == "no probabilities (y_score) given"

    no_positive_at_all = classification_quality([0, 0], [0, 0])
    assert no_positive_at_all.recall.reason == "no positive labels"
    assert no_positive_at_all.f1.value is None
    assert no_positive_at_all.accuracy.value == 1.0

    constant = regression_quality([3.0, 3.0, 3.0], [2.0, 3.0, 4.0])
    assert constant.r2.value is None
    assert "constant" in (constant.r2.reason or "")
    same(constant.mae.value, 2 / 3)

    single = regression_quality([1.0], [1.5])
    assert single.mae == MetricEstimate(0.5, reason="an interval needs at least two labels")


def test_results_are_plain_json() -> None:
    y, probability, predicted = binary_data(200, seed=11)
    document = classification_quality(y.astype(np.int64), predicted, probability).to_json()
    assert json.loads(json.dumps(document)) == document
    assert document["type"] == "mlsteward.classification_quality"
    assert document["schema_version"] == 1
    assert type(document["classes"][0]) is int
    assert set(document["metrics"]) == {
        "accuracy",
        "precision",
        "recall",
        "f1",
        "roc_auc",
        "log_loss",
    }
    assert set(document["metrics"]["f1"]) == {"value", "lower", "upper", "reason"}

    regression = regression_quality(*regression_data(50, seed=12)).to_json()
    assert json.loads(json.dumps(regression)) == regression
    assert set(regression["metrics"]) == {"mae", "rmse", "r2"}


# -- the join ------------------------------------------------------------------------------


def feedback_frame(entries: list[tuple[str, str, int]]) -> pd.DataFrame:
    """``(prediction id, label JSON, seconds after START)`` as feedback.parquet holds them."""
    return pd.DataFrame(
        {
            "prediction_id": [e[0] for e in entries],
            "label": [e[1] for e in entries],
            "received_at": [START + dt.timedelta(seconds=e[2]) for e in entries],
        }
    )


def sampled_rows(n: int) -> pd.DataFrame:
    return pd.DataFrame(
        {"prediction_id": [f"p{i}" for i in range(n)], "amount": np.arange(n, dtype=float)}
    )


def test_the_join_decodes_json_labels_and_measures_coverage() -> None:
    rows = sampled_rows(5)
    feedback = feedback_frame(
        [("p0", "1", 0), ("p1", '"cat"', 0), ("p2", "true", 0), ("p3", "2.5", 0), ("zz", "0", 0)]
    )
    joined, coverage = join_feedback(rows, feedback)

    assert joined["label"].tolist() == [1, "cat", True, 2.5, None]
    assert joined["amount"].tolist() == rows["amount"].tolist()
    assert coverage == 4 / 5  # the label of the unknown id "zz" is ignored
    assert list(rows.columns) == ["prediction_id", "amount"]  # the input is left alone


def test_the_latest_label_of_a_prediction_wins() -> None:
    rows = sampled_rows(3)
    feedback = feedback_frame(
        [
            ("p0", "0", 50),  # a correction, stored first but received last
            ("p0", "1", 10),
            ("p1", "1", 20),
            ("p1", "0", 20),  # the same moment: the later entry wins
            ("p2", "1", 5),
        ]
    )
    joined, coverage = join_feedback(rows, feedback)
    assert joined["label"].tolist() == [0, 0, 1]
    assert coverage == 1.0

    in_order = feedback.drop(columns=["received_at"])  # without times: the last one wins
    assert join_feedback(rows, in_order)[0]["label"].tolist() == [1, 0, 1]


def test_a_window_without_sampled_rows_has_no_coverage() -> None:
    rows = pd.DataFrame({"prediction_id": pd.Series([], dtype=str)})
    joined, coverage = join_feedback(rows, feedback_frame([("p0", "1", 0)]))
    assert (len(joined), coverage) == (0, 0.0)
    assert "label" in joined.columns

    other, _ = join_feedback(sampled_rows(2), feedback_frame([("p0", "1", 0)]), label_column="y")
    assert other["y"].tolist() == [1, None]


BAD_JOINS: list[tuple[str, Any, Any, dict[str, Any], str]] = [
    ("rows-not-a-frame", [{"prediction_id": "p0"}], None, {}, "rows must be a pandas DataFrame"),
    ("rows-without-ids", pd.DataFrame({"x": [1]}), None, {}, "no 'prediction_id' column"),
    ("feedback-without-labels", None, pd.DataFrame({"prediction_id": ["p0"]}), {}, "no 'label'"),
    ("label-column-taken", None, None, {"label_column": "amount"}, "already have a 'amount'"),
    ("label-column-empty", None, None, {"label_column": ""}, "non-empty column name"),
    ("label-not-json", None, feedback_frame([("p0", "{bad", 0)]), {}, "not a JSON string"),
    ("label-null", None, feedback_frame([("p1", "null", 0)]), {}, "not a JSON string"),
    ("label-a-list", None, feedback_frame([("p1", "[1]", 0)]), {}, "not a JSON string"),
    ("label-nan", None, feedback_frame([("p1", "NaN", 0)]), {}, "finite number"),
    (
        "label-missing",
        None,
        pd.DataFrame({"prediction_id": ["p0", "p2"], "label": ["1", None]}),
        {},
        "the label of prediction 'p2' is not JSON text (NoneType)",
    ),
    (
        "label-not-text",
        None,
        pd.DataFrame({"prediction_id": ["p0"], "label": [1]}),
        {},
        "is not JSON text",
    ),
]


@pytest.mark.parametrize(
    ("rows", "feedback", "options", "message"),
    [c[1:] for c in BAD_JOINS],
    ids=[c[0] for c in BAD_JOINS],
)
def test_bad_joins_are_refused(
    rows: Any, feedback: Any, options: dict[str, Any], message: str
) -> None:
    rows = sampled_rows(3) if rows is None else rows
    feedback = feedback_frame([("p0", "1", 0)]) if feedback is None else feedback
    before = rows.copy() if isinstance(rows, pd.DataFrame) else None
    with pytest.raises(InvalidArgument) as raised:
        join_feedback(rows, feedback, **options)
    assert message in raised.value.message
    if before is not None:
        pd.testing.assert_frame_equal(rows, before)


# -- over time -----------------------------------------------------------------------------


def test_quality_over_time_from_a_real_prediction_logs_files(tmp_path: Path) -> None:
    """Predictions and feedback go through the prediction log and its folder sink; the files
    it writes, joined, give scikit-learn's metrics on the labelled rows."""
    y, probability, predicted = binary_data(300, seed=13)
    ids = [f"p{i}" for i in range(300)]
    logger = PredictionLogger(FolderSink(tmp_path), window_seconds=86_400, sample_rate=1.0)
    model = ServedModel("fraud", "3", loaded=None, platform="sklearn")  # type: ignore[arg-type]
    logger.start()
    inputs = pd.DataFrame({"amount": probability * 100})
    logger.submit(model, inputs, predicted, ids=ids, request_id=None)
    wrong_first = {"prediction_id": "p0", "label": int(1 - y[0])}
    first = [wrong_first] + [{"prediction_id": ids[i], "label": int(y[i])} for i in range(1, 200)]
    later = [{"prediction_id": "p0", "label": int(y[0])}, {"prediction_id": "nope", "label": 1}]
    for labels in (first, later):
        logger.submit_feedback(model, parse_feedback(json.dumps({"labels": labels}).encode()))
    logger.close()

    folders = sorted(p.parent for p in tmp_path.rglob("rows.parquet"))
    assert folders, "the prediction log wrote no window"
    rows = pd.concat([pd.read_parquet(f / "rows.parquet") for f in folders], ignore_index=True)
    feedback = pd.concat(
        [pd.read_parquet(f / "feedback.parquet") for f in folders], ignore_index=True
    )
    joined, coverage = join_feedback(rows, feedback)
    assert coverage == 200 / 300

    (window,) = quality_over_time([(START, START + MINUTE, joined)], task="classification")
    assert (window.rows, window.labelled, window.coverage) == (300, 200, 200 / 300)
    assert isinstance(window.quality, ClassificationQuality)
    labelled_y, labelled_pred = y[:200], predicted[:200]  # p0 carries its corrected label
    same(window.quality.accuracy.value, metrics.accuracy_score(labelled_y, labelled_pred))
    same(window.quality.f1.value, metrics.f1_score(labelled_y, labelled_pred))
    assert window.quality.roc_auc.value is None  # the log holds decisions, no probabilities


def test_windows_come_back_oldest_first_with_their_coverage() -> None:
    y, probability, predicted = binary_data(400, seed=14)
    frame = pd.DataFrame({"prediction": predicted, "proba": probability})
    frame["label"] = pd.Series(list(y), dtype=object)
    half = frame.copy()
    half.loc[half.index[200:], "label"] = None
    unlabelled = frame.assign(label=None)
    windows = [
        (START + 2 * MINUTE, START + 3 * MINUTE, unlabelled),
        (START, START + MINUTE, frame),
        (START + MINUTE, START + 2 * MINUTE, half),
    ]
    series = quality_over_time(windows, task="classification", score_columns="proba")

    assert [w.start for w in series] == [START, START + MINUTE, START + 2 * MINUTE]
    assert [(w.rows, w.labelled, w.coverage) for w in series] == [
        (400, 400, 1.0),
        (400, 200, 0.5),
        (400, 0, 0.0),
    ]
    full, partial, empty = series
    assert isinstance(full.quality, ClassificationQuality)
    assert isinstance(partial.quality, ClassificationQuality)
    same(full.quality.roc_auc.value, metrics.roc_auc_score(y, probability))
    same(partial.quality.accuracy.value, metrics.accuracy_score(y[:200], predicted[:200]))
    assert (empty.quality, empty.reason) == (None, "no labelled rows")
    document = empty.to_json()
    assert document["start"] == (START + 2 * MINUTE).isoformat()
    assert json.loads(json.dumps([w.to_json() for w in series]))[0]["quality"]["n"] == 400


def test_quality_over_time_for_a_regressor_and_numeric_windows() -> None:
    y, predicted = regression_data(500, seed=15)
    frame = pd.DataFrame({"prediction": predicted})
    frame["label"] = pd.Series(list(y), dtype=object)
    (window,) = quality_over_time([(0.0, 60.0, frame)], task="regression")
    assert isinstance(window.quality, RegressionQuality)
    same(window.quality.r2.value, metrics.r2_score(y, predicted))
    assert window.to_json()["start"] == 0.0


def test_multiclass_windows_take_one_score_column_per_class() -> None:
    y, probabilities, predicted = multiclass_data(600, seed=16, k=3)
    frame = pd.DataFrame(probabilities, columns=["p.0", "p.1", "p.2"])
    frame["prediction"] = predicted
    frame["label"] = pd.Series(list(y), dtype=object)
    (window,) = quality_over_time(
        [(START, START + MINUTE, frame)],
        task="classification",
        score_columns=["p.0", "p.1", "p.2"],
    )
    assert isinstance(window.quality, ClassificationQuality)
    same(
        window.quality.roc_auc.value,
        metrics.roc_auc_score(y, probabilities, multi_class="ovr"),
    )


def _frame(labels: list[Any], predictions: list[Any], **extra: list[Any]) -> pd.DataFrame:
    frame = pd.DataFrame({"prediction": predictions, **extra})
    frame["label"] = pd.Series(labels, dtype=object)
    return frame


GOOD = _frame([0, 1], [0, 1])
BAD_SERIES: list[tuple[str, Any, dict[str, Any], str]] = [
    ("unknown-task", [(START, START + MINUTE, GOOD)], {"task": "ranking"}, "task must be one of"),
    ("not-a-triple", [(START, GOOD)], {}, "windows[0] must be a (start, end, joined frame)"),
    ("end-first", [(START + MINUTE, START, GOOD)], {}, "windows[0] must end after it starts"),
    ("mixed-types", [(START, 5, GOOD)], {}, "windows[0] must end after it starts"),
    ("a-string", "windows", {}, "windows must be a sequence"),
    (
        "no-label-column",
        [(START, START + MINUTE, GOOD), (START, START + MINUTE, GOOD.drop(columns=["label"]))],
        {},
        "the rows of windows[1] have no 'label' column",
    ),
    (
        "text-labels-number-predictions",
        [(START, START + MINUTE, _frame(["1", "0"], [1, 0]))],
        {},
        "windows[0]: y_true and y_pred must both be numbers or both be strings",
    ),
    (
        "text-scores",
        [(START, START + MINUTE, _frame([0, 1], [0, 1], proba=["high", "low"]))],
        {"score_columns": "proba"},
        "must hold probabilities",
    ),
    (
        "scores-for-a-regressor",
        [(START, START + MINUTE, GOOD)],
        {"task": "regression", "score_columns": "proba"},
        "are for classification",
    ),
    ("bad-confidence", [(START, START + MINUTE, GOOD)], {"confidence": 1.5}, "confidence must"),
    ("not-a-frame", [(START, START + MINUTE, {"label": [1]})], {}, "must be a pandas DataFrame"),
]


@pytest.mark.parametrize(
    ("windows", "options", "message"),
    [c[1:] for c in BAD_SERIES],
    ids=[c[0] for c in BAD_SERIES],
)
def test_bad_windows_are_refused(windows: Any, options: dict[str, Any], message: str) -> None:
    with pytest.raises(InvalidArgument) as raised:
        quality_over_time(windows, **{"task": "classification", **options})
    assert message in raised.value.message


# -- bad input -----------------------------------------------------------------------------

BAD_CLASSIFICATION: list[tuple[str, dict[str, Any], str]] = [
    ("mismatched", {"y_true": [0, 1, 1], "y_pred": [0, 1]}, "y_true has 3 values but y_pred has 2"),
    ("empty", {"y_true": [], "y_pred": []}, "y_true is empty"),
    ("nan-label", {"y_true": [1.0, np.nan], "y_pred": [1, 0]}, "y_true has missing values"),
    ("none-label", {"y_true": [1, None], "y_pred": [1, 0]}, "y_true has missing values"),
    (
        "nullable-label",
        {"y_true": pd.Series([1, None], dtype="Int64"), "y_pred": [1, 0]},
        "y_true has missing values",
    ),
    ("mixed-label", {"y_true": [1, "a"], "y_pred": [1, 0]}, "only numbers and booleans, or"),
    ("object-label", {"y_true": [{}, {}], "y_pred": [1, 0]}, "only numbers and booleans, or"),
    ("text-vs-numbers", {"y_true": ["1", "0"], "y_pred": [1, 0]}, "both be numbers or both"),
    ("two-dimensional", {"y_true": [[0, 1]], "y_pred": [[0, 1]]}, "must be one-dimensional"),
    ("a-string", {"y_true": "0101", "y_pred": "0101"}, "must be a sequence of values"),
    ("huge-integer", {"y_true": [2**70, 1], "y_pred": [1, 1]}, "too large for 64 bits"),
    (
        "three-classes-binary",
        {"y_true": [0, 1, 2], "y_pred": [0, 1, 1], "positive_label": 1},
        "binary quality needs labels of two classes",
    ),
    (
        "positive-of-another-kind",
        {"y_true": [0, 1], "y_pred": [0, 1], "positive_label": "yes"},
        "positive_label must be of the labels' kind",
    ),
    ("probability-above-one", {"y_score": [0.2, 1.2]}, "probabilities between 0 and 1"),
    ("probability-negative", {"y_score": [-0.1, 0.5]}, "probabilities between 0 and 1"),
    ("probability-nan", {"y_score": [np.nan, 0.5]}, "probabilities between 0 and 1"),
    ("probability-text", {"y_score": ["a", "b"]}, "y_score must be numbers"),
    ("probabilities-short", {"y_score": [0.5]}, "one row per prediction (2)"),
    ("binary-three-columns", {"y_score": [[0.2, 0.3, 0.5]] * 2}, "binary y_score must be"),
    (
        "rows-not-summing-to-one",
        {"y_true": [0, 1, 2], "y_pred": [0, 1, 2], "y_score": [[0.5, 0.5, 0.5]] * 3},
        "summing to 1",
    ),
    (
        "too-few-columns",
        {"y_true": [0, 1, 2], "y_pred": [0, 1, 2], "y_score": [[0.5, 0.5]] * 3},
        "y_score has 2 columns but there are 3 classes",
    ),
    (
        "one-score-per-row-multiclass",
        {"y_true": [0, 1, 2], "y_pred": [0, 1, 2], "y_score": [0.5, 0.5, 0.5]},
        "one column per class",
    ),
    (
        "classes-missing-one",
        {"y_true": ["a", "b", "c"], "y_pred": ["a", "b", "c"], "classes": ["a", "b"]},
        "'c' is in the labels or predictions but not in classes",
    ),
    ("classes-empty", {"classes": []}, "classes must name at least one class"),
    (
        "classes-repeated",
        {"y_true": ["a", "b"], "y_pred": ["a", "b"], "classes": ["a", "b", "a"]},
        "classes must be distinct",
    ),
    ("confidence-one", {"confidence": 1.0}, "confidence must be a number between 0 and 1"),
    ("confidence-bool", {"confidence": True}, "confidence must be a number between 0 and 1"),
    ("confidence-text", {"confidence": "0.95"}, "confidence must be a number between 0 and 1"),
]


@pytest.mark.parametrize(
    ("arguments", "message"),
    [c[1:] for c in BAD_CLASSIFICATION],
    ids=[c[0] for c in BAD_CLASSIFICATION],
)
def test_bad_classification_input_is_refused(arguments: dict[str, Any], message: str) -> None:
    arguments = {"y_true": [0, 1], "y_pred": [0, 1], **arguments}
    with pytest.raises(InvalidArgument) as raised:
        classification_quality(**arguments)
    assert message in raised.value.message


BAD_REGRESSION: list[tuple[str, dict[str, Any], str]] = [
    ("mismatched", {"y_true": [1.0, 2.0], "y_pred": [1.0]}, "y_true has 2 values but y_pred"),
    ("empty", {"y_true": [], "y_pred": []}, "y_true is empty"),
    ("text", {"y_true": ["1.0", "2.0"]}, "y_true must be numbers for regression"),
    ("nan", {"y_pred": [1.0, np.nan]}, "y_pred has missing values"),
    ("infinite", {"y_pred": [1.0, np.inf]}, "y_pred must be finite numbers"),
    ("confidence-zero", {"confidence": 0.0}, "confidence must be a number between 0 and 1"),
]


@pytest.mark.parametrize(
    ("arguments", "message"),
    [c[1:] for c in BAD_REGRESSION],
    ids=[c[0] for c in BAD_REGRESSION],
)
def test_bad_regression_input_is_refused(arguments: dict[str, Any], message: str) -> None:
    arguments = {"y_true": [1.0, 2.0], "y_pred": [1.5, 2.5], **arguments}
    with pytest.raises(InvalidArgument) as raised:
        regression_quality(**arguments)
    assert message in raised.value.message
