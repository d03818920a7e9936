"""Ingress TLS verdicts against real TLS servers on loopback, one per case, picking certificates by SNI.

A "hardened" server (TLS 1.2+, AES-GCM, HSTS, plain HTTP redirected with 308) and an "insecure" one
(TLS 1.0 and every suite, no HSTS, plain HTTP served; hosts with an expired certificate, one for
another name and an RSA-1024 key) are probed with the suite's own probes and verdict functions.
"""

from __future__ import annotations

import base64
import datetime
import ssl
import threading
import warnings
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
import trustme

from pytest_k8sharden import exposure, ingress
from pytest_k8sharden.clusters.local import pki
from pytest_k8sharden.evidence.verdict import Finding, Outcome
from pytest_k8sharden.ingress import TlsTarget
from pytest_k8sharden.probes.handshake import HandshakeProbe
from pytest_k8sharden.probes.http import HttpObservation, HttpProbe, pinned_connector

LOOPBACK = "127.0.0.1"
NOW = datetime.datetime.now(datetime.UTC)
PROBE = HandshakeProbe(timeout=3)


@dataclass(frozen=True)
class Door:
    """A loopback ingress: its HTTPS and plain-HTTP ports and the PEM each host's certificate came from."""

    https_port: int
    http_port: int
    secrets: dict[str, bytes]

    def target(self, host: str, tls: bool = True) -> TlsTarget:
        return TlsTarget(
            "Ingress test/web", host, tls, ("test", host), LOOPBACK, self.https_port, self.http_port
        )


def _handler(headers: dict[str, str], redirect: bool) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def log_message(self, format: str, *args: Any) -> None:
            pass

        def do_GET(self) -> None:
            host = self.headers.get("Host", "")
            self.send_response(308 if redirect else 200)
            if redirect:
                self.send_header("Location", f"https://{host}{self.path}")
            for name, value in headers.items():
                self.send_header(name, value)
            self.send_header("Content-Length", "0")
            self.end_headers()

    return Handler


def _serve(handler: type[BaseHTTPRequestHandler], wrap: Callable[[Any], Any] | None) -> Iterator[int]:
    server = ThreadingHTTPServer((LOOPBACK, 0), handler)
    if wrap is not None:
        server.socket = wrap(server.socket)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server.server_address[1]
    server.shutdown()
    server.server_close()
    thread.join()


def _context(legacy: bool) -> ssl.SSLContext:
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        if legacy:
            context.minimum_version = ssl.TLSVersion.TLSv1
            context.set_ciphers("ALL:@SECLEVEL=0")
        else:
            context.set_ciphers("ECDHE+AESGCM")
    return context


def _door(
    certificates: dict[str, tuple[Path, Path]], legacy: bool, headers: dict[str, str]
) -> Iterator[Door]:
    """An SNI-dispatching HTTPS server and a plain-HTTP one (redirecting unless legacy)."""
    contexts = {}
    for host, (cert, key) in certificates.items():
        contexts[host] = _context(legacy)
        contexts[host].load_cert_chain(cert, key)
    front = next(iter(contexts.values()))

    def pick(sock: ssl.SSLObject | ssl.SSLSocket, name: str | None, _: ssl.SSLContext) -> None:
        sock.context = contexts.get(name or "", front)

    front.sni_callback = pick
    https = _serve(_handler(headers, redirect=False), lambda s: front.wrap_socket(s, server_side=True))
    plain = _serve(_handler({}, redirect=not legacy), None)
    secrets = {host: cert.read_bytes() for host, (cert, _) in certificates.items()}
    yield Door(next(https), next(plain), secrets)
    for server in (https, plain):
        next(server, None)


def _trustme_pair(
    ca: trustme.CA, directory: Path, host: str, *names: str, **options: Any
) -> tuple[Path, Path]:
    leaf = ca.issue_cert(*(names or (host,)), key_type=trustme.KeyType.RSA, **options)
    cert, key = directory / f"{host}.crt", directory / f"{host}.key"
    leaf.cert_chain_pems[0].write_to_path(str(cert))
    leaf.private_key_pem.write_to_path(str(key))
    return cert, key


