"""Monitors of a stream of dataset versions, and the table rows the multivariate detector
reads from dataset versions.

A dataset monitor watches the versions of one table dataset: a window holds the versions
*created* in it (their profiles merged are the current side; versions without a profile, of
files, are left out). Its reference is another table dataset version or a period (the
versions created then); it has no model, so no training reference, quality or fairness.

The multivariate detector needs rows on both sides. A dataset version keeps its whole table,
so :func:`sample_versions` draws a seeded random sample of at most :data:`SAMPLE_ROWS` rows
(the detector's cap per side) reading only the columns compared, batch by batch: the sample is
the same for the same versions. :func:`table_sides` gives both sides for every reference but
a prediction stream's ``windows`` one (whose rows are the windows' sampled rows): a
``dataset`` reference's table, a ``training`` reference's training data when the lineage graph
links dataset versions to the model version (``dataset_version -input_of-> run -produced->
model_version``), and a dataset stream's current versions.
"""

from __future__ import annotations

import datetime as dt
import math
import tempfile
import threading
from collections import OrderedDict
from pathlib import Path
from typing import TYPE_CHECKING, Any, Final

from sqlalchemy import Connection, Select, and_, select
from sqlalchemy.orm import aliased

from ..errors import InvalidArgument

if TYPE_CHECKING:
    import pandas as pd

    from ..platform import Platform
    from ..security import Project
    from ._monitor_model import Monitor

__all__ = [
    "SAMPLE_ROWS",
    "DetectorSkipped",
    "check_dataset_stream",
    "sample_versions",
    "stream_versions",
    "table_sides",
    "training_versions",
    "versions_infra",
]

SAMPLE_ROWS: Final = 10_000  # the domain classifier's cap per side (DEFAULT_MAX_ROWS / 2)
SEED: Final = 0
NOT_IN_LINEAGE: Final = "the training data is not a dataset version in the lineage graph"
NO_COMMON_COLUMN: Final = "the sampled rows have no input column in common"


class DetectorSkipped(Exception):
    """The multivariate detector cannot run on this window; the message says why."""


def check_dataset_stream(conn: Connection, project: Project, name: str) -> None:
    """Refuse a dataset a monitor cannot watch: ``NotFound`` for an unknown one,
    ``InvalidArgument`` (field ``dataset``) when its latest version has no profile (files,
    not a table). A dataset without versions yet is accepted."""
    from ..data._datasets import fetch_dataset_row
    from ..data._versions import fetch_version_row

    dataset = fetch_dataset_row(conn, project.id, name)
    if dataset.latest_version is None:
        return
    if fetch_version_row(conn, dataset, None).profile_address is None:
        raise InvalidArgument(
            f"dataset {name!r} holds files, not a table: its versions have no profile to "
            "compare. A dataset monitor watches a table dataset (versions of one .parquet or "
            ".csv file, or log_table_version)",
            details={"field": "dataset"},
        )


def _versions_query() -> Select[Any]:
    from ..data._tables import dataset_versions, datasets

    return (
        select(dataset_versions, datasets.c.name.label("dataset_name"))
        .join(datasets, datasets.c.id == dataset_versions.c.dataset_id)
        .where(dataset_versions.c.profile_address.is_not(None))
    )


def stream_versions(
    monitor: Monitor, project_id: str, since: dt.datetime, until: dt.datetime
) -> Select[Any]:
    """The query of the table versions of the monitor's dataset created in ``[since,
    until)``, oldest first (rows with ``profile_address``, ``row_count``, ``table_schema``,
    ``manifest_address``, ``version`` and ``dataset_name``)."""
    from ..data._tables import dataset_versions, datasets

    return (
        _versions_query()
        .where(
            datasets.c.project_id == project_id,
            datasets.c.name == monitor.dataset,
            dataset_versions.c.created_at >= since,
            dataset_versions.c.created_at < until,
        )
        .order_by(dataset_versions.c.created_at, dataset_versions.c.version)
    )


def versions_infra(versions: list[Any]) -> dict[str, float]:
    """The counts of a dataset stream's window: ``infra.versions`` and ``infra.rows``."""
    return {
        "infra.versions": float(len(versions)),
        "infra.rows": float(sum(int(v.row_count or 0) for v in versions)),
    }


