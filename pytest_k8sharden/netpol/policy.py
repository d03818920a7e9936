"""A parsed networking.k8s.io/v1 NetworkPolicy, and how each of its parts matches traffic."""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Final, Literal, TypeAlias, final

from pytest_k8sharden.netpol.model import (
    Endpoint,
    ExternalIP,
    IPAddress,
    Pod,
    Protocol,
    check_port,
    check_protocol,
)

Operator = Literal["In", "NotIn", "Exists", "DoesNotExist"]
Direction = Literal["Ingress", "Egress"]
IPNetwork: TypeAlias = ipaddress.IPv4Network | ipaddress.IPv6Network
#: A port name as in a container port: 1-15 of [a-z0-9-], a letter, no edge or double hyphens.
_IANA_SVC_NAME: Final = re.compile(r"^(?=.*[a-z])(?!.*--)[a-z0-9]([a-z0-9-]{0,13}[a-z0-9])?$")


def _strictly_inside(inner: IPNetwork, outer: IPNetwork) -> bool:
    if isinstance(inner, ipaddress.IPv4Network) and isinstance(outer, ipaddress.IPv4Network):
        return inner != outer and inner.subnet_of(outer)
    if isinstance(inner, ipaddress.IPv6Network) and isinstance(outer, ipaddress.IPv6Network):
        return inner != outer and inner.subnet_of(outer)
    return False


@final
@dataclass(frozen=True)
class Requirement:
    """One matchExpressions entry: `key` `operator` `values`."""

    key: str
    operator: Operator
    values: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        if self.operator in ("In", "NotIn") and not self.values:
            raise ValueError(f"values must be non-empty for operator {self.operator}")
        if self.operator in ("Exists", "DoesNotExist") and self.values:
            raise ValueError(f"values must be empty for operator {self.operator}")

    def matches(self, labels: Mapping[str, str]) -> bool:
        """Whether `labels` satisfy this requirement (NotIn and DoesNotExist match absent keys)."""
        present = self.key in labels
        if self.operator == "In":
            return present and labels[self.key] in self.values
        if self.operator == "NotIn":
            return not present or labels[self.key] not in self.values
        if self.operator == "Exists":
            return present
        return not present


@final
@dataclass(frozen=True)
class LabelSelector:
    """matchLabels AND matchExpressions; the empty selector matches everything."""

    match_labels: Mapping[str, str] = field(default_factory=dict, hash=False)
    match_expressions: tuple[Requirement, ...] = ()

    def __post_init__(self) -> None:
        object.__setattr__(self, "match_labels", MappingProxyType(dict(self.match_labels)))

    def matches(self, labels: Mapping[str, str]) -> bool:
        """Whether an object with `labels` is selected."""
        return all(labels.get(key) == value for key, value in self.match_labels.items()) and all(
            requirement.matches(labels) for requirement in self.match_expressions
        )


@final
@dataclass(frozen=True)
class IPBlock:
    """A CIDR minus the `excepts` inside it."""

    cidr: IPNetwork
    excepts: tuple[IPNetwork, ...] = ()

    def __post_init__(self) -> None:
        for excluded in self.excepts:
            if not _strictly_inside(excluded, self.cidr):
                raise ValueError(f"except {excluded} is not a strict subset of cidr {self.cidr}")

    def contains(self, address: IPAddress) -> bool:
        """Whether `address` is in the CIDR and in none of its exceptions."""
        if address.version != self.cidr.version or address not in self.cidr:
            return False
        return not any(address in excluded for excluded in self.excepts)


@final
@dataclass(frozen=True)
class Peer:
    """One entry of `from`/`to`: ipBlock alone, or podSelector and/or namespaceSelector (ANDed)."""

    pod_selector: LabelSelector | None = None
    namespace_selector: LabelSelector | None = None
    ip_block: IPBlock | None = None

    def __post_init__(self) -> None:
        selectors = self.pod_selector is not None or self.namespace_selector is not None
        if self.ip_block is not None and selectors:
            raise ValueError("ipBlock may not be combined with podSelector or namespaceSelector")
        if self.ip_block is None and not selectors:
            raise ValueError("must specify one of podSelector, namespaceSelector, ipBlock")

    def matches(self, endpoint: Endpoint, policy_namespace: str) -> bool:
        """Whether `endpoint` is this peer, for a policy living in `policy_namespace`.

        ipBlock is matched against any address, pod IPs included (the upstream e2e tests expect
        egress to a pod's IP/32 to be allowed by an ipBlock). Selectors never match external IPs.
        """
        if self.ip_block is not None:
            return self.ip_block.contains(endpoint.address)
        if isinstance(endpoint, ExternalIP):
            return False
        if self.namespace_selector is None:
            namespace_ok = endpoint.namespace.name == policy_namespace
        else:
            namespace_ok = self.namespace_selector.matches(endpoint.namespace.selector_labels)
        pod_ok = self.pod_selector is None or self.pod_selector.matches(endpoint.labels)
        return namespace_ok and pod_ok


