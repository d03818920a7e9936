"""How a cluster is obtained: the provider interface and what a test learns about the cluster."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Protocol, final

from pytest_k8sharden.access import ClusterAccess, ControlPlaneView

if TYPE_CHECKING:
    from pytest_k8sharden.kube import Identity

__all__ = ["Cluster", "ClusterAccess", "ClusterProvider", "ClusterUnavailable", "ControlPlaneView", "Node"]


class ClusterUnavailable(Exception):
    """The cluster cannot be used; the message is the one line the user sees."""


class ClusterProvider(Protocol):
    """Obtains a cluster for a session and gives it back afterwards."""

    def acquire(self) -> ClusterAccess:
        """Make the cluster ready (create or reuse it) and say how to reach it."""
        ...

    def release(self) -> None:
        """Give the cluster back; a provider honours --keep-cluster itself."""
        ...


@final
@dataclass(frozen=True)
class Node:
    """A node as the API server reports it."""

    name: str
    addresses: tuple[tuple[str, str], ...]
    """(type, address) pairs from status.addresses, e.g. ("InternalIP", "10.0.0.5")."""
    kubelet_version: str

    @property
    def address(self) -> str | None:
        """The InternalIP, else the first address, else None."""
        for kind, address in self.addresses:
            if kind == "InternalIP":
                return address
        return self.addresses[0][1] if self.addresses else None


@final
@dataclass(frozen=True)
class Cluster:
    """The cluster under test, as the session-scoped `cluster` fixture hands it to checks."""

    access: ClusterAccess
    server: str
    """The API server URL."""
    version: str
    """The API server's gitVersion, or "unknown" when /version is refused."""
    identity: Identity
    """Who the scanner is, from a SelfSubjectReview."""
    nodes: tuple[Node, ...] | None
    """The nodes; None when the scanner may not list them."""

    @property
    def provider(self) -> str:
        """existing, kind or local."""
        return self.access.provider

    @property
    def profile(self) -> str | None:
        """hardened, default or insecure for kind and local; None for existing clusters."""
        return self.access.profile
