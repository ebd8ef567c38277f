"""The inference server under load from ``wrk``: ``mlsteward serve`` vs ``mlflow models serve``.

Workloads (``python -m benchmarks serving [--quick] [--peer]``), on one scikit-learn
``HistGradientBoostingClassifier`` over 20 features (generated with a fixed seed, pickled once
and loaded by both sides, so both serve the same model):

- single-row requests, 16 connections, ``POST /invocations`` with ``dataframe_split``;
- 1,000-row requests, 4 connections, ``POST /invocations`` (rates are rows per second);
- mlsteward only: the same two loads through the Open Inference Protocol JSON path
  (``POST /v2/models/NAME/infer``), shown against MLflow's ``/invocations`` figures;
- every mlsteward case twice: one server process (``--workers 1``, the default) and two
  (``--workers 2``, one per core here), each beside the same MLflow figures.

A reference line (not a side of the table): the model's own ``predict`` on the same 1,000-row
frame, one thread per core, in a process of its own with ``OMP_NUM_THREADS=1`` as the server
has, no HTTP and no JSON: the most rows/s any server of this model can reach here.

Each server runs in its own process on 127.0.0.1 with its default settings: ``mlsteward serve
PACKAGE --trusted-key PEM`` (a signed package) and ``mlflow models serve -m DIR --env-manager
local`` from ``benchmarks/.peers/mlflow``. The load comes from ``wrk`` (one thread, a separate
process) POSTing one fixed body; a Lua ``done()`` prints the request count, the errors and the
latency percentiles as JSON. Each case: a warm-up run, then ``repeat`` timed runs of the same
duration. A run with socket errors or HTTP errors (status >= 400) is reported as such, never
dropped. Peak RSS is the high-water mark of the server's process tree after the case.
"""

from __future__ import annotations

import contextlib
import json
import os
import pickle
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx

from ._harness import MB, Row, Side
from ._servers import free_port

PEER_PYTHON = Path(__file__).parent / ".peers" / "mlflow" / "bin" / "python"
MODEL_NAME = "bench"
N_FEATURES = 20
BATCH_ROWS = 1_000
CHECK_ROWS = 5

# Runs in the peer's interpreter (mlsteward is not installed there): the pickled model,
# logged the way an MLflow user would, with the same input example as ours.
PEER_SAVE = """
import json, pickle, sys
import mlflow.sklearn, pandas
model_file, example_file, target = sys.argv[1:4]
with open(model_file, "rb") as f:
    model = pickle.load(f)
example = pandas.read_json(example_file, orient="split")
# MLflow's default format (skops) asks the user to trust HistGradientBoosting's tree type.
trusted = ["sklearn.ensemble._hist_gradient_boosting.predictor.TreePredictor"]
mlflow.sklearn.save_model(model, target, input_example=example, skops_trusted_types=trusted)
import mlflow, sklearn
print(json.dumps({"mlflow": mlflow.__version__, "sklearn": sklearn.__version__}))
"""

# wrk's script: POST the body in BODY_FILE, print the summary as one JSON line at the end.
WRK_SCRIPT = """
local f = assert(io.open(os.getenv("BODY_FILE"), "rb"))
wrk.method = "POST"
wrk.body = f:read("*a")
f:close()
wrk.headers["Content-Type"] = "application/json"

done = function(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    'WRK_JSON {"requests": %d, "duration_us": %d, "connect": %d, "read": %d, "write": %d, '
    .. '"status": %d, "timeout": %d, "p50_us": %d, "p99_us": %d, "max_us": %d}\\n',
    summary.requests, summary.duration, e.connect, e.read, e.write, e.status, e.timeout,
    latency:percentile(50), latency:percentile(99), latency.max))
end
"""


@dataclass(frozen=True)
class Case:
    key: str
    label: str
    connections: int
    rows: int
    path: str  # "invocations" or "oip"


WORKERS = (1, 2)
"""``mlsteward serve --workers``: one process (the default), then one per core of this machine."""

CASES = (
    Case("single", "single-row /invocations, 16 connections", 16, 1, "invocations"),
    Case("batch", "1,000-row /invocations, 4 connections", 4, BATCH_ROWS, "invocations"),
    Case("oip_single", "single-row OIP infer, 16 connections", 16, 1, "oip"),
    Case("oip_batch", "1,000-row OIP infer, 4 connections", 4, BATCH_ROWS, "oip"),
)


