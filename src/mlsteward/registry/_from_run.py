"""Register a model a run logged (``runs:/<run>/model``) as the next version of a registered
model. The registry reads the files from the blob store and scans them itself: the scan
result a policy relies on never comes from the client."""

from __future__ import annotations

import json
import re
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sqlalchemy import select

from ..errors import InvalidArgument, NotFound
from ..security import Actor, Role
from ..store._tables import projects
from ..tracking._artifacts import check_artifact_path
from ..tracking._runs import require_run
from ..tracking._tables import latest_metrics, run_artifacts, run_tags
from ._model import ModelFile, ModelVersion
from ._models import register_model_version, write_model_files

if TYPE_CHECKING:
    from ..platform import Platform

_RUN_URI = re.compile(r"runs:/(?P<run>[0-9a-f]{32})/(?P<path>.+)")
MAX_MODEL_FILES = 10_000


def parse_run_uri(uri: str) -> tuple[str, str]:
    """``runs:/<run id>/<artifact path>`` as (run id, artifact path)."""
    match = _RUN_URI.fullmatch(uri) if isinstance(uri, str) else None
    if match is None:
        raise InvalidArgument(
            f"{str(uri)[:100]!r} is not a run URI: use runs:/<run id>/<artifact path>",
            details={"field": "uri"},
        )
    return match["run"], check_artifact_path(match["path"].rstrip("/"))


def _logged_model(
    platform: Platform, actor: Actor, run_id: str, path: str
) -> tuple[Any, list[ModelFile], dict[str, float]]:
    """The run's row, the model's files (relative to ``path``) and the run's metrics."""
    with platform.db.read() as conn:
        run = require_run(conn, actor, run_id, Role.VIEWER)
        rows = conn.execute(
            select(run_artifacts.c.path, run_artifacts.c.address, run_artifacts.c.size)
            .where(run_artifacts.c.run_id == run_id)
            .order_by(run_artifacts.c.path)
        ).all()
        metrics = {
            key: float(value)
            for key, value, is_nan in conn.execute(
                select(latest_metrics.c.key, latest_metrics.c.value, latest_metrics.c.is_nan).where(
                    latest_metrics.c.run_id == run_id
                )
            )
            if not is_nan
        }
    prefix = path + "/"
    files = [
        ModelFile(r.path[len(prefix) :], r.address, r.size)
        for r in rows
        if r.path.startswith(prefix)
    ]
    if not files:
        raise NotFound(f"run {run_id} has no model at {path!r}: log it with run.log_model first")
    if len(files) > MAX_MODEL_FILES:
        raise InvalidArgument(f"a model has at most {MAX_MODEL_FILES} files")
    return run, files, metrics


TRAINING_DATA_TAG = "mlsteward.training_data"
"""The run tag (JSON) where autologging references the training data."""


def _training_data(platform: Platform, run_id: str) -> list[dict[str, Any]]:
    """The training data reference the run recorded (autologging does), if any."""
    with platform.db.read() as conn:
        raw = conn.execute(
            select(run_tags.c.value).where(
                run_tags.c.run_id == run_id, run_tags.c.key == TRAINING_DATA_TAG
            )
        ).scalar_one_or_none()
    try:
        reference = json.loads(raw) if raw else None
    except ValueError:
        return []
    return [reference] if isinstance(reference, dict) else []


def register_model_from_run(
    platform: Platform,
    actor: Actor,
    uri: str,
    name: str,
    *,
    description: str = "",
    tags: dict[str, str] | None = None,
    datasets: list[dict[str, Any]] | None = None,
) -> ModelVersion:
    """Register the model logged at ``runs:/<run>/<path>`` as the next version of ``name`` in
    the run's project (editors): its files, flavor and signature from ``mlsteward.yaml``, the
    run's latest metrics as the snapshot, the training data reference the run recorded (tag
    ``mlsteward.training_data``) unless ``datasets`` are given, and a scan done here."""
    from ..models._model_dir import read_metadata, scan_model_dir

    run_id, path = parse_run_uri(uri)
    run, files, metrics = _logged_model(platform, actor, run_id, path)
    if datasets is None:
        datasets = _training_data(platform, run_id)
    with tempfile.TemporaryDirectory(prefix="mlsteward-register-") as tmp:
        folder = Path(tmp) / "model"
        write_model_files(platform, files, folder)
        metadata = read_metadata(folder)
        scan = scan_model_dir(folder)  # here, from the stored blobs: not the client's word
    with platform.db.read() as conn:  # the version goes to the run's project
        project = conn.execute(
            select(projects.c.name).where(projects.c.id == run.project_id)
        ).scalar_one()
    return register_model_version(
        platform,
        actor,
        project,
        name,
        source_uri=f"runs:/{run_id}/{path}",
        source_run_id=run_id,
        flavor=metadata.flavor,
        files=files,
        signature=None if metadata.signature is None else metadata.signature.to_dict(),
        metrics=metrics,
        datasets=datasets or [],
        description=description,
        tags=tags,
        _server_scan=scan,
    )
