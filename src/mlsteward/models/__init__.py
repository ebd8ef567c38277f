"""Models: flavors (save and load per framework), signatures and input examples, and the
scanning that keeps untrusted model files from running code when they are loaded."""

from __future__ import annotations

from ._enforce import enforce_signature as enforce_signature
from ._flavors import Flavor as Flavor
from ._flavors import FlavorConfig as FlavorConfig
from ._flavors import Predictor as Predictor
from ._flavors import PythonModel as PythonModel
from ._flavors import flavor_for as flavor_for
from ._flavors import get_flavor as get_flavor
from ._flavors import register_flavor as register_flavor
from ._input_example import InputExample as InputExample
from ._pickle_scan import DEFAULT_ALLOW_LIST as DEFAULT_ALLOW_LIST
from ._pickle_scan import AllowList as AllowList
from ._pickle_scan import PickleScan as PickleScan
from ._pickle_scan import TrustDecision as TrustDecision
from ._pickle_scan import load_pickle as load_pickle
from ._pickle_scan import scan_file as scan_file
from ._pickle_scan import scan_pickle as scan_pickle
from ._signature import ColumnSpec as ColumnSpec
from ._signature import Schema as Schema
from ._signature import Signature as Signature
from ._signature import infer_signature as infer_signature

__all__ = [
    "DEFAULT_ALLOW_LIST",
    "AllowList",
    "ColumnSpec",
    "Flavor",
    "FlavorConfig",
    "InputExample",
    "PickleScan",
    "Predictor",
    "PythonModel",
    "Schema",
    "Signature",
    "TrustDecision",
    "enforce_signature",
    "flavor_for",
    "get_flavor",
    "infer_signature",
    "load_pickle",
    "register_flavor",
    "scan_file",
    "scan_pickle",
]
