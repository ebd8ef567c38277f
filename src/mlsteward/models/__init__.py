"""Models: flavors (save and load per framework), signatures and input examples, and the
scanning that keeps untrusted model files from running code when they are loaded."""

from __future__ import annotations

__all__: list[str] = []
