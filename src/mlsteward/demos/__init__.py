"""Demos: complete, seeded walks through the platform that double as end-to-end tests.

The fraud demo generates synthetic card transactions (:func:`generate_transactions`), then
runs its stages on any ``Client``: version and validate the data (:func:`version_data`),
train candidate models as tracked runs (:func:`train_candidates`), register the best
(:func:`register_best`) and take it to ``@production`` with a second person's approval
(:func:`request_and_approve_production`), package and sign it (:func:`package_and_sign`),
deploy it (:func:`deploy_version`), replay labelled traffic (:func:`replay_traffic`), watch it
with a monitor and alert rules (:func:`watch_deployment`) and roll a new version out as a
canary (:func:`canary_rollout`). :func:`run_fraud_demo` runs the whole loop
(``mlsteward demo fraud``). Nothing heavy is imported until a function runs.
"""

from __future__ import annotations

from ._fraud_data import FEATURES as FEATURES
from ._fraud_data import LABEL as LABEL
from ._fraud_data import PII_COLUMNS as PII_COLUMNS
from ._fraud_data import generate_transactions as generate_transactions
from ._fraud_demo import DemoSize as DemoSize
from ._fraud_demo import FraudDemoResult as FraudDemoResult
from ._fraud_demo import run_fraud_demo as run_fraud_demo
from ._fraud_loop import canary_rollout as canary_rollout
from ._fraud_loop import deploy_version as deploy_version
from ._fraud_loop import package_and_sign as package_and_sign
from ._fraud_loop import replay_traffic as replay_traffic
from ._fraud_loop import watch_deployment as watch_deployment
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
    "DemoSize",
    "FraudDemoResult",
    "VersionedData",
    "canary_rollout",
    "deploy_version",
    "generate_transactions",
    "package_and_sign",
    "production_policy",
    "register_best",
    "replay_traffic",
    "request_and_approve_production",
    "run_fraud_demo",
    "train_candidates",
    "version_data",
    "watch_deployment",
]
