"""Fairness across the segments of a sensitive attribute: selection rates, demographic parity,
the four-fifths rule and equalized odds against values computed by hand on a small table,
per-segment quality against scikit-learn's on random data, and bad input."""

from __future__ import annotations

import json
from typing import Any

import numpy as np
import pandas as pd
import pytest
from sklearn import metrics

from mlsteward.errors import InvalidArgument
from mlsteward.monitoring import fairness_report, join_feedback


def block(segment: Any, predicted: Any, label: Any, count: int) -> list[dict[str, Any]]:
    return [{"group": segment, "decision": predicted, "outcome": label}] * count


def hand_table() -> pd.DataFrame:
    """23 labelled rows in three segments, and two rows without a segment (one unlabelled).

    | segment   | rows | TP | FN | FP | TN | selected | TPR | FPR  | accuracy | precision |
    |-----------|------|----|----|----|----|----------|-----|------|----------|-----------|
    | A         | 10   | 4  | 1  | 2  | 3  | 6 (0.6)  | 0.8 | 0.4  | 0.7      | 4/6       |
    | B         | 8    | 2  | 2  | 1  | 3  | 3 (.375) | 0.5 | 0.25 | 5/8      | 2/3       |
    | C         | 5    | 2  | 0  | 0  | 3  | 2 (0.4)  | 1.0 | 0.0  | 1.0      | 1.0       |
    | (missing) | 2    | 1  | 0  | 0  | 0  | 2 (1.0)  | 1.0 | -    | 1.0      | 1.0       |
    """
    rows = (
        block("A", 1, 1, 4) + block("A", 0, 1, 1) + block("A", 1, 0, 2) + block("A", 0, 0, 3)
        + block("B", 1, 1, 2) + block("B", 0, 1, 2) + block("B", 1, 0, 1) + block("B", 0, 0, 3)
        + block("C", 1, 1, 2) + block("C", 0, 0, 3)
        + block(None, 1, 1, 1) + block(None, 1, None, 1)
    )  # fmt: skip
    return pd.DataFrame(rows)


def test_fairness_matches_the_hand_computed_table() -> None:
    report = fairness_report(hand_table(), "group", "decision", "outcome", min_rows=5)

    assert [s.segment for s in report.segments] == ["A", "B", "C", "(missing)"]
    a, b, c, missing = report.segments
    assert (a.rows, a.labelled, a.selection_rate) == (10, 10, 0.6)
    assert (a.true_positive_rate, a.false_positive_rate) == (0.8, 0.4)
    assert (a.accuracy, a.precision, a.recall) == (0.7, pytest.approx(4 / 6), 0.8)
    assert (b.selection_rate, b.true_positive_rate, b.false_positive_rate) == (0.375, 0.5, 0.25)
    assert (b.accuracy, b.precision) == (5 / 8, pytest.approx(2 / 3))
    assert (c.selection_rate, c.true_positive_rate, c.false_positive_rate) == (0.4, 1.0, 0.0)
    assert (missing.rows, missing.labelled, missing.selection_rate) == (2, 1, 1.0)
    assert (missing.true_positive_rate, missing.false_positive_rate) == (1.0, None)
    assert [s.too_few_rows for s in report.segments] == [False, False, False, True]

    # Over A, B and C (the missing segment has fewer than 5 rows): selection rates 0.6, 0.375
    # and 0.4; A has the highest, so it is the reference.
    assert report.demographic_parity_difference == pytest.approx(0.6 - 0.375)
    assert report.demographic_parity_ratio == pytest.approx(0.375 / 0.6)  # 0.625
    assert report.reference_group == "A"
    assert [s.selection_rate_ratio for s in report.segments] == pytest.approx(
        [1.0, 0.625, 0.4 / 0.6, 1.0 / 0.6]
    )
    assert report.four_fifths_rule is False  # B is at 0.625 of A
    # TPR 0.8, 0.5, 1.0 -> spread 0.5; FPR 0.4, 0.25, 0.0 -> spread 0.4; the larger: 0.5.
    assert report.true_positive_rate_difference == pytest.approx(0.5)
    assert report.false_positive_rate_difference == pytest.approx(0.4)
    assert report.equalized_odds_difference == pytest.approx(0.5)
    assert report.notes == ()


