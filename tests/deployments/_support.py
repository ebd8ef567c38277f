"""Two registered versions of a real sklearn model, for tests that serve deployments."""

from __future__ import annotations

from pathlib import Path

from mlsteward.platform import Platform
from mlsteward.registry import ModelFile, register_model_version, set_alias
from mlsteward.security import LOCAL_ADMIN

from ..serving._support import iris_frame


def register_iris_versions(platform: Platform, root: Path, project: str = "default") -> None:
    """``iris`` version 1 (gradient boosting, also ``@production``, saved with its training
    data's profile: a deployment checks its inputs' ranges) and version 2 (a logistic
    regression without a profile: other answers) in ``project``; the folders go under
    ``root``."""
    from sklearn.ensemble import HistGradientBoostingClassifier
    from sklearn.linear_model import LogisticRegression

    from mlsteward.models._model_dir import save_model

    first, second = root / "v1", root / "v2"
    x, y = iris_frame()
    boosted = HistGradientBoostingClassifier(max_iter=20, random_state=0).fit(x, y)
    save_model(boosted, first, input_example=x.head(5), training_data=x)
    save_model(LogisticRegression(max_iter=500).fit(x, y), second, input_example=x.head(5))
    for folder in (first, second):
        files = []
        for path in sorted(folder.iterdir()):
            blob = platform.blobs.put_bytes(path.read_bytes())
            files.append(ModelFile(path.name, blob.address, blob.size))
        register_model_version(
            platform, LOCAL_ADMIN, project, "iris", source_uri="runs:/r/m", flavor="sklearn",
            files=files,
        )  # fmt: skip
    set_alias(platform, LOCAL_ADMIN, project, "iris", "production", 1)
