"""``python -m benchmarks <workload> [--quick] [--peer]``: run a workload, print a table."""

from __future__ import annotations

import argparse
import datetime as dt
import os
import platform
import sys

from . import (
    audit_append,
    blob_io,
    data_add,
    model_load,
    monitoring,
    package_io,
    profile,
    serving,
    tracking,
    tracking_search,
    validation,
)
from ._harness import format_table

WORKLOADS = {
    "audit_append": audit_append.run,
    "blob_io": blob_io.run,
    "data_add": data_add.run,
    "model_load": model_load.run,
    "monitoring": monitoring.run,
    "package_io": package_io.run,
    "profile": profile.run,
    "serving": serving.run,
    "tracking": tracking.run,
    "tracking_search": tracking_search.run,
    "validation": validation.run,
}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks", description=__doc__)
    parser.add_argument("workload", choices=sorted(WORKLOADS))
    parser.add_argument("--quick", action="store_true", help="Small sizes (blob_io: 50 MB).")
    parser.add_argument("--peer", action="store_true", help="Also measure the peer tool.")
    parser.add_argument("--repeat", type=int, default=5, help="Timed runs after a warm-up.")
    parser.add_argument("--dir", default=None, help="Work folder (default: the temp folder).")
    args = parser.parse_args(argv)
    if args.repeat < 5:
        parser.error("--repeat must be at least 5")
    rows = WORKLOADS[args.workload](
        quick=args.quick, peer=args.peer, repeat=args.repeat, workdir=args.dir
    )
    print(
        f"{dt.datetime.now(dt.UTC):%Y-%m-%d %H:%M} UTC, Python {platform.python_version()}, "
        f"{os.cpu_count()} CPUs, {platform.machine()}; command: "
        f"python -m benchmarks {' '.join(sys.argv[1:] if argv is None else argv)}\n"
    )
    print(format_table(rows))
    return 0


if __name__ == "__main__":
    sys.exit(main())
