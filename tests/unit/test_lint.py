"""scripts/lint fails when it should: one planted violation for each of its tools, in a copy of the tree."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

from user_install import ROOT, fresh_checkout

PLANTED = """import os
import pytest


def planted() -> int:
    return  "not an int"
"""
"""An unused import (ruff), two spaces (ruff format), a str for an int (mypy), pytest in probes/
(the import-linter contract that keeps probes free of pytest)."""


def test_lint_names_every_tool_that_fails(tmp_path: Path) -> None:
    checkout = fresh_checkout(tmp_path / "checkout")
    if (ROOT / ".mypy_cache").is_dir():  # incremental: mypy rechecks only what the planted file touches
        shutil.copytree(ROOT / ".mypy_cache", checkout / ".mypy_cache")
    (checkout / "pytest_k8sharden" / "probes" / "planted.py").write_text(PLANTED)
    env = {**os.environ, "K8SHARDEN_VENV": str(Path(sys.executable).parents[1])}
    lint = ["bash", "scripts/lint"]
    done = subprocess.run(
        lint, cwd=checkout, env=env, capture_output=True, text=True, timeout=600, check=False
    )
    output = done.stdout + done.stderr
    assert done.returncode == 1, output
    failed = output.strip().splitlines()[-1]
    assert failed == "scripts/lint: failed: ruff ruff format mypy --strict import-linter", output
    assert "planted.py" in output