@dataclass
class WrkRun:
    requests: int
    seconds: float
    socket_errors: int
    http_errors: int
    p50_ms: float
    p99_ms: float

    @classmethod
    def parse(cls, output: str) -> WrkRun:
        line = next(x for x in output.splitlines() if x.startswith("WRK_JSON "))
        data = json.loads(line.removeprefix("WRK_JSON "))
        return cls(
            requests=int(data["requests"]),
            seconds=data["duration_us"] / 1e6,
            socket_errors=sum(int(data[k]) for k in ("connect", "read", "write", "timeout")),
            http_errors=int(data["status"]),
            p50_ms=data["p50_us"] / 1000,
            p99_ms=data["p99_us"] / 1000,
        )


@dataclass
class Measured:
    """The timed runs of one case on one side, and the server's peak RSS after them."""

    runs: list[WrkRun]
    peak_rss: int

    def side(self) -> Side:
        # Seconds per request: ``Row.rates`` turns it into requests (or rows) per second.
        return Side(
            times=[r.seconds / max(r.requests, 1) for r in self.runs], peak_rss=self.peak_rss
        )

    def latency(self) -> str:
        p50 = statistics.median(r.p50_ms for r in self.runs)
        p99 = statistics.median(r.p99_ms for r in self.runs)
        return f"{p50:,.1f}/{p99:,.1f}"

    def errors(self) -> str:
        http = sum(r.http_errors for r in self.runs)
        sock = sum(r.socket_errors for r in self.runs)
        total = sum(r.requests for r in self.runs)
        if http == 0 and sock == 0:
            return "0 errors"
        return f"ERRORS: {http:,} HTTP >= 400, {sock:,} socket, of {total:,} requests"


def _make_data(workdir: Path) -> tuple[Any, Path]:
    """The feature frame and the pickled fitted model (fixed seed)."""
    import pandas as pd
    from sklearn.datasets import make_classification
    from sklearn.ensemble import HistGradientBoostingClassifier

    x, y = make_classification(
        n_samples=20_000, n_features=N_FEATURES, n_informative=10, random_state=0
    )
    frame = pd.DataFrame(x, columns=[f"f{i}" for i in range(N_FEATURES)])
    model = HistGradientBoostingClassifier(random_state=0).fit(frame, y)
    model_file = workdir / "model.pkl"
    model_file.write_bytes(pickle.dumps(model))
    return frame, model_file


def _package(workdir: Path, frame: Any, model_file: Path) -> tuple[Path, Path]:
    """Our signed package of the pickled model and the signer's public key (PEM)."""
    from mlsteward.models._model_dir import save_model
    from mlsteward.packaging import build_package, generate_signing_key, public_key_to_pem

    model = pickle.loads(model_file.read_bytes())
    source = workdir / "ours-model"
    save_model(model, source, input_example=frame.head(5))
    key = generate_signing_key()
    package = workdir / f"{MODEL_NAME}-1.mlsb"
    import sklearn

    build_package(
        source,
        metadata={"model": {"name": MODEL_NAME, "version": 1}, "flavor": "sklearn"},
        requirements=[f"scikit-learn=={sklearn.__version__}"],
        signing_key=key,
        output=package,
    )
    pem = workdir / "signing.pub.pem"
    pem.write_bytes(public_key_to_pem(key.public_key()))
    return package, pem


def _peer_model(workdir: Path, frame: Any, model_file: Path) -> dict[str, str]:
    """The same pickled model saved with ``mlflow.sklearn``; the peer's versions."""
    import sklearn

    example = workdir / "example.json"
    example.write_text(frame.head(5).to_json(orient="split", index=False))
    result = subprocess.run(
        [str(PEER_PYTHON), "-c", PEER_SAVE, str(model_file), str(example), str(workdir / "mlf")],
        capture_output=True,
        text=True,
        check=False,
    )
    if result.returncode != 0:
        raise RuntimeError(f"saving the model with MLflow failed:\n{result.stderr}")
    versions: dict[str, str] = json.loads(result.stdout.strip().splitlines()[-1])
    if versions["sklearn"] != sklearn.__version__:
        raise SystemExit(
            f"the peer has scikit-learn {versions['sklearn']}, mlsteward's venv "
            f"{sklearn.__version__}: the same pickle must load on both sides; run "
            f"{PEER_PYTHON} -m pip install scikit-learn=={sklearn.__version__}"
        )
    return versions


