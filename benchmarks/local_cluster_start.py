"""Local cluster start time with cached binaries: `up` until the node is Ready and a pod is Running.

Run as root: ``python -m benchmarks.local_cluster_start [--profile hardened] [--runs 3]``.
Prints one line per run and a summary, and writes benchmarks/results/local_cluster_start.json.
The target (issue 3) is node Ready and a pod Running within 60 s; this is measured, never asserted.
"""

from __future__ import annotations

import argparse
import statistics
import time
import uuid

from kubernetes import client

from benchmarks import record
from pytest_k8sharden.clusters.base import ClusterAccess
from pytest_k8sharden.clusters.local import binaries
from pytest_k8sharden.clusters.local.images import PROBE_IMAGE
from pytest_k8sharden.clusters.local.lifecycle import LocalCluster
from pytest_k8sharden.clusters.local.state import cluster_name
from pytest_k8sharden.kube import connect
from pytest_k8sharden.probes.pods import PodProber


def one_run(profile: str) -> dict[str, float]:
    """Bring a fresh cluster up, start one pod, take the cluster down; return the phase timings."""
    cluster = LocalCluster(f"{cluster_name(profile)}-bench", progress=lambda _: None)
    cluster.down()
    started = time.monotonic()
    kubeconfig = cluster.up(profile)
    node_ready = time.monotonic() - started
    kube = connect(ClusterAccess("local", profile, kubeconfig, None))
    namespace = f"bench-{uuid.uuid4().hex[:6]}"
    kube.core.create_namespace(client.V1Namespace(metadata=client.V1ObjectMeta(name=namespace)))
    prober = PodProber(kube, namespace, PROBE_IMAGE, pull_policy="Never")
    prober.start("first-pod")
    prober.wait_running(["first-pod"], timeout_s=120)
    pod_running = time.monotonic() - started
    kube.close()
    down_started = time.monotonic()
    cluster.down()
    return {
        "node_ready_s": node_ready,
        "pod_running_s": pod_running,
        "down_s": time.monotonic() - down_started,
    }


def run(profile: str, runs: int) -> dict[str, object]:
    """`runs` fresh starts of `profile` with cached binaries; each run's timings and their medians."""
    binaries.ensure_all(print)  # cached binaries are the premise: build them outside the timing
    found = []
    for number in range(1, runs + 1):
        timings = one_run(profile)
        found.append(timings)
        print(f"run {number}: " + ", ".join(f"{k} {v:.1f}" for k, v in timings.items()))
    summary = {key: statistics.median(r[key] for r in found) for key in found[0]}
    print(
        "median: " + ", ".join(f"{k} {v:.1f}" for k, v in summary.items()) + "  (target: pod_running_s < 60)"
    )
    return {"profile": profile, "runs": found, "median": summary}


def main() -> None:
    """Measure, print and store."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--profile", default="hardened")
    parser.add_argument("--runs", type=int, default=3)
    options = parser.parse_args()
    record.write("local_cluster_start", run(options.profile, options.runs))


if __name__ == "__main__":
    main()
