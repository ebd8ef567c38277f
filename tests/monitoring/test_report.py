"""Tests for the monitoring report: its JSON (mlsteward.monitoring._report) and its
self-contained HTML (._report_html), built from seeded profiles with injected drift."""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
import re
from html.parser import HTMLParser
from typing import Any

import numpy as np
import pandas as pd
import pytest

from mlsteward.errors import InvalidArgument
from mlsteward.monitoring import (
    ColumnDrift,
    ColumnDriftSpec,
    DriftOptions,
    DriftReport,
    FeatureDistribution,
    MonitoringReport,
    ReportWindow,
    build_report,
    distributions_from_profiles,
    quality_over_time,
    render_report_html,
)
from mlsteward.profiles import DatasetProfile, profile_frame

from ._report_data import (
    BREAKOUT,
    DRIFT_FROM,
    HOSTILE,
    ROWS,
    START,
    WINDOWS,
    frame,
    reference_profile,
    sample_report,
    windows,
)


@pytest.fixture(scope="module")
def report() -> MonitoringReport:
    return sample_report()


@pytest.fixture(scope="module")
def page(report: MonitoringReport) -> str:
    return render_report_html(report)


class Elements(HTMLParser):
    """Every start tag with its attributes and the ``data-f`` of the heatmap row it is in."""

    def __init__(self) -> None:
        super().__init__()
        self.found: list[tuple[str, dict[str, str], str | None]] = []
        self.row: str | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        values = {k: v or "" for k, v in attrs}
        if tag == "g" and "hm-row" in values.get("class", "").split():
            self.row = values["data-f"]
        self.found.append((tag, values, self.row))

    def handle_endtag(self, tag: str) -> None:
        if tag == "g":
            self.row = None


def elements(html: str) -> list[tuple[str, dict[str, str], str | None]]:
    parser = Elements()
    parser.feed(html)
    return parser.found


def json_block(html: str, element_id: str) -> Any:
    match = re.search(
        rf'<script type="application/json" id="{element_id}">(.*?)</script>', html, re.S
    )
    assert match is not None, f"no {element_id} block"
    return json.loads(match.group(1))


# -- the data -----------------------------------------------------------------------------------


def test_windows_carry_the_drift_that_was_injected(report: MonitoringReport) -> None:
    assert [w.start for w in report.windows] == [
        START + dt.timedelta(hours=i) for i in range(WINDOWS)
    ]
    for i, window in enumerate(report.windows):
        assert window.drift is not None
        assert window.rows == ROWS
        drifted = set(window.drift.drifted_names())
        # Before DRIFT_FROM only sampling noise separates the windows from the reference: the
        # country mix stays far below its threshold (amount's Wasserstein distance, with 400
        # rows, can come near its 0.1).
        if i >= DRIFT_FROM:
            assert {"amount", "country"} <= drifted
        else:
            assert "country" not in drifted
    assert report.windows[0].infra == {"requests": ROWS, "error_rate": 0.0}


def test_json_round_trips(report: MonitoringReport) -> None:
    data = report.to_json()
    assert data["type"] == "mlsteward.monitoring_report"
    assert data["schema_version"] == 1
    text = json.dumps(data, allow_nan=False)
    again = MonitoringReport.from_json(json.loads(text))
    assert again == report
    assert again.to_json() == data


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (lambda d: d.update(type="mlsteward.dataset_profile"), "expected type"),
        (lambda d: d.update(schema_version=2), "upgrade mlsteward"),
        (lambda d: d.pop("generated_at"), "has no 'generated_at'"),
        (lambda d: d.update(windows={}), "windows must be a list"),
        (
            lambda d: d["windows"][1]["drift"]["columns"][0].update(drifted="yes"),
            "windows[1].drift.columns[0].drifted must be true or false",
        ),
        (lambda d: d["windows"][0].update(start="yesterday"), "windows[0].start"),
        (lambda d: d["windows"][0].update(start="2026-03-01T00:00:00"), "timezone"),
        (
            lambda d: d["windows"][0]["quality"]["quality"]["metrics"].pop("f1"),
            "has no 'f1'",
        ),
        (lambda d: d["windows"][0]["fairness"].update(schema_version=9), "schema_version 9"),
        (lambda d: d["distributions"][0].update(reference=[0.5]), "one value per bucket"),
        (lambda d: d["windows"].reverse(), "time order"),
    ],
    ids=[
        "other-type",
        "newer-version",
        "no-generated-at",
        "windows-not-list",
        "bad-drift-flag",
        "bad-time",
        "naive-time",
        "missing-metric",
        "fairness-version",
        "short-shares",
        "unordered",
    ],
)
def test_malformed_json_is_refused_naming_the_field(
    report: MonitoringReport, change: Any, message: str
) -> None:
    data = json.loads(json.dumps(report.to_json()))
    change(data)
    with pytest.raises(InvalidArgument, match=re.escape(message)):
        MonitoringReport.from_json(data)


