"""Where a monitor's data comes from: the stream of prediction windows it watches and the
profile it compares them with (a model version's training profile, a dataset version's
profile, or the stream's own windows over a past period). A dataset stream's versions are
in ``_monitor_datasets``.

The ``check_*`` functions run in the caller's transaction when a monitor is saved, so an
unknown deployment, model, version or dataset is refused before anything is written; the
``*_profile`` functions read blobs when a window is evaluated.
"""

from __future__ import annotations

import datetime as dt
import json
from typing import TYPE_CHECKING, Any, Final

from sqlalchemy import Connection, Select, select

from ..errors import InvalidArgument
from ._tables import prediction_windows

if TYPE_CHECKING:
    from ..platform import Platform
    from ..profiles import DatasetProfile
    from ..security import Project
    from ._monitor_model import Monitor

__all__ = [
    "check_sources",
    "dataset_profile",
    "dataset_version_row",
    "read_profile",
    "stream_windows",
    "training_profile",
]

TRAINING_PROFILE_FILE: Final = "training_profile.json"
_MAX_PROFILE_BYTES: Final = 64 * 1024 * 1024


def _deployment_row(conn: Connection, project: Project, name: str) -> Any:
    from ..deployments._service import fetch_deployment_row

    return fetch_deployment_row(conn, project, name)


def _version_files(conn: Connection, project_id: str, model: str, version: int) -> list[Any]:
    from ..registry._models import fetch_model_row, fetch_version_row

    row = fetch_version_row(conn, fetch_model_row(conn, project_id, model).id, version)
    return list(row.files)


def _version_number(text: object, field: str) -> int:
    try:
        number = int(str(text))
    except ValueError:
        raise InvalidArgument(
            f"{field} must be a registered version number, not {str(text)[:40]!r}",
            details={"field": field},
        ) from None
    if not 0 < number < 2**31 or str(number) != str(text):
        raise InvalidArgument(
            f"{field} must be a registered version number >= 1", details={"field": field}
        )
    return number


def _has_training_profile(files: list[Any]) -> bool:
    return any(f.get("path") == TRAINING_PROFILE_FILE for f in files if isinstance(f, dict))


def check_sources(
    conn: Connection,
    project: Project,
    *,
    deployment: str | None,
    model_name: str | None,
    model_version: str | None,
    dataset: str | None = None,
    reference: dict[str, Any],
) -> None:
    """Refuse a stream or reference that does not exist now: ``NotFound`` for an unknown
    deployment, model, version, dataset or dataset version; ``InvalidArgument`` for a
    reference that has no profile (a model version saved without ``training_data``, a
    dataset of files) or a stream dataset of files."""
    version: int | None = None
    files: list[Any] | None = None
    model = ""
    if dataset is not None:
        from ._monitor_datasets import check_dataset_stream

        check_dataset_stream(conn, project, dataset)
    elif deployment is not None:
        row = _deployment_row(conn, project, deployment)
        model = str(row.model_name)
        version = int(row.plan["stable"])
    else:
        assert model_name is not None
        model = model_name
        if model_version is not None:
            version = _version_number(model_version, "model_version")
        from ..registry._models import fetch_model_row

        fetch_model_row(conn, project.id, model)
    if version is not None:
        files = _version_files(conn, project.id, model, version)
    if reference["kind"] == "training" and files is not None and not _has_training_profile(files):
        raise InvalidArgument(
            f"model {model!r} version {version} has no training profile to compare with: save "
            "it with save_model(..., training_data=frame), or choose a dataset or windows "
            "reference",
            details={"field": "reference"},
        )
    if reference["kind"] == "dataset":
        dataset_version_row(conn, project.id, reference["name"], reference["version"])


def dataset_version_row(conn: Connection, project_id: str, name: str, version: int) -> Any:
    """The row of table dataset version ``name@version``; ``NotFound``, or
    ``InvalidArgument`` (field ``reference``) when it has no profile."""
    from ..data._datasets import fetch_dataset_row
    from ..data._versions import fetch_version_row

    row = fetch_version_row(conn, fetch_dataset_row(conn, project_id, name), version)
    if row.profile_address is None:
        raise InvalidArgument(
            f"dataset {name!r} version {version} has no profile (it is not a table): choose "
            "a table dataset version as the reference",
            details={"field": "reference"},
        )
    return row


def read_profile(platform: Platform, address: str) -> DatasetProfile:
    """The ``DatasetProfile`` stored as JSON at ``address``; ``InvalidArgument`` when the
    blob is not one."""
    from ..profiles import DatasetProfile

    if platform.blobs.size(address) > _MAX_PROFILE_BYTES:
        raise InvalidArgument(f"the profile {address} is over 64 MB: it is not a profile")
    try:
        data = json.loads(platform.blobs.get_bytes(address))
    except ValueError as exc:
        raise InvalidArgument(f"the profile {address} is not valid JSON: {exc}") from None
    return DatasetProfile.from_dict(data)


def training_profile(
    platform: Platform, project_id: str, model: str, version: int
) -> DatasetProfile:
    """The training profile saved with ``model`` version ``version``; ``NotFound`` for an
    unknown version, ``InvalidArgument`` when it was saved without one."""
    with platform.db.read() as conn:
        files = _version_files(conn, project_id, model, version)
    for entry in files:
        if isinstance(entry, dict) and entry.get("path") == TRAINING_PROFILE_FILE:
            return read_profile(platform, str(entry["address"]))
    raise InvalidArgument(
        f"model {model!r} version {version} has no training profile: save it with "
        "save_model(..., training_data=frame), or choose a dataset or windows reference"
    )


def dataset_profile(platform: Platform, project_id: str, name: str, version: int) -> DatasetProfile:
    """The profile of a table dataset version; ``NotFound`` / ``InvalidArgument``."""
    with platform.db.read() as conn:
        row = dataset_version_row(conn, project_id, name, version)
    return read_profile(platform, str(row.profile_address))


def stream_windows(
    monitor: Monitor, project_id: str, since: dt.datetime, until: dt.datetime
) -> Select[Any]:
    """The query of the monitor's prediction windows that start in ``[since, until)``,
    oldest first."""
    table = prediction_windows
    query = select(table).where(
        table.c.project_id == project_id,
        table.c.window_start >= since,
        table.c.window_start < until,
    )
    if monitor.deployment is not None:
        query = query.where(table.c.deployment == monitor.deployment)
    else:
        query = query.where(table.c.model_name == monitor.model_name)
        if monitor.model_version is not None:
            query = query.where(table.c.model_version == monitor.model_version)
    return query.order_by(table.c.window_start, table.c.id)
