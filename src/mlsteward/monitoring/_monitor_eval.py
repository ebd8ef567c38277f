"""One evaluation of one monitor window: what the prediction windows that start in it say,
compared with the monitor's reference.

* infra: counts from the window rows (prediction windows, sources, rows, sampled rows,
  feedback labels) and the throughput (rows per second of the window); from the windows'
  serving statistics, when they carry them, requests, errors, error rate and latency
  percentiles;
* drift: the profiles of the prediction windows merged (inputs and outputs) and compared with
  the reference profile (:func:`compare_profiles` with the monitor's drift options), and the
  multivariate detector (:func:`domain_classifier_drift`) on the sampled input rows against
  the reference's rows (a ``windows`` reference's sampled rows, or a sample of a dataset
  version's table: ``_monitor_datasets``);
* quality (when configured): the sampled rows joined with the feedback labels of every window
  of the stream recorded from the window's start to now (labels come later than their
  predictions);
* fairness (when configured): the sampled rows (and their labels, with quality on).

A dataset stream's window holds the table versions created in it instead (``infra.versions``
and ``infra.rows``, drift and the multivariate detector only).

Each part that cannot be computed is named in ``report["errors"]`` and makes the status
``error``; the others' metrics are kept. No prediction window or no row: ``no_data``.
"""

from __future__ import annotations

import datetime as dt
import io
import math
from collections import Counter
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Final

from ..errors import InvalidArgument, StewardError
from ._monitor_datasets import stream_versions, versions_infra
from ._monitor_model import ResultStatus, drift_options_from_json
from ._monitor_sources import dataset_profile, read_profile, stream_windows, training_profile

if TYPE_CHECKING:
    import pandas as pd

    from ..platform import Platform
    from ..profiles import DatasetProfile
    from ._drift import DriftReport
    from ._monitor_model import Monitor

__all__ = ["Evaluation", "evaluate_window"]

LABEL_COLUMN: Final = "mlsteward_label"
MAX_WINDOWS: Final = 10_000  # prediction windows read for one evaluation (or reference)


@dataclass(frozen=True)
class Evaluation:
    """What one window gave: a status, flat finite metrics and the full report."""

    status: str
    metrics: dict[str, float]
    report: dict[str, Any]


def _finite(value: object) -> float | None:
    if isinstance(value, bool):
        return 1.0 if value else 0.0
    if isinstance(value, int | float) and math.isfinite(value):
        return float(value)
    return None


def _plain(value: Any) -> Any:
    """``value`` with non-finite floats as None (the stored JSON stays standard JSON)."""
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    return value


def _windows(
    platform: Platform, monitor: Monitor, project_id: str, since: Any, until: Any
) -> list[Any]:
    """The stream's prediction windows that start in ``[since, until)`` or, for a dataset
    stream, its table versions created then (both have a ``profile_address``)."""
    if monitor.dataset is not None:
        query = stream_versions(monitor, project_id, since, until)
    else:
        query = stream_windows(monitor, project_id, since, until)
    with platform.db.read() as conn:
        return list(conn.execute(query.limit(MAX_WINDOWS)))


def _infra(windows: list[Any], seconds: float) -> dict[str, float]:
    """The counts of the windows and, when at least one carries serving statistics, the
    infrastructure health of their merged statistics (every process and replica): requests,
    5xx ``errors``, 4xx ``client_errors``, ``error_rate`` (5xx / requests),
    ``requests_per_second`` (over the monitor window, ``seconds``) and the latency p50, p95 and
    p99 in milliseconds (the upper bound of the histogram bucket holding the percentile: never
    below the true value, at most 12 % above; see ``ServingStats.percentile``)."""
    from ._serving_stats import ServingStats

    rows = sum(int(w.rows) for w in windows)
    metrics = {
        "infra.windows": float(len(windows)),
        "infra.sources": float(len({w.source for w in windows})),
        "infra.rows": float(rows),
        "infra.sampled_rows": float(sum(int(w.sampled_rows) for w in windows)),
        "infra.feedback_labels": float(sum(int(w.feedback_labels) for w in windows)),
        "infra.rows_per_second": rows / seconds,
    }
    merged: ServingStats | None = None
    for window in windows:
        if getattr(window, "serving", None) is None:
            continue
        part = ServingStats.from_json(window.serving)
        merged = part if merged is None else merged.merge(part)
    if merged is None:
        return metrics
    metrics["infra.requests"] = float(merged.requests)
    metrics["infra.errors"] = float(merged.errors)
    metrics["infra.client_errors"] = float(merged.client_errors)
    metrics["infra.requests_per_second"] = merged.requests / seconds
    if merged.requests:
        metrics["infra.error_rate"] = merged.errors / merged.requests
        for q in (50, 95, 99):
            latency = merged.percentile(q)
            assert latency is not None
            metrics[f"infra.latency_p{q}_ms"] = round(latency * 1000, 6)
    return metrics


