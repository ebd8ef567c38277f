"""The one check for relative paths that clients send (run artifacts, model files, dataset
files). Kept free of heavy imports: every command that walks a folder uses it."""

from __future__ import annotations

import re
import urllib.parse

from .errors import InvalidArgument

MAX_PATH_LENGTH = 1024
MAX_PATH_SEGMENTS = 32
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")
_PERCENT = re.compile(r"%[0-9a-fA-F]{2}")


def check_relative_path(
    path: object, what: str, *, example: str, absolute_advice: str, escape_advice: str
) -> str:
    """``path`` if it is a safe relative POSIX path, else ``InvalidArgument`` naming it.

    Refused: empty, absolute, ``.`` or ``..`` or empty segments, backslashes, control
    characters, percent escapes that decode to ``/``, ``.``, ``\\`` or ``%`` (encoded
    traversal), more than 1,024 characters or 32 segments. ``what`` names the path in
    messages; ``example``, ``absolute_advice`` and ``escape_advice`` say what to do instead.
    """
    if not isinstance(path, str) or not path:
        raise InvalidArgument(f"the {what} must be a non-empty string like {example!r}")
    shown = repr(path[:80])
    if len(path) > MAX_PATH_LENGTH:
        raise InvalidArgument(f"the {what} {shown}... is longer than {MAX_PATH_LENGTH} characters")
    if _CONTROL.search(path):
        raise InvalidArgument(f"the {what} {shown} contains control characters")
    if "\\" in path:
        raise InvalidArgument(f"the {what} {shown} contains a backslash: use '/' between folders")
    for escape in _PERCENT.findall(path):
        if urllib.parse.unquote(escape) in {"/", ".", "\\", "%"}:
            raise InvalidArgument(
                f"the {what} {shown} contains the escape {escape}: {escape_advice}"
            )
    if path.startswith("/"):
        raise InvalidArgument(f"the {what} {shown} is absolute: {absolute_advice}")
    segments = path.split("/")
    if len(segments) > MAX_PATH_SEGMENTS:
        raise InvalidArgument(f"the {what} {shown} has more than {MAX_PATH_SEGMENTS} segments")
    for segment in segments:
        if segment in {"", ".", ".."}:
            raise InvalidArgument(
                f"the {what} {shown} has an empty, '.' or '..' segment: "
                f"give a plain relative path like {example!r}"
            )
    return path