def test_every_segment_counts_with_a_minimum_of_one_row() -> None:
    report = fairness_report(hand_table(), "group", "decision", "outcome", min_rows=1)
    # Selection rates 0.6, 0.375, 0.4 and 1.0; FPR of the missing segment is not defined.
    assert report.demographic_parity_difference == pytest.approx(1.0 - 0.375)
    assert report.demographic_parity_ratio == pytest.approx(0.375)
    assert report.reference_group == "(missing)"
    assert report.true_positive_rate_difference == pytest.approx(0.5)
    assert report.false_positive_rate_difference == pytest.approx(0.4)
    assert report.equalized_odds_difference == pytest.approx(0.5)


def test_a_reference_group_changes_the_ratios_and_the_verdict() -> None:
    report = fairness_report(
        hand_table(), "group", "decision", "outcome", reference_group="C", min_rows=5
    )
    # Against C (0.4): A 1.5, B 0.9375, C 1.0: every segment is at 4/5 of C or more.
    assert report.reference_group == "C"
    assert [s.selection_rate_ratio for s in report.segments[:3]] == pytest.approx(
        [1.5, 0.9375, 1.0]
    )
    assert report.four_fifths_rule is True
    assert report.demographic_parity_ratio == pytest.approx(0.625)  # does not depend on it


def test_a_ratio_of_exactly_four_fifths_passes() -> None:
    frame = pd.DataFrame(
        block("x", 1, None, 5) + block("x", 0, None, 5) + block("y", 1, None, 4)
        + block("y", 0, None, 6)
    )  # fmt: skip
    report = fairness_report(frame, "group", "decision", min_rows=1)
    assert report.demographic_parity_ratio == pytest.approx(0.8)  # 0.4 / 0.5
    assert report.four_fifths_rule is True


def test_without_labels_there_are_selection_rates_only() -> None:
    report = fairness_report(hand_table(), "group", "decision", min_rows=5)
    assert report.demographic_parity_difference == pytest.approx(0.225)
    assert report.equalized_odds_difference is None
    assert all(s.true_positive_rate is None and s.labelled == 0 for s in report.segments)
    assert report.notes == ("no labels (y_true): no equalized odds",)


def test_text_decisions_and_numeric_segments() -> None:
    frame = pd.DataFrame(
        {
            "age_band": [1, 1, 1, 2, 2, 2, 2],
            "decision": ["approve", "deny", "approve", "deny", "deny", "deny", "approve"],
        }
    )
    report = fairness_report(
        frame, "age_band", "decision", favourable="approve", reference_group=1, min_rows=1
    )
    assert [s.segment for s in report.segments] == ["1", "2"]
    assert [s.selection_rate for s in report.segments] == pytest.approx([2 / 3, 1 / 4])
    assert report.reference_group == "1"
    assert report.four_fifths_rule is False


def test_undefined_aggregates_say_why() -> None:
    small = fairness_report(hand_table(), "group", "decision", "outcome")  # 30 rows at least
    assert all(s.too_few_rows for s in small.segments)
    assert small.demographic_parity_difference is None
    assert small.four_fifths_rule is None
    assert small.equalized_odds_difference is None
    assert "fewer than two segments have at least 30 rows: no comparison" in small.notes

    nobody = pd.DataFrame(block("x", 0, None, 3) + block("y", 0, None, 3))
    report = fairness_report(nobody, "group", "decision", min_rows=1)
    assert report.demographic_parity_difference == 0.0
    assert report.demographic_parity_ratio is None
    assert report.four_fifths_rule is None
    assert any("no segment has a favourable decision" in note for note in report.notes)


def test_per_segment_quality_and_equalized_odds_agree_with_scikit_learn() -> None:
    rng = np.random.default_rng(21)
    n = 3_000
    group = rng.choice(["north", "south", "east"], n, p=[0.5, 0.3, 0.2])
    outcome = rng.integers(0, 2, n)
    bias = np.select([group == "north", group == "south"], [0.85, 0.7], 0.6)
    decision = np.where(rng.random(n) < bias, outcome, 1 - outcome)
    frame = pd.DataFrame({"group": group, "decision": decision, "outcome": outcome})
    report = fairness_report(frame, "group", "decision", "outcome")

    tprs, fprs = [], []
    for segment in report.segments:
        mask = group == segment.segment
        y, p = outcome[mask], decision[mask]
        assert segment.accuracy == pytest.approx(metrics.accuracy_score(y, p))
        assert segment.precision == pytest.approx(metrics.precision_score(y, p))
        assert segment.recall == pytest.approx(metrics.recall_score(y, p))
        tn, fp, fn, tp = metrics.confusion_matrix(y, p).ravel()
        tprs.append(tp / (tp + fn))
        fprs.append(fp / (fp + tn))
        assert segment.selection_rate == pytest.approx(p.mean())
    expected = max(max(tprs) - min(tprs), max(fprs) - min(fprs))
    assert report.equalized_odds_difference == pytest.approx(expected)