def _merged(platform: Platform, windows: list[Any]) -> DatasetProfile:
    profile: DatasetProfile | None = None
    for window in windows:
        part = read_profile(platform, str(window.profile_address))
        profile = part if profile is None else profile.merge(part)
    assert profile is not None
    return profile


def _reference(
    platform: Platform, monitor: Monitor, project_id: str, windows: list[Any]
) -> tuple[DatasetProfile, dict[str, Any]]:
    reference = monitor.reference
    kind = reference["kind"]
    if kind == "dataset":
        dataset = str(reference["name"])
        profile = dataset_profile(platform, project_id, dataset, int(reference["version"]))
        return profile, dict(reference)
    if kind == "windows":
        since = dt.datetime.fromisoformat(reference["since"])
        until = dt.datetime.fromisoformat(reference["until"])
        found = _windows(platform, monitor, project_id, since, until)
        what = "prediction window" if monitor.dataset is None else "table version"
        if not found:
            raise InvalidArgument(
                f"the reference period {reference['since']} to {reference['until']} holds no "
                f"{what} of this monitor's stream"
            )
        count = {"windows": len(found)} if monitor.dataset is None else {"versions": len(found)}
        return _merged(platform, found), {**reference, **count}
    model, number = _training_model(monitor, windows)
    described = {"kind": "training", "model": model, "version": number}
    return training_profile(platform, project_id, model, number), described


def _training_model(monitor: Monitor, windows: list[Any]) -> tuple[str, int]:
    """The model version whose training data a ``training`` reference means: the monitor's
    version, else the one that served most rows of the window."""
    rows: Counter[tuple[str, str]] = Counter()
    for window in windows:
        rows[(str(window.model_name), str(window.model_version))] += int(window.rows) or 1
    (model, version), _ = rows.most_common(1)[0]
    if monitor.model_version is not None:
        model, version = str(monitor.model_name), monitor.model_version
    try:
        number = int(version)
    except ValueError:
        raise InvalidArgument(
            f"model version {version[:40]!r} of the windows is not a registered version number"
        ) from None
    return model, number


def _drift_metrics(report: DriftReport) -> dict[str, float]:
    metrics = {
        "drift.share_drifted": report.share_drifted,
        "drift.dataset_drifted": 1.0 if report.drifted else 0.0,
        "drift.drifted_columns": float(report.drifted_columns),
        "drift.compared_columns": float(report.compared),
    }
    for column in report.columns:
        if not column.comparable:
            continue
        key = f"drift.column.{column.column}"
        metrics[f"{key}.drifted"] = 1.0 if column.drifted else 0.0
        for name, value in (("score", column.statistic), ("p_value", column.p_value)):
            number = _finite(value)
            if number is not None:
                metrics[f"{key}.{name}"] = number
    return metrics


def _parquet_frames(platform: Platform, addresses: list[str]) -> pd.DataFrame:
    import pandas as pd
    import pyarrow.parquet as pq

    frames = [
        pq.read_table(io.BytesIO(platform.blobs.get_bytes(address))).to_pandas()
        for address in addresses
    ]
    frames = [f for f in frames if len(f.columns)]
    if not frames:
        return pd.DataFrame({"prediction_id": pd.Series([], dtype=object)})
    return pd.concat(frames, ignore_index=True)