def test_from_json_refuses_what_is_not_an_object() -> None:
    with pytest.raises(InvalidArgument, match="must be a JSON object"):
        MonitoringReport.from_json([1, 2])


# -- distributions ------------------------------------------------------------------------------


def test_a_profile_against_itself_gives_its_own_histogram() -> None:
    profile = reference_profile()
    (amount,) = distributions_from_profiles(profile, profile, columns=["amount"], bins=12)
    histogram = profile.columns["amount"].histogram(12)
    assert amount.kind == "numeric"
    assert amount.edges == pytest.approx(histogram.edges)
    total = sum(histogram.counts)
    assert amount.reference == pytest.approx([c / total for c in histogram.counts])
    assert amount.current == amount.reference


def test_distributions_match_the_data_on_common_buckets() -> None:
    reference, current = frame(3000, 1), frame(2000, 2, drift=True)
    found = {
        d.column: d
        for d in distributions_from_profiles(
            profile_frame(reference), profile_frame(current), bins=20, top=3
        )
    }
    amount = found["amount"]
    edges = np.array(amount.edges)
    # Common buckets span both ranges; a bucket's share is a difference of two ranks, each
    # within the KLL sketch's rank error (about 1.3 %, 99 % confidence).
    assert edges[0] == pytest.approx(min(reference.amount.min(), current.amount.min()))
    assert edges[-1] == pytest.approx(max(reference.amount.max(), current.amount.max()))
    for side, data in (("reference", reference), ("current", current)):
        exact = np.histogram(data.amount, bins=edges)[0] / len(data)
        assert np.abs(np.array(getattr(amount, side)) - exact).max() < 0.04
    country = found["country"]
    assert country.kind == "categorical"
    # top=3: the three most frequent countries over both sides, then the rest in "(other)".
    assert country.labels == ("fr", "us", "de", "(other)")
    for side, data in (("reference", reference), ("current", current)):
        shares = data.country.value_counts(normalize=True)
        expected = [shares.get(c, 0.0) for c in ("fr", "us", "de")] + [shares.get("es", 0.0)]
        assert getattr(country, side) == pytest.approx(expected)
    assert found["tenure"].kind == "numeric"
    assert found[BREAKOUT].labels == ("a", "b", "(other)")
    assert country.reference_null_share == 0.0


def test_few_integer_values_are_categories_in_number_order() -> None:
    levels = pd.array(np.arange(500) % 3, dtype="Int64")
    levels[::10] = None
    data = frame(500, 3).assign(level=levels)
    profile = profile_frame(data)
    (level,) = distributions_from_profiles(profile, profile, columns=["level"])
    assert level.kind == "categorical"
    assert level.labels == ("0", "1", "2", "(other)")
    assert level.reference_null_share == pytest.approx(0.1)
    assert sum(level.reference) == pytest.approx(1.0)


def test_pii_columns_are_left_out_unless_named() -> None:
    data = frame(300, 4)
    profile = profile_frame(data, pii_columns=["country"])
    names = [d.column for d in distributions_from_profiles(profile, profile)]
    assert "country" not in names
    assert "amount" in names
    with pytest.raises(InvalidArgument, match="PII column"):
        distributions_from_profiles(profile, profile, columns=["country"])


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"reference": "profile"}, "reference must be a DatasetProfile"),
        ({"bins": 0}, "bins must be a whole number between 1 and 1000"),
        ({"bins": True}, "bins must be"),
        ({"top": 1001}, "top must be"),
        ({"columns": "amount"}, "columns must be a list"),
        ({"columns": ["nope"]}, "'nope' is not in the reference profile"),
    ],
    ids=["not-a-profile", "zero-bins", "bool-bins", "top-too-big", "columns-string", "unknown"],
)
def test_distributions_refuse_bad_input(kwargs: dict[str, Any], message: str) -> None:
    profile = profile_frame(frame(100, 5))
    arguments: dict[str, Any] = {"reference": profile, "current": profile, **kwargs}
    with pytest.raises(InvalidArgument, match=re.escape(message)):
        distributions_from_profiles(**arguments)


