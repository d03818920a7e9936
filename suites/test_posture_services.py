"""Posture suite, exposure by configuration: Services reachable from outside the cluster, and hostPorts.

Services and running pods of the namespaces in scope (all but the exempt ones, kube-system by default, and
the scanner's own) are read from the API. A LoadBalancer must restrict its sources; NodePort Services and
hostPorts pass only when ``--allowed-node-ports`` / ``--allowed-host-ports`` name them (none by default).
"""

from __future__ import annotations

import pytest

from pytest_k8sharden.evidence.recorder import Evidence
from pytest_k8sharden.kube import Kube
from pytest_k8sharden.posture import podsecurity, services
from pytest_k8sharden.posture.objects import PlainObject, conclude_listing, plain_items
from pytest_k8sharden.posture.scope import NamespaceScope, PodScope
from pytest_k8sharden.settings import Settings


@pytest.fixture(scope="module")
def cluster_services(kube: Kube) -> list[PlainObject]:
    """Every Service of the cluster (a partial read makes the checks inconclusive)."""
    return plain_items(kube, kube.core.list_service_for_all_namespaces)


@pytest.mark.control("SERVICE-LOADBALANCER-SOURCE-RANGES")
def test_every_load_balancer_restricts_its_sources(
    cluster_services: list[PlainObject], namespace_scope: NamespaceScope, evidence: Evidence
) -> None:
    flagged, finding = services.services_exposed(
        cluster_services,
        namespace_scope,
        "are LoadBalancers open to every source",
        services.open_load_balancer,
    )
    conclude_listing(evidence, "v1/services", flagged, finding, namespace_scope.details())


@pytest.mark.control("SERVICE-NODEPORT-ALLOWED")
def test_only_allowed_services_open_node_ports(
    cluster_services: list[PlainObject],
    namespace_scope: NamespaceScope,
    k8sharden_settings: Settings,
    evidence: Evidence,
) -> None:
    allowed = k8sharden_settings.allowed_node_ports
    flagged, finding = services.services_exposed(
        cluster_services,
        namespace_scope,
        "are NodePort Services --allowed-node-ports does not name",
        services.unlisted_node_port(allowed),
        allowed,
    )
    conclude_listing(evidence, "v1/services", flagged, finding, namespace_scope.details())


@pytest.mark.control("WORKLOAD-HOST-PORTS")
def test_only_allowed_host_ports_are_bound(
    pods_in_scope: PodScope, k8sharden_settings: Settings, evidence: Evidence
) -> None:
    allowed = k8sharden_settings.allowed_host_ports
    flagged, finding = podsecurity.workload_violations(
        pods_in_scope,
        f"bind hostPorts --allowed-host-ports does not name (allowed: {', '.join(allowed) or 'none'})",
        services.unlisted_host_ports(allowed),
    )
    conclude_listing(evidence, "v1/pods", flagged, finding, pods_in_scope.details())