def _quality(
    platform: Platform,
    monitor: Monitor,
    project_id: str,
    rows: pd.DataFrame,
    start: dt.datetime,
    until: dt.datetime,
) -> tuple[pd.DataFrame | None, dict[str, float], dict[str, Any]]:
    from ._quality import join_feedback, quality_over_time

    options = monitor.quality
    assert options is not None
    later = _windows(platform, monitor, project_id, start, until)
    feedback = _parquet_frames(platform, [str(w.feedback_address) for w in later])
    if "label" not in feedback.columns:
        feedback = feedback.assign(label=None)
    joined, coverage = join_feedback(rows, feedback, label_column=LABEL_COLUMN)
    labelled = int(joined[LABEL_COLUMN].notna().sum())
    metrics = {"quality.label_coverage": coverage, "quality.labelled": float(labelled)}
    if labelled == 0:
        reason = "no sampled rows" if len(rows) == 0 else "no labelled rows"
        return (
            joined,
            metrics,
            {"rows": len(rows), "labelled": 0, "coverage": 0.0, "reason": reason},
        )
    positive = options.get("positive_label")
    (result,) = quality_over_time(
        [(start, start + dt.timedelta(seconds=monitor.window_seconds), joined)],
        task=options["task"],
        prediction_column=options["prediction_column"],
        label_column=LABEL_COLUMN,
        **({} if positive is None else {"positive_label": positive}),
    )
    if result.quality is not None:
        for name, estimate in result.quality.metrics.items():
            value = _finite(estimate.value)
            if value is not None:
                metrics[f"quality.{name}"] = value
    return joined, metrics, result.to_json()


def _fairness(
    monitor: Monitor, frame: pd.DataFrame, labelled: bool
) -> tuple[dict[str, float], dict[str, Any]]:
    from ._fairness import fairness_report

    options = monitor.fairness
    assert options is not None
    if len(frame) == 0:
        return {}, {"reason": "no sampled rows"}
    prediction = (monitor.quality or {}).get("prediction_column", "prediction")
    report = fairness_report(
        frame,
        options["sensitive"],
        prediction,
        LABEL_COLUMN if labelled else None,
        favourable=options["favourable"],
        min_rows=options["min_rows"],
    )
    metrics: dict[str, float] = {"fairness.rows": float(report.rows)}
    for name in (
        "demographic_parity_difference",
        "demographic_parity_ratio",
        "equalized_odds_difference",
        "four_fifths_rule",
    ):
        value = _finite(getattr(report, name))
        if value is not None:
            metrics[f"fairness.{name}"] = value
    return metrics, report.to_json()


def evaluate_window(
    platform: Platform,
    monitor: Monitor,
    project_id: str,
    start: dt.datetime,
    end: dt.datetime,
    now: dt.datetime,
) -> Evaluation:
    """Evaluate the monitor on the prediction windows that start in ``[start, end)`` (a
    dataset stream: on the table versions created then; ``report["versions"]`` lists them).

    Never raises for the data: a part that fails is reported (``report["errors"]``)."""
    windows = _windows(platform, monitor, project_id, start, end)
    report: dict[str, Any]
    if monitor.dataset is not None:
        metrics = versions_infra(windows)
        report = {"versions": [int(w.version) for w in windows]}
    else:
        metrics = _infra(windows, (end - start).total_seconds())
        report = {"windows": [str(w.id) for w in windows]}
    if not windows or metrics["infra.rows"] == 0:
        return Evaluation(ResultStatus.NO_DATA, metrics, report)
    errors: dict[str, str] = {}
    try:
        current = _merged(platform, windows)
        reference, described = _reference(platform, monitor, project_id, windows)
        report["reference"] = described
        from ._drift import compare_profiles

        drift = compare_profiles(reference, current, drift_options_from_json(monitor.drift_options))
        metrics.update(_drift_metrics(drift))
        report["drift"] = drift.to_json()
    except StewardError as exc:
        errors["drift"] = exc.message
    with_rows = monitor.quality is not None or monitor.fairness is not None
    if monitor.dataset is not None:  # its rows are sampled from the versions' tables
        _multivariate(platform, monitor, project_id, windows, None, metrics, report, errors)
    else:
        try:  # the sampled rows, read once for every part that needs them
            rows = _parquet_frames(platform, [str(w.rows_address) for w in windows])
        except (OSError, ValueError, StewardError) as exc:
            errors["rows"] = f"the sampled rows could not be read: {exc}"[:500]
        else:
            _multivariate(platform, monitor, project_id, windows, rows, metrics, report, errors)
            if with_rows:
                _rows_parts(
                    platform, monitor, project_id, rows, start, max(end, now), metrics, report,
                    errors,
                )  # fmt: skip
    if errors:
        report["errors"] = errors
    status = ResultStatus.ERROR if errors else ResultStatus.OK
    return Evaluation(status, metrics, _plain(report))


