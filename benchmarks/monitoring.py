"""A data drift report on 1,000,000 rows x 20 columns vs Evidently's ``DataDriftPreset``.

``python -m benchmarks monitoring [--quick] [--peer]``: the same data on both sides (numpy,
fixed seed, generated in each child): a reference and a current pandas frame of 15 numeric
(10 float, 5 nullable integer) and 5 categorical columns, drift injected into the current one
in five known columns (see ``DRIFTED``). Our side: ``profile_frame`` of both frames, then
``compare_profiles``, default options. The peer, Evidently 0.7 (installed with
``python -m benchmarks.peers evidently``): ``Dataset.from_pandas`` of both frames with the
column types given, then ``Report([DataDriftPreset()]).run(...)`` and reading the per-column
verdicts from the snapshot. Each side runs in its own process; the frames are built before
the clock starts, then the peak-RSS mark is reset (``/proc/self/clear_refs``), so a side's
peak RSS is the frames plus its own work. Both sides print the columns they flagged.
``--quick``: 100,000 rows.

A second row starts from the same two frames written as Parquet files (where a team's data
lives): each side reads them its own way inside the clock. Ours profiles each file batch by
batch (``profile_parquet``) and never holds a whole frame; Evidently reads both into pandas
(``pandas.read_parquet``) and runs the same report. The peak-RSS mark is reset after the
imports, so a side's peak is its imports plus its work.
"""

from __future__ import annotations

import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from ._harness import MB, Row, Side, peak_rss

PEER_PYTHON = Path(__file__).parent / ".peers" / "evidently" / "bin" / "python"
SEED = 20261129
DRIFTED = {
    "n0": "mean shift (+0.5 sd)",
    "n1": "variance change (sd x 2)",
    "n2": "missing-value surge (1 % -> 30 %, at random)",
    "c0": "new category (25 %)",
    "c1": "missing-value surge (1 % -> 30 %, at random)",
}

DATA_CODE = """
import numpy as np, pandas as pd
NUMERIC = [f"n{i}" for i in range(15)]
CATEGORICAL = [f"c{i}" for i in range(5)]
CATEGORIES = ["alpha", "beta", "gamma", "delta", "epsilon", "zeta", "brand-new"]

def make_frame(rows, seed, drift):
    rng = np.random.default_rng(seed)
    data = {}
    for i, name in enumerate(NUMERIC):
        x = rng.normal(i, 1.0 + i / 4, rows) if i < 10 else rng.integers(0, 500 * (i - 9), rows)
        null_share = 0.3 if drift and name == "n2" else 0.01
        if drift and name == "n0":
            x = x + 0.5 * (1.0 + i / 4)
        if drift and name == "n1":
            x = i + (x - i) * 2.0
        nulls = rng.random(rows) < null_share
        if i < 10:
            x[nulls] = np.nan
            data[name] = x
        else:
            data[name] = pd.arrays.IntegerArray(x.astype(np.int64), nulls)
    weights = [0.3, 0.25, 0.2, 0.12, 0.08, 0.05]
    for name in CATEGORICAL:
        codes = rng.choice(6, size=rows, p=weights)
        if drift and name == "c0":
            codes[rng.random(rows) < 0.25] = 6
        codes[rng.random(rows) < (0.3 if drift and name == "c1" else 0.01)] = -1
        data[name] = pd.Categorical.from_codes(codes, categories=CATEGORIES)
    return pd.DataFrame(data)

def make_frames(rows):
    return make_frame(rows, SEED, False), make_frame(rows, SEED + 1, True)

def _status(key):
    for line in open("/proc/self/status"):
        if line.startswith(key + ":"):
            return int(line.split()[1]) * 1024

def reset_peak():
    # Hand the generator's freed temporaries back to the OS, then restart the peak mark:
    # what is resident now is the two frames (and the imports).
    import ctypes
    ctypes.CDLL("libc.so.6").malloc_trim(0)
    with open("/proc/self/clear_refs", "w") as refs:
        refs.write("5")
    return _status("VmRSS")

def peak():
    return _status("VmHWM")
""".replace("SEED", str(SEED))

PEER_SCRIPT = (
    DATA_CODE
    + """
import json, sys, time
from evidently import DataDefinition, Dataset, Report
from evidently.presets import DataDriftPreset

def flagged(snapshot):
    drifted = []
    for metric in snapshot.dict()["metrics"]:
        config = metric.get("config", {})
        if config.get("type", "").endswith("ValueDrift"):
            value, threshold = metric["value"], config["threshold"]
            p_value = "p_value" in str(config.get("method"))  # e.g. "K-S p_value"
            if (value < threshold) if p_value else (value >= threshold):
                drifted.append(config["column"])
    return drifted

job = json.loads(sys.argv[2])
files = job.get("parquet")
if files is None:
    reference, current = make_frames(job["rows"])
else:
    import pandas as pd
definition = DataDefinition(numerical_columns=NUMERIC, categorical_columns=CATEGORICAL)
resident = reset_peak()
times = []
for i in range(job["repeat"] + 1):
    start = time.perf_counter()
    if files is not None:
        reference, current = (pd.read_parquet(path) for path in files)
    ref = Dataset.from_pandas(reference, data_definition=definition)
    cur = Dataset.from_pandas(current, data_definition=definition)
    snapshot = Report([DataDriftPreset()]).run(current_data=cur, reference_data=ref)
    columns = flagged(snapshot)
    elapsed = time.perf_counter() - start
    if i:
        times.append(elapsed)
print(json.dumps({"times": times, "peak_rss": peak(), "resident": resident, "flagged": columns}))
"""
)