def _tree_peak_rss(pid: int) -> int:
    """Sum of the peak RSS (``VmHWM``) of ``pid`` and its living descendants, in bytes."""
    children: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            with contextlib.suppress(OSError, IndexError, ValueError):
                stat = (entry / "stat").read_text()
                ppid = int(stat.rsplit(")", 1)[1].split()[1])
                children.setdefault(ppid, []).append(int(entry.name))
    total, todo = 0, [pid]
    while todo:
        current = todo.pop()
        todo.extend(children.get(current, []))
        with contextlib.suppress(OSError):
            for line in Path(f"/proc/{current}/status").read_text().splitlines():
                if line.startswith("VmHWM:"):
                    total += int(line.split()[1]) * 1024
    return total


@contextlib.contextmanager
def _server(
    command: list[str], env: dict[str, str], ready: str, log: Path
) -> Iterator[subprocess.Popen[bytes]]:
    """Run ``command`` in its own process group until ``ready`` answers 200; stop the group."""
    with log.open("wb") as out:
        process = subprocess.Popen(
            command, env=env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True
        )
        try:
            deadline = time.monotonic() + 120
            while True:
                if process.poll() is not None:
                    raise RuntimeError(f"{command[0]} exited early:\n{log.read_text()[-3000:]}")
                with contextlib.suppress(httpx.TransportError):
                    if httpx.get(ready, timeout=2).status_code == 200:
                        break
                if time.monotonic() > deadline:
                    raise RuntimeError(f"{ready} was not ready within 120 s")
                time.sleep(0.3)
            yield process
        finally:
            # The group is ours (start_new_session): MLflow's CLI runs uvicorn as a child.
            with contextlib.suppress(ProcessLookupError):
                os.killpg(process.pid, signal.SIGTERM)
            try:
                process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(process.pid, signal.SIGKILL)
                process.wait()


def _invocations_body(frame: Any) -> bytes:
    split = {"columns": list(frame.columns), "data": frame.to_numpy().tolist()}
    return json.dumps({"dataframe_split": split}).encode()


def _oip_body(frame: Any) -> bytes:
    inputs = [
        {"name": c, "shape": [len(frame)], "datatype": "FP64", "data": frame[c].tolist()}
        for c in frame.columns
    ]
    return json.dumps({"inputs": inputs}).encode()


# Runs in a fresh interpreter: the pickled model's predict on a 1,000-row frame from every core
# at once (it releases the GIL while walking its trees), for a fixed time; prints rows/s.
BARE_PREDICT = """
import os, pickle, sys, threading, time
import pandas as pd
model_file, frame_file, seconds = sys.argv[1], sys.argv[2], float(sys.argv[3])
with open(model_file, "rb") as f:
    model = pickle.load(f)
frame = pd.read_pickle(frame_file)
model.predict(frame)
rows = [0] * os.cpu_count()
deadline = time.perf_counter() + seconds
def work(slot):
    while time.perf_counter() < deadline:
        model.predict(frame)
        rows[slot] += len(frame)
started = time.perf_counter()
threads = [threading.Thread(target=work, args=(i,)) for i in range(len(rows))]
for t in threads: t.start()
for t in threads: t.join()
print(sum(rows) / (time.perf_counter() - started))
"""


def _bare_predict_rows_per_second(workdir: Path, model_file: Path, batch: Any) -> float:
    """The reference: the model's own predict, one thread per core, no server (see above)."""
    frame_file = workdir / "bare-batch.pkl"
    batch.to_pickle(frame_file)
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    result = subprocess.run(
        [sys.executable, "-c", BARE_PREDICT, str(model_file), str(frame_file), "10"],
        capture_output=True,
        text=True,
        env=env,
        check=True,
    )
    return float(result.stdout.strip().splitlines()[-1])


