"""Tests for mlsteward.monitoring._drift: drift between two profiles, per column and dataset.

Synthetic data (seeded): 15 numeric and 5 categorical columns, reference and current drawn
independently from the same distributions, except the columns in ``DRIFTED`` where drift is
injected (mean shift, variance change, new category, missing-value surge).
"""

from __future__ import annotations

import json
import math
from typing import Any

import numpy as np
import pandas as pd
import pytest
from scipy import stats as scipy_stats

from mlsteward.errors import InvalidArgument
from mlsteward.monitoring import (
    ColumnDriftSpec,
    DriftOptions,
    DriftReport,
    _drift_sketches,
    compare_profiles,
)
from mlsteward.monitoring import _drift_stats as drift_stats
from mlsteward.profiles import DatasetProfile, profile_frame

CATEGORIES = np.array(["alpha", "beta", "gamma", "delta", "epsilon", "zeta"])
# column -> kind of injected drift
DRIFTED = {
    "n0": "mean shift",
    "n1": "variance change",
    "n2": "missing-value surge",
    "c0": "new category",
    "c1": "missing-value surge",
}
NUMERIC = [f"n{i}" for i in range(15)]
CATEGORICAL = [f"c{i}" for i in range(5)]


def make_frame(rows: int, seed: int, *, drift: frozenset[str] = frozenset()) -> pd.DataFrame:
    """The 20-column table; columns in ``drift`` get their drift of ``DRIFTED`` (or, for a
    numeric column not listed there, a mean shift). n0-n9 are floats, n10-n14 nullable
    integers (n14 has four values, so it is compared as categorical), c0-c4 pandas categoricals
    of strings."""
    rng = np.random.default_rng(seed)
    data: dict[str, Any] = {}
    for i, name in enumerate(NUMERIC):
        if i < 10:
            x = rng.normal(i, 1.0 + i / 4, rows)
        elif i < 14:
            x = rng.integers(0, 500 * (i - 9), rows)
        else:
            x = rng.integers(0, 4, rows)
        null_share = 0.01
        if name in drift:
            how = DRIFTED.get(name, "mean shift")
            scale = 1.0 + i / 4 if i < 10 else 500 * (i - 9) / math.sqrt(12)
            if how == "mean shift":
                x = x + (round(0.5 * scale) if i >= 10 else 0.5 * scale)
            elif how == "variance change":
                x = i + (x - i) * 2.0
            else:
                null_share = 0.3
        nulls = rng.random(rows) < null_share
        if i < 10:
            x[nulls] = np.nan
            data[name] = x
        else:
            data[name] = pd.arrays.IntegerArray(x.astype(np.int64), nulls)
    weights = np.array([0.3, 0.25, 0.2, 0.12, 0.08, 0.05])
    categories = [*CATEGORIES, "brand-new"]
    for name in CATEGORICAL:
        codes = rng.choice(6, size=rows, p=weights)
        how = DRIFTED.get(name) if name in drift else None
        if how == "new category":
            codes[rng.random(rows) < 0.25] = 6
        codes[rng.random(rows) < (0.3 if how == "missing-value surge" else 0.01)] = -1
        data[name] = pd.Categorical.from_codes(codes, categories=categories)
    return pd.DataFrame(data)


@pytest.fixture(scope="module", params=[10_000, 1_000_000], ids=["10k", "1M"])
def drifted_pair(request: pytest.FixtureRequest) -> tuple[DatasetProfile, DatasetProfile]:
    rows = request.param
    reference_frame = make_frame(rows, 1)
    current_frame = make_frame(rows, 2, drift=frozenset(DRIFTED))
    EXACT_WASSERSTEIN[rows] = {
        name: _exact_normalised_wasserstein(reference_frame[name], current_frame[name])
        for name in ("n0", "n1")
    }
    return profile_frame(reference_frame), profile_frame(current_frame)


# The normalised Wasserstein distance of the raw columns, per size: what the sketches estimate.
EXACT_WASSERSTEIN: dict[int, dict[str, float]] = {}


def _exact_normalised_wasserstein(reference: pd.Series, current: pd.Series) -> float:
    from scipy import stats  # type: ignore[import-untyped]

    a, b = reference.dropna().to_numpy(), current.dropna().to_numpy()
    return float(stats.wasserstein_distance(a, b) / np.std(a))


