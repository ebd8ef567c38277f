"""The text full-text search indexes for a dataset: one place builds it, every writer calls it."""

from __future__ import annotations

from collections.abc import Iterable, Mapping


def dataset_search_text(
    name: str,
    description: str,
    tags: Mapping[str, str],
    owners: Iterable[str],
    columns: Iterable[str],
) -> str:
    """Name, description, tags (keys and values), owners and column names, one per line.

    Underscores and dots become spaces too, so ``card_number`` is found by ``card``.
    """
    parts = [name, description]
    parts.extend(f"{key} {value}" for key, value in sorted(tags.items()))
    parts.extend(owners)
    parts.extend(columns)
    text = "\n".join(part for part in parts if part)
    return text + "\n" + text.replace("_", " ").replace(".", " ").replace("-", " ")