def _predict(url: str, path: str, frame: Any) -> list[Any]:
    """Predictions for ``frame`` through one protocol; fails loudly on any non-200."""
    if path == "invocations":
        response = httpx.post(
            f"{url}/invocations",
            content=_invocations_body(frame),
            headers={"Content-Type": "application/json"},
            timeout=60,
        )
    else:
        response = httpx.post(
            f"{url}/v2/models/{MODEL_NAME}/infer",
            content=_oip_body(frame),
            headers={"Content-Type": "application/json"},
            timeout=60,
        )
    if response.status_code != 200:
        raise RuntimeError(f"{path} at {url}: {response.status_code} {response.text[:500]}")
    data = response.json()
    if path == "invocations":
        return list(data["predictions"])
    return list(data["outputs"][0]["data"])


def _wrk(url: str, body: Path, script: Path, connections: int, seconds: int) -> WrkRun:
    command = ["wrk", "-t1", f"-c{connections}", f"-d{seconds}s", "--timeout", "10s"]
    result = subprocess.run(
        [*command, "-s", str(script), url],
        env={**os.environ, "BODY_FILE": str(body)},
        capture_output=True,
        text=True,
        check=False,
    )
    if result.returncode != 0 or "WRK_JSON" not in result.stdout:
        raise RuntimeError(f"wrk failed:\n{result.stdout}\n{result.stderr}")
    return WrkRun.parse(result.stdout)


def _measure(
    url: str,
    pid: int,
    case: Case,
    bodies: dict[tuple[str, int], Path],
    timing: tuple[int, int],
    script: Path,
    repeat: int,
    side: str,
) -> Measured:
    """A warm-up run, then ``repeat`` timed runs of ``case`` against the server at ``url``."""
    warmup, seconds = timing
    route = "/invocations" if case.path == "invocations" else f"/v2/models/{MODEL_NAME}/infer"
    target = url + route
    body = bodies[(case.path, case.rows)]
    _wrk(target, body, script, case.connections, warmup)
    runs = []
    for _ in range(repeat):
        run = _wrk(target, body, script, case.connections, seconds)
        runs.append(run)
        print(
            f"  {side:9} {case.key:10} {run.requests / run.seconds:9,.0f} req/s "
            f"p50 {run.p50_ms:8.1f} ms  p99 {run.p99_ms:8.1f} ms  "
            f"http errors {run.http_errors}  socket errors {run.socket_errors}",
            file=sys.stderr,
            flush=True,
        )
    return Measured(runs, _tree_peak_rss(pid))


