"""Upstream-style probe topology: every namespace holds the same pods, each serving the same ports."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Final, final

from pytest_k8sharden.netpol.model import (
    ContainerPort,
    Namespace,
    Pod,
    Protocol,
    check_port,
    check_protocol,
)

#: Label every topology pod carries, with its name as value (``pod: a``), as upstream does.
POD_LABEL: Final = "pod"


def port_name(port: int, protocol: Protocol) -> str:
    """Predictable container port name, e.g. ``serve-80-tcp``."""
    return f"serve-{port}-{protocol.lower()}"


@final
@dataclass(frozen=True)
class Topology:
    """Namespaces x pod names x served ports; names and labels are derived predictably.

    Namespaces are matched by the API server's ``kubernetes.io/metadata.name`` label, pods by
    ``pod: <name>``; each served port is a container port named by `port_name`.
    """

    namespaces: tuple[str, ...] = ("x", "y", "z")
    pod_names: tuple[str, ...] = ("a", "b", "c")
    served: tuple[tuple[int, Protocol], ...] = ((80, "TCP"), (81, "TCP"))

    def __post_init__(self) -> None:
        for port, protocol in self.served:
            check_port(port)
            check_protocol(protocol)

    @property
    def keys(self) -> tuple[str, ...]:
        """Every pod as ``namespace/name``, namespace-major, in declaration order."""
        return tuple(f"{ns}/{name}" for ns in self.namespaces for name in self.pod_names)

    @property
    def container_ports(self) -> tuple[ContainerPort, ...]:
        """The named container ports every pod declares."""
        return tuple(ContainerPort(port, proto, port_name(port, proto)) for port, proto in self.served)

    def pods(
        self,
        ips: Mapping[str, str],
        labels: Mapping[str, Mapping[str, str]] | None = None,
    ) -> tuple[Pod, ...]:
        """The model's pods once they run: `ips` maps every ``ns/name`` to its pod IP.

        `labels` optionally adds namespace labels (by namespace name) to the name label.
        """
        missing = [key for key in self.keys if key not in ips]
        if missing:
            raise ValueError(f"no IP for pods {', '.join(missing)}")
        extra = labels or {}
        namespaces = {ns: Namespace(ns, extra.get(ns, {})) for ns in self.namespaces}
        return tuple(
            Pod(
                namespaces[ns],
                name,
                ips[f"{ns}/{name}"],
                {POD_LABEL: name},
                self.container_ports,
            )
            for ns in self.namespaces
            for name in self.pod_names
        )
