"""Validation as a service: run a suite on data or on a dataset version, store the result
(failing-row samples masked for PII), read results back.

The data is read outside any database transaction; the result row and its audit event are
written in one transaction afterwards, after the permission is checked again.
"""

from __future__ import annotations

import datetime as dt
import tempfile
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sqlalchemy import Connection, insert, select

from .._wire import iso
from ..data._tables import dataset_columns, dataset_versions, datasets
from ..errors import InvalidArgument, NotFound
from ..security import Actor, Role, fetch_project, require_project_role
from ..store import utcnow
from ..store._tables import projects
from ._expectation import ExpectationResult
from ._result import DEFAULT_SAMPLE_SIZE, ValidationResult
from ._suite import ExpectationSuite, check_suite_name
from ._suites_service import fetch_suite_row, stored_suite
from ._tables import validation_results, validation_suite_datasets, validation_suites
from ._validate import validate

if TYPE_CHECKING:
    from ..platform import Platform

MAX_LISTED = 1_000
_TABLE_SUFFIXES = (".parquet", ".pq", ".parq", ".csv")


@dataclass(frozen=True)
class StoredValidationResult:
    """A stored validation result: who ran which suite on which dataset version, and when."""

    id: str
    project_id: str
    suite_id: str | None
    dataset_version_id: str | None
    result: ValidationResult
    created_at: dt.datetime
    created_by: str

    @property
    def success(self) -> bool:
        return self.result.success

    def to_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "project_id": self.project_id,
            "suite_id": self.suite_id,
            "dataset_version_id": self.dataset_version_id,
            "created_at": iso(self.created_at),
            "created_by": self.created_by,
            **self.result.to_json(),
        }


def _stored(row: Any) -> StoredValidationResult:
    result = ValidationResult(
        suite_name=row.suite_name,
        success=bool(row.success),
        engine=row.engine,
        statistics=dict(row.statistics),
        results=tuple(ExpectationResult.from_json(r) for r in row.results),
    )
    return StoredValidationResult(
        row.id, row.project_id, row.suite_id, row.dataset_version_id, result,
        row.created_at, row.created_by,
    )  # fmt: skip


def mask_samples(result: ValidationResult, pii_columns: Mapping[str, str]) -> ValidationResult:
    """Mask the samples of every check whose column the catalog marks as PII
    (``pii_columns``: column -> PII class) or whose samples look like PII themselves."""
    from ..privacy import PiiClass, classify_column, mask_value

    masked = []
    for check in result.results:
        if not check.samples:
            masked.append(check)
            continue
        column = check.params.get("column")
        pii_class: PiiClass | None = None
        if isinstance(column, str) and column in pii_columns:
            pii_class = PiiClass(pii_columns[column])
        else:
            pii_class = classify_column(list(check.samples)).pii_class
        if pii_class is None:
            masked.append(check)
            continue
        samples = tuple(None if v is None else mask_value(v, pii_class) for v in check.samples)
        details = {**check.details, "samples_masked_as": pii_class.value}
        masked.append(replace(check, samples=samples, details=details))
    return replace(result, results=tuple(masked))


def _pii_columns(conn: Connection, dataset_id: str | None) -> dict[str, str]:
    if dataset_id is None:
        return {}
    rows = conn.execute(
        select(dataset_columns.c.name, dataset_columns.c.pii_class).where(
            dataset_columns.c.dataset_id == dataset_id, dataset_columns.c.pii_class.is_not(None)
        )
    ).all()
    return {row.name: row.pii_class for row in rows}


def _version_row(conn: Connection, version_id: str, project_id: str | None = None) -> Any:
    if not isinstance(version_id, str) or not 0 < len(version_id) <= 64:
        raise InvalidArgument("dataset_version_id must be a dataset version id")
    query = (
        select(dataset_versions, datasets.c.project_id, datasets.c.name.label("dataset_name"))
        .join(datasets, datasets.c.id == dataset_versions.c.dataset_id)
        .where(dataset_versions.c.id == version_id)
    )
    if project_id is not None:
        query = query.where(datasets.c.project_id == project_id)
    row = conn.execute(query).first()
    if row is None:
        raise NotFound(f"no dataset version with id {version_id[:64]!r} in this project")
    return row


