"""Data: dataset versions (content-addressed snapshots), the catalog and the lineage graph.

Profiles live in ``mlsteward.profiles``, PII detection in ``mlsteward.privacy`` and
expectation suites in ``mlsteward.validation``.
"""

from __future__ import annotations

__all__: list[str] = []