def dataset_version(platform: Platform, project_id: str, name: str, version: int) -> Any:
    """The table version ``name@version`` as :func:`stream_versions` gives it; ``NotFound``
    or ``InvalidArgument`` (no profile) like a dataset reference."""
    from ..data._tables import dataset_versions, datasets
    from ._monitor_sources import dataset_version_row

    with platform.db.read() as conn:
        dataset_version_row(conn, project_id, name, version)
        return conn.execute(
            _versions_query().where(
                datasets.c.project_id == project_id,
                datasets.c.name == name,
                dataset_versions.c.version == version,
            )
        ).one()


def training_versions(platform: Platform, project_id: str, model: str, version: int) -> list[Any]:
    """The table dataset versions the lineage graph names as the training data of ``model``
    version ``version``: inputs of the run that produced it, oldest first; ``NotFound`` for an
    unknown version. Only the monitor's project's datasets: monitors are evaluated in the
    background as the system, so rows of another project's dataset (one the monitor's owner
    may not read) are never sampled, even when lineage links them."""
    from ..data._tables import dataset_versions, datasets, lineage_edges
    from ..registry._models import fetch_model_row, fetch_version_row

    inputs = aliased(lineage_edges)
    produced = aliased(lineage_edges)
    with platform.db.read() as conn:
        model_version = fetch_version_row(
            conn, fetch_model_row(conn, project_id, model).id, version
        )
        rows = conn.execute(
            _versions_query()
            .join(
                inputs,
                and_(
                    inputs.c.source_type == "dataset_version",
                    inputs.c.source_id == dataset_versions.c.id,
                    inputs.c.relation == "input_of",
                    inputs.c.target_type == "run",
                ),
            )
            .join(
                produced,
                and_(
                    produced.c.source_type == "run",
                    produced.c.source_id == inputs.c.target_id,
                    produced.c.relation == "produced",
                    produced.c.target_type == "model_version",
                    produced.c.target_id == model_version.id,
                ),
            )
            .where(datasets.c.project_id == project_id)
            .order_by(dataset_versions.c.created_at, dataset_versions.c.id)
        ).all()
    unique = {row.id: row for row in rows}
    return list(unique.values())


def _columns(version: Any) -> list[str]:
    schema = version.table_schema or {}
    return [str(c["name"]) for c in schema.get("columns", []) if isinstance(c, dict)]


def common_columns(versions: list[Any]) -> list[str]:
    """The columns every one of ``versions`` has, in the first one's order."""
    if not versions:
        return []
    shared = set(_columns(versions[0]))
    for version in versions[1:]:
        shared &= set(_columns(version))
    return [c for c in _columns(versions[0]) if c in shared]


def _read_picks(platform: Platform, version: Any, columns: list[str], picks: Any) -> Any:
    """The rows at the sorted positions ``picks`` of the version's table, ``columns`` only
    (a pyarrow Table), reading it batch by batch from a temporary copy of its file."""
    import numpy as np
    import pyarrow as pa

    from ..data._checkout import _write_entry
    from ..data._model import Manifest
    from ..data._table_files import is_table_file

    manifest = Manifest.from_bytes(platform.blobs.get_bytes(str(version.manifest_address)))
    tables = [e for e in manifest.entries if is_table_file(e.path)]
    if len(tables) != 1:
        raise InvalidArgument(
            f"dataset {version.dataset_name!r} version {version.version} is not one table file"
        )
    entry = tables[0]
    parts = []
    with tempfile.TemporaryDirectory(prefix="mlsteward-monitor-") as folder:
        _write_entry(platform.blobs, Path(folder), entry, "copy")
        path = Path(folder).joinpath(*entry.path.split("/"))
        if path.suffix.lower() == ".parquet":
            import pyarrow.parquet as pq

            with pq.ParquetFile(path) as parquet:
                batches = list(_picked(parquet.iter_batches(columns=columns), picks, np))
        else:
            import pyarrow.csv as pcsv

            options = pcsv.ConvertOptions(include_columns=columns)
            batches = list(_picked(pcsv.open_csv(path, convert_options=options), picks, np))
        parts.extend(batches)
    if not parts:
        return pa.table({c: pa.array([], pa.null()) for c in columns})
    return pa.Table.from_batches(parts)


def _picked(batches: Any, picks: Any, np: Any) -> Any:
    offset = 0
    for batch in batches:
        low, high = np.searchsorted(picks, [offset, offset + batch.num_rows])
        if high > low:
            yield batch.take(picks[low:high] - offset)
        offset += batch.num_rows


