"""Where the shipped suites are installed (the package pytest_k8sharden.suites, from the suites/ folder)."""

from __future__ import annotations

import importlib.util
from pathlib import Path

SUITES_PACKAGE = "pytest_k8sharden.suites"


def suites_directory() -> Path:
    """The folder of the installed shipped suites."""
    spec = importlib.util.find_spec(SUITES_PACKAGE)
    if spec is None or not spec.submodule_search_locations:
        raise SystemExit(f"k8sharden: the shipped suites ({SUITES_PACKAGE}) are not installed")
    return Path(next(iter(spec.submodule_search_locations)))
