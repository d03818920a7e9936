"""TLS handshakes from the runner: which protocol versions and cipher suites a listener accepts, and
what its certificate says. Standard ``ssl`` for the handshakes, ``cryptography`` for the certificate.

Protocol probes do not verify the certificate: they ask what the door accepts. To let this machine's
OpenSSL 3 even offer TLS 1.0/1.1 and legacy suites, the client runs at ``@SECLEVEL=0``. The probes only
report what was negotiated; what is weak is decided by ``pytest_k8sharden.tlspolicy``.
"""

from __future__ import annotations

import dataclasses
import datetime
import hashlib
import ipaddress
import socket
import ssl
import warnings
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Final

from cryptography import x509
from cryptography.hazmat.primitives.asymmetric import dsa, ec, rsa

from pytest_k8sharden.evidence.observation import RUNNER, Observation
from pytest_k8sharden.neterrors import Failure, failure_of, failure_text

with warnings.catch_warnings():
    warnings.simplefilter("ignore", DeprecationWarning)  # TLS 1.0/1.1 are what we test for
    VERSIONS: Final = {
        "TLSv1": ssl.TLSVersion.TLSv1,
        "TLSv1.1": ssl.TLSVersion.TLSv1_1,
        "TLSv1.2": ssl.TLSVersion.TLSv1_2,
        "TLSv1.3": ssl.TLSVersion.TLSv1_3,
    }


@dataclass(frozen=True)
class TlsObservation(Observation):
    """One handshake: whether it succeeded, what was negotiated, or why it failed."""

    accepted: bool = False
    version: str | None = None
    cipher: str | None = None
    error: str | None = None
    failure: Failure | None = None
    """Why the handshake failed, as a value (None when it succeeded)."""


@dataclass(frozen=True)
class CertificateFacts:
    """What a serving certificate says, for a person and for the verdict."""

    subject: str
    issuer: str
    dns_names: tuple[str, ...]
    ip_addresses: tuple[str, ...]
    not_before: datetime.datetime
    not_after: datetime.datetime
    key_type: str
    key_bits: int
    signature_hash: str | None
    sha256: str

    def names(self, host: str) -> bool:
        """Whether the certificate is valid for ``host`` (an IP or a DNS name, single-label wildcards)."""
        try:
            return str(ipaddress.ip_address(host)) in self.ip_addresses
        except ValueError:
            return any(_dns_match(pattern, host.lower()) for pattern in self.dns_names)

    def days_left(self, now: datetime.datetime) -> float:
        """Days until notAfter (negative when expired)."""
        return (self.not_after - now).total_seconds() / 86400


