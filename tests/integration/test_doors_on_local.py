"""Earned verdicts on the real hardened cluster: every door answers for itself, a connection is never erased.

Two faults only a live cluster shows: a pod vantage whose packets to the kubelet are dropped (an iptables
rule inside the node's namespace, which the harness owns) while the runner is refused, and a NetworkPolicy
that blocks a pair only after the first probe connected. Marked ``cluster``.
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import subprocess
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from kubernetes import client
from local_clusters import Running, run_shipped_suites

from pytest_k8sharden.clusters.local import enforcer
from pytest_k8sharden.clusters.local.images import PROBE_IMAGE
from pytest_k8sharden.evidence.verdict import Outcome
from pytest_k8sharden.isolation import workloads
from pytest_k8sharden.isolation.matrices import compare, expectation
from pytest_k8sharden.netpol import (
    Namespace,
    Pod,
    PolicyEngine,
    TruthTable,
    expected_table,
    parse_network_policy,
)
from pytest_k8sharden.netpol.manifest import network_policy
from pytest_k8sharden.netpol.reachability import PortSpec
from pytest_k8sharden.probes.matrix import (
    TIMEOUT,
    ConnectResult,
    MatrixProber,
    Plan,
    Source,
    Target,
    probe_until_expected,
    server_manifest,
)
from pytest_k8sharden.probes.pods import PodProber

pytestmark = pytest.mark.cluster

PROBE_TIMEOUT_S = 3.0
KUBELET_PORT = 10250
SERVED_PORT = 8080
ENFORCEMENT_WAIT_S = 60.0


@pytest.fixture(scope="module")
def hardened(local_cluster: Callable[[str], Running]) -> Running:
    """The session's hardened local cluster (its enforcer drops what policy denies)."""
    return local_cluster("hardened")


@contextlib.contextmanager
def pods_dropped_at_the_kubelet(running: Running) -> Iterator[None]:
    """Inside the node's namespace, drop every packet from the pod network to the node's kubelet port;
    the runner (on the host end of the veth) still reaches it. Removed again on any exit."""
    info = running.cluster.state.load_info()
    assert info is not None
    network = running.cluster.network(info)
    iptables = str(enforcer.tools_dir(running.cluster.state) / "iptables")
    rule = [
        "INPUT", "-s", running.addresses.cluster_cidr, "-d", running.addresses.node, "-p", "tcp",
        "--dport", str(KUBELET_PORT), "-m", "comment", "--comment", "k8sharden test: pod vantage drop",
        "-j", "DROP",
    ]  # fmt: skip
    network.run([iptables, "-I", *rule])
    try:
        yield
    finally:
        network.run([iptables, "-D", *rule])


def test_a_pod_vantage_that_times_out_while_the_runner_is_refused_is_inconclusive_naming_the_door(
    hardened: Running, tmp_path: Path
) -> None:
    """KUBELET-ANON: the runner gets 401 from every kubelet door, the attacker pod hears nothing. One
    good answer used to pass the check ("refused every request"); now the pod's doors make it
    inconclusive, each named with its vantage."""
    with pods_dropped_at_the_kubelet(hardened):
        done = run_shipped_suites(
            "hardened", tmp_path, "-k", "test_kubelet_refuses_anonymous_clients",
            f"--probe-timeout={PROBE_TIMEOUT_S}",
        )  # fmt: skip
    evidence = tmp_path / "evidence.json"
    assert evidence.exists(), f"no evidence.json; pytest said:\n{done.stdout[-3000:]}\n{done.stderr[-2000:]}"
    (result,) = [r for r in json.loads(evidence.read_text())["results"] if r["check"] == "KUBELET-ANON"]
    message = result["message"]
    assert result["outcome"] == "inconclusive", message
    door = f"https://{hardened.addresses.node}:{KUBELET_PORT}/pods from pod:"
    assert door in message and "(timed out)" in message, message
    runner_answers = [e for e in result["evidence"] if e["vantage"] == "runner"]
    assert runner_answers and all(e.get("status") == 401 for e in runner_answers), runner_answers


