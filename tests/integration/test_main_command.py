"""The README's main command, as a newcomer runs it: ``sudo bash scripts/scan-local`` in a fresh checkout.

The checkout is a copy of the files git tracks here (what a clone holds: no virtualenv, no build output).
sudo resets the environment (PATH, HOME) as it does for a user, so the script must find its own way: it
builds the virtualenv exactly as the README says (no test extras) with the interpreter sudo's PATH
offers. The run reuses the session's kept hardened cluster, so it adds one suite run and no cluster start.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from collections.abc import Callable
from pathlib import Path

import pytest
from local_clusters import Running
from user_install import fresh_checkout

pytestmark = pytest.mark.cluster

MAIN_COMMAND_TIMEOUT = 1800
"""Seconds the main command may take: a virtualenv and its packages, then every shipped suite."""
PASSED_THROUGH_SUDO = (
    "K8SHARDEN_LOCAL_NAME_PREFIX", "K8SHARDEN_BINARY_SOURCES", "K8SHARDEN_CACHE_DIR", "PYTEST_DEBUG_TEMPROOT",
)  # fmt: skip
"""The harness's own settings (which cluster, which binary cache); sudo resets the rest."""


def test_main_command_through_sudo_in_a_fresh_checkout(
    local_cluster: Callable[[str], Running], tmp_path: Path
) -> None:
    assert shutil.which("sudo"), "sudo is not installed: scripts/install-test-deps installs it (as root)"
    local_cluster("hardened")
    checkout = fresh_checkout(tmp_path / "checkout")
    command = ["sudo", f"--preserve-env={','.join(PASSED_THROUGH_SUDO)}", "bash", "scripts/scan-local"]
    env = {**os.environ, "K8SHARDEN_BINARY_SOURCES": "path,cache,build"}  # never a release download here
    done = subprocess.run(
        [*command, "--keep-cluster"],
        cwd=checkout, env=env, capture_output=True, text=True, timeout=MAIN_COMMAND_TIMEOUT, check=False,
    )  # fmt: skip
    output = done.stdout + done.stderr
    assert done.returncode == 0, output[-6000:]
    assert "Traceback" not in output, output[-6000:]
    last = output.strip().splitlines()[-1]
    assert last.startswith("evidence: "), last
    bundle = Path(last.removeprefix("evidence: ").split(" ")[0])
    assert bundle.is_relative_to(checkout / "k8sharden-evidence"), bundle
    venv = checkout / ".venv" / "bin"
    verify = subprocess.run(
        [venv / "k8sharden", "evidence", "verify", bundle], capture_output=True, text=True, check=False
    )
    assert verify.returncode == 0, verify.stdout + verify.stderr
    results = json.loads((bundle / "evidence.json").read_text())["results"]
    assert len(results) >= 70 and all(r["nodeid"].startswith("suites/test_") for r in results)
    not_passed = {r["check"]: r["outcome"] for r in results if r["outcome"] not in ("passed", "skipped")}
    assert not_passed == {}, not_passed
    assert (bundle / "report.html").is_file()
    extras = subprocess.run([venv / "python", "-c", "import trustme"], capture_output=True, check=False)
    assert extras.returncode != 0, "the main command's virtualenv holds the test extras"
