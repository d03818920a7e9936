"""TLS handshake probe and TLS verdicts against real TLS servers on loopback (trustme certificates)."""

from __future__ import annotations

import datetime
import socket
import ssl
import threading
import warnings
from collections.abc import Iterator

import pytest
import trustme

from pytest_k8sharden import exposure
from pytest_k8sharden.evidence.verdict import Outcome
from pytest_k8sharden.probes.handshake import HandshakeProbe


@pytest.fixture(scope="module")
def server_ca() -> trustme.CA:
    return trustme.CA()


def _serve(context: ssl.SSLContext) -> Iterator[int]:
    listener = socket.create_server(("127.0.0.1", 0))
    stop = threading.Event()

    def accept() -> None:
        listener.settimeout(0.2)
        while not stop.is_set():
            try:
                connection, _ = listener.accept()
            except TimeoutError:
                continue
            try:
                with context.wrap_socket(connection, server_side=True) as tls:
                    tls.recv(1)
            except (OSError, ssl.SSLError):
                pass

    thread = threading.Thread(target=accept, daemon=True)
    thread.start()
    yield listener.getsockname()[1]
    stop.set()
    thread.join()
    listener.close()


def _context(ca: trustme.CA, minimum: ssl.TLSVersion, ciphers: str) -> ssl.SSLContext:
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ca.issue_cert("127.0.0.1", key_type=trustme.KeyType.RSA).configure_cert(context)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)  # a legacy server is what we need here
        context.minimum_version = minimum
    context.set_ciphers(ciphers)
    return context


@pytest.fixture(scope="module")
def modern_port(server_ca: trustme.CA) -> Iterator[int]:
    yield from _serve(_context(server_ca, ssl.TLSVersion.TLSv1_2, "ECDHE+AESGCM"))


@pytest.fixture(scope="module")
def legacy_port(server_ca: trustme.CA) -> Iterator[int]:
    yield from _serve(_context(server_ca, ssl.TLSVersion.TLSv1, "ALL:@SECLEVEL=0"))


def test_a_tls_1_2_only_server_refuses_1_0_and_1_1(modern_port: int) -> None:
    seen = HandshakeProbe(timeout=3).protocols("127.0.0.1", modern_port)
    assert {o.details["asked"].split(",")[0]: o.accepted for o in seen} == {
        "TLSv1": False, "TLSv1.1": False, "TLSv1.2": True, "TLSv1.3": True,
    }  # fmt: skip
    assert exposure.tls_protocols(seen, "server").outcome is Outcome.PASSED


def test_this_openssl_really_negotiates_tls_1_0_with_a_legacy_server(legacy_port: int) -> None:
    seen = HandshakeProbe(timeout=3).protocols("127.0.0.1", legacy_port)
    assert next(o.version for o in seen if o.accepted) == "TLSv1"
    finding = exposure.tls_protocols(seen, "server")
    assert finding.outcome is Outcome.FAILED
    assert "TLSv1" in finding.message


def test_weak_suites_are_found_and_named(legacy_port: int, modern_port: int) -> None:
    probe = HandshakeProbe(timeout=3)
    legacy = exposure.tls_cipher_suites(probe.cipher_suites("127.0.0.1", legacy_port), "legacy")
    assert legacy.outcome is Outcome.FAILED
    assert "AES128-SHA" in legacy.message
    assert (
        exposure.tls_cipher_suites(probe.cipher_suites("127.0.0.1", modern_port), "m").outcome
        is Outcome.PASSED
    )


def test_certificate_facts_and_verdicts(modern_port: int) -> None:
    seen, facts = HandshakeProbe(timeout=3).serving_certificate("127.0.0.1", modern_port)
    assert facts is not None
    assert seen.details["certificate"]["key_type"] == "RSA"
    now = datetime.datetime.now(datetime.UTC)
    assert exposure.serving_certificate(facts, "127.0.0.1", now, "s").outcome is Outcome.PASSED
    wrong_host = exposure.serving_certificate(facts, "10.9.9.9", now, "s")
    assert wrong_host.outcome is Outcome.FAILED
    assert "does not name 10.9.9.9" in wrong_host.message
    late = exposure.serving_certificate(facts, "127.0.0.1", facts.not_after - datetime.timedelta(days=3), "s")
    assert "expires in 3 days" in late.message
    expired = exposure.serving_certificate(
        facts, "127.0.0.1", facts.not_after + datetime.timedelta(days=1), "s"
    )
    assert "outside its validity window" in expired.message


def test_a_closed_port_is_no_handshake_and_inconclusive() -> None:
    with socket.create_server(("127.0.0.1", 0)) as placeholder:
        port = placeholder.getsockname()[1]
    seen = HandshakeProbe(timeout=2).protocols("127.0.0.1", port)
    assert all(o.error == "connection refused" for o in seen)
    assert exposure.tls_protocols(seen, "server").outcome is Outcome.INCONCLUSIVE