def _write_result(
    platform: Platform,
    actor: Actor,
    project: str,
    suite_id: str | None,
    version_id: str | None,
    result: ValidationResult,
) -> StoredValidationResult:
    with platform.db.write() as conn:
        project_row = fetch_project(conn, project)
        require_project_role(conn, actor, project_row.id, Role.EDITOR)
        if version_id is not None:
            _version_row(conn, version_id, project_row.id)
        if suite_id is not None:
            alive = conn.execute(
                select(validation_suites.c.id).where(validation_suites.c.id == suite_id)
            ).first()
            suite_id = suite_id if alive is not None else None  # deleted meanwhile
        encoded = result.to_json()
        result_id = uuid.uuid4().hex
        now = utcnow()
        conn.execute(
            insert(validation_results).values(
                id=result_id,
                project_id=project_row.id,
                suite_id=suite_id,
                suite_name=result.suite_name,
                dataset_version_id=version_id,
                success=result.success,
                engine=result.engine,
                statistics=encoded["statistics"],
                results=encoded["results"],
                created_at=now,
                created_by=actor.name,
            )
        )
        platform.audit.record(
            conn,
            actor,
            "validation.result.create",
            target_type="validation_result",
            target_id=result_id,
            project_id=project_row.id,
            details={
                "suite": result.suite_name,
                "success": result.success,
                "dataset_version_id": version_id,
            },
        )
        row = conn.execute(select(validation_results).where(validation_results.c.id == result_id))
        return _stored(row.one())


def validate_data(
    platform: Platform,
    actor: Actor,
    project: str,
    suite: str | ExpectationSuite,
    data: object,
    *,
    dataset_version_id: str | None = None,
    sample_size: int = DEFAULT_SAMPLE_SIZE,
) -> StoredValidationResult:
    """Validate ``data`` against a stored suite (by name) or a suite object and store the
    result (editors). Samples are masked for PII (catalog classes of the version's dataset,
    and detection on the samples). ``NotFound`` for an unknown suite or version."""
    if not isinstance(suite, ExpectationSuite):
        check_suite_name(suite)
    with platform.db.read() as conn:
        project_row = fetch_project(conn, project)
        require_project_role(conn, actor, project_row.id, Role.EDITOR)
        suite_id = None
        if not isinstance(suite, ExpectationSuite):
            stored = stored_suite(conn, fetch_suite_row(conn, project_row.id, suite))
            suite_id, suite = stored.id, stored.suite
        dataset_id = None
        if dataset_version_id is not None:
            dataset_id = _version_row(conn, dataset_version_id, project_row.id).dataset_id
        pii = _pii_columns(conn, dataset_id)
    result = mask_samples(validate(suite, data, sample_size=sample_size), pii)
    return _write_result(platform, actor, project, suite_id, dataset_version_id, result)


