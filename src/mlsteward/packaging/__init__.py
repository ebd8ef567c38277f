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
from ._ci import render_ci_workflow as render_ci_workflow
from ._deploy import kubernetes_manifests as kubernetes_manifests
from ._deploy import render_dockerfile as render_dockerfile
from ._deploy import render_kubernetes as render_kubernetes
from ._keystore import create_signing_key as create_signing_key
from ._keystore import list_signing_keys as list_signing_keys
from ._keystore import load_signing_key as load_signing_key
from ._keystore import public_key_pem as public_key_pem
from ._manifest import FileEntry as FileEntry
from ._manifest import PackageInfo as PackageInfo
from ._package_test import run_package_test as run_package_test
from ._registry_build import build_version_package as build_version_package
from ._signing import generate_signing_key as generate_signing_key
from ._signing import load_private_key as load_private_key
from ._signing import load_public_key as load_public_key
from ._signing import public_key_id as public_key_id
from ._signing import public_key_to_pem as public_key_to_pem
from ._signing import save_private_key as save_private_key
from ._trust import list_trusted_keys as list_trusted_keys
from ._trust import trust_signing_key as trust_signing_key
from ._trust import trusted_public_keys as trusted_public_keys
from ._trust import untrust_signing_key as untrust_signing_key
from ._trust import verify_package_file as verify_package_file

__all__ = [
    "FileEntry",
    "PackageInfo",
    "Problem",
    "ProblemKind",
    "VerifyReport",
    "build_package",
    "build_version_package",
    "create_signing_key",
    "extract_package",
    "generate_signing_key",
    "inspect_package",
    "kubernetes_manifests",
    "list_signing_keys",
    "list_trusted_keys",
    "load_private_key",
    "load_public_key",
    "load_signing_key",
    "public_key_id",
    "public_key_pem",
    "public_key_to_pem",
    "render_ci_workflow",
    "render_dockerfile",
    "render_kubernetes",
    "run_package_test",
    "save_private_key",
    "trust_signing_key",
    "trusted_public_keys",
    "untrust_signing_key",
    "verify_package",
    "verify_package_file",
]
