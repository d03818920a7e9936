"""Wall time of the full shipped suite against a running local cluster, and the time of each suite file."""

from __future__ import annotations

import json
import subprocess
import sys
import tempfile
import time
import xml.etree.ElementTree as ElementTree
from collections import Counter, defaultdict
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

WORKLOAD_NAMESPACE = "k8sharden-shop"
"""The seeded workloads whose isolation NETPOL-WORKLOADS compares (both profiles seed them)."""


@dataclass(frozen=True)
class SuiteRun:
    """One full run of the shipped suites: how long it took and what it found."""

    profile: str
    wall_s: float
    started: datetime
    ended: datetime
    per_file_s: dict[str, float]
    """Suite module -> summed test durations (setup, call and teardown) from the JUnit XML."""
    outcomes: dict[str, str]
    """Check id -> outcome, from the run's evidence.json."""
    exit_code: int


def per_file(junit_xml: str) -> dict[str, float]:
    """Summed test durations per module from pytest's JUnit XML (classname ``package.module[.Class]``)."""
    totals: defaultdict[str, float] = defaultdict(float)
    for case in ElementTree.fromstring(junit_xml).iter("testcase"):
        parts = case.get("classname", "").split(".")
        module = next((p for p in parts if p.startswith("test_")), parts[-1])
        totals[module] += float(case.get("time", "0"))
    return {module: round(seconds, 2) for module, seconds in sorted(totals.items())}


def outcomes(evidence_json: str) -> dict[str, str]:
    """Check id -> outcome of an evidence.json."""
    return {r["check"]: r["outcome"] for r in json.loads(evidence_json)["results"]}


def run(profile: str, workdir: Path) -> SuiteRun:
    """Run every shipped suite (active checks included) against the kept local cluster of `profile`."""
    workdir.mkdir(parents=True, exist_ok=True)
    junit = workdir / "junit.xml"
    command = [
        sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "-q", "--pyargs", "pytest_k8sharden.suites",
        "--cluster=local", f"--cluster-profile={profile}", "--keep-cluster",
        f"--workload-namespaces={WORKLOAD_NAMESPACE}", f"--evidence-dir={workdir}", f"--junitxml={junit}",
    ]  # fmt: skip
    with tempfile.TemporaryDirectory() as outside:  # as a user runs it: no checkout's pytest settings
        started, clock = datetime.now(UTC), time.monotonic()
        done = subprocess.run(command, cwd=outside, capture_output=True, text=True, timeout=1800, check=False)
        wall = time.monotonic() - clock
    ended = datetime.now(UTC)
    (workdir / "pytest.log").write_text(done.stdout + done.stderr)
    evidence = workdir / "evidence.json"
    return SuiteRun(
        profile=profile,
        wall_s=round(wall, 2),
        started=started,
        ended=ended,
        per_file_s=per_file(junit.read_text()) if junit.exists() else {},
        outcomes=outcomes(evidence.read_text()) if evidence.exists() else {},
        exit_code=done.returncode,
    )


def outcome_counts(found: dict[str, str]) -> dict[str, int]:
    """How many checks ended in each outcome."""
    return dict(Counter(found.values()))
