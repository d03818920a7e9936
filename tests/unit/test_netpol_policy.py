"""The matching parts one by one: label selectors, ipBlocks, ports, and the invariants of the model."""

from __future__ import annotations

import ipaddress

import pytest

from pytest_k8sharden.netpol import (
    ContainerPort,
    ExternalIP,
    IPBlock,
    LabelSelector,
    Namespace,
    Peer,
    Pod,
    PolicyPort,
    Requirement,
    Topology,
)

LABELS = {"app": "web", "tier": "front"}


@pytest.mark.parametrize(
    ("requirement", "matches"),
    [
        (Requirement("app", "In", ("web", "api")), True),
        (Requirement("app", "In", ("api",)), False),
        (Requirement("absent", "In", ("web",)), False),
        (Requirement("app", "NotIn", ("api",)), True),
        (Requirement("app", "NotIn", ("web",)), False),
        (Requirement("absent", "NotIn", ("web",)), True),
        (Requirement("tier", "Exists"), True),
        (Requirement("absent", "Exists"), False),
        (Requirement("absent", "DoesNotExist"), True),
        (Requirement("tier", "DoesNotExist"), False),
    ],
    ids=str,
)
def test_requirement(requirement: Requirement, matches: bool) -> None:
    assert requirement.matches(LABELS) is matches


@pytest.mark.parametrize(
    ("selector", "matches"),
    [
        (LabelSelector(), True),
        (LabelSelector({"app": "web"}), True),
        (LabelSelector({"app": "web", "tier": "back"}), False),
        (LabelSelector({"absent": ""}), False),
        (LabelSelector({"app": "web"}, (Requirement("tier", "In", ("front",)),)), True),
        (LabelSelector({"app": "web"}, (Requirement("tier", "NotIn", ("front",)),)), False),
        (LabelSelector({}, (Requirement("app", "Exists"), Requirement("x", "DoesNotExist"))), True),
    ],
    ids=str,
)
def test_selector_ands_labels_and_expressions(selector: LabelSelector, matches: bool) -> None:
    assert selector.matches(LABELS) is matches


def block(cidr: str, *excepts: str) -> IPBlock:
    return IPBlock(ipaddress.ip_network(cidr), tuple(ipaddress.ip_network(e) for e in excepts))


@pytest.mark.parametrize(
    ("ip_block", "address", "contains"),
    [
        (block("10.0.0.0/8"), "10.255.0.1", True),
        (block("10.0.0.0/8"), "11.0.0.1", False),
        (block("10.0.0.0/8", "10.1.0.0/16"), "10.1.2.3", False),
        (block("10.0.0.0/8", "10.1.0.0/16"), "10.2.0.1", True),
        (block("10.0.0.0/8", "10.1.0.0/16", "10.2.0.0/16"), "10.2.0.1", False),
        (block("0.0.0.0/0"), "::ffff:10.0.0.1", False),
        (block("::/0"), "10.0.0.1", False),
        (block("2001:db8::/32", "2001:db8:1::/48"), "2001:db8:1::5", False),
        (block("2001:db8::/32", "2001:db8:1::/48"), "2001:db8:2::5", True),
    ],
    ids=str,
)
def test_ip_block(ip_block: IPBlock, address: str, contains: bool) -> None:
    assert ip_block.contains(ipaddress.ip_address(address)) is contains


@pytest.mark.parametrize(
    ("make", "error"),
    [
        (lambda: Requirement("a", "In"), "values must be non-empty for operator In"),
        (lambda: Requirement("a", "NotIn"), "values must be non-empty for operator NotIn"),
        (lambda: Requirement("a", "Exists", ("x",)), "values must be empty for operator Exists"),
        (lambda: block("10.0.0.0/16", "10.0.0.0/16"), "not a strict subset"),
        (lambda: block("10.0.0.0/16", "fd00::/8"), "not a strict subset"),
        (lambda: Peer(), "must specify one of"),
        (lambda: Peer(LabelSelector(), ip_block=block("10.0.0.0/8")), "may not be combined"),
        (lambda: PolicyPort("TCP", None, 90), "endPort requires a numeric port"),
        (lambda: PolicyPort("TCP", "http", 90), "endPort requires a numeric port"),
        (lambda: PolicyPort("TCP", 90, 80), "endPort 80 is less than port 90"),
        (lambda: PolicyPort("TCP", "-http"), "neither a number nor a valid port name"),
        (lambda: PolicyPort("TCP", "http--alt"), "neither a number nor a valid port name"),
        (lambda: PolicyPort("ICMP", 1), "protocol must be one of TCP, UDP, SCTP"),  # type: ignore[arg-type]
        (lambda: ContainerPort(0), "port must be an integer in 1-65535"),
        (lambda: Pod(Namespace("x"), "a", "10.0.0.300"), "does not appear to be an IPv4 or IPv6 address"),
        (lambda: ExternalIP("example.com"), "does not appear to be an IPv4 or IPv6 address"),
        (lambda: Topology(served=((80, "tcp"),)), "protocol must be one of"),  # type: ignore[arg-type]
    ],
)
def test_invariants(make: object, error: str) -> None:
    assert callable(make)
    with pytest.raises(ValueError, match=error):
        make()


@pytest.mark.parametrize(
    ("port", "text"),
    [
        (PolicyPort(), "any/TCP"),
        (PolicyPort("UDP", 53), "53/UDP"),
        (PolicyPort("TCP", 8000, 8100), "8000-8100/TCP"),
        (PolicyPort("SCTP", "sig"), "sig/SCTP"),
    ],
)
def test_policy_port_text(port: PolicyPort, text: str) -> None:
    assert str(port) == text


def test_pod_and_namespace_are_immutable_snapshots() -> None:
    labels = {"app": "web"}
    pod = Pod(Namespace("x", {"team": "a"}), "a", "10.0.0.1", labels)
    labels["app"] = "changed"
    assert pod.labels == {"app": "web"}
    assert pod.namespace.selector_labels == {"team": "a", "kubernetes.io/metadata.name": "x"}
    assert (pod.key, ExternalIP("2001:DB8::1").key) == ("x/a", "2001:db8::1")
    with pytest.raises(TypeError):
        pod.labels["app"] = "web"  # type: ignore[index]


def test_topology_pods_follow_upstream_naming() -> None:
    topology = Topology(("x", "y"), ("a",), ((80, "TCP"), (53, "UDP")))
    pods = topology.pods({"x/a": "10.0.0.1", "y/a": "10.0.0.2"}, labels={"y": {"team": "blue"}})
    assert [(p.key, p.ip, dict(p.labels), dict(p.namespace.labels)) for p in pods] == [
        ("x/a", "10.0.0.1", {"pod": "a"}, {}),
        ("y/a", "10.0.0.2", {"pod": "a"}, {"team": "blue"}),
    ]
    assert pods[0].ports == (
        ContainerPort(80, "TCP", "serve-80-tcp"),
        ContainerPort(53, "UDP", "serve-53-udp"),
    )
    with pytest.raises(ValueError, match="no IP for pods y/a"):
        topology.pods({"x/a": "10.0.0.1"})
