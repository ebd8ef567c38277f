"""The embedded default's home folder, read from the environment without pydantic.

``mlsteward.settings`` is where settings are read; importing it (pydantic-settings) costs
0.2 s of start-up on this project's machines. The fast path of an unchanged ``data add``
needs only to know whether the settings are the embedded default's (a SQLite file and a
local, unencrypted blob store under the home folder) and where that home is. Any other
``MLSTEWARD_*`` variable in the environment makes the answer "not the embedded default"
(None), so a setting added later can never be missed: the full path runs instead.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

HOME_VARIABLE = "MLSTEWARD_HOME"
NEUTRAL_VARIABLES = frozenset({HOME_VARIABLE, "MLSTEWARD_LOG_LEVEL"})
"""Variables that leave the embedded layout as it is."""


def default_home() -> Path:
    """The home folder when ``MLSTEWARD_HOME`` is not set."""
    return Path.home() / ".mlsteward"


def expand_home(value: Path) -> Path:
    """A home folder as the settings keep it: user expanded, absolute."""
    return value.expanduser().absolute()


def embedded_home(environ: Mapping[str, str]) -> Path | None:
    """The home folder if ``environ`` sets no ``MLSTEWARD_*`` variable but the neutral ones
    (names compared without case, as the settings read them); None otherwise."""
    given: str | None = None
    for key, value in environ.items():
        upper = key.upper()
        if not upper.startswith("MLSTEWARD_"):
            continue
        if upper not in NEUTRAL_VARIABLES:
            return None
        if upper == HOME_VARIABLE:
            given = value
    if given == "":
        return None  # the settings refuse or interpret it: let them
    return expand_home(Path(given)) if given is not None else expand_home(default_home())