def test_the_joined_frame_of_a_window_can_be_assessed() -> None:
    rows = pd.DataFrame(
        {
            "prediction_id": ["a", "b", "c", "d"],
            "gender": ["f", "m", "f", "m"],
            "prediction": [1, 0, 1, 1],
        }
    )
    feedback = pd.DataFrame({"prediction_id": ["a", "b", "d"], "label": ["1", "1", "0"]})
    joined, _ = join_feedback(rows, feedback)
    report = fairness_report(joined, "gender", "prediction", "label", min_rows=1)
    f, m = report.segments
    assert (f.selection_rate, f.labelled, f.true_positive_rate) == (1.0, 1, 1.0)
    assert (m.selection_rate, m.labelled, m.true_positive_rate, m.false_positive_rate) == (
        0.5,
        2,
        0.0,
        1.0,
    )
    document = report.to_json()
    assert json.loads(json.dumps(document)) == document
    assert document["type"] == "mlsteward.fairness_report"
    assert document["segments"][0]["segment"] == "f"


def test_a_report_finds_its_segments_by_name() -> None:
    report = fairness_report(hand_table(), "group", "decision", min_rows=1)
    assert report.segment("B").rows == 8
    with pytest.raises(InvalidArgument, match="there is no segment 'Z'"):
        report.segment("Z")


GOOD = pd.DataFrame({"group": ["a", "b"], "decision": [1, 0], "outcome": [1, 1]})
BAD: list[tuple[str, Any, dict[str, Any], str]] = [
    ("not-a-frame", {"group": ["a"]}, {}, "the rows must be a pandas DataFrame"),
    ("empty", GOOD.iloc[:0], {}, "the rows are empty"),
    ("unknown-sensitive", GOOD, {"sensitive": "race"}, "the rows have no 'race' column"),
    ("unknown-decision", GOOD, {"y_pred": "score"}, "no 'score' column"),
    ("unknown-label", GOOD, {"y_true": "truth"}, "no 'truth' column"),
    ("column-not-a-name", GOOD, {"y_true": 3}, "must be column names"),
    ("unknown-reference", GOOD, {"reference_group": "z"}, "reference_group 'z' is not a segment"),
    (
        "missing-decision",
        GOOD.assign(decision=[1.0, np.nan]),
        {},
        "the predictions in 'decision' have missing values",
    ),
    (
        "three-decisions",
        pd.DataFrame({"group": ["a"] * 3, "decision": [0, 1, 2], "outcome": [0, 1, 1]}),
        {},
        "'decision' must hold two values at most",
    ),
    (
        "three-labels",
        pd.DataFrame({"group": ["a"] * 3, "decision": [0, 1, 1], "outcome": [0, 1, 2]}),
        {},
        "'outcome' must hold two values at most",
    ),
    (
        "labels-of-other-values",
        GOOD.assign(outcome=[1, 2]),
        {},
        "'decision' and 'outcome' must hold the same two values",
    ),
    (
        "favourable-of-another-kind",
        GOOD,
        {"favourable": "yes"},
        "'decision' holds numbers but favourable is 'yes'",
    ),
    (
        "text-decisions-numeric-favourable",
        GOOD.assign(decision=["yes", "no"]),
        {"y_true": None},
        "'decision' holds text but favourable is 1",
    ),
    ("favourable-none", GOOD, {"favourable": None}, "favourable must be the favourable"),
    ("favourable-a-list", GOOD, {"favourable": [1]}, "favourable must be the favourable"),
    ("min-rows-zero", GOOD, {"min_rows": 0}, "min_rows must be a whole number >= 1"),
    ("min-rows-bool", GOOD, {"min_rows": True}, "min_rows must be a whole number >= 1"),
]


@pytest.mark.parametrize(
    ("frame", "options", "message"), [c[1:] for c in BAD], ids=[c[0] for c in BAD]
)
def test_bad_input_is_refused(frame: Any, options: dict[str, Any], message: str) -> None:
    arguments = {"sensitive": "group", "y_pred": "decision", "y_true": "outcome", **options}
    before = frame.copy() if isinstance(frame, pd.DataFrame) else None
    with pytest.raises(InvalidArgument) as raised:
        fairness_report(frame, **arguments)
    assert message in raised.value.message
    if before is not None:
        pd.testing.assert_frame_equal(frame, before)