def test_exactly_the_drifted_columns_are_flagged(
    drifted_pair: tuple[DatasetProfile, DatasetProfile],
) -> None:
    report = compare_profiles(*drifted_pair)
    assert report.drifted_names() == [c for c in NUMERIC + CATEGORICAL if c in DRIFTED]
    assert report.compared == 20
    assert report.drifted_columns == 5
    assert report.share_drifted == pytest.approx(0.25)
    assert report.drifted is False
    # Large references get the distances, numeric columns with four values count as categorical.
    methods = {c.column: (c.kind, c.method) for c in report.columns}
    assert methods["n3"] == ("numeric", "wasserstein")
    assert methods["n12"] == ("numeric", "wasserstein")
    assert methods["n14"] == ("categorical", "jensenshannon")
    assert methods["c3"] == ("categorical", "jensenshannon")
    # The missing-value surges drift by their null share, not by their values' distribution.
    for name in ("n2", "c1"):
        result = report.column(name)
        assert result.null_share_drifted
        assert result.reason == "the null share changed"
        assert result.current_null_share == pytest.approx(0.3, abs=0.01)
        assert result.statistic is not None
        assert result.statistic < result.threshold
    # Against the raw data's own distance (0.5 and sqrt(2/pi) in expectation; the 10,000-row
    # sample gives 0.522 for n0). The KLL sketches are randomised: over 40 repeated profiles
    # their n0 estimate had a standard deviation of 0.016, so 0.07 is over four of them.
    exact = EXACT_WASSERSTEIN[drifted_pair[0].row_count]
    assert report.column("n0").statistic == pytest.approx(exact["n0"], abs=0.07)
    assert report.column("n1").statistic == pytest.approx(exact["n1"], abs=0.07)
    assert exact["n0"] == pytest.approx(0.5, abs=0.05)
    assert exact["n1"] == pytest.approx(math.sqrt(2 / math.pi), abs=0.05)
    assert not report.column("n1").null_share_drifted


def test_dataset_drifts_when_half_the_columns_do() -> None:
    shifted = frozenset(NUMERIC[3:13])  # ten mean shifts
    reference = profile_frame(make_frame(10_000, 1))
    current = profile_frame(make_frame(10_000, 2, drift=shifted))
    report = compare_profiles(reference, current)
    assert set(report.drifted_names()) == shifted
    assert report.share_drifted == 0.5
    assert report.drifted is True
    stricter = compare_profiles(reference, current, DriftOptions(drift_share=0.6))
    assert stricter.drifted is False
    assert stricter.drift_share == 0.6


def test_to_json_is_json_and_complete(drifted_pair: tuple[DatasetProfile, DatasetProfile]) -> None:
    report = compare_profiles(*drifted_pair)
    data = json.loads(json.dumps(report.to_json(), allow_nan=False))
    assert data["drifted"] is False
    assert data["compared"] == 20
    assert data["drift_share"] == 0.5
    n0 = next(c for c in data["columns"] if c["column"] == "n0")
    assert n0["drifted"] is True
    assert n0["method"] == "wasserstein"
    assert n0["p_value"] is None
    assert n0["reference"]["count"] == n0["current"]["count"] == drifted_pair[0].row_count
    assert set(n0) == {
        "column", "comparable", "kind", "method", "statistic", "threshold", "p_value",
        "drifted", "null_share_drifted", "reference", "current", "reason",
    }  # fmt: skip


def test_stored_profiles_compare_like_fresh_ones() -> None:
    reference = profile_frame(make_frame(5_000, 1))
    current = profile_frame(make_frame(5_000, 2, drift=frozenset(DRIFTED)))
    stored = [
        DatasetProfile.from_dict(json.loads(json.dumps(p.to_dict()))) for p in (reference, current)
    ]
    assert compare_profiles(*stored).to_json() == compare_profiles(reference, current).to_json()


# -- agreement with the exact statistics on raw data --------------------------------------------


def _pair(rows: int, shift: float, seed: int = 5) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    return rng.gamma(2.0, 3.0, rows), rng.gamma(2.0, 3.0, rows) + shift


