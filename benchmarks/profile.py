"""Column profiles of a 20-column table: in memory (pandas, Polars) and streamed from Parquet.

The table: 10 float columns (normal, 1 % NaN, every value distinct), 5 integer columns
(10**2 to 10**6 distinct values) and 5 categorical string columns (10 to 50 categories); 1M
rows in memory, 10M rows in Parquet (``--quick``: 200k and 1M).

No peer tool profiles data this way (counts, min/max, mean/variance, KLL quantiles, HLL
distinct counts and frequent items, mergeable), so the other side is a *bare limit*: one NumPy
pass computing min, max, mean and variance of the 15 numeric columns only (for Parquet, after
reading the same batches). It shows how close to "just touching the data" a full profile gets.
Each side runs in its own process, so its peak RSS is its own; in-memory sides include the
table itself (built before timing), the Parquet sides stream it.
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

from ._harness import Row, Side, peak_rss, run_child

SEED = 20240611
FULL_ROWS = 1_000_000
FULL_PARQUET_ROWS = 10_000_000
QUICK_ROWS = 200_000
QUICK_PARQUET_ROWS = 1_000_000
_PART_ROWS = 500_000


def columns(rows: int, seed: int) -> dict[str, np.ndarray]:
    """The benchmark table's columns, deterministic for ``(rows, seed)``."""
    rng = np.random.default_rng(seed)
    out: dict[str, np.ndarray] = {}
    for i in range(10):
        x = rng.normal(i, 1.0 + i, rows)
        x[rng.random(rows) < 0.01] = np.nan
        out[f"f{i}"] = x
    for i in range(5):
        out[f"i{i}"] = rng.integers(0, 10 ** (i + 2), rows)
    categories = np.array([f"category_{j:02d}" for j in range(50)])
    for i in range(5):
        out[f"s{i}"] = categories[rng.integers(0, 10 * (i + 1), rows)]
    return out


def write_parquet(path: Path, rows: int) -> None:
    """Write the table in parts of ``_PART_ROWS`` rows (one row group each), unless present."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    if path.exists() and pq.ParquetFile(path).metadata.num_rows == rows:
        return
    writer = None
    try:
        for part, start in enumerate(range(0, rows, _PART_ROWS)):
            table = pa.table(columns(min(_PART_ROWS, rows - start), SEED + part))
            if writer is None:
                writer = pq.ParquetWriter(path, table.schema)
            writer.write_table(table, row_group_size=_PART_ROWS)
    finally:
        if writer is not None:
            writer.close()


def _bare_numpy(arrays: list[np.ndarray]) -> None:
    for x in arrays:
        if x.dtype.kind == "f":
            x = x[~np.isnan(x)]
        x.min()
        x.max()
        mean = x.mean()
        centred = x - mean
        np.dot(centred, centred)


def _child(job: dict[str, Any]) -> dict[str, Any]:
    side, source = job["side"], job["source"]
    times: list[float] = []
    if source == "parquet":
        import pyarrow.parquet as pq

        from mlsteward.profiles import profile_parquet

        for _ in range(job["runs"]):
            start = time.perf_counter()
            if side == "mlsteward":
                profile_parquet(job["path"])
            else:
                with pq.ParquetFile(job["path"], pre_buffer=False) as parquet:
                    numeric = [n for n in parquet.schema_arrow.names if n[0] in "fi"]
                    for batch in parquet.iter_batches(batch_size=131_072, columns=numeric):
                        _bare_numpy([c.to_numpy(zero_copy_only=False) for c in batch.columns])
            times.append(time.perf_counter() - start)
        return {"times": times, "peak_rss": peak_rss()}

    data = columns(job["rows"], SEED)
    if source == "polars":
        import polars as pl

        frame: Any = pl.DataFrame(data)
    else:
        import pandas as pd

        frame = pd.DataFrame(data)
    from mlsteward.profiles import profile_frame

    for _ in range(job["runs"]):
        start = time.perf_counter()
        if side == "mlsteward":
            profile_frame(frame)
        else:
            numeric = [n for n in frame.columns if n[0] in "fi"]
            _bare_numpy([frame[n].to_numpy() for n in numeric])
        times.append(time.perf_counter() - start)
    return {"times": times, "peak_rss": peak_rss()}


def _measure(job: dict[str, Any], repeat: int) -> dict[str, Side]:
    """Both sides, alternating run by run (one process each) after a warm-up run."""
    sides = ("mlsteward", "bare numpy")
    for side in sides:
        run_child(__name__, {**job, "side": side, "runs": 1})
    results = {side: Side(times=[], peak_rss=0) for side in sides}
    for _ in range(repeat):
        for side in sides:
            one = run_child(__name__, {**job, "side": side, "runs": 1})
            results[side].times.extend(one.times)
            results[side].peak_rss = max(results[side].peak_rss, one.peak_rss)
    return results


def run(*, quick: bool, peer: bool, repeat: int, workdir: str | None) -> list[Row]:
    """Profile in memory (pandas, Polars) and from Parquet; the bare limit is always shown."""
    del peer  # no peer tool: the bare NumPy limit is the other side
    rows = QUICK_ROWS if quick else FULL_ROWS
    parquet_rows = QUICK_PARQUET_ROWS if quick else FULL_PARQUET_ROWS
    base = Path(tempfile.mkdtemp(prefix="mlsteward-bench-", dir=workdir))
    try:
        path = base / "profile.parquet"
        write_parquet(path, parquet_rows)
        out = []
        for source, size in (("pandas", rows), ("polars", rows), ("parquet", parquet_rows)):
            job = {"source": source, "rows": size, "path": str(path)}
            results = _measure(job, repeat)
            name = f"profile 20 columns, {source} vs bare numpy"
            out.append(Row(name, size, results["mlsteward"], results["bare numpy"], unit="rows"))
        return out
    finally:
        shutil.rmtree(base, ignore_errors=True)


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("--child", required=True)
    args = parser.parse_args()
    print(json.dumps(_child(json.loads(args.child))))
    sys.exit(0)
