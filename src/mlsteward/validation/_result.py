"""The result of validating data against a suite, and the planning both engines share.

An engine asks :func:`plan` which checks need aggregates (the others are decided by the
schema), evaluates every aggregate in one pass, and hands the values to :func:`assemble`.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Final

from ._expectation import ExpectationResult, jsonable
from ._suite import ExpectationSuite

RESULT_TYPE: Final = "mlsteward.validation_result"
SCHEMA_VERSION: Final = 1
DEFAULT_SAMPLE_SIZE: Final = 20
MAX_SAMPLE_SIZE: Final = 1_000


@dataclass(frozen=True)
class ValidationResult:
    """Whether the data met every expectation of the suite, with each check's outcome.

    ``statistics``: ``evaluated_expectations``, ``successful_expectations``,
    ``unsuccessful_expectations``, ``success_percent`` and ``row_count``.
    """

    suite_name: str
    success: bool
    engine: str
    statistics: dict[str, Any]
    results: tuple[ExpectationResult, ...]

    def to_json(self) -> dict[str, Any]:
        return {
            "type": RESULT_TYPE,
            "schema_version": SCHEMA_VERSION,
            "suite_name": self.suite_name,
            "success": self.success,
            "engine": self.engine,
            "statistics": jsonable(self.statistics),
            "results": [r.to_json() for r in self.results],
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> ValidationResult:
        return cls(
            suite_name=str(data["suite_name"]),
            success=bool(data["success"]),
            engine=str(data["engine"]),
            statistics=dict(data["statistics"]),
            results=tuple(ExpectationResult.from_json(r) for r in data["results"]),
        )

    @property
    def failed(self) -> tuple[ExpectationResult, ...]:
        return tuple(r for r in self.results if not r.success)


@dataclass(frozen=True)
class Planned:
    """One check of the suite: decided by the schema (``decided``) or by aggregates."""

    index: int
    decided: dict[str, Any] | None
    aggregate_prefix: str


def plan(suite: ExpectationSuite, types: Mapping[str, str]) -> list[Planned]:
    planned = []
    for index, expectation in enumerate(suite.expectations):
        missing = [c for c in expectation.columns() if c not in types]
        decided = (
            {"success": False, "error": f"column {missing[0]!r} is not in the data"}
            if missing
            else expectation.schema_result(types)
        )
        planned.append(Planned(index, decided, f"c{index}__"))
    return planned


def values_for(prefix: str, row: Mapping[str, Any]) -> dict[str, Any]:
    return {key[len(prefix) :]: value for key, value in row.items() if key.startswith(prefix)}


def check_sample_size(sample_size: object) -> int:
    from ..errors import InvalidArgument

    if (
        isinstance(sample_size, bool)
        or not isinstance(sample_size, int)
        or not 0 <= sample_size <= MAX_SAMPLE_SIZE
    ):
        raise InvalidArgument(f"sample_size must be an integer from 0 to {MAX_SAMPLE_SIZE}")
    return sample_size


def assemble(
    suite: ExpectationSuite,
    planned: Sequence[Planned],
    row: Mapping[str, Any],
    row_count: int,
    engine: str,
    samples: Mapping[int, Sequence[Any]],
) -> ValidationResult:
    results = []
    for item in planned:
        expectation = suite.expectations[item.index]
        if item.decided is not None:
            outcome = dict(item.decided)
        else:
            outcome = expectation.evaluate(values_for(item.aggregate_prefix, row), row_count)
        results.append(
            ExpectationResult(
                index=item.index,
                expectation=expectation.name,
                params=jsonable(expectation.get_params()),
                samples=tuple(samples.get(item.index, ())),
                **outcome,
            )
        )
    successful = sum(r.success for r in results)
    total = len(results)
    statistics = {
        "evaluated_expectations": total,
        "successful_expectations": successful,
        "unsuccessful_expectations": total - successful,
        "success_percent": 100.0 * successful / total if total else 100.0,
        "row_count": row_count,
    }
    return ValidationResult(suite.name, successful == total, engine, statistics, tuple(results))


def failed_row_checks(
    suite: ExpectationSuite, planned: Sequence[Planned], row: Mapping[str, Any], row_count: int
) -> list[int]:
    """Indices of row-level checks that ran and failed on unexpected values."""
    failed = []
    for item in planned:
        expectation = suite.expectations[item.index]
        if item.decided is not None or not expectation.row_level:
            continue
        if expectation.sample_column() is None:
            continue
        outcome = expectation.evaluate(values_for(item.aggregate_prefix, row), row_count)
        if not outcome["success"] and outcome.get("unexpected_count"):
            failed.append(item.index)
    return failed


__all__ = ["DEFAULT_SAMPLE_SIZE", "ValidationResult"]