@pytest.mark.parametrize("shift", [0.0, 0.3, 1.5], ids=["none", "small", "large"])
def test_ks_from_sketches_is_within_sketch_error_of_scipy(shift: float) -> None:
    ref, cur = _pair(200_000, shift)
    options = DriftOptions(numeric=ColumnDriftSpec(method="ks"))
    result = compare_profiles(
        profile_frame(pd.DataFrame({"x": ref})), profile_frame(pd.DataFrame({"x": cur})), options
    ).column("x")
    exact = scipy_stats.ks_2samp(ref, cur)
    assert result.method == "ks"
    assert result.statistic is not None
    assert abs(result.statistic - exact.statistic) <= 2 * 0.0165
    assert result.drifted == (shift > 0)


def test_ks_p_value_is_scipys_asymptotic_one() -> None:
    ref, cur = _pair(400, 0.8)
    cur = cur[:300]
    exact = scipy_stats.ks_2samp(ref, cur, method="asymp")
    assert drift_stats.ks_p_value(exact.statistic, 400, 300) == pytest.approx(exact.pvalue)


@pytest.mark.parametrize("shift", [0.0, 0.5, 3.0], ids=["none", "small", "large"])
def test_normed_wasserstein_is_close_to_scipy(shift: float) -> None:
    ref, cur = _pair(200_000, shift)
    result = compare_profiles(
        profile_frame(pd.DataFrame({"x": ref})), profile_frame(pd.DataFrame({"x": cur}))
    ).column("x")
    exact = scipy_stats.wasserstein_distance(ref, cur) / np.std(ref)
    assert result.method == "wasserstein"
    assert result.statistic is not None
    # The KLL sketches are randomised: in 25 repeated profiles of these samples the estimate
    # was at most 0.05 from SciPy's exact value (0.034 for the large shift).
    assert result.statistic == pytest.approx(exact, abs=0.06)


def _direct_psi_js(ref_shares: np.ndarray, cur_shares: np.ndarray) -> tuple[float, float]:
    r = np.maximum(ref_shares, 1e-4)
    c = np.maximum(cur_shares, 1e-4)
    psi = float(np.sum((c - r) * np.log(c / r)))
    js = float(scipy_stats.entropy(ref_shares, (ref_shares + cur_shares) / 2))
    js += float(scipy_stats.entropy(cur_shares, (ref_shares + cur_shares) / 2))
    return psi, math.sqrt(js / 2)


def test_numeric_psi_and_js_match_a_direct_computation_on_the_same_bins() -> None:
    ref, cur = _pair(200_000, 1.0)
    reference = profile_frame(pd.DataFrame({"x": ref}))
    current = profile_frame(pd.DataFrame({"x": cur}))
    column = reference.columns["x"]
    edges = np.unique([column.quantile(i / 10) for i in range(1, 10)])
    bins = np.concatenate(([-np.inf], edges, [np.inf]))

    def exact_shares(x: np.ndarray) -> np.ndarray:  # right-closed bins, as the CDF counts
        counts = np.bincount(np.searchsorted(bins, x, side="left") - 1, minlength=len(edges) + 1)
        return counts / len(x)

    # The shares the sketches give are each within two rank errors (99 %) of the exact ones...
    sketch_ref = _drift_sketches._shares_between(_drift_sketches._kll(column), edges)
    sketch_cur = _drift_sketches._shares_between(_drift_sketches._kll(current.columns["x"]), edges)
    assert np.abs(sketch_ref - exact_shares(ref)).max() <= 2 * 0.0133
    assert np.abs(sketch_cur - exact_shares(cur)).max() <= 2 * 0.0133
    on_sketch = _direct_psi_js(sketch_ref, sketch_cur)
    on_raw = _direct_psi_js(exact_shares(ref), exact_shares(cur))
    for method, expected, exact in zip(("psi", "jensenshannon"), on_sketch, on_raw, strict=True):
        options = DriftOptions(numeric=ColumnDriftSpec(method=method))
        result = compare_profiles(reference, current, options).column("x")
        assert result.method == method
        assert result.p_value is None
        # ...the statistic is the textbook formula on them, and near the one on raw data.
        assert result.statistic == pytest.approx(expected, rel=1e-9)
        assert result.statistic == pytest.approx(exact, abs=0.05)
        assert result.drifted