def _write_parquet(job: dict[str, Any]) -> None:
    """The two frames as Parquet files, written by this process (the sides run in their own)."""
    namespace: dict[str, Any] = {}
    exec(DATA_CODE, namespace)
    for frame, path in zip(namespace["make_frames"](job["rows"]), job["parquet"], strict=True):
        frame.to_parquet(path, index=False)


def _child(job: dict[str, Any]) -> None:
    from mlsteward.monitoring import compare_profiles
    from mlsteward.profiles import profile_frame, profile_parquet

    namespace: dict[str, Any] = {}
    exec(DATA_CODE, namespace)
    files = job.get("parquet")
    if files is None:
        reference, current = namespace["make_frames"](job["rows"])
    resident = namespace["reset_peak"]()
    times = []
    flagged: list[str] = []
    for i in range(job["repeat"] + 1):
        start = time.perf_counter()
        if files is None:
            report = compare_profiles(profile_frame(reference), profile_frame(current))
        else:
            report = compare_profiles(profile_parquet(files[0]), profile_parquet(files[1]))
        flagged = report.drifted_names()
        elapsed = time.perf_counter() - start
        if i:
            times.append(elapsed)
    print(
        json.dumps(
            {"times": times, "peak_rss": peak_rss(), "resident": resident, "flagged": flagged}
        )
    )


def _run(job: dict[str, Any], *, python: str | None = None, script: str | None = None) -> dict:
    """One side in its own process; its last stdout line is the JSON result."""
    target = ["-m", "benchmarks.monitoring"] if script is None else [script]
    result = subprocess.run(
        [python or sys.executable, *target, "--child", json.dumps(job)],
        capture_output=True,
        text=True,
        check=False,
    )
    if result.returncode != 0:
        raise RuntimeError(f"benchmark child failed:\n{result.stderr}")
    data: dict[str, Any] = json.loads(result.stdout.strip().splitlines()[-1])
    return data


def _case(job: dict[str, Any], peer: bool, folder: Path, label: str) -> Row:
    """One case on both sides (the peer only with ``peer``); prints what each flagged."""
    ours = _run(job)
    flagged = {"mlsteward": ours["flagged"]}
    resident = {"mlsteward": ours}
    peer_side = None
    if peer:
        script = folder / "monitoring_evidently_peer.py"
        script.write_text(PEER_SCRIPT)
        theirs = _run(job, python=str(PEER_PYTHON), script=str(script))
        peer_side = Side(times=theirs["times"], peak_rss=theirs["peak_rss"])
        flagged["evidently"] = theirs["flagged"]
        resident["evidently"] = theirs
    before_clock = "imports" if "parquet" in job else "imports and both frames"
    print(f"-- {label}")
    for side, columns in flagged.items():
        print(f"Flagged by {side}: {', '.join(columns) or 'none'}")
    for side, data in resident.items():
        before, top = data["resident"] / MB, data["peak_rss"] / MB
        print(
            f"{side}: {before:,.0f} MB resident before the clock ({before_clock}), "
            f"peak {top:,.0f} MB, so {top - before:,.0f} MB for the work itself"
        )
    return Row(label, job["rows"], Side(ours["times"], ours["peak_rss"]), peer_side, "rows")


def run(*, quick: bool, peer: bool, repeat: int, workdir: str | None) -> list[Row]:
    """Both sides on the same data, from frames in memory and from Parquet files; prints the
    columns each flagged; returns the table rows."""
    rows = 100_000 if quick else 1_000_000
    if peer and not PEER_PYTHON.exists():
        raise SystemExit("Evidently is not installed: python -m benchmarks.peers evidently")
    print("Drift injected: " + "; ".join(f"{c}: {how}" for c, how in DRIFTED.items()))
    with tempfile.TemporaryDirectory(dir=workdir) as tmp:
        folder = Path(tmp)
        in_memory = _case(
            {"rows": rows, "repeat": repeat},
            peer,
            folder,
            "drift report, 2 frames in memory x 20 columns (profile both + compare)",
        )
        files = [str(folder / "reference.parquet"), str(folder / "current.parquet")]
        _write_parquet({"rows": rows, "parquet": files})
        from_files = _case(
            {"rows": rows, "repeat": repeat, "parquet": files},
            peer,
            folder,
            "drift report, 2 Parquet files x 20 columns (each side reads them its own way)",
        )
    print()
    return [in_memory, from_files]


if __name__ == "__main__" and len(sys.argv) == 3 and sys.argv[1] == "--child":
    _child(json.loads(sys.argv[2]))
