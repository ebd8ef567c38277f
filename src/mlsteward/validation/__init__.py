"""Validation: expectation suites evaluated in one pass, stored results, HTML data docs.

Running checks needs the ``data`` extra (Polars) or the ``spark`` extra (PySpark); both are
imported when a suite runs, not when this package is imported.
"""

from __future__ import annotations

from ._data_docs import render_data_docs as render_data_docs
from ._distribution import custom_expectation as custom_expectation
from ._expectation import ColumnMapExpectation as ColumnMapExpectation
from ._expectation import Expectation as Expectation
from ._expectation import ExpectationResult as ExpectationResult
from ._expectation import expectation_types as expectation_types
from ._expectation import make_expectation as make_expectation
from ._expectation import register_expectation as register_expectation
from ._result import ValidationResult as ValidationResult
from ._service import StoredValidationResult as StoredValidationResult
from ._service import get_validation_result as get_validation_result
from ._service import list_validation_results as list_validation_results
from ._service import validate_data as validate_data
from ._service import validate_dataset_version as validate_dataset_version
from ._suite import ExpectationSuite as ExpectationSuite
from ._suite import load_suite as load_suite
from ._suites_service import StoredSuite as StoredSuite
from ._suites_service import attach_suite as attach_suite
from ._suites_service import delete_suite as delete_suite
from ._suites_service import detach_suite as detach_suite
from ._suites_service import get_suite as get_suite
from ._suites_service import list_suites as list_suites
from ._suites_service import save_suite as save_suite
from ._validate import validate as validate

__all__ = [
    "ColumnMapExpectation",
    "Expectation",
    "ExpectationResult",
    "ExpectationSuite",
    "StoredSuite",
    "StoredValidationResult",
    "ValidationResult",
    "attach_suite",
    "custom_expectation",
    "delete_suite",
    "detach_suite",
    "expectation_types",
    "get_suite",
    "get_validation_result",
    "list_suites",
    "list_validation_results",
    "load_suite",
    "make_expectation",
    "register_expectation",
    "render_data_docs",
    "save_suite",
    "validate",
    "validate_data",
    "validate_dataset_version",
]
