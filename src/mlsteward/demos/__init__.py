"""Demos: complete, seeded walks through the platform that double as end-to-end tests.

The fraud demo generates synthetic card transactions (:func:`generate_transactions`), then
runs its stages on any ``Client``: version and validate the data (:func:`version_data`),
train candidate models as tracked runs (:func:`train_candidates`), register the best
(:func:`register_best`) and take it to ``@production`` with a second person's approval
(:func:`request_and_approve_production`). Nothing heavy is imported until a function runs.
"""

from __future__ import annotations

from ._fraud_data import FEATURES as FEATURES
from ._fraud_data import LABEL as LABEL
from ._fraud_data import PII_COLUMNS as PII_COLUMNS
from ._fraud_data import generate_transactions as generate_transactions
from ._fraud_stages import CandidateRun as CandidateRun
from ._fraud_stages import VersionedData as VersionedData
from ._fraud_stages import production_policy as production_policy
from ._fraud_stages import register_best as register_best
from ._fraud_stages import request_and_approve_production as request_and_approve_production
from ._fraud_stages import train_candidates as train_candidates
from ._fraud_stages import version_data as version_data

__all__ = [
    "FEATURES",
    "LABEL",
    "PII_COLUMNS",
    "CandidateRun",
    "VersionedData",
    "generate_transactions",
    "production_policy",
    "register_best",
    "request_and_approve_production",
    "train_candidates",
    "version_data",
]
