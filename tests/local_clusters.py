"""Live local clusters of the integration tests (see the ``local_cluster`` fixture in conftest.py)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

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


WORKLOAD_NAMESPACE = "k8sharden-shop"
"""The namespace of workloads both profiles seed, whose isolation NETPOL-WORKLOADS compares."""


@dataclass(frozen=True)
class ShippedRun:
    """One run of every shipped suite against a profile's cluster, as a user runs them."""

    profile: str
    directory: Path
    """Where it started and wrote its evidence."""
    run_id: str
    """The ``k8sharden.io/run`` label of everything it created."""
    started: datetime
    ended: datetime
    wall_s: float
    output: str
    log: Path
    """Its log file (warnings and up: the API retries)."""

    @property
    def results(self) -> list[dict[str, Any]]:
        """The results of its evidence.json."""
        evidence = self.directory / "evidence.json"
        assert evidence.exists(), f"no evidence.json; pytest said:\n{self.output[-5000:]}"
        results: list[dict[str, Any]] = json.loads(evidence.read_text())["results"]
        return results


def run_installed_suites(profile: str, directory: Path, runner: Sequence[str | Path]) -> ShippedRun:
    """Run every shipped suite with `runner` (an installed ``k8sharden run`` or ``pytest --pyargs``) in
    `directory`, with its own run id, a log of the API retries beside it and the HTML report in it."""
    run_id = f"suites-{profile}-{uuid.uuid4().hex[:8]}"
    log = directory.parent / f"{directory.name}.log"
    env = {**os.environ, "K8SHARDEN_RUN_ID": run_id}
    started, clock = datetime.now(UTC).replace(microsecond=0), time.monotonic()
    done = run_shipped_suites(
        profile, directory, f"--workload-namespaces={WORKLOAD_NAMESPACE}",
        "-o", f"log_file={log}", "-o", "log_file_level=WARNING",
        f"--html={directory / 'report.html'}", "--self-contained-html", env=env, runner=runner,
    )  # fmt: skip
    wall = time.monotonic() - clock
    output = done.stdout + done.stderr
    return ShippedRun(profile, directory, run_id, started, datetime.now(UTC), wall, output, log)