# -- building -----------------------------------------------------------------------------------


def test_no_windows_make_a_no_data_report() -> None:
    empty = build_report(reference_profile(), [], title="Nothing yet")
    assert empty.windows == []
    assert empty.distributions == []
    html = render_report_html(empty)
    assert "No data" in html
    assert 'id="heatmap"' not in html
    assert json_block(html, "report-data") == empty.to_json()
    assert MonitoringReport.from_json(empty.to_json()) == empty


def _triples() -> list[tuple[dt.datetime, dt.datetime, DatasetProfile]]:
    return [(s, e, profile_frame(f)) for s, e, f in windows(2)]


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (lambda a: a.update(reference=None), "reference must be a DatasetProfile"),
        (lambda a: a.update(window_profiles="abc"), "window_profiles must be a list"),
        (lambda a: a["window_profiles"].append((START,)), "window_profiles[2] must be a"),
        (
            lambda a: a["window_profiles"].append((START, START, a["reference"])),
            "a window must end after it starts",
        ),
        (
            lambda a: a["window_profiles"].append(
                (dt.datetime(2026, 1, 1), dt.datetime(2026, 1, 2), a["reference"])
            ),
            "timezone",
        ),
        (lambda a: a.update(quality=[None]), "quality has 1 entries for 2 windows"),
        (lambda a: a.update(infra=[{"requests": "many"}, None]), "must be a finite number"),
        (lambda a: a.update(fairness=["fair", None]), "window fairness must be a FairnessReport"),
        (
            lambda a: a.update(drift_options=DriftOptions(columns={"nope": ColumnDriftSpec()})),
            "drift options name columns in neither profile",
        ),
        (lambda a: a.update(title=""), "the title must be a non-empty string"),
        (lambda a: a.update(subject={"model": object()}), "the subject must be plain JSON"),
        (lambda a: a.update(alerts=[{"value": float("nan")}]), "the alerts must be plain JSON"),
    ],
    ids=[
        "reference",
        "windows-string",
        "short-triple",
        "empty-window",
        "naive-time",
        "quality-length",
        "infra-text",
        "fairness-type",
        "drift-options",
        "empty-title",
        "subject-object",
        "alert-nan",
    ],
)
def test_build_report_refuses_bad_input(change: Any, message: str) -> None:
    arguments: dict[str, Any] = {
        "reference": reference_profile(),
        "window_profiles": _triples(),
    }
    change(arguments)
    with pytest.raises(InvalidArgument, match=re.escape(message)):
        build_report(arguments.pop("reference"), arguments.pop("window_profiles"), **arguments)


def test_render_refuses_what_is_not_a_report(report: MonitoringReport) -> None:
    with pytest.raises(InvalidArgument, match="report must be a MonitoringReport, got dict"):
        render_report_html(report.to_json())  # type: ignore[arg-type]


# -- the page -----------------------------------------------------------------------------------


def test_the_page_references_nothing_outside_itself(page: str) -> None:
    for tag, attrs, _ in elements(page):
        for name in ("src", "href", "xlink:href", "action", "srcset", "poster"):
            assert name not in attrs, f"<{tag} {name}=...>"
    assert not re.search(r"https?:|//[a-z0-9]", page, re.I)
    assert "@import" not in page
    assert "url(" not in page
    # The page also forbids itself any fetch, whatever a future change adds.
    (policy,) = [a["content"] for t, a, _ in elements(page) if t == "meta" and "content" in a
                 and a.get("http-equiv") == "Content-Security-Policy"]  # fmt: skip
    assert policy.startswith("default-src 'none';")
    assert "unsafe-inline" not in policy


