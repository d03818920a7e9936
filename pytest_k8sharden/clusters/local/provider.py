"""The ``--cluster=local`` provider: the embedded real cluster for a pytest session."""

from __future__ import annotations

from collections.abc import Callable
from typing import final

from pytest_k8sharden.clusters.base import ClusterAccess
from pytest_k8sharden.clusters.local import ingress
from pytest_k8sharden.clusters.local.controlplane import LocalControlPlane
from pytest_k8sharden.clusters.local.images import PROBE_IMAGE
from pytest_k8sharden.clusters.local.lifecycle import LocalCluster
from pytest_k8sharden.clusters.local.state import ClusterState, cluster_name

__all__ = ["LocalProvider", "cluster_name", "control_plane"]


@final
class LocalProvider:
    """Brings the local cluster up for the session (reusing a kept one) and down afterwards unless kept."""

    def __init__(self, profile: str, name: str, keep: bool, progress: Callable[[str], None]) -> None:
        self.profile = profile
        self.keep = keep
        self.cluster = LocalCluster(name, progress)

    def acquire(self) -> ClusterAccess:
        """Bring the cluster up (idempotent) and say how to reach it."""
        kubeconfig = self.cluster.up(self.profile)
        return ClusterAccess(
            provider="local",
            profile=self.profile,
            kubeconfig=kubeconfig,
            context=None,
            probe_image=PROBE_IMAGE,
            control_plane=LocalControlPlane(self.cluster.state),
            ingress_ca=ingress.ca_path(self.cluster.state),
        )

    def release(self) -> None:
        """Take the cluster down, unless --keep-cluster asked to leave it for the next run."""
        if self.keep:
            self.cluster.progress(
                f"keeping cluster {self.cluster.name} (--keep-cluster); `k8sharden local down "
                f"--name {self.cluster.name}` removes it"
            )
            return
        self.cluster.down()


def control_plane(profile: str) -> LocalControlPlane:
    """The control-plane view of `profile`'s running cluster, for a process that did not bring it up."""
    return LocalControlPlane(ClusterState.for_name(cluster_name(profile)))
