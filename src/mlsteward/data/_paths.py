"""The check every path inside a dataset passes: the artifact path rules, from the one light
module that holds them (importing the tracking package would cost a ``data add`` command a
tenth of a second of start-up)."""

from __future__ import annotations

from .._relative_path import check_relative_path


def check_dataset_path(path: object) -> str:
    """``path`` if it is a safe relative POSIX path, else ``InvalidArgument`` naming it (see
    ``check_relative_path``)."""
    return check_relative_path(
        path,
        "dataset path",
        example="images/cat.png",
        absolute_advice="paths are relative to the dataset",
        escape_advice="rename the file",
    )
