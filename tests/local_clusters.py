"""Live local clusters of the integration tests (see the ``local_cluster`` fixture in conftest.py)."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from pytest_k8sharden.clusters.local.lifecycle import LocalCluster
from pytest_k8sharden.clusters.local.network import Addresses
from pytest_k8sharden.kube import Kube


@dataclass(frozen=True)
class Running:
    """A local cluster under test and the clients to reach it."""

    cluster: LocalCluster
    profile: str
    kube: Kube
    addresses: Addresses


PYTEST_PYARGS: tuple[str, ...] = (
    sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "--pyargs", "pytest_k8sharden.suites",
)  # fmt: skip
"""The shipped suites through plain pytest, in this checkout's own environment."""


def run_shipped_suites(
    profile: str,
    directory: Path,
    *options: str,
    env: Mapping[str, str] | None = None,
    timeout: float = 900,
    runner: Sequence[str | Path] = PYTEST_PYARGS,
) -> subprocess.CompletedProcess[str]:
    """Run the shipped suites in a subprocess as a user runs them (``pytest --pyargs ... --cluster=local``)
    against the session's kept cluster of `profile`, in `directory`, with the evidence in `directory`
    (`env`: the subprocess's environment; `timeout`: seconds before it is killed, a hang guard; `runner`:
    the command that runs the suites, such as an installed ``k8sharden run``)."""
    command = [
        *map(str, runner), "-q", "--cluster=local", f"--cluster-profile={profile}", "--keep-cluster",
        f"--evidence-dir={directory}", *options,
    ]  # fmt: skip
    return subprocess.run(
        command, capture_output=True, text=True, timeout=timeout, check=False, cwd=directory, env=env
    )
