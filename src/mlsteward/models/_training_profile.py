"""The profile of a model's training data, kept in the saved model folder.

``save_model(..., training_data=frame)`` profiles the training data (or stores a
``DatasetProfile`` given as is) into ``training_profile.json`` beside ``mlsteward.yaml``. The
file is part of the model folder, so it travels with the model everywhere the folder goes: run
artifacts, registered versions and packages (whose manifest covers it, so it is signed too).
The inference server reads it to refuse inputs outside the training data's value ranges.

The profile holds no raw rows: counts, min/max, sketches (see ``mlsteward.profiles``).
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..errors import InvalidArgument

if TYPE_CHECKING:
    from ..profiles import DatasetProfile

TRAINING_PROFILE_FILE = "training_profile.json"
_MAX_PROFILE_BYTES = 64 * 1024 * 1024


def profile_training_data(data: Any) -> DatasetProfile:
    """The profile of ``data`` (a table ``profile_frame`` takes, or a ``DatasetProfile``, kept
    as is). ``InvalidArgument`` for data that cannot be profiled or has no rows,
    ``MissingExtra`` without the ``data`` extra."""
    from ..profiles import DatasetProfile, profile_frame

    profile = data if isinstance(data, DatasetProfile) else profile_frame(data)
    if profile.row_count == 0:
        raise InvalidArgument("training_data has no rows: pass the data the model was fit on")
    return profile


def write_training_profile(folder: str | os.PathLike[str], profile: DatasetProfile) -> None:
    """Write ``profile`` into the model ``folder`` (as ``training_profile.json``)."""
    text = json.dumps(profile.to_dict(), sort_keys=True)
    (Path(folder) / TRAINING_PROFILE_FILE).write_text(text, encoding="utf-8")


def read_training_profile(folder: str | os.PathLike[str]) -> DatasetProfile | None:
    """The training data profile saved in the model ``folder``, or None when it has none.

    ``InvalidArgument`` for a malformed or oversized file; ``MissingExtra`` (naming the
    ``data`` extra) when the profile cannot be read without it.
    """
    file = Path(folder) / TRAINING_PROFILE_FILE
    if not file.is_file():
        return None
    if file.stat().st_size > _MAX_PROFILE_BYTES:
        raise InvalidArgument(f"{file} is over 64 MB: it is not a training profile")
    try:
        data = json.loads(file.read_bytes())
    except ValueError as exc:
        raise InvalidArgument(f"{file} is not valid JSON: {exc}") from None
    from ..profiles import DatasetProfile

    return DatasetProfile.from_dict(data)
