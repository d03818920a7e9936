"""Repository-level pytest settings (the options themselves live in pyproject.toml)."""

from __future__ import annotations

collect_ignore = ["build", ".venv", ".tox"]
