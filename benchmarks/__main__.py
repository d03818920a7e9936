"""Run every benchmark with one command: ``sudo .venv/bin/python -m benchmarks``.

Brings the local ``hardened`` cluster up (or reuses it: ``<prefix>-<profile>``) and measures the full
shipped suite on it (wall time, time per suite file, the API requests it issued from the audit log) and
the NetworkPolicy matrix (concurrent prober versus one exec per probe); then brings ``insecure`` up and
runs the full suite (its verdicts) and kube-hunter in remote active mode against it; last, three fresh
starts of a ``hardened`` cluster of its own with cached binaries. Clusters are kept
(``--down``: each taken down once measured, so only one runs at a time). Writes
benchmarks/results/<benchmark>.json, each with the load average, and benchmarks/results/SUMMARY.md, and
puts the headline table into README.md.
Measured against targets, never asserted.
"""

from __future__ import annotations

import argparse
import json
import time
from dataclasses import asdict
from pathlib import Path
from typing import Any

from benchmarks import audit, kube_hunter, local_cluster_start, netpol_matrix, record, suite
from benchmarks.summary import headline, summary, with_table
from pytest_k8sharden.clusters.local.lifecycle import LocalCluster
from pytest_k8sharden.clusters.local.network import NodeNetwork
from pytest_k8sharden.clusters.local.state import cluster_name
from pytest_k8sharden.kube import USER_AGENT

WORK = Path(__file__).with_name("results") / "runs"
README = Path(__file__).parents[1] / "README.md"


def bring_up(profile: str) -> tuple[LocalCluster, dict[str, Any]]:
    """The kept cluster of `profile`, up; how long ``up`` took and whether it was reused."""
    cluster = LocalCluster(cluster_name(profile), print)
    reused = cluster.healthy()
    started = time.monotonic()
    cluster.up(profile)
    return cluster, {"name": cluster.name, "reused": reused, "up_s": round(time.monotonic() - started, 2)}


def full_suite(cluster: LocalCluster, profile: str) -> dict[str, Any]:
    """The full suite on `profile`; on a cluster with an audit log, the API load it caused."""
    run = suite.run(profile, WORK / f"suite-{profile}")
    counts = suite.outcome_counts(run.outcomes)
    print(f"full suite on {profile}: {run.wall_s:.1f} s, exit {run.exit_code}, {counts}")
    result: dict[str, Any] = {
        **asdict(run),
        "outcome_counts": counts,
        "target_wall_s": 60,
    }
    log = cluster.state.root / "audit" / "audit.log"
    if log.exists():
        found = audit.requests(log.read_text().splitlines())
        everyone = audit.users_in(found, run.started, run.ended)
        scanner = audit.scanner_users(everyone, audit.kubeconfig_user(cluster.state.kubeconfig))
        # the scanner's REST requests carry its User-Agent, its exec streams none; the local cluster's
        # enforcer and kubectl use the same admin identity with agents of their own
        load = audit.load(found, scanner, run.started, run.ended, agents=(USER_AGENT, ""))
        result["api_load"] = {
            "audit_log": str(log),
            "scanner_users": scanner,
            **asdict(load),
            "all_users_in_window": everyone,
        }
        print(f"API requests of the run: {load.requests}, peak {load.peak_per_second}/s")
    return result


def hunt(cluster: LocalCluster, outcomes: dict[str, str]) -> dict[str, Any]:
    """kube-hunter inside the insecure cluster's node namespace, against the API server and the node."""
    info = cluster.state.load_info()
    assert info is not None, "the cluster was just brought up"
    network: NodeNetwork = cluster.network(info)
    targets = [network.addresses.host, network.addresses.node]
    report, wall, log = kube_hunter.hunt(network.enter(), targets)
    (WORK / "kube-hunter-report.json").write_text(json.dumps(report, indent=2) + "\n")
    (WORK / "kube-hunter.log").write_text(log)
    table = kube_hunter.compare(report, outcomes)
    print(f"kube-hunter: {wall:.1f} s, {len(kube_hunter.reported(report))} findings")
    return {
        "version": kube_hunter.REQUIREMENT,
        "targets": targets,
        "netns": network.netns,
        "wall_s": wall,
        "findings": [f"{vid}: {name} ({where})" for vid, name, where in kube_hunter.reported(report)],
        "seeds": [asdict(row) for row in table],
    }


def main() -> None:
    """Measure everything, store each result and the summary."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--matrix-runs", type=int, default=3, help="runs of each matrix prober (median)")
    parser.add_argument(
        "--skip",
        nargs="*",
        default=[],
        choices=["suite", "matrix", "kube-hunter", "start"],
        help="leave these out (kube-hunter: the insecure cluster, its suite run and kube-hunter; start: "
        "fresh starts of a cluster of its own, three in a row)",
    )
    parser.add_argument(
        "--down", action="store_true", help="take each cluster down once measured (one cluster at a time)"
    )
    options = parser.parse_args()
    WORK.mkdir(parents=True, exist_ok=True)
    if not {"suite", "matrix"} <= set(options.skip):
        hardened, up = bring_up("hardened")
        record.write("cluster_hardened", up)
        if "suite" not in options.skip:
            record.write("full_suite_hardened", full_suite(hardened, "hardened"))
        if "matrix" not in options.skip:
            record.write("netpol_matrix", netpol_matrix.run("hardened", options.matrix_runs, 1.0))
        if options.down:
            hardened.down()
    if "kube-hunter" not in options.skip:
        insecure, up = bring_up("insecure")
        record.write("cluster_insecure", up)
        insecure_run = full_suite(insecure, "insecure")
        record.write("full_suite_insecure", insecure_run)
        record.write("kube_hunter", hunt(insecure, insecure_run["outcomes"]))
        if options.down:
            insecure.down()
    if "start" not in options.skip:
        record.write("local_cluster_start", local_cluster_start.run("hardened", 3))
    path = record.RESULTS / "SUMMARY.md"
    path.write_text(summary(record.RESULTS))
    README.write_text(with_table(README.read_text(), headline(record.RESULTS)))
    print(path.read_text())


if __name__ == "__main__":
    main()
