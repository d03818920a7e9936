"""Cluster providers behind one interface, and the check that a cluster answers before any test runs."""

from __future__ import annotations

import importlib
from collections.abc import Callable, Mapping
from pathlib import Path
from types import ModuleType
from typing import TYPE_CHECKING, cast, final

from pytest_k8sharden.clusters.base import Cluster as Cluster
from pytest_k8sharden.clusters.base import (
    ClusterAccess,
    ClusterProvider,
    ClusterUnavailable,
    ControlPlaneView,
    Node,
)
from pytest_k8sharden.clusters.existing import ExistingProvider
from pytest_k8sharden.kube import KubeError, KubeForbidden, KubeUnauthorized, connect

if TYPE_CHECKING:
    from kubernetes.client import V1Node

    from pytest_k8sharden.kube import Kube
    from pytest_k8sharden.settings import Settings

__all__ = [
    "Cluster",
    "ClusterAccess",
    "ClusterProvider",
    "ClusterUnavailable",
    "SharedCluster",
    "make_provider",
    "open_cluster",
    "share",
]

LOCAL_PROVIDER_MODULE = "pytest_k8sharden.clusters.local.provider"


def _local_provider_module() -> ModuleType:
    try:
        return importlib.import_module(LOCAL_PROVIDER_MODULE)
    except ImportError as exc:
        raise ClusterUnavailable(
            f"the local cluster provider is not available in this installation ({exc})"
        ) from None


def make_provider(settings: Settings, progress: Callable[[str], None]) -> ClusterProvider:
    """The provider the options ask for. Raises ClusterUnavailable when it is not available."""
    if settings.cluster == "existing":
        return ExistingProvider(settings.kubeconfig, settings.context)
    if settings.cluster == "kind":
        from pytest_k8sharden.clusters.kind.provider import KindProvider

        return KindProvider(
            profile=settings.profile or "hardened",
            keep=settings.keep_cluster,
            progress=progress,
            load_probe_image=settings.probe_image is None,
        )
    module = _local_provider_module()
    profile = settings.profile or "hardened"
    provider = module.LocalProvider(
        profile=profile, name=module.cluster_name(profile), keep=settings.keep_cluster, progress=progress
    )
    return cast("ClusterProvider", provider)


def share(access: ClusterAccess) -> dict[str, str | None]:
    """What another process on this machine needs to reach the cluster `access` describes, as plain strings
    (pytest-xdist hands it to its workers)."""
    return {
        "provider": access.provider,
        "profile": access.profile,
        "kubeconfig": None if access.kubeconfig is None else str(access.kubeconfig),
        "context": access.context,
        "probe_image": access.probe_image,
        "ingress_ca": None if access.ingress_ca is None else str(access.ingress_ca),
    }


@final
class SharedCluster:
    """The provider of a process using a cluster that another process acquires and releases (xdist worker)."""

    def __init__(self, shared: Mapping[str, str | None]) -> None:
        self.shared = shared
        """What `share` said about the cluster."""

    def acquire(self) -> ClusterAccess:
        """The cluster as `share` described it; the local cluster's control-plane view is rebuilt here."""
        provider, profile = str(self.shared["provider"]), self.shared["profile"]
        kubeconfig, ingress_ca = self.shared["kubeconfig"], self.shared["ingress_ca"]
        view: ControlPlaneView | None = None
        if provider == "local" and profile is not None:
            view = cast("ControlPlaneView", _local_provider_module().control_plane(profile))
        return ClusterAccess(
            provider, profile, None if kubeconfig is None else Path(kubeconfig), self.shared["context"],
            self.shared["probe_image"], view, None if ingress_ca is None else Path(ingress_ca),
        )  # fmt: skip

    def release(self) -> None:
        """Nothing: the process that acquired the cluster gives it back."""


def _nodes(kube: Kube) -> tuple[Node, ...] | None:
    try:
        items = kube.core.list_node().items or []
    except KubeForbidden:
        return None
    return tuple(_node(item) for item in items)


def _node(item: V1Node) -> Node:
    name = item.metadata.name if item.metadata else None
    status = item.status
    addresses = tuple((a.type, a.address) for a in (status.addresses if status and status.addresses else []))
    info = status.node_info if status else None
    return Node(str(name), addresses, info.kubelet_version if info else "unknown")


def _version(kube: Kube) -> str:
    try:
        return kube.server_version()
    except KubeForbidden:
        return "unknown"


def open_cluster(access: ClusterAccess) -> tuple[Cluster, Kube]:
    """Build the clients and check that the server answers and who the scanner is.

    Every way this can fail (bad kubeconfig, unreachable, untrusted or expired certificate, rejected
    credentials) raises ClusterUnavailable with one line naming the problem.
    """
    try:
        kube = connect(access)
    except KubeError as exc:
        raise ClusterUnavailable(str(exc)) from None
    try:
        identity = kube.whoami()
        cluster = Cluster(access, kube.server, _version(kube), identity, _nodes(kube))
    except KubeUnauthorized as exc:
        kube.close()
        raise ClusterUnavailable(
            f"API server {kube.server} rejected the scanner's credentials ({exc.status} {exc.reason})"
        ) from None
    except KubeError as exc:
        kube.close()
        raise ClusterUnavailable(str(exc)) from None
    return cluster, kube
