"""``data_add``: version a 1 GB folder of 2,000 files, then add it again unchanged.

mlsteward side: the ``mlsteward data add DATA --name bench`` command in a fresh process (the
time includes interpreter start and imports) against a fresh home (database migrated before
timing, empty blob store, no stat cache). Peer side: ``dvc add DATA`` in a fresh ``git init``
+ ``dvc init`` repository whose site cache (dvc's hash state) is inside it, so nothing carries
over between repetitions. Then each side adds the same folder again with nothing changed
(mlsteward: answered from its stat cache; dvc: from its state database). The folder is
generated once from a fixed seed: incompressible bytes, file sizes log-normal (a few files
are big enough to be chunked), in 20 subfolders. Before each timed command the data is read
(page cache warm for both sides) and ``os.sync()`` runs. Peak RSS is the command's own
(``wait4``).

A third, reference line (not a side of the table): ``cp -r`` of the same folder into a fresh
folder, then ``sync``: the bytes copied and made durable, nothing hashed, no process start
of a Python program. It shows what the disk and the page cache of the machine allow; an add
that stores the files (dvc copies them into its cache too) cannot beat it by much.
"""

from __future__ import annotations

import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import blake3
import numpy as np

from ._harness import MB, Row, Side
from .peers import ROOT as PEERS_ROOT

FULL = (2000, 1_000_000_000)
QUICK = (200, 100_000_000)
SEED = 20240607
_BUFFER = 8 * 1024 * 1024


def generate(folder: Path, count: int, total: int, seed: int = SEED) -> None:
    """``count`` files of ``total`` bytes in all under ``folder`` (skipped when present)."""
    stamp = folder.with_name(folder.name + ".json")
    wanted = {"count": count, "total": total, "seed": seed}
    if stamp.exists() and json.loads(stamp.read_text()) == wanted and folder.exists():
        return
    shutil.rmtree(folder, ignore_errors=True)
    rng = np.random.default_rng(seed)
    raw = rng.lognormal(mean=0.0, sigma=1.5, size=count)
    sizes = np.maximum((raw / raw.sum() * total).astype(np.int64), 1)
    sizes[-1] += total - int(sizes.sum())
    for i, size in enumerate(sizes.tolist()):
        path = folder / f"part-{i % 20:02}" / f"file-{i:05}.bin"
        path.parent.mkdir(parents=True, exist_ok=True)
        xof = blake3.blake3((seed * 1_000_003 + i).to_bytes(16, "big"))
        with open(path, "wb") as out:
            for offset in range(0, size, _BUFFER):
                out.write(xof.digest(length=min(_BUFFER, size - offset), seek=offset))
    stamp.write_text(json.dumps(wanted))


def _warm(folder: Path) -> None:
    buffer = bytearray(_BUFFER)
    for path in sorted(folder.rglob("*")):
        if path.is_file():
            with open(path, "rb", buffering=0) as handle:
                while handle.readinto(buffer):
                    pass


def _timed(command: list[str], *, cwd: Path, env: dict[str, str], log: Path) -> tuple[float, int]:
    """Wall time (s) and peak RSS (bytes) of one command run to completion."""
    with open(log, "ab") as err:
        start = time.perf_counter()
        child = subprocess.Popen(command, cwd=cwd, env=env, stdout=err, stderr=err)
        _, status, usage = os.wait4(child.pid, 0)
        elapsed = time.perf_counter() - start
        child.returncode = os.waitstatus_to_exitcode(status)
    if child.returncode != 0:
        raise RuntimeError(f"{' '.join(command)} failed ({child.returncode}); see {log}")
    return elapsed, usage.ru_maxrss * 1024


