"""Posture suite, dashboards and GUIs (seed: minimize use of, and access to, GUI elements).

A dashboard-like Deployment is found by name, labels, image or login-bypass arguments; it must not be
exposed outside the cluster, must not run with skip-login or insecure login, and must not answer an
unauthenticated request with data (knocked on from the runner and from the attacker pod).
"""

from __future__ import annotations

from dataclasses import dataclass

import pytest

from pytest_k8sharden import exposure
from pytest_k8sharden.evidence.recorder import Evidence
from pytest_k8sharden.evidence.verdict import Finding, Outcome
from pytest_k8sharden.kube import Kube
from pytest_k8sharden.posture import dashboard
from pytest_k8sharden.posture.objects import PlainObject, conclude_listing, object_observation, plain_items
from pytest_k8sharden.posture.scope import Examined
from pytest_k8sharden.vantage import Knocker

DATA_PATHS = ("/api/v1/namespace", "/api/v1/secret/default")
"""Kubernetes Dashboard API paths that list cluster data."""
TLS_PORTS = frozenset({443, 8443})


@dataclass(frozen=True)
class Guis:
    """The dashboard-like Deployments of the cluster and what was searched to find them."""

    found: list[dashboard.Gui]
    searched: Examined


@pytest.fixture(scope="module")
def guis(kube: Kube) -> Guis:
    """The dashboard-like Deployments of the cluster."""
    deployments = plain_items(kube, kube.apps.list_deployment_for_all_namespaces)
    found = dashboard.find_guis(deployments)
    return Guis(found, dashboard.examined(found, len(deployments)))


@pytest.fixture(scope="module")
def services(kube: Kube) -> list[PlainObject]:
    """Every Service as a plain API dict."""
    return plain_items(kube, kube.core.list_service_for_all_namespaces)


def _conclude(evidence: Evidence, guis: Guis, flagged: list[str], finding: Finding) -> None:
    for gui in guis.found:
        evidence.record(
            object_observation(gui.name, f"dashboard-like: {gui.name}", {"arguments": gui.arguments})
        )
    conclude_listing(evidence, "apps/v1/deployments", flagged, finding)


@pytest.mark.control("DASHBOARD-EXPOSED")
def test_no_dashboard_is_exposed_outside_the_cluster(
    kube: Kube, guis: Guis, services: list[PlainObject], evidence: Evidence
) -> None:
    ingresses = plain_items(kube, kube.networking.list_ingress_for_all_namespaces)
    _conclude(evidence, guis, *dashboard.exposure(guis.found, services, ingresses, guis.searched))


@pytest.mark.control("DASHBOARD-SKIP-LOGIN")
def test_no_dashboard_lets_users_skip_login(guis: Guis, evidence: Evidence) -> None:
    _conclude(evidence, guis, *dashboard.login_bypass(guis.found, guis.searched))


@pytest.mark.active
@pytest.mark.control("DASHBOARD-ANONYMOUS-DATA")
def test_no_dashboard_returns_data_without_authentication(
    guis: Guis, services: list[PlainObject], knock: Knocker, evidence: Evidence
) -> None:
    urls = []
    for gui in guis.found:
        for service in dashboard.services_of(gui, services):
            spec = service.get("spec") or {}
            for port in (p.get("port") for p in spec.get("ports") or ()):
                scheme = "https" if port in TLS_PORTS else "http"
                urls += [f"{scheme}://{spec.get('clusterIP')}:{port}{path}" for path in DATA_PATHS]
    if not urls:
        evidence.record(object_observation("apps/v1/deployments", f"{guis.searched}; none has a Service"))
        evidence.conclude(
            Finding(Outcome.PASSED, f"no dashboard-like Service to ask: {guis.searched}, none with a Service")
        )
        return
    seen = knock.get_all(urls)
    evidence.conclude(exposure.must_refuse(seen, "the dashboard", closed_is_refusal=True))
