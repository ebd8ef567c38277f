"""A 10-expectation suite on 1,000,000 rows x 5 columns vs Great Expectations; 10,000,000 rows
from Parquet on our side with peak RSS.

``python -m benchmarks validation [--quick] [--peer]``: the same data on both sides (numpy,
fixed seed, generated in each child), the same ten expectations. Our side: ``validate(suite,
pandas_frame)`` (Polars, one pass). The peer, Great Expectations 1.x (installed with
``python -m benchmarks.peers great_expectations``), runs its recommended usage: an ephemeral
context, a pandas data source with a whole-dataframe batch definition, ``batch.validate(suite)``.
Each side runs in its own process; only the validation is timed (data generation, imports and
context set-up are not). ``--quick``: 100,000 rows and 1,000,000 from Parquet.
"""

from __future__ import annotations

import json
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from ._harness import Row, peak_rss, run_child

PEER_PYTHON = Path(__file__).parent / ".peers" / "great_expectations" / "bin" / "python"
SEED = 20261129

DATA_CODE = """
import numpy as np, pandas as pd
def make_frame(rows):
    rng = np.random.default_rng(SEED)
    return pd.DataFrame({
        "id": np.arange(rows, dtype="int64"),
        "amount": rng.gamma(2.0, 50.0, rows),
        "score": rng.normal(0.0, 1.0, rows),
        "quantity": rng.integers(0, 100, rows),
        "category": rng.choice(np.array(["a", "b", "c", "d"]), rows),
    })
""".replace("SEED", str(SEED))

# (name, params): the same ten on both sides.
EXPECTATIONS: list[tuple[str, dict[str, Any]]] = [
    ("expect_column_values_to_not_be_null", {"column": "id"}),
    ("expect_column_values_to_be_unique", {"column": "id"}),
    ("expect_column_values_to_be_between", {"column": "amount", "min_value": 0}),
    ("expect_column_values_to_be_between", {"column": "quantity", "min_value": 0, "max_value": 99}),
    (
        "expect_column_values_to_be_in_set",
        {"column": "category", "value_set": ["a", "b", "c", "d"]},
    ),
    ("expect_column_values_to_match_regex", {"column": "category", "regex": "^[a-d]$"}),
    ("expect_column_mean_to_be_between", {"column": "score", "min_value": -0.1, "max_value": 0.1}),
    ("expect_column_median_to_be_between", {"column": "amount", "min_value": 50, "max_value": 120}),
    ("expect_column_stdev_to_be_between", {"column": "score", "min_value": 0.9, "max_value": 1.1}),
    ("expect_table_row_count_to_be_between", {"min_value": 1}),
]

PEER_SCRIPT = (
    DATA_CODE
    + """
import json, sys, time
import great_expectations as gx

def peak():
    for line in open("/proc/self/status"):
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) * 1024

job = json.loads(sys.argv[2])
frame = make_frame(job["rows"])
context = gx.get_context(mode="ephemeral")
asset = context.data_sources.add_pandas("pandas").add_dataframe_asset("frame")
batch_definition = asset.add_batch_definition_whole_dataframe("all")
suite = context.suites.add(gx.ExpectationSuite(name="bench"))
for name, params in job["expectations"]:
    cls = "".join(part.title() for part in name.split("_"))
    suite.add_expectation(getattr(gx.expectations, cls)(**params))
times = []
for i in range(job["repeat"] + 1):
    batch = batch_definition.get_batch(batch_parameters={"dataframe": frame})
    start = time.perf_counter()
    result = batch.validate(suite)
    elapsed = time.perf_counter() - start
    assert result.success, result
    if i:
        times.append(elapsed)
print(json.dumps({"times": times, "peak_rss": peak()}))
"""
)


def _suite() -> Any:
    from mlsteward.validation import ExpectationSuite, make_expectation

    return ExpectationSuite("bench", [make_expectation(n, p) for n, p in EXPECTATIONS])


def _child(job: dict[str, Any]) -> None:
    from mlsteward.validation import validate

    suite = _suite()
    if job["case"] == "frame":
        namespace: dict[str, Any] = {}
        exec(DATA_CODE, namespace)
        data: Any = namespace["make_frame"](job["rows"])
    else:
        data = Path(job["path"])
    times = []
    for i in range(job["repeat"] + 1):
        start = time.perf_counter()
        result = validate(suite, data)
        elapsed = time.perf_counter() - start
        assert result.success, result.to_json()
        if i:
            times.append(elapsed)
    print(json.dumps({"times": times, "peak_rss": peak_rss()}))


def _write_parquet(path: Path, rows: int) -> None:
    import pyarrow as pa
    import pyarrow.parquet as pq

    namespace: dict[str, Any] = {}
    exec(DATA_CODE, namespace)
    step = 1_000_000
    writer = None
    for start in range(0, rows, step):
        frame = namespace["make_frame"](min(step, rows - start))
        frame["id"] += start
        table = pa.Table.from_pandas(frame, preserve_index=False)
        writer = writer or pq.ParquetWriter(path, table.schema)
        writer.write_table(table)
    assert writer is not None
    writer.close()


def run(*, quick: bool, peer: bool, repeat: int, workdir: str | None) -> list[Row]:
    """Run every case; returns the table rows."""
    rows = 100_000 if quick else 1_000_000
    big = 1_000_000 if quick else 10_000_000
    if peer and not PEER_PYTHON.exists():
        raise SystemExit(
            "Great Expectations is not installed: python -m benchmarks.peers great_expectations"
        )
    results = []
    module = "benchmarks.validation"
    ours = run_child(module, {"case": "frame", "rows": rows, "repeat": repeat})
    peer_side = None
    if peer:
        with tempfile.TemporaryDirectory(dir=workdir) as folder:
            script = Path(folder) / "validation_ge_peer.py"
            script.write_text(PEER_SCRIPT)
            job = {"rows": rows, "repeat": repeat, "expectations": EXPECTATIONS}
            peer_side = run_child(module, job, python=str(PEER_PYTHON), script=str(script))
    results.append(Row("validation (pandas frame, 10 checks)", rows, ours, peer_side, "rows"))
    with tempfile.TemporaryDirectory(dir=workdir) as folder:
        path = Path(folder) / "big.parquet"
        _write_parquet(path, big)
        side = run_child(module, {"case": "parquet", "path": str(path), "repeat": repeat})
    results.append(Row("validation (Parquet scan, 10 checks)", big, side, None, "rows"))
    return results


if __name__ == "__main__" and len(sys.argv) == 3 and sys.argv[1] == "--child":
    _child(json.loads(sys.argv[2]))
