"""What NetworkPolicy decides about: namespaces, pods, their ports, and external IPs."""

from __future__ import annotations

import ipaddress
from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Final, Literal, TypeAlias, final

Protocol = Literal["TCP", "UDP", "SCTP"]
PROTOCOLS: Final[tuple[Protocol, ...]] = ("TCP", "UDP", "SCTP")

IPAddress: TypeAlias = ipaddress.IPv4Address | ipaddress.IPv6Address

#: Label the API server sets on every namespace (immutable, equal to the namespace name).
NAMESPACE_NAME_LABEL: Final = "kubernetes.io/metadata.name"


def check_protocol(value: str) -> Protocol:
    """Return `value` as a Protocol, or raise ValueError naming the accepted ones."""
    for protocol in PROTOCOLS:
        if value == protocol:
            return protocol
    raise ValueError(f"protocol must be one of {', '.join(PROTOCOLS)}, not {value!r}")


def check_port(value: int, what: str = "port") -> int:
    """Return `value` if it is a port number (1-65535), else raise ValueError naming `what`."""
    if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= 65535:
        raise ValueError(f"{what} must be an integer in 1-65535, not {value!r}")
    return value


def _frozen_labels(labels: Mapping[str, str]) -> Mapping[str, str]:
    return MappingProxyType(dict(labels))


@final
@dataclass(frozen=True)
class Namespace:
    """A namespace as NetworkPolicy sees it: a name and labels."""

    name: str
    labels: Mapping[str, str] = field(default_factory=dict, hash=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "labels", _frozen_labels(self.labels))

    @property
    def selector_labels(self) -> Mapping[str, str]:
        """Labels a namespaceSelector is matched against, including the API server's name label."""
        return {**self.labels, NAMESPACE_NAME_LABEL: self.name}


@final
@dataclass(frozen=True)
class ContainerPort:
    """One declared container port; `name` is what named ports in policies refer to."""

    port: int
    protocol: Protocol = "TCP"
    name: str | None = None

    def __post_init__(self) -> None:
        check_port(self.port)
        check_protocol(self.protocol)


@final
@dataclass(frozen=True)
class Pod:
    """A pod as NetworkPolicy sees it: namespace, name, labels, IP and declared container ports."""

    namespace: Namespace
    name: str
    ip: str
    labels: Mapping[str, str] = field(default_factory=dict, hash=False)
    ports: tuple[ContainerPort, ...] = field(default=(), hash=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "labels", _frozen_labels(self.labels))
        object.__setattr__(self, "ports", tuple(self.ports))
        ipaddress.ip_address(self.ip)

    @property
    def key(self) -> str:
        """Row/column header in truth tables: ``namespace/name``."""
        return f"{self.namespace.name}/{self.name}"

    @property
    def address(self) -> IPAddress:
        """The pod IP as an address object."""
        return ipaddress.ip_address(self.ip)

    def named_port(self, name: str, protocol: Protocol) -> int | None:
        """Number of the container port called `name` with `protocol`, or None if there is none."""
        for declared in self.ports:
            if declared.name == name and declared.protocol == protocol:
                return declared.port
        return None


@final
@dataclass(frozen=True)
class ExternalIP:
    """An address outside the cluster's pods: only ipBlock peers can match it."""

    ip: str

    def __post_init__(self) -> None:
        ipaddress.ip_address(self.ip)

    @property
    def key(self) -> str:
        """Row/column header in truth tables: the address itself."""
        return str(self.address)

    @property
    def address(self) -> IPAddress:
        """The IP as an address object."""
        return ipaddress.ip_address(self.ip)


Endpoint: TypeAlias = Pod | ExternalIP