@pytest.fixture(scope="module")
def trust(tmp_path_factory: pytest.TempPathFactory) -> tuple[trustme.CA, Path]:
    ca = trustme.CA()
    path = tmp_path_factory.mktemp("trust") / "ca.pem"
    ca.cert_pem.write_to_path(str(path))
    return ca, path


@pytest.fixture(scope="module")
def hardened(trust: tuple[trustme.CA, Path], tmp_path_factory: pytest.TempPathFactory) -> Iterator[Door]:
    directory = tmp_path_factory.mktemp("hardened")
    pairs = {"app.example.test": _trustme_pair(trust[0], directory, "app.example.test")}
    yield from _door(pairs, legacy=False, headers={"Strict-Transport-Security": "max-age=31536000"})


@pytest.fixture(scope="module")
def insecure(trust: tuple[trustme.CA, Path], tmp_path_factory: pytest.TempPathFactory) -> Iterator[Door]:
    directory = tmp_path_factory.mktemp("insecure")
    weak = pki.CertificateAuthority(directory, "weak-ca", "weak-ca").issue(
        pki.Identity(
            "weak", "weak.example.test", dns_names=("weak.example.test",), server=True, rsa_bits=1024
        )
    )
    pairs = {
        "app.example.test": _trustme_pair(trust[0], directory, "app.example.test"),
        "expired.example.test": _trustme_pair(
            trust[0],
            directory,
            "expired.example.test",
            not_before=NOW - datetime.timedelta(days=60),
            not_after=NOW - datetime.timedelta(days=30),
        ),
        "wrong.example.test": _trustme_pair(trust[0], directory, "wrong.example.test", "other.example.test"),
        "weak.example.test": (weak.cert, weak.key),
    }
    yield from _door(pairs, legacy=True, headers={})


def _https_get(door: Door, target: TlsTarget, url: str) -> HttpObservation:
    ports = {80: door.http_port, 443: door.https_port}
    return HttpProbe(3, connector=pinned_connector(LOOPBACK, ports, 3)).get(url)


def _verified(door: Door, host: str, ca: Path) -> Finding:
    target = door.target(host)
    reachable = PROBE.serving_certificate(LOOPBACK, door.https_port, server_name=host)[1] is not None
    seen = PROBE.verify(LOOPBACK, door.https_port, server_name=host, ca=ca)
    return ingress.certificate_verified(target, seen, reachable)


def _facts_finding(door: Door, host: str, judge: Callable[..., Finding], *args: Any) -> Finding:
    target = door.target(host)
    facts = PROBE.serving_certificate(LOOPBACK, door.https_port, server_name=host)[1]
    return judge(target, facts, *args)


def test_hardened_server_passes_every_check(hardened: Door, trust: tuple[trustme.CA, Path]) -> None:
    host = "app.example.test"
    target = hardened.target(host)
    secret = base64.b64encode(hardened.secrets[host]).decode()
    facts = PROBE.serving_certificate(LOOPBACK, hardened.https_port, server_name=host)[1]
    findings = [
        ingress.plain_http(target, _https_get(hardened, target, f"http://{host}/")),
        _verified(hardened, host, trust[1]),
        ingress.certificate_expiry(target, facts, NOW, 30),
        ingress.certificate_strength(target, facts),
        ingress.certificate_matches_secret(
            target, facts, ingress.secret_certificate_sha256({"tls.crt": secret}), "read"
        ),
        exposure.tls_protocols(PROBE.protocols(LOOPBACK, hardened.https_port, server_name=host), target.url),
        exposure.tls_cipher_suites(
            PROBE.cipher_suites(LOOPBACK, hardened.https_port, server_name=host), target.url
        ),
        ingress.hsts(target, _https_get(hardened, target, f"https://{host}/")),
    ]
    assert [f.outcome for f in findings] == [Outcome.PASSED] * len(findings), findings


def test_plain_http_served_is_a_finding(insecure: Door) -> None:
    target = insecure.target("app.example.test")
    finding = ingress.plain_http(target, _https_get(insecure, target, "http://app.example.test/"))
    assert finding.outcome is Outcome.FAILED
    assert "served over plain HTTP (200)" in finding.message and "app.example.test" in finding.message