def validate_dataset_version(
    platform: Platform,
    actor: Actor,
    version_id: str,
    *,
    suite: str | ExpectationSuite | None = None,
    sample_size: int = DEFAULT_SAMPLE_SIZE,
) -> list[StoredValidationResult]:
    """Run every suite attached to the version's dataset (or only ``suite``, a stored suite's
    name or a suite object) against the version's table file(s) and store one result per
    suite (editors of the dataset's project). Returns [] when no suite is attached;
    ``InvalidArgument`` for a version without Parquet or CSV files."""
    from ..data import checkout_dataset_version

    with platform.db.read() as conn:
        version = _version_row(conn, version_id)
        project_name = conn.execute(
            select(projects.c.name).where(projects.c.id == version.project_id)
        ).scalar_one()
        require_project_role(conn, actor, version.project_id, Role.EDITOR)
        rows = conn.execute(
            select(validation_suites)
            .join(
                validation_suite_datasets,
                validation_suite_datasets.c.suite_id == validation_suites.c.id,
            )
            .where(validation_suite_datasets.c.dataset_id == version.dataset_id)
            .order_by(validation_suites.c.name)
        ).all()
        suites: list[tuple[str | None, ExpectationSuite]]
        suites = [(row.id, stored_suite(conn, row).suite) for row in rows]
        if isinstance(suite, ExpectationSuite):
            suites = [(None, suite)]
        elif suite is not None:
            row = fetch_suite_row(conn, version.project_id, check_suite_name(suite))
            suites = [(row.id, stored_suite(conn, row).suite)]
        pii = _pii_columns(conn, version.dataset_id)
    if not suites:
        return []
    stored = []
    with tempfile.TemporaryDirectory(prefix="mlsteward-validate-") as folder:
        dest = Path(folder) / "data"
        checkout_dataset_version(
            platform, actor, project_name, version.dataset_name, version.version, dest
        )
        tables = sorted(
            p for p in dest.rglob("*") if p.is_file() and p.suffix.lower() in _TABLE_SUFFIXES
        )
        if not tables:
            raise InvalidArgument(
                f"dataset version {version.dataset_name}@{version.version} has no Parquet or "
                "CSV file to validate"
            )
        data: object = tables[0] if len(tables) == 1 else tables
        for suite_id, suite in suites:
            result = mask_samples(validate(suite, data, sample_size=sample_size), pii)
            stored.append(
                _write_result(platform, actor, project_name, suite_id, version_id, result)
            )
    return stored


def list_validation_results(
    platform: Platform,
    actor: Actor,
    project: str,
    *,
    suite: str | None = None,
    dataset_version_id: str | None = None,
    limit: int = 100,
) -> list[StoredValidationResult]:
    """Stored results of the project, newest first, optionally of one suite (by name) or one
    dataset version (viewers)."""
    if isinstance(limit, bool) or not isinstance(limit, int) or not 0 < limit <= MAX_LISTED:
        raise InvalidArgument(f"limit must be between 1 and {MAX_LISTED}")
    if suite is not None:
        check_suite_name(suite)
    with platform.db.read() as conn:
        project_row = fetch_project(conn, project)
        require_project_role(conn, actor, project_row.id, Role.VIEWER)
        query = select(validation_results).where(validation_results.c.project_id == project_row.id)
        if suite is not None:
            query = query.where(validation_results.c.suite_name == suite)
        if dataset_version_id is not None:
            query = query.where(validation_results.c.dataset_version_id == dataset_version_id)
        rows = conn.execute(
            query.order_by(validation_results.c.created_at.desc(), validation_results.c.id).limit(
                limit
            )
        ).all()
        return [_stored(row) for row in rows]


def get_validation_result(
    platform: Platform, actor: Actor, project: str, result_id: str
) -> StoredValidationResult:
    """One stored result (viewers); ``NotFound`` if the project has no such result."""
    if not isinstance(result_id, str) or not 0 < len(result_id) <= 64:
        raise InvalidArgument("result_id must be a validation result id")
    with platform.db.read() as conn:
        project_row = fetch_project(conn, project)
        require_project_role(conn, actor, project_row.id, Role.VIEWER)
        row = conn.execute(
            select(validation_results).where(
                validation_results.c.project_id == project_row.id,
                validation_results.c.id == result_id,
            )
        ).first()
        if row is None:
            raise NotFound(f"no validation result {result_id[:64]!r} in this project")
        return _stored(row)


__all__ = [
    "StoredValidationResult",
    "get_validation_result",
    "list_validation_results",
    "mask_samples",
    "validate_data",
    "validate_dataset_version",
]
