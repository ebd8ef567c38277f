"""The model registry: registered models, versions, aliases with their history, approvals,
promotion policies, model cards and registry webhooks."""

from __future__ import annotations

__all__: list[str] = []
