"""Rows for lineage, OpenLineage and catalog tests: datasets and versions are inserted
directly (the dataset versions service is tested on its own), runs and model versions go
through the real services."""

from __future__ import annotations

import contextlib
import uuid
from collections.abc import Mapping, Sequence

from sqlalchemy import insert, select, update

from mlsteward.data._search_text import dataset_search_text
from mlsteward.data._tables import dataset_columns, dataset_versions, datasets
from mlsteward.errors import AlreadyExists
from mlsteward.platform import Platform
from mlsteward.registry import ModelFile, ModelVersion, register_model_version
from mlsteward.security import SYSTEM, Actor, fetch_project
from mlsteward.store import utcnow
from mlsteward.tracking import create_experiment, start_run

PASSWORD = "a-long-password-1"


def add_dataset(
    platform: Platform,
    name: str,
    *,
    project: str = "default",
    versions: int = 1,
    description: str = "",
    owners: Sequence[str] = (),
    tags: Mapping[str, str] | None = None,
    columns: Sequence[str] = (),
) -> list[str]:
    """A dataset with ``versions`` versions and ``columns``; the version ids, oldest first."""
    now = utcnow()
    dataset_id = uuid.uuid4().hex
    with platform.db.write() as conn:
        project_id = fetch_project(conn, project).id
        conn.execute(
            insert(datasets).values(
                id=dataset_id,
                project_id=project_id,
                name=name,
                description=description,
                owners=list(owners),
                tags=dict(tags or {}),
                search_text=dataset_search_text(
                    name, description, dict(tags or {}), owners, columns
                ),
                latest_version=versions,
                created_at=now,
                created_by="test",
                updated_at=now,
            )
        )
        ids = []
        for number in range(1, versions + 1):
            version_id = uuid.uuid4().hex
            conn.execute(
                insert(dataset_versions).values(
                    id=version_id,
                    dataset_id=dataset_id,
                    version=number,
                    kind="table",
                    manifest_address="0" * 64,
                    file_count=1,
                    total_bytes=10,
                    new_bytes=10,
                    source="",
                    message="",
                    created_at=now,
                    created_by="test",
                )
            )
            ids.append(version_id)
        for position, column in enumerate(columns):
            conn.execute(
                insert(dataset_columns).values(
                    dataset_id=dataset_id,
                    name=column,
                    position=position,
                    data_type="string",
                    pii_class=None,
                    pii_source="none",
                    description="",
                )
            )
    return ids


def set_detected_class(platform: Platform, dataset: str, column: str, pii_class: str) -> None:
    """What detection writes, done by hand: it must skip columns classified by hand."""
    with platform.db.write() as conn:
        dataset_id = conn.execute(
            select(datasets.c.id).where(datasets.c.name == dataset)
        ).scalar_one()
        conn.execute(
            update(dataset_columns)
            .where(
                dataset_columns.c.dataset_id == dataset_id,
                dataset_columns.c.name == column,
                dataset_columns.c.pii_source != "manual",
            )
            .values(pii_class=pii_class, pii_source="detected")
        )


def new_run(
    platform: Platform,
    *,
    project: str = "default",
    experiment: str = "train",
    actor: Actor = SYSTEM,
) -> str:
    with contextlib.suppress(AlreadyExists):
        create_experiment(platform, actor, project, experiment)
    return start_run(platform, actor, project, experiment, name="fit").id


def register_from(
    platform: Platform,
    run_id: str | None,
    name: str = "fraud",
    *,
    project: str = "default",
    datasets: Sequence[Mapping[str, object]] = (),
) -> ModelVersion:
    info = platform.blobs.put_bytes(b"weights")
    return register_model_version(
        platform,
        SYSTEM,
        project,
        name,
        source_uri=f"runs:/{run_id}/model",
        source_run_id=run_id,
        flavor="sklearn",
        files=[ModelFile("model.skops", info.address, info.size)],
        scan={"status": "not_scanned"},
        datasets=datasets,
    )