def _environment(work: Path) -> dict[str, str]:
    """The environment of both sides: bytecode caching on (into the work folder), as in a
    normal install; this sandbox sets PYTHONDONTWRITEBYTECODE, which would make every start
    compile the sources again."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("MLSTEWARD_")}
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    env["PYTHONPYCACHEPREFIX"] = str(work / "pycache")
    return env


def _run(command: list[str], *, cwd: Path, env: dict[str, str]) -> None:
    subprocess.run(command, cwd=cwd, env=env, check=True, capture_output=True)


def _mlsteward_round(repo: Path, work: Path, log: Path) -> tuple[tuple[float, int], ...]:
    home = work / "mlsteward-home"
    shutil.rmtree(home, ignore_errors=True)
    env = _environment(work)
    env["MLSTEWARD_HOME"] = str(home)
    mlsteward = str(Path(sys.executable).with_name("mlsteward"))
    _run([mlsteward, "db", "upgrade"], cwd=work, env=env)
    command = [mlsteward, "data", "add", str(repo / "data"), "--name", "bench"]
    results = []
    for _ in range(2):  # the add, then the add with nothing changed
        _warm(repo / "data")
        os.sync()
        results.append(_timed(command, cwd=work, env=env, log=log))
    shutil.rmtree(home, ignore_errors=True)
    return tuple(results)


def _dvc_round(repo: Path, work: Path, log: Path) -> tuple[tuple[float, int], ...]:
    dvc = str(PEERS_ROOT / "dvc" / "bin" / "dvc")
    for name in (".git", ".dvc", "data.dvc", ".gitignore", ".dvcignore"):
        target = repo / name
        if target.is_dir():
            shutil.rmtree(target)
        else:
            target.unlink(missing_ok=True)
    env = _environment(work)
    _run(["git", "init", "-q"], cwd=repo, env=env)
    _run([dvc, "init", "-q"], cwd=repo, env=env)
    _run(
        [dvc, "config", "--local", "core.site_cache_dir", str(repo / ".dvc" / "site")],
        cwd=repo,
        env=env,
    )
    _run([dvc, "config", "--local", "core.analytics", "false"], cwd=repo, env=env)
    results = []
    for _ in range(2):
        _warm(repo / "data")
        os.sync()
        results.append(_timed([dvc, "add", "data"], cwd=repo, env=env, log=log))
    return tuple(results)


def _copy_round(repo: Path, work: Path, log: Path) -> tuple[float, int]:
    target = work / "bare-copy"
    shutil.rmtree(target, ignore_errors=True)
    _warm(repo / "data")
    os.sync()
    command = ["sh", "-c", f'cp -r "{repo / "data"}" "{target}" && sync']
    result = _timed(command, cwd=work, env=dict(os.environ), log=log)
    shutil.rmtree(target, ignore_errors=True)
    return result


def _side(samples: list[tuple[float, int]]) -> Side:
    return Side(times=[t for t, _ in samples], peak_rss=max(r for _, r in samples))


def _seconds(name: str, side: Side) -> str:
    times = side.times
    return (
        f"{name}: {min(times):.2f} / {statistics.median(times):.2f} / {max(times):.2f} s "
        f"(min / median / max of {len(times)}), peak RSS {side.peak_rss / MB:,.0f} MB"
    )


def run(*, quick: bool, peer: bool, repeat: int, workdir: str | None) -> list[Row]:
    """Measure the add and the unchanged re-add on each side; one row per case."""
    count, total = QUICK if quick else FULL
    work = Path(workdir or tempfile.gettempdir()) / "mlsteward-bench-data-add"
    repo = work / "repo"
    repo.mkdir(parents=True, exist_ok=True)
    generate(repo / "data", count, total)
    log = work / "commands.log"
    log.unlink(missing_ok=True)
    ours: dict[str, list[tuple[float, int]]] = {"add": [], "re-add": []}
    theirs: dict[str, list[tuple[float, int]]] = {"add": [], "re-add": []}
    copies: list[tuple[float, int]] = []
    if peer and not (PEERS_ROOT / "dvc" / "bin" / "dvc").exists():
        raise SystemExit("install the peer first: python -m benchmarks.peers dvc")
    for round_number in range(repeat + 1):  # round 0 is the warm-up
        add, readd = _mlsteward_round(repo, work, log)
        peer_add = peer_readd = None
        if peer:
            peer_add, peer_readd = _dvc_round(repo, work, log)
        copy = _copy_round(repo, work, log)
        if round_number == 0:
            continue
        copies.append(copy)
        ours["add"].append(add)
        ours["re-add"].append(readd)
        if peer_add is not None and peer_readd is not None:
            theirs["add"].append(peer_add)
            theirs["re-add"].append(peer_readd)
    rows = []
    for case in ("add", "re-add"):
        mine = _side(ours[case])
        other = _side(theirs[case]) if peer else None
        print(_seconds(f"mlsteward data {case}", mine))
        if other is not None:
            print(_seconds(f"dvc {case} (dvc 3.67.1)", other))
        rows.append(Row(f"data {case}, {count:,} files (vs dvc add)", total, mine, other))
    print(_seconds("reference: cp -r, then sync", _side(copies)))
    print()
    return rows
