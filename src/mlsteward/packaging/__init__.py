"""Model packages: one signed archive with the model files, ``mlsteward.yaml``, a pinned
requirements lock and a manifest; Dockerfile and Kubernetes manifests generated from it."""

from __future__ import annotations

__all__: list[str] = []