@final
@dataclass(frozen=True)
class PolicyPort:
    """One entry of `ports`: protocol (default TCP) and a port number, name, range or none."""

    protocol: Protocol = "TCP"
    port: int | str | None = None
    end_port: int | None = None

    def __post_init__(self) -> None:
        check_protocol(self.protocol)
        if isinstance(self.port, str) and not _IANA_SVC_NAME.match(self.port):
            raise ValueError(f"port {self.port!r} is neither a number nor a valid port name")
        if isinstance(self.port, int):
            check_port(self.port)
        if self.end_port is not None:
            check_port(self.end_port, "endPort")
            if not isinstance(self.port, int):
                raise ValueError("endPort requires a numeric port")
            if self.end_port < self.port:
                raise ValueError(f"endPort {self.end_port} is less than port {self.port}")

    def matches(self, port: int, protocol: Protocol, destination: Endpoint) -> bool:
        """Whether traffic to `destination` on `port`/`protocol` is covered.

        A named port is looked up among the destination pod's container ports with the same
        protocol, for ingress and egress alike; it never covers traffic to an external IP.
        """
        if protocol != self.protocol:
            return False
        if self.port is None:
            return True
        if isinstance(self.port, str):
            return isinstance(destination, Pod) and destination.named_port(self.port, protocol) == port
        if self.end_port is None:
            return port == self.port
        return self.port <= port <= self.end_port

    def __str__(self) -> str:
        if self.port is None:
            return f"any/{self.protocol}"
        if self.end_port is None:
            return f"{self.port}/{self.protocol}"
        return f"{self.port}-{self.end_port}/{self.protocol}"


@final
@dataclass(frozen=True)
class Rule:
    """An ingress or egress rule; no peers means every peer, no ports means every port."""

    peers: tuple[Peer, ...] = ()
    ports: tuple[PolicyPort, ...] = ()

    def admits(
        self,
        peer: Endpoint,
        policy_namespace: str,
        port: int,
        protocol: Protocol,
        destination: Endpoint,
    ) -> bool:
        """Whether this rule allows traffic with `peer` at the other end (OR over entries)."""
        peer_ok = not self.peers or any(p.matches(peer, policy_namespace) for p in self.peers)
        return peer_ok and (not self.ports or any(p.matches(port, protocol, destination) for p in self.ports))


@final
@dataclass(frozen=True)
class NetworkPolicy:
    """A NetworkPolicy: which pods of its namespace it selects, and its ingress and egress rules.

    `declared_types` is spec.policyTypes as written; empty means "not specified" and is defaulted
    the way the API server does it (see `policy_types`).
    """

    namespace: str
    name: str
    pod_selector: LabelSelector = field(default_factory=LabelSelector)
    ingress: tuple[Rule, ...] = ()
    egress: tuple[Rule, ...] = ()
    declared_types: tuple[Direction, ...] = ()

    @property
    def key(self) -> str:
        """``namespace/name``."""
        return f"{self.namespace}/{self.name}"

    @property
    def policy_types(self) -> frozenset[Direction]:
        """Directions isolated: as declared, else Ingress, plus Egress if it has egress rules."""
        if self.declared_types:
            return frozenset(self.declared_types)
        return frozenset(("Ingress", "Egress") if self.egress else ("Ingress",))

    def selects(self, pod: Pod) -> bool:
        """Whether `pod` is one this policy applies to (same namespace, podSelector matches)."""
        return pod.namespace.name == self.namespace and self.pod_selector.matches(pod.labels)

    def rules(self, direction: Direction) -> tuple[Rule, ...]:
        """The rules of one direction (empty if the policy does not isolate that direction)."""
        if direction not in self.policy_types:
            return ()
        return self.ingress if direction == "Ingress" else self.egress