def test_categorical_psi_js_and_chi_squared_match_exact_counts() -> None:
    rng = np.random.default_rng(9)
    ref = pd.Series(CATEGORIES[rng.choice(6, 50_000, p=[0.3, 0.25, 0.2, 0.12, 0.08, 0.05])])
    cur = pd.Series(CATEGORIES[rng.choice(5, 40_000, p=[0.2, 0.2, 0.2, 0.2, 0.2])])
    cur[:1000] = "brand-new"
    reference = profile_frame(pd.DataFrame({"c": ref}))
    current = profile_frame(pd.DataFrame({"c": cur}))
    names = sorted(set(ref) | set(cur))
    ref_counts = ref.value_counts().reindex(names, fill_value=0).to_numpy(dtype=float)
    cur_counts = cur.value_counts().reindex(names, fill_value=0).to_numpy(dtype=float)
    psi, js = _direct_psi_js(ref_counts / ref_counts.sum(), cur_counts / cur_counts.sum())
    chi2 = scipy_stats.chi2_contingency(np.vstack([ref_counts, cur_counts]), correction=False)
    expected = {
        "psi": (psi, None),
        "jensenshannon": (js, None),
        "chisquare": (chi2.statistic, chi2.pvalue),
    }
    for method, (statistic, p_value) in expected.items():
        options = DriftOptions(categorical=ColumnDriftSpec(method=method))
        result = compare_profiles(reference, current, options).column("c")
        assert result.statistic == pytest.approx(statistic, rel=1e-9)
        assert result.p_value == (
            pytest.approx(p_value, abs=1e-12) if p_value is not None else None
        )
        assert result.drifted


# -- defaults and options -----------------------------------------------------------------------


def test_small_reference_switches_to_tests() -> None:
    rng = np.random.default_rng(3)

    def frame(rows: int, shift: float) -> pd.DataFrame:
        return pd.DataFrame(
            {
                "x": rng.normal(shift, 1.0, rows),
                "y": rng.normal(0.0, 1.0, rows),
                "c": CATEGORIES[rng.choice(4, rows)],
                "flag": rng.random(rows) < 0.5 + shift / 4,
            }
        )

    reference = profile_frame(frame(800, 0.0))
    report = compare_profiles(reference, profile_frame(frame(600, 1.0)))
    methods = {c.column: c.method for c in report.columns}
    assert methods == {"x": "ks", "y": "ks", "c": "chisquare", "flag": "z"}
    assert all(c.p_value is not None and c.threshold == 0.05 for c in report.columns)
    assert report.drifted_names() == ["x", "flag"]
    # At 1,001 reference rows the distances take over.
    big = compare_profiles(profile_frame(frame(1001, 0.0)), profile_frame(frame(600, 0.0)))
    assert {c.column: c.method for c in big.columns} == {
        "x": "wasserstein", "y": "wasserstein", "c": "jensenshannon", "flag": "jensenshannon",
    }  # fmt: skip
    custom = DriftOptions(small_reference=2000)
    assert (
        compare_profiles(profile_frame(frame(1001, 0.0)), reference, custom).column("x").method
        == "ks"
    )


def test_per_column_and_per_kind_overrides_apply() -> None:
    reference = profile_frame(make_frame(10_000, 1))
    current = profile_frame(make_frame(10_000, 2, drift=frozenset(DRIFTED)))
    options = DriftOptions(
        columns={
            "n3": ColumnDriftSpec(method="psi", threshold=0.2),
            "n4": ColumnDriftSpec(threshold=0.0001),  # default method, stricter threshold
            "n14": ColumnDriftSpec(kind="numeric"),
            "c2": ColumnDriftSpec(method="chisquare", threshold=0.01),
        },
        numeric=ColumnDriftSpec(method="ks", threshold=0.01),
        categorical=ColumnDriftSpec(threshold=0.2),
    )
    stored = json.loads(json.dumps(options.to_json()))
    assert stored["columns"]["n3"] == {"method": "psi", "threshold": 0.2, "kind": None}
    assert stored["numeric"] == {"method": "ks", "threshold": 0.01, "kind": None}
    assert (stored["drift_share"], stored["null_share_threshold"]) == (0.5, 0.1)
    report = compare_profiles(reference, current, options)
    n3, n4, n14 = report.column("n3"), report.column("n4"), report.column("n14")
    assert (n3.method, n3.threshold, n3.p_value) == ("psi", 0.2, None)
    assert (n4.method, n4.threshold) == ("ks", 0.0001)
    assert (n14.kind, n14.method, n14.threshold) == ("numeric", "ks", 0.01)
    assert (report.column("n0").method, report.column("n0").threshold) == ("ks", 0.01)
    assert (report.column("c2").method, report.column("c2").threshold) == ("chisquare", 0.01)
    assert (report.column("c3").method, report.column("c3").threshold) == ("jensenshannon", 0.2)
    # JS of the new category (about 0.3) is over 0.2; the surges still drift by null share.
    assert report.drifted_names() == ["n0", "n1", "n2", "c0", "c1"]
    # A tiny threshold makes undrifted columns drift: the threshold really decides.
    tiny = DriftOptions(columns={"n5": ColumnDriftSpec(method="wasserstein", threshold=1e-9)})
    assert compare_profiles(reference, current, tiny).column("n5").drifted


