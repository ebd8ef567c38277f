"""The data part of ``Client``: dataset versions (add, log a table, list, check out, diff,
load), runs reading datasets (lineage), the lineage graph and catalog search.

In-process it calls the data services; against a server it uses the upload protocol of
``_data_remote`` (only blobs the project lacks are sent).
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..errors import InvalidArgument

if TYPE_CHECKING:
    from ..data import Checkout, Dataset, DatasetDiff, DatasetVersion
    from ..data._lineage import LineageGraph
    from ..platform import Platform
    from ..security import Actor
    from ..tracking import ActiveRun, Run
    from ._backend import Backend
    from ._data_remote import RemoteData

TABLE_FORMATS = ("pandas", "polars", "arrow")


def _run_id(run: ActiveRun | Run | str | None) -> str | None:
    """The id of ``run``, or of the thread's active run (``mlsteward.start_run``) if None."""
    if run is None:
        from ..tracking._fluent import active_run

        current = active_run()
        return current.id if current is not None else None
    if isinstance(run, str):
        return run
    return str(run.id)


class DataMethods:
    """Mixed into ``Client``; every method works in-process and against a server."""

    _backend: Backend

    def _remote_data(self) -> RemoteData | None:
        from ._data_remote import RemoteData
        from ._remote import RemoteBackend

        if isinstance(self._backend, RemoteBackend):
            return RemoteData(self._backend)
        return None

    def _local(self) -> tuple[Platform, Actor]:
        from ._local import LocalBackend

        assert isinstance(self._backend, LocalBackend)
        return self._backend._platform, self._backend._actor

    # -- versions ---------------------------------------------------------------------------

    def add_dataset(
        self,
        path: str | os.PathLike[str],
        name: str,
        *,
        project: str = "default",
        message: str = "",
        progress: Callable[[int], None] | None = None,
    ) -> DatasetVersion:
        """Snapshot a file or folder as the next version of dataset ``name`` (created on first
        use). Unchanged content records nothing and returns the latest version with
        ``unchanged=True``. Against a server only the chunks it lacks are sent."""
        remote = self._remote_data()
        if remote is not None:
            from ._data_remote import add_dataset_remotely

            source = str(Path(path).absolute())
            return add_dataset_remotely(
                remote, project, name, path, message=message, source=source, progress=progress
            )
        from ..data import add_dataset_version

        platform, actor = self._local()
        return add_dataset_version(
            platform, actor, project, name, Path(path), message=message, progress=progress
        )

    def log_dataset(
        self,
        table: Any,
        name: str,
        *,
        project: str = "default",
        message: str = "",
        run: ActiveRun | Run | str | None = None,
    ) -> DatasetVersion:
        """Version a pandas, Polars or Arrow table as Parquet (schema, row count, profile and
        PII classes are recorded). With ``run`` (or inside ``mlsteward.start_run``) the run is
        recorded as reading this version, for lineage."""
        remote = self._remote_data()
        if remote is None:
            from ..data import log_table_version

            platform, actor = self._local()
            version = log_table_version(platform, actor, project, name, table, message=message)
        else:
            import pyarrow.parquet as pq

            from ..data._model import check_dataset_name
            from ..data._table_files import table_to_arrow

            check_dataset_name(name)
            arrow = table_to_arrow(table)
            with tempfile.TemporaryDirectory(prefix="mlsteward-table-") as folder:
                file = Path(folder) / f"{name}.parquet"
                pq.write_table(arrow, file)
                version = self.add_dataset(file, name, project=project, message=message)
        run_id = _run_id(run)
        if run_id is not None:
            self.record_dataset_input(run_id, version, project=project)
        return version

    def list_datasets(self, project: str = "default") -> list[Dataset]:
        """The project's datasets, by name."""
        remote = self._remote_data()
        if remote is not None:
            return remote.list_datasets(project)
        from ..data import list_datasets

        return list_datasets(*self._local(), project)

    def list_dataset_versions(self, name: str, *, project: str = "default") -> list[DatasetVersion]:
        """Every version of a dataset, oldest first."""
        remote = self._remote_data()
        if remote is not None:
            return remote.list_dataset_versions(project, name)
        from ..data import list_dataset_versions

        return list_dataset_versions(*self._local(), project, name)

    def get_dataset_version(self, ref: str, *, project: str = "default") -> DatasetVersion:
        """The version ``ref`` names: ``transactions@3``, or ``transactions`` for the latest."""
        from ..data import parse_dataset_ref

        name, number = parse_dataset_ref(ref)
        remote = self._remote_data()
        if remote is not None:
            return remote.get_dataset_version(project, name, number)
        from ..data import get_dataset_version

        return get_dataset_version(*self._local(), project, name, number)

    def diff_datasets(self, name: str, a: int, b: int, *, project: str = "default") -> DatasetDiff:
        """Files added, removed and changed from version ``a`` to ``b``; for tables also
        schema, row count and column statistic changes."""
        remote = self._remote_data()
        if remote is not None:
            return remote.diff(project, name, a, b)
        from ..data import diff_dataset_versions

        return diff_dataset_versions(*self._local(), project, name, a, b)

    def checkout_dataset(
        self,
        ref: str,
        dest: str | os.PathLike[str],
        *,
        project: str = "default",
        link: str = "auto",
    ) -> Checkout:
        """Write the version ``ref`` names into ``dest`` (new or empty folder), every byte and
        executable bit as recorded."""
        version = self.get_dataset_version(ref, project=project)
        remote = self._remote_data()
        if remote is None:
            from ..data import checkout_dataset_version

            return checkout_dataset_version(
                *self._local(),
                project,
                version.dataset_name,
                version.version,
                Path(dest),
                link=link,
            )
        from ..data._checkout import write_checkout

        manifest = remote.manifest(project, version.dataset_name, version.version)
        blobs = remote.version_blobs(project, version.dataset_name, version.version)
        # Duck-typed: the reader has the two methods checkout uses (open, get_file).
        return write_checkout(blobs, version, manifest, Path(dest), "copy")  # type: ignore[arg-type]

    def load_dataset(
        self,
        ref: str,
        *,
        project: str = "default",
        format: str = "pandas",
        run: ActiveRun | Run | str | None = None,
    ) -> Any:
        """Read a table version into memory (``format``: pandas, polars or arrow). With
        ``run`` (or inside ``mlsteward.start_run``) the run is recorded as reading it."""
        if format not in TABLE_FORMATS:
            raise InvalidArgument(f"format must be one of {list(TABLE_FORMATS)}, not {format!r}")
        version = self.get_dataset_version(ref, project=project)
        if version.kind != "table":
            raise InvalidArgument(
                f"{version.ref} is a folder of files, not a table: use checkout_dataset to get "
                "its files"
            )
        import pyarrow.parquet as pq

        with tempfile.TemporaryDirectory(prefix="mlsteward-load-") as folder:
            self.checkout_dataset(version.ref, Path(folder) / "data", project=project)
            files = sorted((Path(folder) / "data").rglob("*"))
            table_file = next(f for f in files if f.is_file())
            if table_file.suffix.lower() == ".csv":
                import pyarrow.csv as pa_csv

                arrow = pa_csv.read_csv(table_file)
            else:
                arrow = pq.read_table(table_file)
        run_id = _run_id(run)
        if run_id is not None:
            self.record_dataset_input(run_id, version, project=project)
        if format == "arrow":
            return arrow
        if format == "polars":
            import polars as pl

            return pl.from_arrow(arrow)
        return arrow.to_pandas()

    # -- lineage ----------------------------------------------------------------------------

    def record_dataset_input(
        self, run_id: str, version: DatasetVersion | str, *, project: str = "default"
    ) -> None:
        """Record that run ``run_id`` read a dataset version (an object or a ref such as
        ``transactions@3``): the edge dataset version → run of the lineage graph."""
        if isinstance(version, str):
            version = self.get_dataset_version(version, project=project)
        remote = self._remote_data()
        if remote is not None:
            remote.record_dataset_input(run_id, version.id)
            return
        from ..data import record_dataset_input

        record_dataset_input(*self._local(), run_id, version.id)

    def lineage(
        self,
        node: str,
        *,
        direction: str = "upstream",
        depth: int = 5,
        project: str = "default",
    ) -> LineageGraph:
        """The lineage graph upstream or downstream of ``node``: ``dataset:NAME@VERSION``,
        ``run:RUN_ID``, ``model:NAME/VERSION`` (or ``models:/NAME/VERSION``,
        ``models:/NAME@ALIAS``) or ``openlineage:NAMESPACE/NAME``."""
        if direction not in ("upstream", "downstream"):
            raise InvalidArgument(f"direction must be upstream or downstream, not {direction!r}")
        remote = self._remote_data()
        if remote is not None:
            return remote.lineage(project, node, direction, depth)
        from ..data import lineage_downstream, lineage_upstream

        walk = lineage_upstream if direction == "upstream" else lineage_downstream
        return walk(*self._local(), node, project=project, depth=depth)
