"""Live local clusters of the integration tests (see the ``local_cluster`` fixture in conftest.py)."""

from __future__ import annotations

from dataclasses import dataclass

from pytest_k8sharden.clusters.local.lifecycle import LocalCluster
from pytest_k8sharden.clusters.local.network import Addresses
from pytest_k8sharden.kube import Kube


@dataclass(frozen=True)
class Running:
    """A local cluster under test and the clients to reach it."""

    cluster: LocalCluster
    profile: str
    kube: Kube
    addresses: Addresses