def test_null_share_check_can_be_tuned_or_turned_off() -> None:
    reference = profile_frame(make_frame(10_000, 1))
    current = profile_frame(make_frame(10_000, 2, drift=frozenset({"n2", "c1"})))
    assert compare_profiles(reference, current).drifted_names() == ["n2", "c1"]
    off = compare_profiles(reference, current, DriftOptions(null_share_threshold=None))
    assert off.drifted_names() == []
    loose = compare_profiles(reference, current, DriftOptions(null_share_threshold=0.5))
    assert loose.drifted_names() == []


@pytest.mark.parametrize(
    ("make", "message"),
    [
        (lambda: ColumnDriftSpec(method="kl_div"), "unknown drift method 'kl_div'"),
        (lambda: ColumnDriftSpec(method="ks", threshold=2.0), "is a p-value"),
        (lambda: ColumnDriftSpec(method="psi", threshold=-1), "positive number"),
        (lambda: ColumnDriftSpec(method="psi", threshold=math.inf), "positive number"),
        (lambda: ColumnDriftSpec(threshold=math.nan), "must be a number"),
        (lambda: ColumnDriftSpec(threshold=True), "must be a number"),
        (lambda: ColumnDriftSpec(threshold="0.1"), "must be a number"),  # type: ignore[arg-type]
        (lambda: ColumnDriftSpec(kind="text"), "kind must be"),  # type: ignore[arg-type]
        (lambda: ColumnDriftSpec(method="ks", kind="categorical"), "does not apply"),
        (lambda: DriftOptions(numeric=ColumnDriftSpec(method="chisquare")), "does not apply"),
        (lambda: DriftOptions(categorical=ColumnDriftSpec(method="wasserstein")), "does not apply"),
        (lambda: DriftOptions(numeric=ColumnDriftSpec(kind="categorical")), "cannot set a kind"),
        (lambda: DriftOptions(numeric="ks"), "must be a ColumnDriftSpec"),  # type: ignore[arg-type]
        (lambda: DriftOptions(columns={"x": "ks"}), "must be a ColumnDriftSpec"),  # type: ignore[dict-item]
        (lambda: DriftOptions(columns=["x"]), "must map column names"),  # type: ignore[arg-type]
        (lambda: DriftOptions(drift_share=0), "drift_share"),
        (lambda: DriftOptions(drift_share=1.5), "drift_share"),
        (lambda: DriftOptions(bins=1), "bins must be an integer"),
        (lambda: DriftOptions(bins=10**6), "bins must be an integer"),
        (lambda: DriftOptions(small_reference=-1), "small_reference"),
        (lambda: DriftOptions(categorical_max_distinct=2.5), "categorical_max_distinct"),  # type: ignore[arg-type]
        (lambda: DriftOptions(null_share_threshold=0), "null_share_threshold"),
        (lambda: DriftOptions(null_share_threshold=1.5), "null_share_threshold"),
    ],
    ids=lambda value: value if isinstance(value, str) else "",
)
def test_bad_options_raise(make: Any, message: str) -> None:
    with pytest.raises(InvalidArgument, match=message):
        make()


