"""Audit append cost: one hash-chained event per transaction, on SQLite and PostgreSQL.

There is no peer tool that keeps a hash-chained audit trail, so the reference side ("bare")
is the floor on the same database: inserting the same row in its own transaction without
reading the chain head, hashing, or taking the PostgreSQL advisory lock. The ratio says what
the chain costs on top of a plain write.

Run: ``python -m benchmarks audit_append [--quick]``.
"""

from __future__ import annotations

import contextlib
import json
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from ._harness import Row, Side, peak_rss, run_child
from ._servers import fresh_postgres_database


def _child(job: dict[str, Any]) -> None:
    from sqlalchemy import insert

    from mlsteward.security import SYSTEM
    from mlsteward.security._audit import AuditLog, CheckpointSigner
    from mlsteward.store import Database, upgrade, utcnow
    from mlsteward.store._tables import audit_events

    db = Database(job["url"])
    upgrade(db)
    audit = AuditLog(CheckpointSigner(Path(job["key_file"])), checkpoint_interval=1000)
    n, times = int(job["n"]), []
    seq = 10_000_000  # the bare side writes its own sequence numbers, far from the chain's

    def chained(i: int) -> None:
        with db.write() as conn:
            audit.record(
                conn,
                SYSTEM,
                "bench.append",
                target_type="bench",
                target_id=str(i),
                details={"i": i},
            )

    def bare(i: int) -> None:
        nonlocal seq
        seq += 1
        with db.write() as conn:
            conn.execute(
                insert(audit_events).values(
                    seq=seq,
                    ts=utcnow(),
                    actor_id="system",
                    actor_name="system",
                    actor_kind="system",
                    action="bench.append",
                    project_id=None,
                    target_type="bench",
                    target_id=str(i),
                    details={"i": i},
                    prev_hash="0" * 64,
                    hash="0" * 64,
                )
            )

    step = chained if job["mode"] == "chained" else bare
    for i in range(min(n, 50)):  # warm-up: connections, statement caches
        step(i)
    for _ in range(int(job["repeat"])):
        started = time.perf_counter()
        for i in range(n):
            step(i)
        times.append(time.perf_counter() - started)
    db.dispose()
    print(json.dumps({"times": times, "peak_rss": peak_rss()}))


def run(*, quick: bool, peer: bool, repeat: int, workdir: str | None) -> list[Row]:
    """Appends per second, chained vs bare, per backend (``peer`` is ignored: no peer)."""
    n = 200 if quick else 2000
    rows: list[Row] = []
    with tempfile.TemporaryDirectory(dir=workdir) as tmp:
        key_file = str(Path(tmp) / "audit.pem")
        for backend in ("sqlite", "postgresql"):
            sides: dict[str, Side] = {}
            for mode in ("chained", "bare"):
                with contextlib.ExitStack() as stack:
                    url = (
                        f"sqlite:///{Path(tmp) / f'{mode}.db'}"
                        if backend == "sqlite"
                        else stack.enter_context(fresh_postgres_database())
                    )
                    job = {"url": url, "mode": mode, "n": n, "repeat": repeat, "key_file": key_file}
                    sides[mode] = run_child("benchmarks.audit_append", job)
            rows.append(
                Row(
                    f"audit append, one per transaction ({backend}; peer = bare insert)",
                    n,
                    sides["chained"],
                    sides["bare"],
                    unit="appends",
                )
            )
    return rows


if __name__ == "__main__" and len(sys.argv) == 3 and sys.argv[1] == "--child":
    _child(json.loads(sys.argv[2]))