def test_the_heatmap_has_a_cell_per_feature_and_window_marking_drift(
    report: MonitoringReport, page: str
) -> None:
    features = json_block(page, "report-features")
    assert features[:3] == ["amount", "country", "tenure"]
    assert "prediction" in features
    cells = {}
    for tag, attrs, row in elements(page):
        if tag == "rect" and "cell" in attrs.get("class", "").split():
            assert row is not None
            key = (features[int(row)], int(attrs["data-w"]))
            assert key not in cells
            cells[key] = "drifted" in attrs["class"].split()
    assert len(cells) == len(features) * WINDOWS
    flagged = {
        (c.column, w)
        for w, window in enumerate(report.windows)
        for c in (window.drift.columns if window.drift else ())
        if c.drifted
    }
    assert {k for k, drifted in cells.items() if drifted} == flagged
    assert ("amount", DRIFT_FROM) in flagged


def test_the_summary_counts_drifted_windows(report: MonitoringReport, page: str) -> None:
    drifted = sum(1 for w in report.windows if w.drift is not None and w.drift.drifted)
    assert f"{drifted} of {WINDOWS}" in page
    assert "latest quality" in page
    accuracy = report.windows[-1].quality.quality.accuracy.value  # type: ignore[union-attr]
    assert f"accuracy {accuracy:.3g}" in page


def test_each_feature_has_a_detail_and_a_distribution_chart(
    report: MonitoringReport, page: str
) -> None:
    features = json_block(page, "report-features")
    found = elements(page)
    ids = {a.get("id") for _, a, _ in found}
    for f in range(len(features)):
        assert f"detail-{f}" in ids
        assert f"dist-{f}" in ids
    options = [a["value"] for t, a, _ in found if t == "option"]
    assert options == [str(f) for f in range(len(features))]
    hidden = {a["id"] for _, a, _ in found if "hidden" in a and "id" in a}
    assert "dist-0" not in hidden
    assert "dist-1" in hidden
    # amount: 20 buckets, two bars each.
    amount = page[page.index('id="dist-0"') : page.index('id="dist-1"')]
    assert amount.count('class="bar ref"') == 20
    assert amount.count('class="bar cur"') == 20


def test_quality_fairness_and_infrastructure_are_charted(page: str) -> None:
    quality = page[page.index('id="quality"') : page.index('id="fairness"')]
    for metric in ("accuracy", "precision", "recall", "f1"):
        chart = re.search(rf'aria-label="{metric} per window">(.*?)</svg>', quality)
        assert chart is not None, metric
        assert '<polyline class="line' in chart.group(1)
        assert '<polygon class="band' in chart.group(1)
    assert "label coverage" in quality
    assert "roc_auc (no probabilities (y_score) given)" in quality
    fairness = page[page.index('id="fairness"') : page.index('id="infra"')]
    assert "four-fifths (ratio &gt;= 0.8)" in fairness
    assert fairness.count('<polyline class="line') == 3
    assert "<code>group</code>" in fairness
    infra = page[page.index('id="infra"') :]
    for name in ("rows", "requests", "error_rate"):
        assert f"<h3>{name}</h3>" in infra


def test_hostile_names_are_text_not_markup(report: MonitoringReport, page: str) -> None:
    assert HOSTILE not in page
    assert "&lt;img src=x onerror=alert(1)&gt;" in page
    assert BREAKOUT not in page
    assert "<script>alert" not in page
    # Only the page's own three script elements exist, and the data reads back unchanged.
    assert page.count("<script") == 3
    assert json_block(page, "report-data") == report.to_json()
    assert HOSTILE in json_block(page, "report-features")


def test_hostile_title_alert_and_line_separators_are_escaped() -> None:
    title = "</title><script>alert(1)</script>"
    alert = {"rule": "<b>x</b>", "message": "a\u2028b </script>"}
    base = sample_report(2, title=title, alerts=[alert])
    html = render_report_html(base)
    assert "</title><script>" not in html
    assert "&lt;/title&gt;&lt;script&gt;" in html
    assert "<th>rule</th>" in html
    assert "&lt;b&gt;x&lt;/b&gt;" in html
    assert "\u2028" not in html.split('id="report-data">')[1]
    assert json_block(html, "report-data")["alerts"] == [alert]


