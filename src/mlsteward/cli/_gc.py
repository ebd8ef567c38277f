"""``mlsteward gc``: purge deleted runs and experiments for good, then unreferenced blobs."""

from __future__ import annotations

from typing import Annotated

import typer

from ._output import emit_json, print_success


def gc(
    older_than_days: Annotated[
        float,
        typer.Option(
            "--older-than-days", min=0, help="Only purge what was deleted at least this long ago."
        ),
    ] = 0,
    grace_seconds: Annotated[
        int,
        typer.Option(min=0, help="Keep unreferenced blobs younger than this (in-flight writes)."),
    ] = 3600,
    json_output: Annotated[bool, typer.Option("--json", help="Print JSON to stdout.")] = False,
) -> None:
    """Permanently remove deleted runs (metric history, params, tags, artifact records) and
    deleted experiments, then delete blobs nothing references any more."""
    import datetime as dt

    from ..platform import referenced_blob_addresses
    from ..tracking import purge_deleted
    from ._local import local_platform, operator

    with local_platform() as platform:
        report = purge_deleted(platform, operator(), older_than=dt.timedelta(days=older_than_days))
        blobs = platform.blobs.gc(referenced_blob_addresses(platform), grace_seconds=grace_seconds)
    if json_output:
        emit_json({"purged": report.to_json(), "blobs": blobs.to_dict()})
        return
    print_success(
        f"purged {report.runs} runs ({report.metric_points} metric points) and "
        f"{report.experiments} experiments; deleted {blobs.deleted} unreferenced blobs "
        f"({blobs.deleted_bytes} bytes)"
    )
