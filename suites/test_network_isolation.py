"""Network isolation suite: NetworkPolicies enforced as declared, default deny, the cloud metadata endpoint.

The canary builds namespaces x, y, z with pods a, b, c (fresh, labelled as ours, deleted afterwards),
applies scenario policies one after another and compares the full reachability matrix with what the
policy engine expects. The workload, metadata and control-plane checks probe from visiting pods in the
namespaces in scope (deleted afterwards); nothing here sends a packet from the runner.
"""

from __future__ import annotations

import uuid
from concurrent.futures import ThreadPoolExecutor

import pytest

from pytest_k8sharden.evidence.recorder import Evidence
from pytest_k8sharden.evidence.verdict import Inconclusive
from pytest_k8sharden.isolation import cluster as api
from pytest_k8sharden.isolation import defaultdeny, metadata, workloads
from pytest_k8sharden.isolation.canary import Canary
from pytest_k8sharden.isolation.matrices import (
    canary_finding,
    compare,
    ends_the_canary,
    expectation,
    matrix_observation,
)
from pytest_k8sharden.isolation.scenarios import BASELINE, SCENARIOS
from pytest_k8sharden.kube import Kube
from pytest_k8sharden.netpol import Direction, Namespace, NetworkPolicy, Pod, PolicyEngine, PolicyParseError
from pytest_k8sharden.ownership import ours
from pytest_k8sharden.probes.matrix import (
    SHORT_CONNECT_TIMEOUT_S,
    ConnectResult,
    Expectation,
    MatrixProber,
    Plan,
    Source,
    probe_briefly_first,
)
from pytest_k8sharden.settings import Settings
from pytest_k8sharden.vantage import AttackerPod, Visitors

CONTROL_ATTEMPTS = 6
CONTROL_PAUSE_S = 3.0
"""The control pod's unanswered knocks are knocked again for about 15 s: a pod can lose its way out of the
pod network for a while (say, until it re-learns its gateway's MAC), and without the control's answer no
timeout is judged."""


@pytest.fixture
def live_namespaces(kube: Kube) -> dict[str, Namespace]:
    """Every live namespace with its labels, as the policy engine sees it."""
    return api.model_namespaces(api.live_namespaces(kube))


@pytest.fixture
def cluster_policies(kube: Kube) -> tuple[NetworkPolicy, ...]:
    """Every NetworkPolicy of the cluster, parsed by the policy engine."""
    try:
        return api.network_policies(kube)
    except PolicyParseError as exc:
        raise Inconclusive(f"the policy engine cannot read the cluster's NetworkPolicies: {exc}") from exc


@pytest.fixture
def isolation_scope(
    live_namespaces: dict[str, Namespace], k8sharden_settings: Settings
) -> defaultdeny.IsolationScope:
    """The namespaces in scope (--isolation-namespaces, else all but the exempt ones and ours), and those
    left out."""
    labels = {name: ns.labels for name, ns in live_namespaces.items()}
    settings = k8sharden_settings
    return defaultdeny.in_scope(labels, settings.isolation_namespaces, settings.exemptions)


def model_of(visitor: AttackerPod, namespaces: dict[str, Namespace]) -> Pod:
    """A visiting pod as the policy engine sees it."""
    pod = visitor.pod
    return Pod(namespaces[pod.namespace], pod.name, pod.ip, pod.labels)


@pytest.mark.active
@pytest.mark.control("NETPOL-ENFORCED")
def test_network_policies_are_enforced_as_declared(canary: Canary, evidence: Evidence) -> None:
    """NetworkPolicies are enforced as declared (canary reachability matrix)."""
    target = ", ".join(canary.namespaces.values())
    tried = canary.run_baseline(BASELINE)
    for outcome in tried:
        evidence.record(matrix_observation(outcome, "pods:canary", target))
    outcomes = tried[-1:]
    for scenario in SCENARIOS:
        if scenario is BASELINE:
            continue
        if ends_the_canary(outcomes[-1], BASELINE.name):
            break
        outcome = canary.run(scenario)
        evidence.record(matrix_observation(outcome, "pods:canary", target))
        outcomes.append(outcome)
    evidence.conclude(canary_finding(outcomes, BASELINE.name, len(SCENARIOS)))