def _multivariate(
    platform: Platform,
    monitor: Monitor,
    project_id: str,
    windows: list[Any],
    current: pd.DataFrame | None,
    metrics: dict[str, float],
    report: dict[str, Any],
    errors: dict[str, str],
) -> None:
    """The domain classifier on the input rows of the window (``current``: the windows'
    sampled rows; None for a dataset stream, whose versions' tables are sampled) against rows
    of the reference: the sampled rows of a ``windows`` reference's period (for a dataset
    stream, samples of the versions created then), a sample of a ``dataset`` reference's
    table, or for ``training`` of the dataset versions the lineage graph links to the model
    version as its training data (``_monitor_datasets``). Too few rows on a side, no input
    column in common, training data outside the lineage graph or no scikit-learn skip it with
    the reason."""
    from ..errors import MissingExtra
    from ._domain_classifier import MIN_ROWS_PER_SIDE, domain_classifier_drift
    from ._monitor_datasets import NO_COMMON_COLUMN, DetectorSkipped, table_sides

    reference = monitor.reference
    try:
        if current is not None:
            outputs = {str(c) for w in windows for c in (w.output_columns or [])}
            inputs = [
                str(c) for c in current.columns
                if str(c) not in outputs and c != "prediction_id"
                and not str(c).startswith("score.")
            ]  # fmt: skip
        if current is not None and reference["kind"] == "windows":
            since = dt.datetime.fromisoformat(reference["since"])
            until = dt.datetime.fromisoformat(reference["until"])
            earlier = _windows(platform, monitor, project_id, since, until)
            outputs |= {str(c) for w in earlier for c in (w.output_columns or [])}
            past = _parquet_frames(platform, [str(w.rows_address) for w in earlier])
            columns = [c for c in inputs if c in past.columns and c not in outputs]
        else:
            training = (
                _training_model(monitor, windows) if reference["kind"] == "training" else None
            )
            past, current, columns = table_sides(
                platform, monitor, project_id, windows, current,
                inputs if current is not None else [], training,
            )  # fmt: skip
        fewest = min(len(current), len(past))
        if fewest < MIN_ROWS_PER_SIDE or not columns:
            report["multivariate"] = {
                "skipped": f"too few sampled rows ({fewest}; at least {MIN_ROWS_PER_SIDE} a side)"
                if columns
                else NO_COMMON_COLUMN
            }
            return
        found = domain_classifier_drift(past, current, columns=columns)
    except DetectorSkipped as exc:
        report["multivariate"] = {"skipped": str(exc)}
        return
    except MissingExtra as exc:
        report["multivariate"] = {"skipped": exc.message}
        return
    except (OSError, ValueError, StewardError) as exc:
        errors["multivariate"] = str(getattr(exc, "message", exc))[:500]
        return
    metrics["drift.multivariate.auc"] = found.auc
    metrics["drift.multivariate.drifted"] = 1.0 if found.drifted else 0.0
    report["multivariate"] = found.to_json()


def _rows_parts(
    platform: Platform,
    monitor: Monitor,
    project_id: str,
    rows: pd.DataFrame,
    start: dt.datetime,
    until: dt.datetime,
    metrics: dict[str, float],
    report: dict[str, Any],
    errors: dict[str, str],
) -> None:
    frame = rows
    labelled = False
    if monitor.quality is not None:
        try:
            joined, found, described = _quality(platform, monitor, project_id, rows, start, until)
            metrics.update(found)
            report["quality"] = described
            if joined is not None:
                frame, labelled = joined, found.get("quality.labelled", 0.0) > 0
        except StewardError as exc:
            errors["quality"] = exc.message
    if monitor.fairness is not None:
        try:
            found, described = _fairness(monitor, frame, labelled)
            metrics.update(found)
            report["fairness"] = described
        except StewardError as exc:
            errors["fairness"] = exc.message
