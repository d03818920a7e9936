"""Exposure suite, etcd, kube-controller-manager and kube-scheduler on the control-plane addresses.

The control-plane addresses are the API server's host, its endpoints and the control-plane nodes. On a
managed cluster where none of them answers, these checks are inconclusive with the reason.
"""

from __future__ import annotations

import pytest

from pytest_k8sharden import exposure
from pytest_k8sharden.evidence.recorder import Evidence
from pytest_k8sharden.fixtures import Knocker
from pytest_k8sharden.probes.http import HttpObservation


def _etcd(
    knock: Knocker, addresses: list[str], port: int, path: str
) -> tuple[list[HttpObservation], list[HttpObservation]]:
    plaintext = [o for a in addresses for o in knock.get(f"http://{a}:{port}{path}")]
    tls = [o for a in addresses for o in knock.get(f"https://{a}:{port}{path}")]
    return plaintext, tls


@pytest.mark.severity("critical")
@pytest.mark.control("ETCD-CLIENT-CERT")
def test_etcd_client_port_requires_client_certificates(
    knock: Knocker, evidence: Evidence, control_plane_addresses: list[str]
) -> None:
    plaintext, tls = _etcd(knock, control_plane_addresses, 2379, "/version")
    evidence.conclude(exposure.tls_client_certificate_required(plaintext, tls, "etcd (2379)"))


@pytest.mark.severity("critical")
@pytest.mark.control("ETCD-NO-PLAINTEXT")
def test_etcd_answers_no_plaintext_request(
    knock: Knocker, evidence: Evidence, control_plane_addresses: list[str]
) -> None:
    seen = [
        o for a in control_plane_addresses for p in (2379, 2380) for o in knock.get(f"http://{a}:{p}/version")
    ]
    evidence.conclude(exposure.plaintext_refused(seen, "etcd"))


@pytest.mark.severity("high")
@pytest.mark.control("ETCD-PEER-CERT")
def test_etcd_peer_port_requires_client_certificates(
    knock: Knocker, evidence: Evidence, control_plane_addresses: list[str]
) -> None:
    plaintext, tls = _etcd(knock, control_plane_addresses, 2380, "/members")
    evidence.conclude(exposure.tls_client_certificate_required(plaintext, tls, "etcd peer port (2380)"))


@pytest.mark.severity("medium")
@pytest.mark.control("CONTROLLER-MANAGER-ANON")
def test_controller_manager_refuses_anonymous_metrics_and_configz(
    knock: Knocker, evidence: Evidence, control_plane_addresses: list[str]
) -> None:
    seen = [
        o
        for a in control_plane_addresses
        for p in ("/metrics", "/configz")
        for o in knock.get(f"https://{a}:10257{p}")
    ]
    evidence.conclude(exposure.must_refuse(seen, "kube-controller-manager (10257)", closed_is_refusal=True))


@pytest.mark.severity("medium")
@pytest.mark.control("SCHEDULER-ANON")
def test_scheduler_refuses_anonymous_metrics_and_configz(
    knock: Knocker, evidence: Evidence, control_plane_addresses: list[str]
) -> None:
    seen = [
        o
        for a in control_plane_addresses
        for p in ("/metrics", "/configz")
        for o in knock.get(f"https://{a}:10259{p}")
    ]
    evidence.conclude(exposure.must_refuse(seen, "kube-scheduler (10259)", closed_is_refusal=True))


@pytest.mark.severity("high")
@pytest.mark.control("CONTROL-PLANE-INSECURE-PORTS")
def test_legacy_insecure_control_plane_ports_are_closed(
    knock: Knocker, evidence: Evidence, control_plane_addresses: list[str]
) -> None:
    seen = [
        o
        for a in control_plane_addresses
        for p in (10251, 10252)
        for o in knock.get(f"http://{a}:{p}/healthz")
    ]
    evidence.conclude(exposure.must_be_closed(seen, "the legacy ports 10251/10252"))