@pytest.mark.active
@pytest.mark.control("NETPOL-WORKLOADS")
def test_workloads_are_isolated_as_their_policies_declare(
    kube: Kube,
    attacker_pod: AttackerPod | None,
    live_namespaces: dict[str, Namespace],
    cluster_policies: tuple[NetworkPolicy, ...],
    visitors: Visitors,
    k8sharden_settings: Settings,
    evidence: Evidence,
) -> None:
    """Observed reachability of workloads matches their declared NetworkPolicies.

    The probe pod is the control: twins of the workloads' ingress policies admit it (and nobody else) to
    the pods they isolate, and a visitor's timeout counts as blocked only where it heard the pod answer.
    """
    assert attacker_pod is not None  # the check is active: skipped under --read-only
    selected = k8sharden_settings.workload_namespaces
    if not selected:
        pytest.skip("no --workload-namespaces given: the workloads' reachability is not compared")
    missing = [ns for ns in selected if ns not in live_namespaces]
    if missing:
        raise Inconclusive(f"--workload-namespaces names namespaces that do not exist: {', '.join(missing)}")
    pods = kube.core.list_pod_for_all_namespaces(field_selector="status.phase=Running").items
    targets = workloads.workload_pods(pods, {ns: live_namespaces[ns] for ns in selected})
    engine = PolicyEngine.of(cluster_policies)
    declared = api.raw_network_policies(kube, selected)
    control = Source.of(attacker_pod.pod)
    twins = workloads.control_admissions(
        declared, attacker_pod.pod, f"k8sh-control-{uuid.uuid4().hex[:8]}", ours()
    )
    with (
        visitors(selected) as pods_by_namespace,
        api.applied_policies(kube, twins),
    ):
        sources = {Source.of(v.pod): model_of(v, live_namespaces) for v in pods_by_namespace.values()}
        expected = workloads.workload_tables(engine, list(sources.values()), targets)
        plan = workloads.workload_plan(sources, targets)
        plan = {**plan, control: tuple(dict.fromkeys(t for doors in plan.values() for t in doors))}
        wanted = workloads.control_expectation(control, expectation(expected, refused_is_blocked=False))
        found, waited = (
            _knock(kube, k8sharden_settings.probe_timeout, plan, wanted) if targets else ((), None)
        )
    controls = [r for r in found if r.source == control.key]
    results = [r for r in found if r.source != control.key]
    for result in controls:
        evidence.record(workloads.knock_observation(result, None, waited))
    outcome = compare(
        "workloads",
        f"workload pods of {', '.join(selected)} on their declared TCP ports, from a visiting pod in each",
        declared,
        expected,
        results,
        refused_is_blocked=False,
        heard=workloads.heard_destinations(controls, results),
        connect_timeout_s=waited,
    )
    evidence.record(matrix_observation(outcome, "pods:visitors", ", ".join(selected)))
    evidence.conclude(workloads.workloads_finding(outcome, selected))


def _default_deny(
    direction: Direction,
    scope: defaultdeny.IsolationScope,
    policies: tuple[NetworkPolicy, ...],
    evidence: Evidence,
) -> None:
    evidence.record(scope.observation())
    items = [defaultdeny.coverage(ns, policies, direction) for ns in scope.namespaces]
    for item in items:
        evidence.record(defaultdeny.coverage_observation(item))
    evidence.conclude(defaultdeny.default_deny_finding(items, scope, direction))


@pytest.mark.control("NETPOL-DEFAULT-DENY-INGRESS")
def test_every_namespace_in_scope_denies_ingress_by_default(
    isolation_scope: defaultdeny.IsolationScope,
    cluster_policies: tuple[NetworkPolicy, ...],
    evidence: Evidence,
) -> None:
    """Every namespace in scope has a default-deny NetworkPolicy for ingress."""
    _default_deny("Ingress", isolation_scope, cluster_policies, evidence)


@pytest.mark.control("NETPOL-DEFAULT-DENY-EGRESS")
def test_every_namespace_in_scope_denies_egress_by_default(
    isolation_scope: defaultdeny.IsolationScope,
    cluster_policies: tuple[NetworkPolicy, ...],
    evidence: Evidence,
) -> None:
    """Every namespace in scope has a default-deny NetworkPolicy for egress."""
    _default_deny("Egress", isolation_scope, cluster_policies, evidence)


def _knock(
    kube: Kube, timeout_s: float, plan: Plan, expected: Expectation
) -> tuple[tuple[ConnectResult, ...], float]:
    """Knock as `plan` says, first with the short connect timeout; unless every knock came back as
    `expected` then, all again with the probe timeout, the control pod's unanswered knocks up to
    CONTROL_ATTEMPTS. The results, and the connect timeout they were judged with."""
    brief = MatrixProber(kube, min(SHORT_CONNECT_TIMEOUT_S, timeout_s))
    full = MatrixProber(kube, timeout_s)
    found, was_brief = probe_briefly_first(
        brief.probe, full.probe, plan, expected, CONTROL_ATTEMPTS, pause_s=CONTROL_PAUSE_S
    )
    return found, (brief if was_brief else full).timeout_s


