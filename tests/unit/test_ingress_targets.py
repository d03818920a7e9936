"""Ingress/Gateway targets from API objects, the plain-HTTP and Secret verdicts, options, and the local
cluster's Traefik configuration rendered from the profiles."""

from __future__ import annotations

import base64
import datetime
from pathlib import Path
from typing import Any

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import serialization

from pytest_k8sharden import ingress
from pytest_k8sharden.clusters.local import ingress as local_ingress
from pytest_k8sharden.clusters.local.network import Addresses
from pytest_k8sharden.clusters.local.state import ClusterState
from pytest_k8sharden.evidence.verdict import Finding, Outcome
from pytest_k8sharden.ingress import TlsTarget
from pytest_k8sharden.neterrors import Failure
from pytest_k8sharden.probes.handshake import certificate_facts
from pytest_k8sharden.probes.http import HttpObservation
from pytest_k8sharden.profiles import get_profile
from pytest_k8sharden.settings import SettingsError, build_settings

INGRESS: dict[str, Any] = {
    "metadata": {"namespace": "shop", "name": "web"},
    "spec": {
        "rules": [{"host": "a.example.test"}, {"host": "b.example.test"}, {"host": "a.example.test"}, {}],
        "tls": [{"hosts": ["*.example.test"], "secretName": "wild"}],
    },
    "status": {"loadBalancer": {"ingress": [{"ip": "192.0.2.7"}]}},
}
GATEWAY: dict[str, Any] = {
    "metadata": {"namespace": "infra", "name": "edge"},
    "spec": {
        "listeners": [
            {"name": "web", "protocol": "HTTP", "port": 8080, "hostname": "plain.example.test"},
            {
                "name": "https",
                "protocol": "HTTPS",
                "port": 8443,
                "hostname": "g.example.test",
                "tls": {"certificateRefs": [{"kind": "Secret", "name": "g-tls", "namespace": "certs"}]},
            },
            {"name": "catch-all", "protocol": "HTTPS", "port": 8443},
        ]
    },
    "status": {"addresses": [{"type": "IPAddress", "value": "192.0.2.9"}]},
}


def test_ingress_rule_hosts_with_the_tls_entry_that_covers_them() -> None:
    plain = {"metadata": {"name": "p"}, "spec": {"rules": [{"host": "p.example.test"}]}}
    found = ingress.ingress_targets([INGRESS, plain])
    assert found == [
        TlsTarget("Ingress shop/web", "a.example.test", True, ("shop", "wild"), "192.0.2.7"),
        TlsTarget("Ingress shop/web", "b.example.test", True, ("shop", "wild"), "192.0.2.7"),
        TlsTarget("Ingress default/p", "p.example.test", False, None, None),
    ]


def test_gateway_listeners_with_hostnames_and_their_certificate_refs() -> None:
    found = ingress.gateway_targets([GATEWAY])
    assert found == [
        TlsTarget(
            "Gateway infra/edge listener web", "plain.example.test", False, None, "192.0.2.9", 443, 8080
        ),
        TlsTarget(
            "Gateway infra/edge listener https",
            "g.example.test",
            True,
            ("certs", "g-tls"),
            "192.0.2.9",
            8443,
            8080,
        ),
    ]


def test_ingress_address_option_overrides_the_status() -> None:
    targets = ingress.at_address(ingress.ingress_targets([INGRESS]), ("198.51.100.1", 8443))
    assert {(t.address, t.https_port) for t in targets} == {("198.51.100.1", 8443)}
    assert build_settings(ingress_address="[2001:db8::1]:9443").ingress_address == ("2001:db8::1", 9443)
    assert build_settings(ingress_address="lb.example.test").ingress_address == ("lb.example.test", 443)
    assert build_settings(ingress_cert_days="14").ingress_cert_days == 14
    for bad in ({"ingress_address": "a:b:c"}, {"ingress_address": "h:70000"}, {"ingress_cert_days": "-1"}):
        with pytest.raises(SettingsError):
            build_settings(**bad)  # type: ignore[arg-type]


def test_tls_configured_names_the_hosts_without_tls() -> None:
    targets = ingress.ingress_targets(
        [INGRESS, {"metadata": {"name": "p"}, "spec": {"rules": [{"host": "p.x"}]}}]
    )
    finding = ingress.tls_configured(targets)
    assert finding == Finding(Outcome.FAILED, "no TLS configured for https://p.x (Ingress default/p)")
    assert ingress.tls_configured(targets[:2]).outcome is Outcome.PASSED


def _http(status: int | None, location: str | None = None, failure: Failure | None = None) -> HttpObservation:
    headers = {"Location": location} if location else {}
    return HttpObservation(
        "http",
        "GET",
        "runner",
        "http://a.example.test/",
        {"response_headers": headers},
        status=status,
        error={Failure.REFUSED: "connection refused", Failure.TIMEOUT: "timed out", None: None}[failure],
        failure=failure,
    )


