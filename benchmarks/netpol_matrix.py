"""The NetworkPolicy matrix (3 namespaces x 3 pods x 2 ports): concurrent prober versus one exec per probe.

Run as root: ``python -m benchmarks.netpol_matrix [--profile hardened] [--runs 3] [--timeout 1]``. The
cluster ``k8sharden-<profile>`` is brought up (or reused) and left running. In one process, on the same
canary pods and under the same policy (``deny-all-ingress-x``: 48 of the 162 probes are blocked and wait
for the timeout), the matrix is probed alternately by ``MatrixProber`` (one exec per source pod, every
target at once, all sources at once) and by the sequential baseline of the upstream e2e tests (one
``agnhost connect`` exec per probe, one after another). Both must observe the same matrix. Prints the
medians and their ratio and writes benchmarks/results/netpol_matrix.json. Measured, never asserted
(issue 11 target: at least 5x).
"""

from __future__ import annotations

import argparse
import statistics
import time
import uuid
from typing import Any

from kubernetes import client

from benchmarks import record
from pytest_k8sharden.clusters.base import ClusterAccess
from pytest_k8sharden.clusters.local.images import PROBE_IMAGE
from pytest_k8sharden.clusters.local.lifecycle import LocalCluster
from pytest_k8sharden.clusters.local.state import cluster_name
from pytest_k8sharden.fixtures import MANAGED_BY, MANAGED_BY_LABEL
from pytest_k8sharden.isolation.canary import Canary, namespace_labels
from pytest_k8sharden.isolation.scenarios import SCENARIOS, TOPOLOGY
from pytest_k8sharden.kube import Kube, connect
from pytest_k8sharden.probes.matrix import ConnectResult, MatrixProber, Plan
from pytest_k8sharden.probes.pods import PodProber, ProbePod

SCENARIO = "deny-all-ingress-x"


def sequential(kube: Kube, plan: Plan, timeout_s: float) -> list[ConnectResult]:
    """The upstream e2e way: one exec of ``agnhost connect`` per probe, one after another."""
    found = []
    for source, targets in plan.items():
        prober = PodProber(kube, source.namespace, PROBE_IMAGE)
        pod = ProbePod(source.namespace, source.pod, "0.0.0.0")
        for target in targets:
            seen = prober.connect(pod, target.host, target.port, timeout_s)
            outcome = "connected" if seen.details["connected"] else "blocked"
            found.append(ConnectResult(source.key, target.key, target.port, outcome))
    return found


def allowed(results: list[ConnectResult]) -> set[tuple[str, str, int]]:
    """The pairs that connected."""
    return {r.pair for r in results if r.connected}


def differing(fast: list[ConnectResult], slow: list[ConnectResult]) -> list[str]:
    """The pairs only one of the probers saw connect, as ``source -> target:port (which saw it)``."""
    only_fast, only_slow = allowed(fast) - allowed(slow), allowed(slow) - allowed(fast)
    return sorted(
        [f"{s} -> {t}:{p} (concurrent only)" for s, t, p in only_fast]
        + [f"{s} -> {t}:{p} (sequential only)" for s, t, p in only_slow]
    )


def measure(
    kube: Kube, canary: Canary, timeout_s: float, runs: int
) -> tuple[dict[str, list[float]], list[list[str]]]:
    """Wall times of both probers, alternating, and per run the pairs on which they disagreed."""
    prober = MatrixProber(kube, timeout_s)
    timings: dict[str, list[float]] = {"concurrent": [], "sequential": []}
    disagreements = []
    for number in range(1, runs + 1):
        started = time.monotonic()
        fast = list(prober.probe(canary.plan))
        timings["concurrent"].append(time.monotonic() - started)
        started = time.monotonic()
        slow = sequential(kube, canary.plan, timeout_s)
        timings["sequential"].append(time.monotonic() - started)
        differ = differing(fast, slow)
        print(
            f"run {number}: concurrent {timings['concurrent'][-1]:.1f} s, sequential "
            f"{timings['sequential'][-1]:.1f} s, {len(fast)} probes, {len(allowed(fast))} allowed, "
            f"pairs that differ: {differ or 'none'}"
        )
        disagreements.append(differ)
    return timings, disagreements


def run(profile: str, runs: int, timeout_s: float) -> dict[str, Any]:
    """Probe the matrix `runs` times with each prober on the kept cluster of `profile`; the results."""
    cluster = LocalCluster(cluster_name(profile), print)
    kubeconfig = cluster.up(profile)
    kube = connect(ClusterAccess("local", profile, kubeconfig, None, PROBE_IMAGE))
    run_id = uuid.uuid4().hex[:8]
    names = {model: f"k8sh-bench-{run_id}-{model}" for model in TOPOLOGY.namespaces}
    try:
        for model, name in names.items():
            labels = namespace_labels(model, {MANAGED_BY_LABEL: MANAGED_BY})
            meta = client.V1ObjectMeta(name=name, labels=labels)
            kube.core.create_namespace(client.V1Namespace(metadata=meta))
        canary = Canary(kube, names, PROBE_IMAGE, timeout_s)
        canary.start(120)
        scenario = next(s for s in SCENARIOS if s.name == SCENARIO)
        with canary.applied(scenario):
            time.sleep(3)  # let the enforcer apply the policy before either prober looks
            timings, disagreements = measure(kube, canary, timeout_s, runs)
    finally:
        for name in names.values():
            kube.core.delete_namespace(name)
        kube.close()
    medians = {name: statistics.median(values) for name, values in timings.items()}
    ratio = medians["sequential"] / medians["concurrent"]
    concurrent, slow = medians["concurrent"], medians["sequential"]
    print(f"median: concurrent {concurrent:.1f} s, sequential {slow:.1f} s ({ratio:.1f}x)")
    return {
        "profile": profile,
        "scenario": SCENARIO,
        "probes": sum(len(targets) for targets in canary.plan.values()),
        "probe_timeout_s": timeout_s,
        "runs": timings,
        "same_matrix": [not differ for differ in disagreements],
        "differing_pairs": disagreements,
        "median_s": medians,
        "ratio_sequential_over_concurrent": round(ratio, 2),
    }


def main() -> None:
    """Measure, print and store."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--profile", default="hardened")
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--timeout", type=float, default=1.0, help="connect timeout of one probe (s)")
    options = parser.parse_args()
    record.write("netpol_matrix", run(options.profile, options.runs, options.timeout))


if __name__ == "__main__":
    main()