class HandshakeProbe:
    """Handshakes with bounded timeouts from the runner."""

    def __init__(self, timeout: float, vantage: str = RUNNER) -> None:
        self.timeout = timeout
        self.vantage = vantage

    def handshake(
        self,
        host: str,
        port: int,
        *,
        version: str | None = None,
        ciphers: str | None = None,
        server_name: str | None = None,
    ) -> TlsObservation:
        """One handshake, optionally forcing a protocol version, an OpenSSL cipher string and the SNI name."""
        return self._handshake(host, port, _offering(version, ciphers), server_name)[0]

    def serving_certificate(
        self, host: str, port: int, *, server_name: str | None = None
    ) -> tuple[TlsObservation, CertificateFacts | None]:
        """Handshake and read the serving certificate; its facts go into the observation's details."""
        seen, der = self._handshake(host, port, _offering(None, None), server_name)
        if der is None:
            return seen, None
        facts = certificate_facts(der)
        shown = {k: str(v) if isinstance(v, datetime.datetime) else v for k, v in vars(facts).items()}
        return dataclasses.replace(seen, details={**seen.details, "certificate": shown}), facts

    def verify(
        self, host: str, port: int, *, server_name: str | None = None, ca: Path | None = None
    ) -> TlsObservation:
        """A verifying handshake at OpenSSL's default security level: the chain must verify against ``ca``
        (None: the system roots), be within its validity window and name ``server_name`` (default: host)."""
        context = ssl.create_default_context(cafile=str(ca) if ca else None)
        trust = f"trust {ca}" if ca else "system trust"
        return self._handshake(host, port, (context, f"verified against {trust}"), server_name)[0]

    def _handshake(
        self, host: str, port: int, offer: tuple[ssl.SSLContext, str], server_name: str | None
    ) -> tuple[TlsObservation, bytes | None]:
        context, asked = offer
        target = f"{host}:{port}"
        sni = server_name or host
        if sni != host:
            asked += f", SNI {sni}"
        try:
            with (
                socket.create_connection((host, port), timeout=self.timeout) as raw,
                context.wrap_socket(raw, server_hostname=sni) as tls,
            ):
                negotiated, suite = tls.version(), (tls.cipher() or ("",))[0]
                certificate = tls.getpeercert(binary_form=True)
        except (OSError, ssl.SSLError) as error:
            reason = failure_text(error)
            return TlsObservation(
                kind="tls", summary=f"TLS {target} ({asked}): refused: {reason}", vantage=self.vantage,
                target=target, details={"asked": asked, "error": reason}, error=reason,
                failure=failure_of(error),
            ), None  # fmt: skip
        return TlsObservation(
            kind="tls", summary=f"TLS {target} ({asked}): {negotiated} {suite}", vantage=self.vantage,
            target=target, details={"asked": asked, "version": negotiated, "cipher": suite},
            accepted=True, version=negotiated, cipher=suite,
        ), certificate  # fmt: skip

    def protocols(self, host: str, port: int, *, server_name: str | None = None) -> list[TlsObservation]:
        """One handshake per protocol version, TLS 1.0 to 1.3."""
        return [self.handshake(host, port, version=v, server_name=server_name) for v in VERSIONS]

    def cipher_suites(
        self, host: str, port: int, concurrency: int = 8, *, server_name: str | None = None
    ) -> list[TlsObservation]:
        """One TLS 1.0-1.2 handshake per suite this OpenSSL can offer (TLS 1.3 suites are all strong)."""

        def offer(suite: str) -> TlsObservation:
            return self.handshake(host, port, version="TLSv1.2", ciphers=suite, server_name=server_name)

        with ThreadPoolExecutor(max_workers=concurrency) as pool:
            return list(pool.map(offer, offerable_suites()))


def _offering(version: str | None, ciphers: str | None) -> tuple[ssl.SSLContext, str]:
    """A non-verifying client context at ``@SECLEVEL=0`` offering ``version`` and ``ciphers``."""
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        context.set_ciphers(f"{ciphers or 'ALL'}:@SECLEVEL=0")
        if version is not None:
            context.minimum_version = context.maximum_version = VERSIONS[version]
        else:
            context.minimum_version = ssl.TLSVersion.TLSv1
    return context, f"{version or 'any version'}, {ciphers or 'any suite'}"


def offerable_suites() -> list[str]:
    """The TLS 1.2-and-older suites this machine's OpenSSL can offer at security level 0."""
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    context.set_ciphers("ALL:@SECLEVEL=0")
    return [c["name"] for c in context.get_ciphers() if c["protocol"] != "TLSv1.3"]


def certificate_facts(der: bytes) -> CertificateFacts:
    """Parse a DER certificate into the facts the checks look at."""
    certificate = x509.load_der_x509_certificate(der)
    dns: tuple[str, ...] = ()
    ips: tuple[str, ...] = ()
    try:
        names = certificate.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
        dns = tuple(names.get_values_for_type(x509.DNSName))
        ips = tuple(str(ip) for ip in names.get_values_for_type(x509.IPAddress))
    except x509.ExtensionNotFound:
        pass
    key = certificate.public_key()
    key_type, bits = _key(key)
    hash_algorithm = certificate.signature_hash_algorithm
    return CertificateFacts(
        subject=certificate.subject.rfc4514_string(),
        issuer=certificate.issuer.rfc4514_string(),
        dns_names=dns,
        ip_addresses=ips,
        not_before=certificate.not_valid_before_utc,
        not_after=certificate.not_valid_after_utc,
        key_type=key_type,
        key_bits=bits,
        signature_hash=hash_algorithm.name if hash_algorithm else None,
        sha256=hashlib.sha256(der).hexdigest(),
    )


def _key(key: object) -> tuple[str, int]:
    if isinstance(key, rsa.RSAPublicKey):
        return "RSA", key.key_size
    if isinstance(key, ec.EllipticCurvePublicKey):
        return "EC", key.curve.key_size
    if isinstance(key, dsa.DSAPublicKey):
        return "DSA", key.key_size
    return type(key).__name__, 0


def _dns_match(pattern: str, host: str) -> bool:
    pattern = pattern.lower()
    if pattern.startswith("*."):
        return host.count(".") == pattern.count(".") and host.endswith(pattern[1:])
    return pattern == host