@pytest.mark.parametrize(
    ("seen", "outcome"),
    [
        (_http(308, "https://a.example.test/"), Outcome.PASSED),
        (_http(301, "https://A.example.test:443/x"), Outcome.PASSED),
        (_http(None, failure=Failure.REFUSED), Outcome.PASSED),
        (_http(302, "https://a.example.test/"), Outcome.FAILED),
        (_http(301, "https://evil.example.test/"), Outcome.FAILED),
        (_http(301, "http://a.example.test/"), Outcome.FAILED),
        (_http(404), Outcome.FAILED),
        (_http(None, failure=Failure.TIMEOUT), Outcome.INCONCLUSIVE),
    ],
)
def test_plain_http_must_be_refused_or_permanently_redirected_to_the_same_host(
    seen: HttpObservation, outcome: Outcome
) -> None:
    target = TlsTarget("Ingress shop/web", "a.example.test", True, None, "192.0.2.7")
    assert ingress.plain_http(target, seen).outcome is outcome


def test_hsts_max_age_must_be_a_year() -> None:
    target = TlsTarget("Ingress shop/web", "a.example.test", True, None, "192.0.2.7")

    def seen(value: str) -> HttpObservation:
        return HttpObservation(
            "http",
            "GET",
            "runner",
            "x",
            {"response_headers": {"strict-transport-security": value}},
            status=200,
        )

    assert ingress.hsts(target, seen("max-age=31536000; includeSubDomains")).outcome is Outcome.PASSED
    assert ingress.hsts(target, seen("max-age=86400")).outcome is Outcome.FAILED


def test_secret_states_decide_the_match_verdict(tmp_path: Path) -> None:
    target = TlsTarget("Ingress shop/web", "a.example.test", True, ("shop", "gone"), "192.0.2.7")
    state = ClusterState("unit", tmp_path / "unit")
    objects = local_ingress.objects(state, get_profile("hardened").ingress, "image")
    secret = next(o for o in objects if o["kind"] == "Secret")
    sha256 = ingress.secret_certificate_sha256(secret["data"])
    assert sha256 is not None and ingress.secret_certificate_sha256({"tls.crt": "bm90IGEgY2VydA=="}) is None
    pem = base64.b64decode(secret["data"]["tls.crt"])
    facts = certificate_facts(x509.load_pem_x509_certificate(pem).public_bytes(serialization.Encoding.DER))
    assert ingress.certificate_matches_secret(target, facts, sha256, "read").outcome is Outcome.PASSED
    assert ingress.certificate_matches_secret(target, facts, sha256, "missing").outcome is Outcome.FAILED
    assert ingress.certificate_matches_secret(target, facts, None, "none").outcome is Outcome.FAILED
    assert (
        ingress.certificate_matches_secret(target, facts, None, "forbidden").outcome is Outcome.INCONCLUSIVE
    )


def test_traefik_configuration_follows_the_profile() -> None:
    a = Addresses(3)
    hardened, insecure = get_profile("hardened").ingress, get_profile("insecure").ingress
    static = local_ingress.static_config(hardened, a, Path("/d.yaml"))
    assert static["entryPoints"]["web"]["http"]["redirections"]["entryPoint"]["permanent"] is True
    assert static["entryPoints"]["websecure"] == {
        "address": f"{a.node}:443",
        "http": {"tls": {}, "middlewares": ["hsts@file"]},
    }
    assert static["providers"]["kubernetesIngress"]["ingressEndpoint"] == {"ip": a.node}
    assert static["global"] == {"checkNewVersion": False, "sendAnonymousUsage": False}
    assert local_ingress.dynamic_config(hardened)["tls"]["options"]["default"]["minVersion"] == "VersionTLS12"
    assert (
        local_ingress.dynamic_config(hardened)["http"]["middlewares"]["hsts"]["headers"]["stsSeconds"]
        >= 31536000
    )
    loose = local_ingress.static_config(insecure, a, Path("/d.yaml"))
    assert (
        "http" not in loose["entryPoints"]["web"]
        and "middlewares" not in loose["entryPoints"]["websecure"]["http"]
    )
    assert (
        "TLS_RSA_WITH_3DES_EDE_CBC_SHA"
        in local_ingress.dynamic_config(insecure)["tls"]["options"]["default"]["cipherSuites"]
    )


def test_insecure_sites_get_the_certificates_their_profile_names(tmp_path: Path) -> None:
    state = ClusterState("unit", tmp_path / "unit")
    objects = local_ingress.objects(state, get_profile("insecure").ingress, "image")
    certificates = {
        o["metadata"]["name"]: x509.load_pem_x509_certificate(base64.b64decode(o["data"]["tls.crt"]))
        for o in objects
        if o["kind"] == "Secret"
    }
    now = datetime.datetime.now(datetime.UTC)
    assert certificates["expired-tls"].not_valid_after_utc < now
    assert certificates["weak-key-tls"].public_key().key_size == 1024  # type: ignore[union-attr]
    names = (
        certificates["wrong-name-tls"].extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    )
    assert names.get_values_for_type(x509.DNSName) == ["other.ingress.k8sharden.test"]
    ingresses = {o["metadata"]["name"]: o for o in objects if o["kind"] == "Ingress"}
    assert (
        "tls" not in ingresses["plain"]["spec"]
        and ingresses["app"]["spec"]["tls"][0]["secretName"] == "app-tls"
    )
    found = ingress.ingress_targets(list(ingresses.values()))
    assert [t.host for t in found if not t.tls] == ["plain.ingress.k8sharden.test"]
