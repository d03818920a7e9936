"""Declared policy vs reality for the cluster's workloads; control-plane doors of isolated namespaces.

A visiting probe pod in each selected namespace connects to every workload pod on each declared TCP
container port; the policy engine says, from the namespace's real NetworkPolicies, which of those
connections should work. Pure functions over API objects and probe results; the suite starts the pods.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Final, final

from kubernetes import client

from pytest_k8sharden.evidence.observation import Observation
from pytest_k8sharden.evidence.verdict import Finding, Outcome
from pytest_k8sharden.isolation.matrices import Heard, MatrixOutcome
from pytest_k8sharden.netpol import (
    ContainerPort,
    ExternalIP,
    Namespace,
    Pod,
    PolicyEngine,
    TruthTable,
    expected_table,
)
from pytest_k8sharden.netpol.model import check_protocol
from pytest_k8sharden.netpol.reachability import PortSpec
from pytest_k8sharden.ownership import is_ours
from pytest_k8sharden.probes.matrix import (
    CONNECTED,
    REFUSED,
    ConnectResult,
    Expectation,
    Plan,
    Source,
    Target,
)
from pytest_k8sharden.probes.pods import ProbePod
from pytest_k8sharden.worstof import Judged, fold, named

NAMESPACE_NAME_LABEL: Final = "kubernetes.io/metadata.name"


def model_pod(pod: client.V1Pod, namespaces: Mapping[str, Namespace]) -> Pod | None:
    """A running pod (with an IP, on the pod network) as the policy engine sees it; None otherwise."""
    meta, spec, status = pod.metadata, pod.spec, pod.status
    if meta is None or spec is None or status is None or not status.pod_ip or status.phase != "Running":
        return None
    namespace = namespaces.get(meta.namespace or "")
    if spec.host_network or namespace is None:
        return None
    ports = [
        ContainerPort(port.container_port, check_protocol(port.protocol or "TCP"), port.name)
        for container in spec.containers
        for port in container.ports or []
    ]
    return Pod(namespace, str(meta.name), status.pod_ip, dict(meta.labels or {}), tuple(ports))


def workload_pods(pods: Iterable[client.V1Pod], namespaces: Mapping[str, Namespace]) -> tuple[Pod, ...]:
    """The running workload pods of `namespaces`, leaving out this run's own (see ownership.is_ours)."""
    found = (model_pod(pod, namespaces) for pod in pods)
    return tuple(pod for pod in found if pod is not None and not is_ours(pod.labels))


def declared_tcp_ports(pods: Iterable[Pod]) -> tuple[int, ...]:
    """Every TCP port any of `pods` declares, ascending."""
    return tuple(sorted({p.port for pod in pods for p in pod.ports if p.protocol == "TCP"}))


def workload_tables(
    engine: PolicyEngine, sources: Sequence[Pod], targets: Sequence[Pod]
) -> dict[PortSpec, TruthTable]:
    """Expected table per declared TCP port: rows the probe pods, columns the workloads declaring it."""
    tables: dict[PortSpec, TruthTable] = {}
    for port in declared_tcp_ports(targets):
        declaring = [pod for pod in targets if any(p.port == port and p.protocol == "TCP" for p in pod.ports)]
        tables[(port, "TCP")] = expected_table(engine, sources, port, "TCP", declaring)
    return tables


def workload_plan(sources: Mapping[Source, Pod], targets: Sequence[Pod]) -> Plan:
    """Each probe pod connects to every workload pod on each TCP port that pod declares."""
    doors = tuple(
        Target(pod.key, pod.ip, port.port) for pod in targets for port in pod.ports if port.protocol == "TCP"
    )
    return dict.fromkeys(sources, doors)