def test_bad_compare_arguments_raise() -> None:
    reference = profile_frame(
        pd.DataFrame({"x": [1.0, 2.0, 3.0, 4.0, 5.0, 6.0], "s": list("abcabc")})
    )
    with pytest.raises(InvalidArgument, match="reference must be a DatasetProfile, got dict"):
        compare_profiles(reference.to_dict(), reference)  # type: ignore[arg-type]
    with pytest.raises(InvalidArgument, match="current must be a DatasetProfile"):
        compare_profiles(reference, None)  # type: ignore[arg-type]
    with pytest.raises(InvalidArgument, match="options must be DriftOptions, got dict"):
        compare_profiles(reference, reference, {"drift_share": 0.5})  # type: ignore[arg-type]
    with pytest.raises(InvalidArgument, match=r"neither profile: \['typo'\]"):
        compare_profiles(reference, reference, DriftOptions(columns={"typo": ColumnDriftSpec()}))
    wrong_kind = DriftOptions(columns={"s": ColumnDriftSpec(method="ks")})
    with pytest.raises(
        InvalidArgument, match="'ks' does not apply to column 's', which is categorical"
    ):
        compare_profiles(reference, reference, wrong_kind)
    p_value = DriftOptions(
        numeric=ColumnDriftSpec(method="ks"), columns={"x": ColumnDriftSpec(threshold=3.0)}
    )
    with pytest.raises(InvalidArgument, match="column 'x'"):
        compare_profiles(reference, reference, p_value)


def test_columns_that_cannot_be_compared_say_why() -> None:
    rows = 2_000
    rng = np.random.default_rng(4)
    base = {
        "x": rng.normal(0, 1, rows),
        "email": [f"user{i}@example.com" for i in range(rows)],
        "empty": np.full(rows, np.nan),
        "when": pd.date_range("2026-01-01", periods=rows, freq="h"),
        "code": rng.integers(0, 100, rows),
        "gone": rng.normal(0, 1, rows),
    }
    reference = profile_frame(pd.DataFrame(base), pii_columns=["email"])
    changed = dict(
        base, code=[f"c{i}" for i in rng.integers(0, 100, rows)], new=rng.normal(0, 1, rows)
    )
    del changed["gone"]
    current = profile_frame(pd.DataFrame(changed), pii_columns=["email"])
    report = compare_profiles(reference, current)
    reasons = {c.column: c.reason for c in report.columns if not c.comparable}
    assert reasons == {
        "email": "PII column: its profile keeps no values to compare",
        "empty": "the column has only nulls on both sides",
        "when": "datetime columns have no drift method",
        "code": "the value type changed from int to string",
        "gone": "the column is only in the reference profile",
        "new": "the column is only in the current profile",
    }
    assert [c.column for c in report.columns] == [
        "x",
        "email",
        "empty",
        "when",
        "code",
        "gone",
        "new",
    ]
    assert report.compared == 1
    assert report.drifted is False
    gone = report.column("gone")
    assert (gone.reference_count, gone.current_count, gone.drifted) == (rows, None, False)
    with pytest.raises(InvalidArgument, match="no column 'nope'"):
        report.column("nope")


def test_a_kind_that_does_not_fit_the_values_is_not_comparable() -> None:
    frame = pd.DataFrame({"s": list("abcdefgh") * 200, "x": np.arange(1600.0)})
    profile = profile_frame(frame)
    options = DriftOptions(
        columns={"s": ColumnDriftSpec(kind="numeric"), "x": ColumnDriftSpec(kind="categorical")}
    )
    report = compare_profiles(profile, profile, options)
    assert report.column("s").reason == "the column has no numbers to compare as numeric"
    # Floats forced to categorical get one bucket per value the sketches show: no drift here.
    x = report.column("x")
    assert (x.comparable, x.kind, x.method, x.statistic, x.drifted) == (
        True, "categorical", "jensenshannon", 0.0, False,
    )  # fmt: skip


def test_a_column_gone_all_null_drifts() -> None:
    reference = profile_frame(pd.DataFrame({"x": np.arange(5000.0)}))
    current = profile_frame(pd.DataFrame({"x": np.full(3000, np.nan)}))
    result = compare_profiles(reference, current).column("x")
    assert result.comparable
    assert result.drifted
    assert result.null_share_drifted
    assert result.statistic is None
    assert result.current_null_share == 1.0


def test_no_rows_is_not_comparable_and_no_dataset_drift() -> None:
    reference = profile_frame(pd.DataFrame({"x": np.arange(100.0)}))
    current = profile_frame(pd.DataFrame({"x": np.array([], dtype=float)}))
    report = compare_profiles(reference, current)
    assert report.column("x").reason == "the current profile has no rows of this column"
    assert (report.compared, report.share_drifted, report.drifted) == (0, 0.0, False)
    assert isinstance(report, DriftReport)
