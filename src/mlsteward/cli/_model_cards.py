"""``mlsteward models card`` and ``card-set``: a version's model card, exported or edited."""

from __future__ import annotations

import contextlib
import json
import os
import secrets
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from ._output import (
    emit_json,
    print_message,
    print_success,
)

if TYPE_CHECKING:
    from ..registry._model_card import CardFormat

from ._models import (
    JsonOption,
    NameArg,
    ProjectOption,
    VersionArg,
    models_app,
)

# -- model cards ---------------------------------------------------------------------------------

_CARD_FORMATS: dict[str, CardFormat] = {"json": "json", "markdown": "markdown", "html": "html"}
_MAX_SECTIONS_FILE_BYTES = 1_000_000  # five times the largest card: anything bigger is a mistake


def _write_atomically(path: Path, text: str) -> None:
    """Write beside ``path``, then rename: a reader sees the old file or the new one, never half
    of one. ``StewardError`` when the file cannot be written."""
    from ..errors import StewardError

    partial = path.with_name(f".{path.name}.{secrets.token_hex(4)}.partial")
    try:
        fd = os.open(partial, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666)
        with os.fdopen(fd, "w", encoding="utf-8", newline="") as out:
            out.write(text)
            out.flush()
            os.fsync(out.fileno())
        os.replace(partial, path)
    except OSError as exc:
        with contextlib.suppress(OSError):
            partial.unlink()
        raise StewardError(f"cannot write {path}: {exc.strerror or exc}") from None


@models_app.command("card")
def card(
    name: NameArg,
    number: VersionArg,
    format_: Annotated[
        str, typer.Option("--format", help="json, markdown or html (any case).")
    ] = "json",
    output: Annotated[
        Path | None,
        typer.Option("--output", "-o", dir_okay=False, help="Write to this file, not stdout."),
    ] = None,
    project: ProjectOption = "default",
) -> None:
    """A version's model card: the stored one, else one prefilled from tracked facts."""
    from ..errors import InvalidArgument
    from ..registry import model_card
    from ._local import local_platform, operator

    chosen = _CARD_FORMATS.get(format_.lower())
    if chosen is None:
        raise InvalidArgument(f"--format must be json, markdown or html, not {format_!r}")
    with local_platform() as platform:
        text = model_card(platform, operator(), project, name, number, format=chosen)
    if output is None:
        sys.stdout.write(text)
        sys.stdout.flush()
        return
    _write_atomically(output, text)
    print_success(f"wrote the {chosen} model card of {name!r} version {number} to {output}")


def _editable_sections(sections: Mapping[str, object]) -> dict[str, str]:
    """``sections`` when every key is an editable section and every value text."""
    from ..errors import InvalidArgument
    from ..registry._model_card import EDITABLE_SECTIONS

    unknown = sorted(set(sections) - EDITABLE_SECTIONS)
    if unknown:
        raise InvalidArgument(
            f"unknown model card section(s) {', '.join(map(repr, unknown))}: the sections you "
            f"can write are {', '.join(sorted(EDITABLE_SECTIONS))}"
        )
    texts: dict[str, str] = {}
    for key, value in sections.items():
        if not isinstance(value, str):
            raise InvalidArgument(f"section {key!r} must be text, not {type(value).__name__}")
        texts[key] = value
    return texts


def _parse_sections(specs: Sequence[str]) -> dict[str, object]:
    from ..errors import InvalidArgument

    sections: dict[str, object] = {}
    for spec in specs:
        key, sep, text = spec.partition("=")
        if not sep:
            raise InvalidArgument(
                f"--section {spec[:60]!r}: write KEY=TEXT, e.g. 'intended_use=Screening card "
                "payments'"
            )
        if key.strip() in sections:
            raise InvalidArgument(f"--section {key.strip()!r} is given more than once")
        sections[key.strip()] = text
    return sections


def _sections_from_file(path: Path) -> dict[str, object]:
    from ..errors import InvalidArgument, NotFound

    try:
        with path.open("rb") as handle:
            raw = handle.read(_MAX_SECTIONS_FILE_BYTES + 1)
    except FileNotFoundError:
        raise NotFound(f"no such file: {path}") from None
    except OSError as exc:
        raise InvalidArgument(f"cannot read {path}: {exc.strerror or exc}") from None
    if len(raw) > _MAX_SECTIONS_FILE_BYTES:
        raise InvalidArgument(f"{path} is over {_MAX_SECTIONS_FILE_BYTES} bytes")
    try:
        data = json.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise InvalidArgument(f"{path} is not JSON: {exc}") from None
    if not isinstance(data, dict) or not data:
        raise InvalidArgument(
            f'{path} must hold a JSON object of sections to texts, e.g. {{"caveats": "..."}}'
        )
    return data


@models_app.command("card-set")
def card_set(
    name: NameArg,
    number: VersionArg,
    section: Annotated[
        list[str] | None,
        typer.Option(
            "--section",
            help="KEY=TEXT, e.g. 'intended_use=Screening card payments'; repeat for several.",
        ),
    ] = None,
    file: Annotated[
        Path | None,
        typer.Option("--file", help='A JSON object of sections to texts: {"caveats": "..."}.'),
    ] = None,
    project: ProjectOption = "default",
    json_output: JsonOption = False,
) -> None:
    """Write human sections of a version's model card; the other sections keep their text."""
    from ..errors import InvalidArgument
    from ..registry import update_model_card
    from ._local import local_platform, operator

    if (section is None) == (file is None):
        raise InvalidArgument("give --section KEY=TEXT (repeatable) or --file, not both or neither")
    sections = _editable_sections(
        _sections_from_file(file) if file else _parse_sections(section or [])
    )
    with local_platform() as platform:
        stored = update_model_card(platform, operator(), project, name, number, sections)
    if json_output:
        emit_json(stored.to_dict())
        return
    print_success(
        f"wrote {', '.join(sorted(sections))} in the model card of {name!r} version {number}"
    )
    print_message(f"see it with `mlsteward models card {name} {number} --format markdown`")