def control_admissions(
    policies: Sequence[Mapping[str, Any]], control: ProbePod, name_prefix: str, labels: Mapping[str, str]
) -> list[dict[str, Any]]:
    """NetworkPolicies that admit the control pod, and nobody else, to the pods workloads' policies isolate.

    One twin per policy that isolates pods for ingress, selecting the same pods: those pods are isolated
    already, so the twin changes nothing for anyone but the control pod (NetworkPolicies only add allows),
    and the pods no policy isolates admit the control pod anyway. With it, the control can show that a
    workload pod answers within the probe timeout, so a visitor's timeout there means blocked.
    """
    peer = {
        "namespaceSelector": {"matchLabels": {NAMESPACE_NAME_LABEL: control.namespace}},
        "podSelector": {"matchLabels": dict(control.labels)},
    }
    twins: list[dict[str, Any]] = []
    for policy in policies:
        meta, spec = policy.get("metadata") or {}, policy.get("spec") or {}
        if "Ingress" not in (spec.get("policyTypes") or ["Ingress"]):
            continue
        twins.append(
            {
                "apiVersion": "networking.k8s.io/v1",
                "kind": "NetworkPolicy",
                "metadata": {
                    "name": f"{name_prefix}-{len(twins)}",
                    "namespace": meta.get("namespace"),
                    "labels": dict(labels),
                },
                "spec": {
                    "podSelector": spec.get("podSelector") or {},
                    "policyTypes": ["Ingress"],
                    "ingress": [{"from": [peer]}],
                },
            }
        )
    return twins


def heard_destinations(controls: Sequence[ConnectResult], results: Sequence[ConnectResult]) -> Heard:
    """A visitor's timeout towards a pod counts as blocked only when, in the same probing, the control pod
    heard that pod answer (connected or refused, on any of its ports) or the visitor itself connected to
    it on another port."""
    by_control = heard_doors(controls)
    by_source = {(r.source, r.destination) for r in results if r.ever_connected}
    return lambda r: r.destination in by_control or (r.source, r.destination) in by_source


def workloads_finding(outcome: MatrixOutcome, namespaces: Sequence[str]) -> Finding:
    """Failed on any pair that contradicts the policies; every pair answers for itself: one that cannot be
    judged (refused: no listener?; a timeout no control stands behind; no result) makes it inconclusive."""
    where = ", ".join(namespaces)
    if not outcome.results:
        return Finding(Outcome.INCONCLUSIVE, f"no running workload pod declares a TCP port in {where}")
    if outcome.wrong:
        return Finding(Outcome.FAILED, f"workloads in {where} not isolated as declared: {outcome.describe()}")
    if outcome.unknown:
        return Finding(
            Outcome.INCONCLUSIVE,
            f"{outcome.unknown} of {len(outcome.results)} connections in {where} cannot be judged (refused: "
            "no listener?; timed out where the control pod heard no door of that pod; or no result): "
            + named(outcome.unknown_pairs()),
        )
    return Finding(
        Outcome.PASSED,
        f"{len(outcome.results)} connections in {where} behave as the policies declare (timeouts judged "
        "only where the control pod heard the pod answer)",
    )


@final
@dataclass(frozen=True)
class Door:
    """A control-plane port a pod might reach: what it is (``api-server``, ``kubelet``), address, TCP port."""

    what: str
    host: str
    port: int

    @property
    def key(self) -> str:
        """``api-server/198.18.0.1:6443``: one word, as probe output lines and table headers need."""
        return f"{self.what}/{self.host}:{self.port}"


def door_plan(sources: Iterable[Source], doors: Sequence[Door]) -> Plan:
    """Every visiting pod knocks on every door."""
    return dict.fromkeys(sources, tuple(Target(door.key, door.host, door.port) for door in doors))


def forbidden_by_policy(engine: PolicyEngine, source: Pod, door: Door) -> bool:
    """Whether `source`'s egress policies deny it the door."""
    return not engine.allowed(source, ExternalIP(door.host), door.port).allowed