@pytest.fixture
def server_and_visitor(hardened: Running) -> Iterator[tuple[str, PodProber]]:
    """A fresh namespace with a server pod (TCP 8080) and a visiting probe pod; deleted afterwards."""
    name = f"k8sh-it-{uuid.uuid4().hex[:8]}"
    hardened.kube.core.create_namespace(client.V1Namespace(metadata=client.V1ObjectMeta(name=name)))
    try:
        manifest = server_manifest("server", PROBE_IMAGE, [SERVED_PORT], {"role": "server"}, "Never")
        hardened.kube.core.create_namespaced_pod(name, manifest)
        prober = PodProber(hardened.kube, name, PROBE_IMAGE, pull_policy="Never")
        prober.start("visitor", ["pause"], labels={"role": "visitor"})
        yield name, prober
    finally:
        hardened.kube.core.delete_namespace(name)


def test_a_policy_violation_seen_only_on_the_first_attempt_is_reported(
    hardened: Running, server_and_visitor: tuple[str, PodProber]
) -> None:
    """The visitor connects to the server; then a policy that denies it is applied and enforced, and the
    same pair times out. Judged as NETPOL-WORKLOADS judges it, the first attempt's connection is a
    violation: no later attempt erases it (it used to count as blocked)."""
    name, prober = server_and_visitor
    pods = prober.wait_running(["server", "visitor"], timeout_s=90)
    server, visitor = pods["server"], pods["visitor"]
    deny = network_policy(name, "deny-visitor", {"role": "server"}, ["Ingress"])
    model = Namespace(name)
    engine = PolicyEngine.of([parse_network_policy(deny)])
    sources = [Pod(model, "visitor", visitor.ip, dict(visitor.labels))]
    targets = [Pod(model, "server", server.ip, dict(server.labels))]
    tables: dict[PortSpec, TruthTable] = {
        (SERVED_PORT, "TCP"): expected_table(engine, sources, SERVED_PORT, "TCP", targets)
    }
    assert tables[(SERVED_PORT, "TCP")].get(sources[0].key, targets[0].key) is False
    plan: Plan = {Source(sources[0].key, name, "visitor"): [Target(targets[0].key, server.ip, SERVED_PORT)]}
    matrix = MatrixProber(hardened.kube, PROBE_TIMEOUT_S)
    rounds: list[tuple[ConnectResult, ...]] = []

    def probe_then_apply_policy(asked: Plan) -> tuple[ConnectResult, ...]:
        """Probe for real; after the first round, apply the policy and wait until it is enforced."""
        found = matrix.probe(asked)
        rounds.append(found)
        if len(rounds) == 1:
            body: Any = deny  # the client sends plain dicts as they are
            hardened.kube.networking.create_namespaced_network_policy(name, body)
            deadline = time.monotonic() + ENFORCEMENT_WAIT_S
            while matrix.probe(asked)[0].outcome != TIMEOUT:
                assert time.monotonic() < deadline, "the enforcer never applied the policy"
        return found

    results = probe_until_expected(
        probe_then_apply_policy, plan, expectation(tables, refused_is_blocked=False), attempts=3, pause_s=0
    )
    assert rounds[0][0].connected, f"the first attempt did not connect: {rounds[0][0].outcome}"
    assert matrix.probe(plan)[0].outcome == TIMEOUT, "a later attempt sees the pair blocked"
    outcome = compare("workloads", "", [deny], tables, results, refused_is_blocked=False)
    finding = workloads.workloads_finding(outcome, [name])
    assert finding.outcome is Outcome.FAILED, finding.message
    assert f"{sources[0].key} -> {targets[0].key} {SERVED_PORT}/TCP: expected blocked, observed allowed" in (
        finding.message
    )
    with_history = dataclasses.replace(results[0], outcome=TIMEOUT, history=(results[0].outcome,))
    later = compare("workloads", "", [deny], tables, [with_history], refused_is_blocked=False)
    assert later.wrong == 1, "even with a timeout as the last attempt, the connection stands"


def test_no_rule_of_ours_is_left_in_the_node(hardened: Running) -> None:
    """The drop rule above is gone: the suites that run next see the cluster as it was."""
    info = hardened.cluster.state.load_info()
    assert info is not None
    iptables = str(enforcer.tools_dir(hardened.cluster.state) / "iptables")
    listed = hardened.cluster.network(info).run([iptables, "-S", "INPUT"], check=False)
    assert isinstance(listed, subprocess.CompletedProcess)
    assert "pod vantage drop" not in listed.stdout
