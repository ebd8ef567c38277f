"""Small data shared by the validation tests."""

from __future__ import annotations

from typing import Any

import numpy as np


def frame_dict() -> dict[str, list[Any]]:
    """10 rows: ids unique, ``x`` numeric around 5, one null in ``score``, emails in ``s``."""
    return {
        "id": list(range(10)),
        "x": [1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 7.0, 8.0, 9.0, 10.0],
        "score": [0.5, 0.6, None, 0.7, 0.8, 0.9, 0.1, 0.2, 0.3, 0.4],
        "s": ["a", "b", "a", "b", "a", "b", "a", "b", "a", "zz"],
    }


def normal_values(n: int = 2000, seed: int = 7, loc: float = 0.0) -> np.ndarray:
    return np.random.default_rng(seed).normal(loc=loc, size=n)