def knock_observation(
    result: ConnectResult, forbidden: bool | None, connect_timeout_s: float | None = None
) -> Observation:
    """Evidence of one knock on a control-plane door: from a visiting pod whose policy denies it or not,
    or (`forbidden` None) from the control pod; with the connect timeout and every attempt's outcome."""
    policy = "control" if forbidden is None else "denied by policy" if forbidden else "allowed by policy"
    waited = "" if connect_timeout_s is None else f", connect timeout {connect_timeout_s:g} s"
    tries = f", {result.attempts} attempts" if result.attempts > 1 else ""
    return Observation(
        kind="connect",
        summary=f"{result.destination} from {result.source}: {result.outcome} ({policy}{waited}{tries})",
        vantage=f"pod:{result.source}",
        target=result.destination,
        details={
            "connected": result.connected,
            "outcome": result.outcome,
            "forbidden_by_policy": forbidden,
            "connect_timeout_s": connect_timeout_s,
            "attempts": [*result.history, result.outcome],
        },
    )


def answered(result: ConnectResult) -> bool:
    """The door answered within the probe timeout: connected or refused (a timeout is no answer)."""
    return result.outcome in (CONNECTED, REFUSED)


def heard_doors(controls: Sequence[ConnectResult]) -> frozenset[str]:
    """The doors the control pod (one no policy isolates) heard answer within the probe timeout.

    Only for these does another pod's timeout mean something: the door answers within the timeout, so
    a pod that hears nothing is blocked, not merely too impatient.
    """
    return frozenset(c.destination for c in controls if answered(c))


def control_expectation(control: Source, others: Expectation = lambda result: None) -> Expectation:
    """For probe_until_expected: the control pod's knocks that heard nothing are knocked again (a busy
    enforcer can drop a moment's packets); other sources' knocks as `others` says (by default never)."""
    return lambda result: answered(result) if result.source == control.key else others(result)


def describe_controls(controls: Sequence[ConnectResult]) -> str:
    """The control knocks, for a finding that says why timeouts could not be judged."""
    if not controls:
        return "there was no control pod to knock from"
    return named([f"{c.source} -> {c.destination}: {c.outcome}" for c in controls])


def control_plane_finding(
    results: Sequence[ConnectResult],
    forbidden: Mapping[tuple[str, str], bool],
    controls: Sequence[ConnectResult],
) -> Finding:
    """Failed when a pod reached a door its policies forbid; reached but allowed doors are reported only.

    `forbidden` maps (source key, door key) to whether policy denies it. `controls` are the same knocks
    from the probe pod, which no policy isolates: a visiting pod's timeout on a door counts as blocked
    only when the control heard that door answer. Every knock answers for itself: one that cannot be
    judged makes the check inconclusive, naming it.
    """
    heard = heard_doors(controls)
    controls_seen = describe_controls(controls)

    def judge(r: ConnectResult) -> Judged:
        name, vantage = f"{r.source} -> {r.destination}", f"pod:{r.source}"
        if r.ever_connected:
            if forbidden.get((r.source, r.destination), False):
                return Judged(name, Outcome.FAILED, vantage)
            return Judged(f"{name} (reached, as its policies allow: informational)", Outcome.PASSED, vantage)
        if answered(r) or (r.probed and r.destination in heard):
            return Judged(f"{name} ({r.outcome})", Outcome.PASSED, vantage)
        return Judged(
            f"{name} ({r.outcome}, and the control pod heard no answer there)", Outcome.INCONCLUSIVE, vantage
        )

    return fold(
        [judge(r) for r in results],
        failed="pods of isolated namespaces reach control-plane ports policy denies",
        inconclusive=f"not every knock from an isolated namespace can be judged ({controls_seen})",
        passed="no control-plane port policy denies is reachable from isolated namespaces (timeouts judged "
        "only on doors that answered the control pod)",
        nothing="no knock from an isolated namespace",
        noun="knock",
    )
