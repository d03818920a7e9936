"""Exposure suite, etcd, kube-controller-manager and kube-scheduler on the control-plane addresses.

The control-plane addresses are the API server's host, its endpoints and the control-plane nodes. On a
managed cluster where none of them answers, these checks are inconclusive with the reason.
"""

from __future__ import annotations

import pytest

from pytest_k8sharden import exposure
from pytest_k8sharden.evidence.recorder import Evidence
from pytest_k8sharden.vantage import Knocker


def _urls(addresses: list[str], scheme: str, ports: tuple[int, ...], paths: tuple[str, ...]) -> list[str]:
    return [f"{scheme}://{a}:{port}{path}" for a in addresses for port in ports for path in paths]


@pytest.mark.control("ETCD-CLIENT-CERT")
def test_etcd_client_port_requires_client_certificates(
    knock: Knocker, evidence: Evidence, control_plane_addresses: list[str]
) -> None:
    plaintext = knock.get_all(_urls(control_plane_addresses, "http", (2379,), ("/version",)))
    tls = knock.get_all(_urls(control_plane_addresses, "https", (2379,), ("/version",)))
    evidence.conclude(exposure.tls_client_certificate_required(plaintext, tls, "etcd (2379)"))


@pytest.mark.control("ETCD-NO-PLAINTEXT")
def test_etcd_answers_no_plaintext_request(
    knock: Knocker, evidence: Evidence, control_plane_addresses: list[str]
) -> None:
    seen = knock.get_all(_urls(control_plane_addresses, "http", (2379, 2380), ("/version",)))
    evidence.conclude(exposure.plaintext_refused(seen, "etcd"))


@pytest.mark.control("ETCD-PEER-CERT")
def test_etcd_peer_port_requires_client_certificates(
    knock: Knocker, evidence: Evidence, control_plane_addresses: list[str]
) -> None:
    plaintext = knock.get_all(_urls(control_plane_addresses, "http", (2380,), ("/members",)))
    tls = knock.get_all(_urls(control_plane_addresses, "https", (2380,), ("/members",)))
    evidence.conclude(exposure.tls_client_certificate_required(plaintext, tls, "etcd peer port (2380)"))


def _refuses_anonymous_metrics_and_configz(
    knock: Knocker, evidence: Evidence, addresses: list[str], component: str, port: int
) -> None:
    seen = knock.get_all(_urls(addresses, "https", (port,), ("/metrics", "/configz")))
    evidence.conclude(exposure.must_refuse(seen, f"{component} ({port})", closed_is_refusal=True))


@pytest.mark.control("CONTROLLER-MANAGER-ANON")
def test_controller_manager_refuses_anonymous_metrics_and_configz(
    knock: Knocker, evidence: Evidence, control_plane_addresses: list[str]
) -> None:
    _refuses_anonymous_metrics_and_configz(
        knock, evidence, control_plane_addresses, "kube-controller-manager", 10257
    )


@pytest.mark.control("SCHEDULER-ANON")
def test_scheduler_refuses_anonymous_metrics_and_configz(
    knock: Knocker, evidence: Evidence, control_plane_addresses: list[str]
) -> None:
    _refuses_anonymous_metrics_and_configz(knock, evidence, control_plane_addresses, "kube-scheduler", 10259)


@pytest.mark.control("CONTROL-PLANE-INSECURE-PORTS")
def test_legacy_insecure_control_plane_ports_are_closed(
    knock: Knocker, evidence: Evidence, control_plane_addresses: list[str]
) -> None:
    seen = knock.get_all(_urls(control_plane_addresses, "http", (10251, 10252), ("/healthz",)))
    evidence.conclude(exposure.must_be_closed(seen, "the legacy ports 10251/10252"))
