"""Expectation suites: a named list of expectations, declared in Python, YAML or JSON.

The canonical form is JSON with type tag ``mlsteward.expectation_suite`` and
``schema_version`` 1::

    {"type": "mlsteward.expectation_suite", "schema_version": 1, "name": "orders",
     "description": "", "expectations": [
        {"expectation": "expect_column_values_to_not_be_null", "params": {"column": "id"}}]}

YAML may use the same shape, or the short form ``- expect_column_values_to_not_be_null:
{column: id}`` (one key per entry). Every problem names the entry index and the field.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, Final

from ..errors import InvalidArgument
from ._expectation import Expectation, jsonable, make_expectation

SUITE_TYPE: Final = "mlsteward.expectation_suite"
SCHEMA_VERSION: Final = 1
MAX_EXPECTATIONS: Final = 1_000
MAX_SUITE_BYTES: Final = 10_000_000
_SUITE_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,127}")


def check_suite_name(name: object) -> str:
    """1-128 letters, digits, ``.``, ``_``, ``-``, starting with a letter or digit."""
    if not isinstance(name, str) or not _SUITE_NAME.fullmatch(name):
        raise InvalidArgument(
            f"suite name {str(name)[:80]!r} is not valid: use 1-128 letters, digits, '.', '_' "
            "or '-', starting with a letter or digit",
            details={"field": "name"},
        )
    return name


class ExpectationSuite:
    """A named, ordered list of expectations; checks every expectation when built."""

    __slots__ = ("description", "expectations", "name")

    def __init__(
        self, name: str, expectations: Sequence[Expectation], description: str = ""
    ) -> None:
        self.name = check_suite_name(name)
        if not isinstance(description, str) or len(description) > 20_000:
            raise InvalidArgument("description must be a string of at most 20000 characters")
        self.description = description
        if isinstance(expectations, str | bytes) or not isinstance(expectations, Sequence):
            raise InvalidArgument("expectations must be a list of Expectation objects")
        if len(expectations) > MAX_EXPECTATIONS:
            raise InvalidArgument(f"a suite has at most {MAX_EXPECTATIONS} expectations")
        for index, expectation in enumerate(expectations):
            if not isinstance(expectation, Expectation):
                raise InvalidArgument(
                    f"expectations[{index}] is a {type(expectation).__name__}, not an Expectation",
                    details={"index": index},
                )
            with _at(index, expectation.name):
                expectation.check()
        self.expectations: tuple[Expectation, ...] = tuple(expectations)

    def to_dict(self) -> dict[str, Any]:
        return {
            "type": SUITE_TYPE,
            "schema_version": SCHEMA_VERSION,
            "name": self.name,
            "description": self.description,
            "expectations": [
                {"expectation": e.name, "params": jsonable(e.get_params())}
                for e in self.expectations
            ],
        }

    def to_json(self) -> str:
        """Canonical JSON: sorted keys, no insignificant whitespace."""
        return json.dumps(self.to_dict(), sort_keys=True, separators=(",", ":"), ensure_ascii=False)

    def to_yaml(self) -> str:
        import yaml

        return str(yaml.safe_dump(self.to_dict(), sort_keys=False, allow_unicode=True))

    @classmethod
    def from_dict(cls, data: object) -> ExpectationSuite:
        """Read the canonical form (or YAML's short entries); ``InvalidArgument`` naming the
        entry index and field on any problem."""
        if not isinstance(data, Mapping):
            raise InvalidArgument(f"a suite is a mapping, got {type(data).__name__}")
        tag = data.get("type", SUITE_TYPE)
        if tag != SUITE_TYPE:
            raise InvalidArgument(f"expected type {SUITE_TYPE!r}, got {str(tag)[:80]!r}")
        version = data.get("schema_version", SCHEMA_VERSION)
        if version != SCHEMA_VERSION:
            raise InvalidArgument(
                f"suite schema_version {str(version)[:20]!r} is not supported (this release "
                f"reads {SCHEMA_VERSION}); upgrade mlsteward to read it"
            )
        fields = {"type", "schema_version", "name", "description", "expectations"}
        unknown = sorted(str(k) for k in set(data) - fields)
        if unknown:
            raise InvalidArgument(f"unknown suite field {unknown[0]!r}")
        entries = data.get("expectations")
        if isinstance(entries, str | bytes) or not isinstance(entries, Sequence):
            raise InvalidArgument('a suite needs "expectations": a list of entries')
        if len(entries) > MAX_EXPECTATIONS:
            raise InvalidArgument(f"a suite has at most {MAX_EXPECTATIONS} expectations")
        expectations = []
        for index, entry in enumerate(entries):
            name, params = _entry(index, entry)
            with _at(index, name):
                expectations.append(make_expectation(name, params))
        return cls(data.get("name"), expectations, data.get("description", ""))  # type: ignore[arg-type]

    def __eq__(self, other: object) -> bool:
        return isinstance(other, ExpectationSuite) and self.to_dict() == other.to_dict()

    def __hash__(self) -> int:
        return hash(self.to_json())

    def __repr__(self) -> str:
        return f"ExpectationSuite({self.name!r}, {len(self.expectations)} expectations)"


def _entry(index: int, entry: object) -> tuple[str, Mapping[str, Any]]:
    if isinstance(entry, Mapping) and "expectation" in entry:
        extra = sorted(str(k) for k in set(entry) - {"expectation", "params"})
        if extra:
            raise InvalidArgument(
                f"expectations[{index}]: unknown field {extra[0]!r} (use expectation and params)",
                details={"index": index, "field": extra[0]},
            )
        params = entry.get("params") or {}
        if not isinstance(params, Mapping):
            raise InvalidArgument(
                f"expectations[{index}]: params must be a mapping",
                details={"index": index, "field": "params"},
            )
        return str(entry["expectation"]), params
    if isinstance(entry, Mapping) and len(entry) == 1:
        ((name, params),) = entry.items()
        params = {} if params is None else params
        if not isinstance(params, Mapping):
            raise InvalidArgument(
                f"expectations[{index}] ({name}): params must be a mapping",
                details={"index": index, "field": "params"},
            )
        return str(name), params
    raise InvalidArgument(
        f"expectations[{index}] must be {{expectation: name, params: {{...}}}} or "
        "{name: {params}}",
        details={"index": index},
    )


class _at:
    """Prefix an ``InvalidArgument`` raised inside with the entry's index and name."""

    def __init__(self, index: int, name: str) -> None:
        self.index, self.name = index, name

    def __enter__(self) -> None:
        return None

    def __exit__(self, kind: object, exc: BaseException | None, tb: object) -> None:
        if isinstance(exc, InvalidArgument) and not exc.message.startswith("expectations["):
            details = {"index": self.index, **exc.details}
            raise InvalidArgument(
                f"expectations[{self.index}] ({self.name[:100]}): {exc.message}", details=details
            ) from None


def load_suite(source: str | Path | Mapping[str, Any]) -> ExpectationSuite:
    """A suite from a YAML or JSON file path, YAML/JSON text, or an already parsed mapping.

    Raises ``InvalidArgument`` for malformed YAML, a file that is too large, or a bad suite.
    """
    if isinstance(source, Mapping):
        return ExpectationSuite.from_dict(source)
    text: str
    if isinstance(source, Path) or (
        isinstance(source, str)
        and "\n" not in source
        and source.endswith((".yaml", ".yml", ".json"))
    ):
        path = Path(source)
        try:
            if path.stat().st_size > MAX_SUITE_BYTES:
                raise InvalidArgument(f"suite file {str(path)!r} is larger than 10 MB")
            text = path.read_text(encoding="utf-8")
        except FileNotFoundError:
            raise InvalidArgument(f"suite file {str(path)!r} does not exist") from None
        except (OSError, UnicodeDecodeError) as exc:
            raise InvalidArgument(f"cannot read suite file {str(path)!r}: {exc}") from None
    elif isinstance(source, str):
        text = source
    else:
        raise InvalidArgument(
            f"load_suite takes a path, text or mapping, got {type(source).__name__}"
        )
    if len(text) > MAX_SUITE_BYTES:
        raise InvalidArgument("suite text is larger than 10 MB")
    import yaml

    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        problem = getattr(exc, "problem", None) or "malformed YAML"
        raise InvalidArgument(f"the suite is not valid YAML{where}: {problem}") from None
    return ExpectationSuite.from_dict(data)


__all__ = ["SCHEMA_VERSION", "SUITE_TYPE", "ExpectationSuite", "check_suite_name", "load_suite"]
