"""Ingress and Gateway TLS suite: every published host, proven on the wire with SNI set to the host.

Hosts come from Ingress rules and Gateway listeners, the controller's address from their status (or
--ingress-address). Certificates are verified against --ingress-ca (the local cluster's ingress CA with
--cluster=local, else the system roots); the served certificate is compared with the referenced Secret.
"""

from __future__ import annotations

import datetime
from collections.abc import Callable
from pathlib import Path

import pytest

from pytest_k8sharden import exposure, ingress
from pytest_k8sharden.evidence.observation import Observation
from pytest_k8sharden.evidence.recorder import Evidence
from pytest_k8sharden.evidence.verdict import Finding, Outcome
from pytest_k8sharden.ingress import TlsTarget
from pytest_k8sharden.kube import Kube, KubeForbidden, KubeNotFound
from pytest_k8sharden.probes.handshake import CertificateFacts, HandshakeProbe
from pytest_k8sharden.probes.http import HttpObservation, HttpProbe, pinned_connector
from pytest_k8sharden.settings import Settings

Judge = Callable[[TlsTarget, str], Finding]
"""Probes one target at its address and returns that host's finding."""


def _per_host(targets: list[TlsTarget], what: str, judge: Judge, tls_only: bool = True) -> Finding:
    """Judge every (TLS) target at its address; a host without a known address could not be looked at."""
    findings: dict[str, Finding] = {}
    for target in (t for t in targets if t.tls or not tls_only):
        if target.address is None:
            findings[target.host] = Finding(
                Outcome.INCONCLUSIVE,
                f"{target.url}: no address in {target.source}'s status; give --ingress-address",
            )
        else:
            findings[target.host] = judge(target, target.address)
    return ingress.combine(findings, what)


def _http(target: TlsTarget, address: str, settings: Settings) -> HttpProbe:
    ports = {80: target.http_port, 443: target.https_port}
    return HttpProbe(
        settings.probe_timeout, connector=pinned_connector(address, ports, settings.probe_timeout)
    )


def _certificate(
    probe: HandshakeProbe, evidence: Evidence, target: TlsTarget, address: str
) -> CertificateFacts | None:
    seen, facts = probe.serving_certificate(address, target.https_port, server_name=target.host)
    evidence.record(seen)
    return facts


@pytest.mark.control("INGRESS-TLS-CONFIGURED")
def test_every_ingress_host_has_tls_configured(ingress_targets: list[TlsTarget], evidence: Evidence) -> None:
    for target in ingress_targets:
        summary = f"{target.source}: host {target.host}, " + (
            f"TLS Secret {'/'.join(target.secret)}" if target.secret else "TLS" if target.tls else "no TLS"
        )
        evidence.record(
            Observation("object", summary, "runner", target.source, {"host": target.host, "tls": target.tls})
        )
    evidence.conclude(ingress.tls_configured(ingress_targets))


@pytest.mark.control("INGRESS-HTTP-REDIRECT")
def test_plain_http_is_refused_or_redirected_to_https(
    ingress_targets: list[TlsTarget], evidence: Evidence, k8sharden_settings: Settings
) -> None:
    def judge(target: TlsTarget, address: str) -> Finding:
        seen = evidence.record(_http(target, address, k8sharden_settings).get(f"http://{target.host}/"))
        return ingress.plain_http(target, seen)

    evidence.conclude(_per_host(ingress_targets, "plain HTTP", judge, tls_only=False))


@pytest.mark.control("INGRESS-CERT-VALID")
def test_served_certificate_verifies_and_names_the_host(
    ingress_targets: list[TlsTarget],
    evidence: Evidence,
    handshake_probe: HandshakeProbe,
    ingress_trust: Path | None,
) -> None:
    def judge(target: TlsTarget, address: str) -> Finding:
        reachable = _certificate(handshake_probe, evidence, target, address) is not None
        verified = handshake_probe.verify(
            address, target.https_port, server_name=target.host, ca=ingress_trust
        )
        return ingress.certificate_verified(target, evidence.record(verified), reachable)

    evidence.conclude(_per_host(ingress_targets, "certificate verification", judge))