def test_a_large_report_stays_small() -> None:
    start = dt.datetime(2026, 1, 1, tzinfo=dt.UTC)

    def column(i: int, w: int) -> ColumnDrift:
        statistic = (i * 7 + w * 13) % 100 / 500
        return ColumnDrift(
            f"feature_{i}", True, "numeric", "wasserstein", statistic, 0.1, None,
            statistic >= 0.1, False, 10_000, 0.01, 1_000, 0.02,
        )  # fmt: skip

    windows_ = []
    for w in range(300):
        columns = tuple(column(i, w) for i in range(30))
        drifted = sum(c.drifted for c in columns)
        windows_.append(
            ReportWindow(
                start + dt.timedelta(hours=w),
                start + dt.timedelta(hours=w + 1),
                1_000,
                DriftReport(columns, 0.5, 30, drifted, drifted / 30, drifted >= 15),
                infra={"requests": 1_000.0, "latency_p95_ms": 12.0},
            )
        )
    edges = tuple(float(k) for k in range(21))
    distributions = [
        FeatureDistribution(
            f"feature_{i}", "numeric", edges, (), (0.05,) * 20, (0.05,) * 20, 0.01, 0.02
        )
        for i in range(30)
    ]
    big = MonitoringReport("Large", {"model": "m"}, start, windows_, distributions)
    html = render_report_html(big)
    assert len(html.encode()) < 5_000_000
    assert html.count('<rect class="cell') == 30 * 300


def test_a_report_object_refuses_bad_fields(report: MonitoringReport) -> None:
    window = report.windows[0]
    with pytest.raises(InvalidArgument, match="windows must be in time order"):
        dataclasses.replace(report, windows=list(reversed(report.windows)))
    with pytest.raises(InvalidArgument, match="windows must be a list of ReportWindow"):
        dataclasses.replace(report, windows=[window.to_json()])  # type: ignore[list-item]
    with pytest.raises(InvalidArgument, match="one distribution only"):
        dataclasses.replace(report, distributions=report.distributions[:1] * 2)
    with pytest.raises(InvalidArgument, match="rows must be a whole number"):
        dataclasses.replace(window, rows=-1)
    with pytest.raises(InvalidArgument, match="kind must be numeric or categorical"):
        dataclasses.replace(report.distributions[0], kind="text")
    shares = report.distributions[0].reference
    with pytest.raises(InvalidArgument, match="shares are 0 to 1"):
        dataclasses.replace(report.distributions[0], reference=(-0.5, *shares[1:]))
    with pytest.raises(InvalidArgument, match="edges must ascend"):
        dataclasses.replace(report.distributions[0], edges=report.distributions[0].edges[::-1])


def test_a_regression_window_round_trips_and_summarises_its_mae() -> None:
    rng = np.random.default_rng(7)
    data = pd.DataFrame({"prediction": rng.normal(size=200)})
    data["label"] = data["prediction"] + rng.normal(scale=0.2, size=200)
    end = START + dt.timedelta(hours=1)
    ((_, _, quality),) = [(START, end, q) for q in quality_over_time(
        [(START, end, data)], task="regression"
    )]  # fmt: skip
    window = ReportWindow(START, end, 200, quality=quality, infra={"latency_p95_ms": None})
    regression = MonitoringReport("Prices", {"model": "prices"}, START, [window], [])
    assert MonitoringReport.from_json(json.loads(json.dumps(regression.to_json()))) == regression
    mae = quality.quality.mae  # type: ignore[union-attr]
    html = render_report_html(regression)
    assert f"mae {mae.value:.3g} [{mae.lower:.3g}, {mae.upper:.3g}]" in html
    for metric in ("mae", "rmse", "r2"):
        assert f'aria-label="{metric} per window"' in html


def test_a_value_named_other_is_counted_with_the_others() -> None:
    data = pd.DataFrame({"plan": ["a"] * 6 + ["(other)"] * 3 + ["b"]})
    profile = profile_frame(data)
    (plan,) = distributions_from_profiles(profile, profile, top=1)
    assert plan.labels == ("a", "(other)")
    assert plan.reference == pytest.approx((0.6, 0.4))
