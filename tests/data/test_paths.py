"""Dataset paths follow exactly the artifact path rules (one checker serves both)."""

from __future__ import annotations

import pytest

from mlsteward.data._paths import check_dataset_path
from mlsteward.errors import InvalidArgument
from mlsteward.tracking._artifacts import check_artifact_path

PATHS = [
    "a.bin",
    "images/cat.png",
    "x/" * 31 + "y",
    "x/" * 32 + "y",
    "a" * 1024,
    "a" * 1025,
    "",
    "/abs",
    "a//b",
    "./a",
    "a/../b",
    "..",
    "back\\slash",
    "new\nline",
    "del\x7f",
    "a%2Fb",
    "a%2eb",
    "a%25b",
    "a%5cb",
    "a%20b",
    "é/ü.txt",
]


@pytest.mark.parametrize("path", PATHS)
def test_the_same_paths_pass_and_fail_as_artifact_paths(path: str) -> None:
    try:
        check_artifact_path(path)
    except InvalidArgument:
        with pytest.raises(InvalidArgument, match="the dataset path"):
            check_dataset_path(path)
    else:
        assert check_dataset_path(path) == path


def test_non_strings_are_refused() -> None:
    with pytest.raises(InvalidArgument, match="must be a non-empty string"):
        check_dataset_path(None)