# Dataset versions never change, so a sample is kept for the windows that follow (a
# reference's is drawn again every window otherwise): (blob store, version ids, columns, cap).
_SAMPLES: OrderedDict[tuple[int, tuple[str, ...], tuple[str, ...], int], pd.DataFrame] = (
    OrderedDict()
)
_SAMPLES_KEPT: Final = 8
_SAMPLES_LOCK = threading.Lock()


def sample_versions(
    platform: Platform, versions: list[Any], columns: list[str], cap: int = SAMPLE_ROWS
) -> pd.DataFrame:
    """A seeded random sample of at most ``cap`` rows of the versions' tables (``columns``
    only), each version giving rows in proportion to its row count. The last few samples
    drawn are kept in memory (versions are immutable): a copy of one is returned."""
    key = (id(platform.blobs), tuple(str(v.id) for v in versions), tuple(columns), cap)
    with _SAMPLES_LOCK:
        kept = _SAMPLES.get(key)
        if kept is not None:
            _SAMPLES.move_to_end(key)
            return kept.copy()
    frame = _draw_sample(platform, versions, columns, cap)
    with _SAMPLES_LOCK:
        _SAMPLES[key] = frame
        while len(_SAMPLES) > _SAMPLES_KEPT:
            _SAMPLES.popitem(last=False)
    return frame.copy()


def _draw_sample(
    platform: Platform, versions: list[Any], columns: list[str], cap: int
) -> pd.DataFrame:
    import numpy as np
    import pandas as pd

    rng = np.random.default_rng(SEED)
    total = sum(int(v.row_count or 0) for v in versions)
    frames = []
    for version in versions:
        rows = int(version.row_count or 0)
        if rows == 0:
            continue
        wanted = rows if total <= cap else min(rows, math.ceil(cap * rows / total))
        picks = np.sort(rng.choice(rows, wanted, replace=False))
        frames.append(_read_picks(platform, version, columns, picks).to_pandas())
    if not frames:
        return pd.DataFrame({c: pd.Series([], dtype=object) for c in columns})
    frame = pd.concat(frames, ignore_index=True)
    if len(frame) > cap:
        frame = frame.iloc[np.sort(rng.choice(len(frame), cap, replace=False))]
    return frame.reset_index(drop=True)


def _reference_versions(
    platform: Platform,
    monitor: Monitor,
    project_id: str,
    training: tuple[str, int] | None,
) -> list[Any]:
    reference = monitor.reference
    kind = reference["kind"]
    if kind == "dataset":
        name, number = str(reference["name"]), int(reference["version"])
        return [dataset_version(platform, project_id, name, number)]
    if kind == "windows":
        since = dt.datetime.fromisoformat(reference["since"])
        until = dt.datetime.fromisoformat(reference["until"])
        with platform.db.read() as conn:
            found = list(conn.execute(stream_versions(monitor, project_id, since, until)))
        if not found:
            raise InvalidArgument(
                f"the reference period {reference['since']} to {reference['until']} holds no "
                f"table version of dataset {monitor.dataset!r}"
            )
        return found
    assert training is not None
    linked = training_versions(platform, project_id, *training)
    if not linked:
        raise DetectorSkipped(NOT_IN_LINEAGE)
    return linked


def table_sides(
    platform: Platform,
    monitor: Monitor,
    project_id: str,
    windows: list[Any],
    current: pd.DataFrame | None,
    inputs: list[str],
    training: tuple[str, int] | None,
) -> tuple[pd.DataFrame, pd.DataFrame, list[str]]:
    """Reference rows, current rows and the columns to compare when the reference rows come
    from dataset versions. ``windows`` are the window's prediction windows (``current``
    their sampled rows, ``inputs`` its input columns) or, for a dataset stream, its
    versions (``current`` None: sampled here). ``training``: the (model, version) of a
    training reference. ``DetectorSkipped`` when the training data is not linked or no
    column is shared."""
    versions = _reference_versions(platform, monitor, project_id, training)
    if monitor.dataset is not None:
        inputs = common_columns(windows)
    available = set(common_columns(versions))
    columns = [c for c in inputs if c in available]
    if not columns:
        raise DetectorSkipped(NO_COMMON_COLUMN)
    past = sample_versions(platform, versions, columns)
    if current is None:
        current = sample_versions(platform, windows, columns)
    return past, current, columns