@pytest.mark.active
@pytest.mark.control("METADATA-BLOCKED")
def test_pods_cannot_obtain_cloud_metadata_credentials(
    kube: Kube,
    attacker_pod: AttackerPod | None,
    live_namespaces: dict[str, Namespace],
    cluster_policies: tuple[NetworkPolicy, ...],
    visitors: Visitors,
    k8sharden_settings: Settings,
    evidence: Evidence,
) -> None:
    """Pods cannot obtain credentials from the cloud metadata endpoint (from a probe namespace and others)."""
    assert attacker_pod is not None  # the check is active: skipped under --read-only
    namespaces = [ns for ns in k8sharden_settings.metadata_namespaces if ns in live_namespaces]
    doors = api.control_plane_doors(kube)
    engine = PolicyEngine.of(cluster_policies)
    with visitors(namespaces) as pods, ThreadPoolExecutor(max_workers=1) as pool:
        vantages = [attacker_pod, *pods.values()]
        on_nodes = [v.pod for v in vantages]
        plan = metadata.control_plan(on_nodes, attacker_pod.pod, doors)
        forbidden = {
            (Source.of(v.pod).key, door.key): workloads.forbidden_by_policy(
                engine, model_of(v, live_namespaces), door
            )
            for v in pods.values()
            for door in doors
        }
        wanted = metadata.control_expectation(attacker_pod.pod, forbidden)
        timeout = k8sharden_settings.probe_timeout
        knocking = pool.submit(_knock, kube, timeout, plan, wanted) if plan else None  # at the same time
        seen = [evidence.record(o) for o in metadata.probe_all(vantages, timeout)]
        knocks, waited = knocking.result() if knocking is not None else ((), None)
    for result in knocks:
        evidence.record(workloads.knock_observation(result, None, waited))
    proven = metadata.controls(on_nodes, attacker_pod.pod, doors, knocks, forbidden)
    evidence.conclude(metadata.metadata_finding(seen, proven))


@pytest.mark.active
@pytest.mark.control("ISOLATED-NAMESPACE-CONTROL-PLANE")
def test_isolated_namespaces_do_not_reach_the_control_plane(
    kube: Kube,
    attacker_pod: AttackerPod | None,
    isolation_scope: defaultdeny.IsolationScope,
    live_namespaces: dict[str, Namespace],
    cluster_policies: tuple[NetworkPolicy, ...],
    visitors: Visitors,
    k8sharden_settings: Settings,
    evidence: Evidence,
) -> None:
    """Pods of namespaces isolated for egress do not reach the API server or a kubelet unless allowed."""
    assert attacker_pod is not None  # the check is active: skipped under --read-only
    scope = isolation_scope.namespaces
    coverage = [defaultdeny.coverage(ns, cluster_policies, "Egress") for ns in scope]
    isolated = [c.namespace for c in coverage if c.denies_by_default]
    if not isolated:
        pytest.skip(
            f"no namespace in scope denies egress by default (scope: {', '.join(scope) or 'none'}; "
            f"{isolation_scope.left_out()})"
        )
    evidence.record(isolation_scope.observation())
    doors = api.control_plane_doors(kube)
    if not doors:
        raise Inconclusive("the API shows neither API server endpoints nor node addresses to knock on")
    engine = PolicyEngine.of(cluster_policies)
    control = Source.of(attacker_pod.pod)
    with visitors(isolated) as pods:
        sources = {Source(f"{ns}/{v.pod.name}", ns, v.pod.name): v for ns, v in pods.items()}
        forbidden = {
            (source.key, door.key): workloads.forbidden_by_policy(engine, model_of(v, live_namespaces), door)
            for source, v in sources.items()
            for door in doors
        }
        plan = workloads.door_plan([*sources, control], doors)
        knocks, waited = _knock(
            kube, k8sharden_settings.probe_timeout, plan, workloads.control_expectation(control)
        )
    controls = [r for r in knocks if r.source == control.key]
    results = [r for r in knocks if r.source != control.key]
    for result in controls:
        evidence.record(workloads.knock_observation(result, None, waited))
    for result in results:
        evidence.record(
            workloads.knock_observation(result, forbidden[(result.source, result.destination)], waited)
        )
    evidence.conclude(workloads.control_plane_finding(results, forbidden, controls))
