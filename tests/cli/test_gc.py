"""``mlsteward gc``: purge deleted runs, then unreferenced blobs."""

from __future__ import annotations

import time

from mlsteward.security import SYSTEM
from mlsteward.tracking import (
    MetricPoint,
    create_experiment,
    log_batch,
    set_run_deleted,
    start_run,
)

from .conftest import Cli


def test_gc_purges_deleted_runs_and_stray_blobs(cli: Cli) -> None:
    platform = cli.platform()
    try:
        create_experiment(platform, SYSTEM, "default", "e")
        kept = start_run(platform, SYSTEM, "default", "e").id
        gone = start_run(platform, SYSTEM, "default", "e").id
        now = int(time.time() * 1000)
        for run_id in (kept, gone):
            log_batch(platform, SYSTEM, run_id, metrics=[MetricPoint("m", 1.0, 0, now)])
        set_run_deleted(platform, SYSTEM, gone, True)
        stray = platform.blobs.put_bytes(b"nobody refers to me")
    finally:
        platform.close()

    young = cli.json("gc", "--json")
    assert young["purged"] == {"runs": 1, "experiments": 0, "metric_points": 1}
    assert young["blobs"]["deleted"] == 0  # the stray blob is within the grace period

    out = cli.ok("gc", "--grace-seconds", "0")
    assert "purged 0 runs" in out.stderr
    assert "deleted 1 unreferenced blobs" in out.stderr

    platform = cli.platform()
    try:
        assert not platform.blobs.exists(stray.address)
        from mlsteward.tracking import get_run

        assert get_run(platform, SYSTEM, kept).metrics == {"m": 1.0}
    finally:
        platform.close()


def test_gc_refuses_negative_ages(cli: Cli) -> None:
    before = cli.audit_count()
    result = cli("gc", "--older-than-days", "-1")
    assert result.exit_code == 2
    assert cli.audit_count() == before
