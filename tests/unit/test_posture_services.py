"""Exposure by configuration on object fixtures: load balancers' sources, NodePorts and hostPorts."""

from __future__ import annotations

from typing import Any

import pytest

from pytest_k8sharden.evidence.verdict import Outcome
from pytest_k8sharden.exemptions import BUILT_IN
from pytest_k8sharden.posture import podsecurity, scope, services

NAMESPACES = scope.namespaces_in_scope(
    [{"metadata": {"name": name}} for name in ("default", "kube-system", "shop")], BUILT_IN
)


def service(
    name: str, kind: str, ns: str = "shop", annotations: dict[str, str] | None = None, **spec: Any
) -> dict[str, Any]:
    metadata = {"name": name, "namespace": ns, "annotations": annotations or {}}
    return {"metadata": metadata, "spec": {"type": kind, **spec}}


@pytest.mark.parametrize(
    ("svc", "why"),
    [
        (service("web", "ClusterIP"), None),
        (
            service("lb", "LoadBalancer"),
            "LoadBalancer without loadBalancerSourceRanges (open to every source)",
        ),
        (service("lb", "LoadBalancer", loadBalancerSourceRanges=["10.0.0.0/8"]), None),
        (
            service("lb", "LoadBalancer", loadBalancerSourceRanges=["10.0.0.0/8", "0.0.0.0/0"]),
            "LoadBalancer admits 0.0.0.0/0",
        ),
        (
            service("lb", "LoadBalancer", annotations={services.SOURCE_RANGES_ANNOTATION: "192.0.2.0/24, "}),
            None,
        ),
        (
            service("lb", "LoadBalancer", annotations={services.SOURCE_RANGES_ANNOTATION: "::/0"}),
            "LoadBalancer admits ::/0",
        ),
        # the field wins over the annotation, as the cloud providers read them
        (
            service(
                "lb",
                "LoadBalancer",
                annotations={services.SOURCE_RANGES_ANNOTATION: "10.0.0.0/8"},
                loadBalancerSourceRanges=["0.0.0.0/0"],
            ),
            "LoadBalancer admits 0.0.0.0/0",
        ),
    ],
)
def test_a_load_balancer_must_restrict_its_sources(svc: dict[str, Any], why: str | None) -> None:
    assert services.open_load_balancer(svc) == why


def test_node_ports_pass_only_when_allowed_and_services_out_of_scope_are_not_judged() -> None:
    listed = [
        service("web", "NodePort", ports=[{"port": 80, "nodePort": 30080}]),
        service("admin", "NodePort", ports=[{"port": 443, "nodePort": 30443}]),
        service("dns", "NodePort", ns="kube-system", ports=[{"port": 53, "nodePort": 30053}]),
        service("api", "ClusterIP"),
    ]
    allowed = ("shop/web",)
    flagged, finding = services.services_exposed(
        listed, NAMESPACES, "are unlisted NodePorts", services.unlisted_node_port(allowed), allowed
    )
    assert flagged == ["Service/shop/admin: NodePort on node port(s) 30443, not in --allowed-node-ports"]
    assert finding.outcome is Outcome.FAILED
    read = "(4 Services read; exempt: kube-system; allowed: shop/web)"
    assert f"1 of 3 Services in the 2 namespaces in scope {read}" in finding.message
    flagged, finding = services.services_exposed(
        listed, NAMESPACES, "are unlisted NodePorts", services.unlisted_node_port(("shop/web", "shop/admin"))
    )
    assert (flagged, finding.outcome) == ([], Outcome.PASSED)
    assert finding.message.startswith("none of 3 Services in the 2 namespaces in scope (4 Services read")


def _pod(ns: str, *ports: dict[str, Any]) -> dict[str, Any]:
    container = {"name": "agent", "ports": list(ports)}
    return {"metadata": {"name": "p", "namespace": ns}, "spec": {"containers": [container]}, "status": {}}


def test_host_ports_pass_only_when_their_namespace_and_port_are_allowed() -> None:
    pods = scope.running_pods(
        [
            _pod(
                "shop", {"containerPort": 8080}, {"containerPort": 9100, "hostPort": 9100, "protocol": "TCP"}
            ),
            _pod("default", {"containerPort": 53, "hostPort": 53, "protocol": "UDP"}),
        ],
        NAMESPACES,
    )
    judge = services.unlisted_host_ports(("shop/9100",))
    flagged, finding = podsecurity.workload_violations(pods, "bind unlisted hostPorts", judge)
    assert flagged == ["pod default/p container agent: binds hostPort 53/UDP, not in --allowed-host-ports"]
    assert finding.outcome is Outcome.FAILED
    nothing_allowed = services.unlisted_host_ports(())
    assert len(podsecurity.workload_violations(pods, "x", nothing_allowed)[0]) == 2
