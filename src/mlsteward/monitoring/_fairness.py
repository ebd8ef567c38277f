"""Bias and fairness of a classifier's decisions per segment of a sensitive attribute.

The definitions are Fairlearn's (``selection_rate``, ``demographic_parity_difference`` and
``_ratio``, ``equalized_odds_difference``, with their defaults: between groups, worst case):

- selection rate: the share of a segment's rows predicted ``favourable``;
- demographic parity difference: the largest selection rate minus the smallest; ratio: the
  smallest over the largest;
- equalized odds difference: the larger of two spreads across segments, that of the true
  positive rate P(favourable prediction | favourable label) and that of the false positive rate
  P(favourable prediction | other label);
- four-fifths rule (the US EEOC's adverse impact guideline): it holds when every segment's
  selection rate is at least 0.8 times the reference's, the reference being ``reference_group``
  or, by default, the segment of highest selection rate (then it is: ratio >= 0.8).

Segments with fewer than ``min_rows`` rows are reported but flagged (``too_few_rows``) and left
out of the aggregates, where a handful of rows would decide the verdict (``min_rows=1`` gives
Fairlearn's numbers over every segment). A rate a segment does not define (a true positive rate
without favourable labels) is left out of its spread. Rows without a label (None or NaN in
``y_true``, as :func:`join_feedback` leaves them) count for the selection rates only.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Final

import numpy as np

from ..errors import InvalidArgument
from ._quality_inputs import check_frame, pandas_module, plain

if TYPE_CHECKING:
    import pandas as pd

__all__ = [
    "DEFAULT_MIN_SEGMENT_ROWS",
    "FAIRNESS_REPORT_TYPE",
    "FOUR_FIFTHS",
    "MISSING_SEGMENT",
    "FairnessReport",
    "SegmentFairness",
    "fairness_report",
]

FAIRNESS_REPORT_TYPE: Final = "mlsteward.fairness_report"
SCHEMA_VERSION: Final = 1
DEFAULT_MIN_SEGMENT_ROWS: Final = 30
FOUR_FIFTHS: Final = 0.8
MISSING_SEGMENT: Final = "(missing)"
_TOLERANCE: Final = 1e-12  # 0.4 / 0.5 must pass the four-fifths rule despite rounding


@dataclass(frozen=True)
class SegmentFairness:
    """One segment (a value of the sensitive attribute, as text; ``(missing)`` for nulls).

    ``selection_rate_ratio``: its selection rate over the reference's (None without one).
    The label-based rates are over its ``labelled`` rows and None where not defined:
    ``true_positive_rate`` (= ``recall``) without favourable labels, ``false_positive_rate``
    without other labels, ``precision`` without favourable predictions.
    """

    segment: str
    rows: int
    too_few_rows: bool
    selection_rate: float
    selection_rate_ratio: float | None
    labelled: int
    true_positive_rate: float | None
    false_positive_rate: float | None
    accuracy: float | None
    precision: float | None
    recall: float | None

    def to_json(self) -> dict[str, Any]:
        return {
            "segment": self.segment,
            "rows": self.rows,
            "too_few_rows": self.too_few_rows,
            "selection_rate": self.selection_rate,
            "selection_rate_ratio": self.selection_rate_ratio,
            "labelled": self.labelled,
            "true_positive_rate": self.true_positive_rate,
            "false_positive_rate": self.false_positive_rate,
            "accuracy": self.accuracy,
            "precision": self.precision,
            "recall": self.recall,
        }


@dataclass(frozen=True)
class FairnessReport:
    """Fairness of the decisions in ``rows`` rows across the segments of ``sensitive``.

    An aggregate is None when it is not defined (fewer than two segments with enough rows, no
    labels, nobody selected); ``notes`` says why. ``reference_group``: the segment the
    selection rate ratios compare with.
    """

    sensitive: str
    favourable: Any
    reference_group: str | None
    min_rows: int
    rows: int
    segments: tuple[SegmentFairness, ...]
    demographic_parity_difference: float | None
    demographic_parity_ratio: float | None
    four_fifths_rule: bool | None
    equalized_odds_difference: float | None
    true_positive_rate_difference: float | None
    false_positive_rate_difference: float | None
    notes: tuple[str, ...] = ()

    def segment(self, name: str) -> SegmentFairness:
        """The segment called ``name``; ``InvalidArgument`` when there is none."""
        for segment in self.segments:
            if segment.segment == name:
                return segment
        raise InvalidArgument(f"there is no segment {name[:100]!r}")

    def to_json(self) -> dict[str, Any]:
        return {
            "type": FAIRNESS_REPORT_TYPE,
            "schema_version": SCHEMA_VERSION,
            "sensitive": self.sensitive,
            "favourable": plain(self.favourable),
            "reference_group": self.reference_group,
            "min_rows": self.min_rows,
            "rows": self.rows,
            "segments": [s.to_json() for s in self.segments],
            "demographic_parity_difference": self.demographic_parity_difference,
            "demographic_parity_ratio": self.demographic_parity_ratio,
            "four_fifths_rule": self.four_fifths_rule,
            "equalized_odds_difference": self.equalized_odds_difference,
            "true_positive_rate_difference": self.true_positive_rate_difference,
            "false_positive_rate_difference": self.false_positive_rate_difference,
            "notes": list(self.notes),
        }


def _is_text(value: object) -> bool:
    return isinstance(value, str)


def _binary_values(
    pd: Any, column: Any, name: str, favourable: object, *, labels: bool
) -> tuple[np.ndarray, np.ndarray]:
    """(favourable?, present?) per row of a decision or label column with at most two
    distinct values."""
    present = column.notna().to_numpy()
    if not labels and not present.all():
        raise InvalidArgument(
            f"the predictions in {name!r} have missing values: drop those rows first",
            details={"field": name},
        )
    distinct = pd.unique(column[present]).tolist()
    if len(distinct) > 2:
        shown = ", ".join(repr(plain(v))[:40] for v in distinct[:5])
        raise InvalidArgument(
            f"{name!r} must hold two values at most (favourable and not), got "
            f"{len(distinct)}: {shown}{', ...' if len(distinct) > 5 else ''}",
            details={"field": name},
        )
    if any(_is_text(v) != _is_text(favourable) for v in distinct):
        raise InvalidArgument(
            f"{name!r} holds {'text' if not _is_text(favourable) else 'numbers'} but favourable "
            f"is {favourable!r}: pass favourable= as one of its values",
            details={"field": "favourable"},
        )
    is_favourable = np.zeros(len(column), dtype=bool)
    is_favourable[present] = (column[present] == favourable).to_numpy(dtype=bool)
    return is_favourable, present


def _segments(pd: Any, column: Any) -> tuple[np.ndarray, list[str]]:
    """Segment codes per row and the segment names (sorted, ``(missing)`` last)."""
    names = (
        column.astype(object)
        .where(column.notna(), None)
        .map(lambda v: MISSING_SEGMENT if v is None else str(plain(v)))
    )
    unique = sorted(set(names.tolist()), key=lambda s: (s == MISSING_SEGMENT, s))
    codes = pd.Categorical(names, categories=unique).codes
    return np.asarray(codes, dtype=np.int64), unique


def _ratio(numerator: float, denominator: float) -> float | None:
    return numerator / denominator if denominator else None


def _spread(values: list[float | None]) -> float | None:
    defined = [v for v in values if v is not None]
    return max(defined) - min(defined) if len(defined) >= 2 else None


def _check_options(favourable: object, min_rows: object) -> int:
    if favourable is None or not isinstance(favourable, str | int | float | bool | np.generic):
        raise InvalidArgument(
            "favourable must be the favourable decision's value: a string, number or boolean",
            details={"field": "favourable"},
        )
    if isinstance(min_rows, bool) or not isinstance(min_rows, int) or min_rows < 1:
        raise InvalidArgument("min_rows must be a whole number >= 1", details={"field": "min_rows"})
    return min_rows


def fairness_report(
    frame: pd.DataFrame,
    sensitive: str,
    y_pred: str,
    y_true: str | None = None,
    *,
    favourable: object = 1,
    reference_group: str | None = None,
    min_rows: int = DEFAULT_MIN_SEGMENT_ROWS,
) -> FairnessReport:
    """Selection rates, demographic parity, the four-fifths rule and (with labels) equalized
    odds of the decisions in column ``y_pred`` across the segments of column ``sensitive``.

    ``y_true``: the label column (optional; rows without a label are left out of the
    label-based rates). ``favourable``: the value of a favourable decision (and label).
    ``reference_group``: the segment (its value as text) selection rates are compared with.
    ``InvalidArgument`` for an empty frame, an unknown column or reference group, missing
    predictions, a decision or label column with more than two values or values of another
    kind than ``favourable``, or ``min_rows`` < 1.
    """
    pd = pandas_module()
    min_rows = _check_options(favourable, min_rows)
    columns = [sensitive, y_pred, *([] if y_true is None else [y_true])]
    if not all(isinstance(c, str) and c for c in columns):
        raise InvalidArgument("sensitive, y_pred and y_true must be column names")
    check_frame(pd, frame, "the rows", columns)
    if len(frame) == 0:
        raise InvalidArgument("the rows are empty: fairness needs at least one prediction")
    selected, _ = _binary_values(pd, frame[y_pred], y_pred, favourable, labels=False)
    codes, names = _segments(pd, frame[sensitive])
    if reference_group is not None and str(reference_group) not in names:
        raise InvalidArgument(
            f"reference_group {str(reference_group)[:100]!r} is not a segment of {sensitive!r}: "
            f"use one of {', '.join(repr(n) for n in names[:20])}",
            details={"field": "reference_group"},
        )
    k = len(names)
    rows = np.bincount(codes, minlength=k)
    chosen = np.bincount(codes, weights=selected, minlength=k)
    labelled = np.zeros(k)
    counts: dict[str, np.ndarray] = {}
    if y_true is not None:
        truth, present = _binary_values(pd, frame[y_true], y_true, favourable, labels=True)
        if len(pd.unique(pd.concat([frame[y_pred], frame[y_true][present]]))) > 2:
            raise InvalidArgument(
                f"{y_pred!r} and {y_true!r} must hold the same two values",
                details={"field": y_true},
            )
        labelled = np.bincount(codes[present], minlength=k).astype(np.float64)
        for name, mask in {
            "tp": truth & selected,
            "fp": ~truth & selected,
            "fn": truth & ~selected,
            "tn": ~truth & ~selected,
        }.items():
            counts[name] = np.bincount(codes[present], weights=mask[present], minlength=k)
    rates = chosen / rows
    enough = rows >= min_rows
    notes: list[str] = []
    reference = _reference(names, rates, enough, reference_group, notes)
    base = None if reference is None else float(rates[names.index(reference)])
    segments = []
    for j, name in enumerate(names):
        tp, fp, fn, tn = (float(counts[c][j]) if counts else 0.0 for c in ("tp", "fp", "fn", "tn"))
        segments.append(
            SegmentFairness(
                segment=name,
                rows=int(rows[j]),
                too_few_rows=not bool(enough[j]),
                selection_rate=float(rates[j]),
                selection_rate_ratio=None if base is None else _ratio(float(rates[j]), base),
                labelled=int(labelled[j]),
                true_positive_rate=_ratio(tp, tp + fn),
                false_positive_rate=_ratio(fp, fp + tn),
                accuracy=_ratio(tp + tn, float(labelled[j])),
                precision=_ratio(tp, tp + fp),
                recall=_ratio(tp, tp + fn),
            )
        )
    counted = [s for s in segments if not s.too_few_rows]
    parity_difference = parity_ratio = None
    four_fifths = None
    if len(counted) < 2:
        notes.append(f"fewer than two segments have at least {min_rows} rows: no comparison")
    else:
        highest = max(s.selection_rate for s in counted)
        lowest = min(s.selection_rate for s in counted)
        parity_difference = highest - lowest
        parity_ratio = _ratio(lowest, highest)
        comparable = reference is not None and bool(enough[names.index(reference)])
        if highest == 0:
            notes.append("no segment has a favourable decision: the ratios are not defined")
        elif comparable and base:
            four_fifths = all(
                s.selection_rate_ratio is not None
                and s.selection_rate_ratio >= FOUR_FIFTHS - _TOLERANCE
                for s in counted
            )
        elif comparable:
            notes.append(f"the reference group {reference!r} has no favourable decision")
    tpr_difference = fpr_difference = odds_difference = None
    if y_true is None:
        notes.append("no labels (y_true): no equalized odds")
    elif len(counted) >= 2:
        tpr_difference = _spread([s.true_positive_rate for s in counted])
        fpr_difference = _spread([s.false_positive_rate for s in counted])
        spreads = [d for d in (tpr_difference, fpr_difference) if d is not None]
        odds_difference = max(spreads) if spreads else None
        if len(spreads) < 2:
            notes.append(
                "the true or false positive rate is defined in fewer than two segments: "
                "equalized odds counts the other rate only"
                if spreads
                else "no rate is defined in two segments: no equalized odds"
            )
    return FairnessReport(
        sensitive=sensitive,
        favourable=plain(favourable),
        reference_group=reference,
        min_rows=min_rows,
        rows=len(frame),
        segments=tuple(segments),
        demographic_parity_difference=parity_difference,
        demographic_parity_ratio=parity_ratio,
        four_fifths_rule=four_fifths,
        equalized_odds_difference=odds_difference,
        true_positive_rate_difference=tpr_difference,
        false_positive_rate_difference=fpr_difference,
        notes=tuple(notes),
    )


def _reference(
    names: list[str],
    rates: np.ndarray,
    enough: np.ndarray,
    reference_group: str | None,
    notes: list[str],
) -> str | None:
    """The segment the ratios compare with: the named one, else the segment with enough rows
    and the highest selection rate."""
    if reference_group is not None:
        name = str(reference_group)
        if not enough[names.index(name)]:
            notes.append(f"the reference group {name!r} has too few rows for a verdict")
        return name
    candidates = [j for j in range(len(names)) if enough[j]]
    if not candidates:
        return None
    return names[max(candidates, key=lambda j: (rates[j], -j))]
