"""Model packages: one signed archive with the model files, ``mlsteward.yaml``, a pinned
requirements lock and a manifest; Dockerfile and Kubernetes manifests generated from it."""

from __future__ import annotations

from ._archive import Problem as Problem
from ._archive import ProblemKind as ProblemKind
from ._archive import VerifyReport as VerifyReport
from ._archive import extract_package as extract_package
from ._archive import inspect_package as inspect_package
from ._archive import verify_package as verify_package
from ._build import build_package as build_package
from ._manifest import FileEntry as FileEntry
from ._manifest import PackageInfo as PackageInfo
from ._signing import generate_signing_key as generate_signing_key
from ._signing import load_private_key as load_private_key
from ._signing import load_public_key as load_public_key
from ._signing import public_key_id as public_key_id
from ._signing import public_key_to_pem as public_key_to_pem
from ._signing import save_private_key as save_private_key

__all__ = [
    "FileEntry",
    "PackageInfo",
    "Problem",
    "ProblemKind",
    "VerifyReport",
    "build_package",
    "extract_package",
    "generate_signing_key",
    "inspect_package",
    "load_private_key",
    "load_public_key",
    "public_key_id",
    "public_key_to_pem",
    "save_private_key",
    "verify_package",
]
