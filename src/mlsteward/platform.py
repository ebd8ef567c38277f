"""The composition root: settings, metadata database, blob store and audit log, built once."""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Container, Iterator
from typing import TYPE_CHECKING

from .settings import Settings, load_settings
from .store import Database

if TYPE_CHECKING:
    from .blobs import BlobStore
    from .security._audit import AuditLog

__all__ = ["Platform", "ReferencedBlobs", "referenced_blob_addresses"]

DEFAULT_PROJECT = "default"

log = logging.getLogger("mlsteward.platform")


class Platform:
    """Everything a service function needs. Cheap to build; connections open lazily."""

    def __init__(self, settings: Settings | None = None, *, database: Database | None = None):
        from .security._audit import AuditLog, CheckpointSigner

        self.settings = settings or load_settings()
        self.db = database or Database(self.settings.resolved_database_url)
        self.audit: AuditLog = AuditLog(
            CheckpointSigner(self.settings.resolved_audit_key_file),
            self.settings.audit_checkpoint_interval,
        )
        self._blobs: BlobStore | None = None
        self._lock = threading.Lock()
        self._on_close: list[Callable[[], None]] = []

    @classmethod
    def open(
        cls, settings: Settings | None = None, *, auto_upgrade: bool | None = None
    ) -> Platform:
        """Open the platform and check the schema.

        The embedded default (no ``MLSTEWARD_DATABASE_URL``) migrates itself on first use; an
        explicit database must be migrated with ``mlsteward db upgrade`` first.
        """
        platform = cls(settings)
        if auto_upgrade is None:
            auto_upgrade = not platform.settings.database_url
        if auto_upgrade:
            platform.settings.home.mkdir(parents=True, exist_ok=True)
            from .store._migrations import head_revision

            if platform.db.schema_revision() != head_revision():
                platform.upgrade_schema()
        else:
            platform.db.require_current_schema()
        return platform

    def upgrade_schema(self) -> str | None:
        """Run migrations to head, then make sure the ``default`` project exists."""
        from .security import SYSTEM, create_project
        from .store import upgrade
        from .store._tables import projects

        revision = upgrade(self.db)
        with self.db.read() as conn:
            exists = conn.execute(
                projects.select().where(projects.c.name == DEFAULT_PROJECT)
            ).first()
        if exists is None:
            create_project(self, SYSTEM, DEFAULT_PROJECT, "The project everyone starts in.")
        return revision

    @property
    def blobs(self) -> BlobStore:
        """The blob store, built on first use."""
        with self._lock:
            if self._blobs is None:
                from .blobs import BlobStore

                self._blobs = BlobStore.from_settings(self.settings)
            return self._blobs

    def on_close(self, hook: Callable[[], None]) -> None:
        """Run ``hook`` when the platform closes (before its database connections go), e.g.
        to stop background threads that write to it."""
        with self._lock:
            self._on_close.append(hook)

    def close(self) -> None:
        """Run the close hooks, newest first (a failing hook is logged, the others still
        run; the alert dispatcher's waits a bounded time for deliveries in flight), then
        close the database connections."""
        with self._lock:
            hooks, self._on_close = self._on_close[::-1], []
        for hook in hooks:
            try:
                hook()
            except Exception:
                log.exception("a platform close hook failed")
        self.db.dispose()


class ReferencedBlobs(Container[str]):
    """The blob addresses some metadata row refers to, read from ``blob_refs`` on demand.

    Membership is one indexed lookup; iteration streams distinct addresses in batches, so
    neither loads every address into memory.
    """

    def __init__(self, db: Database, batch_size: int = 1000) -> None:
        self._db = db
        self._batch_size = batch_size

    def __contains__(self, address: object) -> bool:
        from sqlalchemy import select

        from .store._tables import blob_refs

        with self._db.read() as conn:
            row = conn.execute(
                select(blob_refs.c.address).where(blob_refs.c.address == address).limit(1)
            ).first()
        return row is not None

    def __iter__(self) -> Iterator[str]:
        from sqlalchemy import select

        from .store._tables import blob_refs

        after = ""
        while True:
            with self._db.read() as conn:
                batch = list(
                    conn.execute(
                        select(blob_refs.c.address)
                        .where(blob_refs.c.address > after)
                        .group_by(blob_refs.c.address)
                        .order_by(blob_refs.c.address)
                        .limit(self._batch_size)
                    ).scalars()
                )
            if not batch:
                return
            yield from batch
            after = batch[-1]


def referenced_blob_addresses(platform: Platform) -> ReferencedBlobs:
    """The addresses some metadata row still refers to (for blob gc and verify)."""
    return ReferencedBlobs(platform.db)