def run(*, quick: bool, peer: bool, repeat: int, workdir: str | None) -> list[Row]:
    """Requests/s, rows/s, latency and peak RSS of the inference server under ``wrk``,
    mlsteward vs MLflow's scoring server (with ``--peer``)."""
    if shutil.which("wrk") is None:
        raise SystemExit("wrk is not installed (it generates the load): apt-get install -y wrk")
    if peer and not PEER_PYTHON.exists():
        raise SystemExit(
            "MLflow is not installed for benchmarks: python -m benchmarks.peers mlflow"
        )
    timing = (1, 3) if quick else (3, 10)
    ours: dict[str, Measured] = {}
    theirs: dict[str, Measured] = {}
    peer_versions: dict[str, str] = {}
    with tempfile.TemporaryDirectory(dir=workdir) as tmp:
        base = Path(tmp)
        frame, model_file = _make_data(base)
        package, pem = _package(base, frame, model_file)
        if peer:
            peer_versions = _peer_model(base, frame, model_file)
        script = base / "post.lua"
        script.write_text(WRK_SCRIPT)
        bodies: dict[tuple[str, int], Path] = {}
        for size in (1, BATCH_ROWS):
            for path, make in (("invocations", _invocations_body), ("oip", _oip_body)):
                bodies[(path, size)] = base / f"{path}-{size}.json"
                bodies[(path, size)].write_bytes(make(frame.iloc[100 : 100 + size]))
        check = frame.iloc[:CHECK_ROWS]
        batch = frame.iloc[100 : 100 + BATCH_ROWS]

        bare = _bare_predict_rows_per_second(base, model_file, batch)
        port = free_port()
        url = f"http://127.0.0.1:{port}"
        env = {k: v for k, v in os.environ.items() if not k.startswith("MLSTEWARD_")}
        env["MLSTEWARD_HOME"] = str(base / "home")
        for workers in WORKERS:
            command = [sys.executable, "-m", "mlsteward.cli", "serve", str(package)]
            command += ["--trusted-key", str(pem), "--port", str(port)]
            command += ["--workers", str(workers)]
            log = base / f"ours-{workers}.log"
            with _server(command, env, f"{url}/v2/health/ready", log) as process:
                expected = _predict(url, "invocations", check)
                if _predict(url, "oip", check) != expected:
                    raise RuntimeError("mlsteward: /invocations and OIP predictions differ")
                for path in ("invocations", "oip"):
                    if len(_predict(url, path, batch)) != BATCH_ROWS:
                        raise RuntimeError(f"mlsteward: {path} did not answer {BATCH_ROWS} rows")
                for case in CASES:
                    side = "mlsteward" if workers == 1 else f"ours w={workers}"
                    ours[f"{case.key}@{workers}"] = _measure(
                        url, process.pid, case, bodies, timing, script, repeat, side
                    )

        if peer:
            port = free_port()
            url = f"http://127.0.0.1:{port}"
            mlflow = str(PEER_PYTHON.parent / "mlflow")
            env = dict(os.environ)
            env["PATH"] = f"{PEER_PYTHON.parent}{os.pathsep}{env.get('PATH', '')}"
            command = [mlflow, "models", "serve", "-m", str(base / "mlf")]
            command += ["--env-manager", "local", "-p", str(port), "-h", "127.0.0.1"]
            with _server(command, env, f"{url}/ping", base / "mlflow.log") as process:
                got = _predict(url, "invocations", check)
                if got != expected:
                    raise RuntimeError(
                        f"the two servers disagree on {CHECK_ROWS} rows: mlsteward "
                        f"{expected}, MLflow {got}"
                    )
                if len(_predict(url, "invocations", batch)) != BATCH_ROWS:
                    raise RuntimeError(f"MLflow did not answer {BATCH_ROWS} rows")
                for case in CASES[:2]:
                    theirs[case.key] = _measure(
                        url, process.pid, case, bodies, timing, script, repeat, "MLflow"
                    )

    peer_name = f"MLflow {peer_versions['mlflow']}" if peer_versions else "peer"
    rows: list[Row] = []
    for case, workers in ((case, workers) for workers in WORKERS for case in CASES):
        mine = ours[f"{case.key}@{workers}"]
        other = theirs.get(case.key) or theirs.get(case.key.removeprefix("oip_"))
        label = case.label if workers == 1 else f"{case.label}, mlsteward --workers {workers}"
        label += f"; p50/p99 ms: mlsteward {mine.latency()}"
        if other is not None:
            label += f", {peer_name} {other.latency()}"
            if case.path == "oip":
                label += " (peer: its /invocations, same load)"
        label += f"; mlsteward {mine.errors()}"
        if other is not None:
            label += f", {peer_name} {other.errors()}"
        rows.append(
            Row(
                label,
                case.rows,
                mine.side(),
                other.side() if other is not None else None,
                unit="req" if case.rows == 1 else "rows",
            )
        )
    seconds = timing[1]
    mlflow_batch = theirs.get("batch")
    versus = ""
    if mlflow_batch is not None:
        peer_rows = statistics.median(
            r.requests * BATCH_ROWS / r.seconds for r in mlflow_batch.runs
        )
        versus = f" = {bare / peer_rows:.1f}x {peer_name}'s median 1,000-row rows/s"
    print(
        f"reference: the model's own predict on the 1,000-row frame, {os.cpu_count()} threads, "
        f"no server: {bare:,.0f} rows/s{versus}"
    )
    print(
        f"serving: wrk -t1, {timing[0]} s warm-up then {repeat} runs of {seconds} s per case; "
        f"peak RSS = server process tree (MB = {MB:,} bytes); "
        f"load average now: {os.getloadavg()[0]:.2f} (1 min)\n"
    )
    return rows


if __name__ == "__main__":
    raise SystemExit("run it as: python -m benchmarks serving [--quick] [--peer]")
