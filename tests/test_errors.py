"""One error tree: stable codes, one JSON shape, rebuilt from the wire as the same class."""

from __future__ import annotations

import pytest

from mlsteward import errors


def _leaf_classes() -> list[type[errors.StewardError]]:
    return [getattr(errors, name) for name in errors.__all__ if name[0].isupper()]


def test_codes_are_unique() -> None:
    codes = [cls.code for cls in _leaf_classes()]
    assert len(codes) == len(set(codes))


@pytest.mark.parametrize("cls", _leaf_classes(), ids=lambda c: c.__name__)
def test_payload_round_trip_gives_the_same_class(cls: type[errors.StewardError]) -> None:
    original = cls("it broke; do this next", details={"field": "name"})
    rebuilt = errors.error_from_payload(original.to_payload())
    assert type(rebuilt) is cls
    assert rebuilt.message == original.message
    assert rebuilt.details == {"field": "name"}


@pytest.mark.parametrize("payload", [None, "text", {"error": "flat"}, {"nope": 1}, []])
def test_malformed_payloads_become_a_generic_error(payload: object) -> None:
    assert type(errors.error_from_payload(payload)) is errors.StewardError


def test_invalid_argument_is_a_value_error() -> None:
    assert issubclass(errors.InvalidArgument, ValueError)
    assert issubclass(errors.NotFound, LookupError)
