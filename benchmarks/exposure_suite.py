"""Exposure suite wall time on the local hardened cluster: concurrent knocks versus one at a time.

Run as root: ``python -m benchmarks.exposure_suite [--profile hardened] [--runs 3]``. The cluster
``k8sharden-<profile>`` is brought up (or reused) first and left running (``--keep-cluster``); the
suite then runs alternately with the default probe concurrency and with ``k8sharden_probe_concurrency=1``
in the same conditions. Prints the medians and their ratio, writes benchmarks/results/exposure_suite.json.
Measured, never asserted (issue 4 target: seconds, not minutes, on a one-node cluster).
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from benchmarks import record
from pytest_k8sharden.clusters.local.lifecycle import LocalCluster
from pytest_k8sharden.clusters.local.state import cluster_name

SUITES = (
    "suites/test_exposure_api.py",
    "suites/test_exposure_kubelet.py",
    "suites/test_exposure_control_plane.py",
)


def run_suite(profile: str, concurrency: int) -> float:
    """Wall time of one exposure-suite run with ``concurrency`` probes at a time."""
    root = Path(__file__).resolve().parents[1]
    with tempfile.TemporaryDirectory() as evidence:
        command = [
            sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "-q", *SUITES, "--cluster=local",
            f"--cluster-profile={profile}", "--keep-cluster", f"--evidence-dir={evidence}",
            "-o", f"k8sharden_probe_concurrency={concurrency}",
        ]  # fmt: skip
        started = time.monotonic()
        subprocess.run(command, cwd=root, capture_output=True, check=False, timeout=1800)
        return time.monotonic() - started


def main() -> None:
    """Measure, print and store."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--profile", default="hardened")
    parser.add_argument("--runs", type=int, default=3)
    options = parser.parse_args()
    LocalCluster(cluster_name(options.profile), print).up(options.profile)
    timings: dict[str, list[float]] = {"concurrent": [], "sequential": []}
    for number in range(1, options.runs + 1):
        timings["concurrent"].append(run_suite(options.profile, 8))
        timings["sequential"].append(run_suite(options.profile, 1))
        concurrent, sequential = timings["concurrent"][-1], timings["sequential"][-1]
        print(f"run {number}: concurrent {concurrent:.1f} s, sequential {sequential:.1f} s")
    medians = {name: statistics.median(values) for name, values in timings.items()}
    ratio = medians["sequential"] / medians["concurrent"]
    print(f"median: concurrent {medians['concurrent']:.1f} s, sequential {medians['sequential']:.1f} s")
    print(f"ratio (sequential / concurrent): {ratio:.2f}x")
    record.write(
        "exposure_suite", {"profile": options.profile, "runs": timings, "median": medians, "ratio": ratio}
    )


if __name__ == "__main__":
    main()
