"""The validation and catalog part of ``Client``: store an expectation suite, validate a
dataset version with a stored suite, read the catalog's PII columns of a dataset.

In-process it calls the validation and catalog services; against a server it calls the REST
routes the web UI and the CLI use.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from ..data import DatasetVersion
    from ..platform import Platform
    from ..security import Actor
    from ..validation import ExpectationSuite, ValidationResult
    from ._backend import Backend
    from ._remote import RemoteBackend


def _project_path(project: str, *parts: str) -> str:
    from ._client import _text
    from ._remote import _segment

    segments = [_segment(_text("project", project)), *(_segment(part) for part in parts)]
    return "api/v1/projects/" + "/".join(segments)


class ValidationMethods:
    """Mixed into ``Client``; every method works in-process and against a server."""

    _backend: Backend

    def _remote_validation(self) -> RemoteBackend | None:
        from ._remote import RemoteBackend

        return self._backend if isinstance(self._backend, RemoteBackend) else None

    def _local_validation(self) -> tuple[Platform, Actor]:
        from ._local import LocalBackend

        assert isinstance(self._backend, LocalBackend)
        return self._backend._platform, self._backend._actor

    def save_suite(self, project: str, suite: ExpectationSuite) -> None:
        """Store ``suite`` in ``project`` under its name, replacing one of that name
        (editors)."""
        from ..errors import InvalidArgument
        from ..validation import ExpectationSuite

        if not isinstance(suite, ExpectationSuite):
            raise InvalidArgument(f"suite must be an ExpectationSuite, not {type(suite).__name__}")
        remote = self._remote_validation()
        if remote is not None:
            path = _project_path(project, "validation-suites", suite.name)
            remote._get_json("PUT", path, json=suite.to_dict())
            return
        from ..validation import save_suite

        save_suite(*self._local_validation(), project, suite, replace=True)

    def validate_dataset_version(
        self, project: str, version: DatasetVersion, suite: str
    ) -> ValidationResult:
        """Validate ``version`` with the stored suite named ``suite``; the result is stored on
        the platform (where the ``training_data_validated`` policy condition reads it) and
        returned."""
        from ..errors import InvalidArgument

        if not isinstance(suite, str) or not suite:
            raise InvalidArgument("suite must be the name of a stored suite")
        remote = self._remote_validation()
        if remote is not None:
            from ..validation import ValidationResult

            path = _project_path(
                project, "datasets", version.dataset_name, "versions", str(version.version),
                "validations",
            )  # fmt: skip
            data = remote._get_json("POST", path, json={"suite": suite})
            result: ValidationResult = remote._decode(_only_result(ValidationResult), data)
            return result
        from ..validation import validate_dataset_version

        [stored] = validate_dataset_version(*self._local_validation(), version.id, suite=suite)
        return stored.result

    def dataset_pii_columns(self, project: str, dataset: str) -> dict[str, str]:
        """Column name -> PII class, for the columns of ``dataset`` the catalog marks as
        personal data (detected when a version was added, or set by hand; viewers)."""
        remote = self._remote_validation()
        if remote is not None:
            data = remote._get_json("GET", _project_path(project, "datasets", dataset))
            columns = remote._decode(_catalog_columns, data)
        else:
            from ..data import dataset_catalog_entry

            entry = dataset_catalog_entry(*self._local_validation(), project, dataset)
            columns = [(c.name, c.pii_class) for c in entry.columns]
        return {name: str(kind) for name, kind in columns if kind}


def _only_result(cls: Any) -> Any:
    def decode(data: Any) -> Any:
        [stored] = data["results"]
        return cls.from_json(stored)

    return decode


def _catalog_columns(data: Any) -> list[tuple[str, Any]]:
    return [(str(c["name"]), c["pii_class"]) for c in data["columns"]]