def test_expired_certificate_fails_verification_and_expiry(
    insecure: Door, trust: tuple[trustme.CA, Path]
) -> None:
    verified = _verified(insecure, "expired.example.test", trust[1])
    assert verified.outcome is Outcome.FAILED and "expired" in verified.message
    expiry = _facts_finding(insecure, "expired.example.test", ingress.certificate_expiry, NOW, 30)
    assert (
        expiry.outcome is Outcome.FAILED
        and "https://expired.example.test: certificate expired" in expiry.message
    )
    assert (
        _facts_finding(insecure, "app.example.test", ingress.certificate_expiry, NOW, 30).outcome
        is Outcome.PASSED
    )


def test_certificate_for_another_name_fails_verification(
    insecure: Door, trust: tuple[trustme.CA, Path]
) -> None:
    finding = _verified(insecure, "wrong.example.test", trust[1])
    assert finding.outcome is Outcome.FAILED
    assert "https://wrong.example.test" in finding.message and "Hostname mismatch" in finding.message
    assert _verified(insecure, "app.example.test", trust[1]).outcome is Outcome.PASSED


def test_untrusted_chain_fails_verification(insecure: Door) -> None:
    other = trustme.CA()
    with other.cert_pem.tempfile() as path:
        finding = _verified(insecure, "app.example.test", Path(path))
    assert finding.outcome is Outcome.FAILED and "unable to get local issuer" in finding.message


def test_rsa_1024_key_is_weak(insecure: Door) -> None:
    finding = _facts_finding(insecure, "weak.example.test", ingress.certificate_strength)
    assert finding.outcome is Outcome.FAILED
    assert finding.message == "https://weak.example.test: weak key (RSA 1024 bits)"


def test_tls_1_0_and_weak_suites_accepted_are_findings(insecure: Door) -> None:
    target = insecure.target("app.example.test")
    protocols = exposure.tls_protocols(
        PROBE.protocols(LOOPBACK, insecure.https_port, server_name=target.host), target.url
    )
    assert protocols.outcome is Outcome.FAILED and protocols.message.startswith(
        "https://app.example.test accepts TLSv1"
    )
    suites = PROBE.cipher_suites(LOOPBACK, insecure.https_port, server_name=target.host)
    ciphers = exposure.tls_cipher_suites(suites, target.url)
    assert ciphers.outcome is Outcome.FAILED and "AES128-SHA" in ciphers.message


def test_missing_hsts_is_a_finding(insecure: Door) -> None:
    target = insecure.target("app.example.test")
    finding = ingress.hsts(target, _https_get(insecure, target, "https://app.example.test/"))
    assert finding.outcome is Outcome.FAILED
    assert finding.message.startswith("https://app.example.test: no Strict-Transport-Security header")


def test_served_certificate_other_than_the_secrets_is_a_finding(insecure: Door) -> None:
    served = "app.example.test"
    other = base64.b64encode(insecure.secrets["expired.example.test"]).decode()
    finding = _facts_finding(
        insecure,
        served,
        ingress.certificate_matches_secret,
        ingress.secret_certificate_sha256({"tls.crt": other}),
        "read",
    )
    assert (
        finding.outcome is Outcome.FAILED
        and "not the certificate in Secret test/app.example.test" in finding.message
    )


def test_unreachable_door_is_inconclusive() -> None:
    target = TlsTarget("Ingress test/web", "gone.example.test", True, None, LOOPBACK, 1, 1)
    seen = PROBE.verify(LOOPBACK, 1, server_name=target.host)
    assert ingress.certificate_verified(target, seen, reachable=False).outcome is Outcome.INCONCLUSIVE
    http = HttpProbe(3, connector=pinned_connector(LOOPBACK, {443: 1}, 3)).get(f"{target.url}/")
    assert ingress.hsts(target, http).outcome is Outcome.INCONCLUSIVE
    assert ingress.certificate_expiry(target, None, NOW, 30).outcome is Outcome.INCONCLUSIVE