@pytest.mark.control("INGRESS-CERT-EXPIRY")
def test_served_certificate_does_not_expire_soon(
    ingress_targets: list[TlsTarget],
    evidence: Evidence,
    handshake_probe: HandshakeProbe,
    k8sharden_settings: Settings,
) -> None:
    now = datetime.datetime.now(datetime.UTC)

    def judge(target: TlsTarget, address: str) -> Finding:
        facts = _certificate(handshake_probe, evidence, target, address)
        return ingress.certificate_expiry(target, facts, now, k8sharden_settings.ingress_cert_days)

    evidence.conclude(_per_host(ingress_targets, "certificate expiry", judge))


@pytest.mark.control("INGRESS-CERT-STRENGTH")
def test_served_certificate_has_a_strong_key_and_signature(
    ingress_targets: list[TlsTarget], evidence: Evidence, handshake_probe: HandshakeProbe
) -> None:
    def judge(target: TlsTarget, address: str) -> Finding:
        return ingress.certificate_strength(target, _certificate(handshake_probe, evidence, target, address))

    evidence.conclude(_per_host(ingress_targets, "certificate strength", judge))


def _secret_sha256(kube: Kube, target: TlsTarget) -> tuple[str | None, str]:
    """The fingerprint of the referenced Secret's certificate and how reading it went (never its key)."""
    if target.secret is None:
        return None, "none"
    namespace, name = target.secret
    try:
        secret = kube.core.read_namespaced_secret(name, namespace)
    except KubeNotFound:
        return None, "missing"
    except KubeForbidden:
        return None, "forbidden"
    return ingress.secret_certificate_sha256(secret.data), "read"


@pytest.mark.control("INGRESS-CERT-MATCHES-SECRET")
def test_served_certificate_is_the_one_in_the_referenced_secret(
    ingress_targets: list[TlsTarget], evidence: Evidence, handshake_probe: HandshakeProbe, kube: Kube
) -> None:
    def judge(target: TlsTarget, address: str) -> Finding:
        facts = _certificate(handshake_probe, evidence, target, address)
        sha256, state = _secret_sha256(kube, target)
        ref = "/".join(target.secret or ("-", "-"))
        evidence.record(
            Observation(
                "object",
                f"Secret {ref}: {state}, tls.crt sha256 {sha256}",
                "runner",
                f"Secret/{ref}",
                {"sha256": sha256},
            )
        )
        return ingress.certificate_matches_secret(target, facts, sha256, state)

    evidence.conclude(_per_host(ingress_targets, "served certificate vs Secret", judge))


@pytest.mark.control("INGRESS-TLS-PROTOCOL")
def test_ingress_refuses_tls_1_0_and_1_1(
    ingress_targets: list[TlsTarget], evidence: Evidence, handshake_probe: HandshakeProbe
) -> None:
    def judge(target: TlsTarget, address: str) -> Finding:
        seen = handshake_probe.protocols(address, target.https_port, server_name=target.host)
        return exposure.tls_protocols([evidence.record(o) for o in seen], target.url)

    evidence.conclude(_per_host(ingress_targets, "TLS protocol versions", judge))


@pytest.mark.control("INGRESS-TLS-CIPHERS")
def test_ingress_accepts_no_weak_cipher_suites(
    ingress_targets: list[TlsTarget], evidence: Evidence, handshake_probe: HandshakeProbe
) -> None:
    def judge(target: TlsTarget, address: str) -> Finding:
        seen = handshake_probe.cipher_suites(address, target.https_port, server_name=target.host)
        for accepted in (o for o in seen if o.accepted):
            evidence.record(accepted)
        return exposure.tls_cipher_suites(seen, target.url)

    evidence.conclude(_per_host(ingress_targets, "TLS cipher suites", judge))


@pytest.mark.control("INGRESS-HSTS")
def test_ingress_sends_hsts_for_at_least_a_year(
    ingress_targets: list[TlsTarget], evidence: Evidence, k8sharden_settings: Settings
) -> None:
    def judge(target: TlsTarget, address: str) -> Finding:
        seen: HttpObservation = evidence.record(
            _http(target, address, k8sharden_settings).get(f"{target.url}/")
        )
        return ingress.hsts(target, seen)

    evidence.conclude(_per_host(ingress_targets, "HSTS", judge))
