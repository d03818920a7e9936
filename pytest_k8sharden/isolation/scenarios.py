"""The enforcement canary's scenarios: NetworkPolicies over namespaces x, y, z with pods a, b, c.

Each scenario declares its policies once, as the objects applied to the cluster; the policy engine
reads the same objects for the expected matrix. Namespaces are selected by the canary's own label
(the real namespaces carry unique names), pods by ``pod: <name>`` as upstream's e2e tests do.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Final, final

from pytest_k8sharden.netpol import POD_LABEL, Topology, port_name
from pytest_k8sharden.netpol.manifest import network_policy

CANARY_NAMESPACE_LABEL: Final = "k8sharden.io/canary-namespace"
"""Label of each canary namespace, valued x, y or z: what the scenarios' namespaceSelectors match."""
TOPOLOGY: Final = Topology()
Manifest = Mapping[str, Any]


@final
@dataclass(frozen=True)
class Scenario:
    """A named set of policies (built from the canary pods' IPs) and what it should prove."""

    name: str
    summary: str
    build: Callable[[Sequence[str]], tuple[Manifest, ...]]

    def policies(self, pod_ips: Sequence[str]) -> tuple[Manifest, ...]:
        """The NetworkPolicy objects of this scenario, in model namespaces (x, y, z)."""
        return self.build(pod_ips)


def _selector(labels: Mapping[str, str]) -> dict[str, Any]:
    return {"matchLabels": dict(labels)} if labels else {}


def _namespace(name: str) -> dict[str, Any]:
    return {"namespaceSelector": _selector({CANARY_NAMESPACE_LABEL: name})}


def covering_network(ips: Sequence[str]) -> str:
    """The smallest CIDR that holds every address in `ips` (all of one IP version)."""
    if not ips:
        raise ValueError("no addresses to cover")
    addresses = [ipaddress.ip_address(ip) for ip in ips]
    if len({a.version for a in addresses}) != 1:
        raise ValueError(f"addresses of mixed IP versions: {', '.join(ips)}")
    network = ipaddress.ip_network(addresses[0])
    while not all(a in network for a in addresses):
        network = network.supernet()
    return str(network)


def _everything(ips: Sequence[str]) -> str:
    return "0.0.0.0/0" if ipaddress.ip_address(ips[0]).version == 4 else "::/0"


BASELINE: Final = Scenario(
    "no-policy",
    "no NetworkPolicy: every pod reaches every pod (the canary's own sanity check)",
    lambda ips: (),
)
SCENARIOS: Final[tuple[Scenario, ...]] = (
    BASELINE,
    Scenario(
        "deny-all-ingress-x",
        "x denies all ingress: nothing reaches x, everything else is untouched",
        lambda ips: (network_policy("x", "deny-all-ingress", {}, ["Ingress"]),),
    ),
    Scenario(
        "allow-ingress-x-from-namespace-y",
        "x isolated for ingress, allowed only from namespace y",
        lambda ips: (
            network_policy("x", "allow-from-y", {}, ["Ingress"], ingress=[{"from": [_namespace("y")]}]),
        ),
    ),
    Scenario(
        "allow-ingress-x-a-from-y-b-on-80",
        "x/a admits only pod b of namespace y (one peer: namespace AND pod selector), on the named port 80",
        lambda ips: (
            network_policy(
                "x",
                "allow-y-b-to-a",
                {POD_LABEL: "a"},
                ["Ingress"],
                ingress=[
                    {
                        "from": [{**_namespace("y"), "podSelector": _selector({POD_LABEL: "b"})}],
                        "ports": [{"protocol": "TCP", "port": port_name(80, "TCP")}],
                    }
                ],
            ),
        ),
    ),
    Scenario(
        "deny-egress-y-except-z-on-81",
        "y denies all egress except to namespace z on port 81",
        lambda ips: (
            network_policy(
                "y",
                "egress-only-z-81",
                {},
                ["Egress"],
                egress=[{"to": [_namespace("z")], "ports": [{"protocol": "TCP", "port": 81}]}],
            ),
        ),
    ),
    Scenario(
        "ipblock-except-z",
        "z admits namespace x, and an ipBlock of every address except the canary pods' network: no other "
        "pod gets in (whether ipBlock matches pod IPs at all is left to the implementation; its except "
        "must hold)",
        lambda ips: (
            network_policy(
                "z",
                "ipblock-except-pods",
                {},
                ["Ingress"],
                ingress=[
                    {
                        "from": [
                            {"ipBlock": {"cidr": _everything(ips), "except": [covering_network(ips)]}},
                            _namespace("x"),
                        ]
                    }
                ],
            ),
        ),
    ),
)
