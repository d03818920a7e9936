"""Ingress and Gateway TLS: which hosts a cluster publishes, and pure verdicts over what their doors did.

The targets come from Ingress rules (``spec.rules[].host`` with the ``spec.tls[]`` entry that covers it)
and from Gateway listeners (HTTPS listeners with their ``certificateRefs``; HTTP listeners with a
hostname are hosts without TLS). Where the controller answers comes from the objects' status (Ingress
``status.loadBalancer.ingress``, Gateway ``status.addresses``), else from ``--ingress-address``. Every
verdict is decided per host and combined, so a failure names the host (as ``https://<host>``).
"""

from __future__ import annotations

import base64
import datetime
import hashlib
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Any, Final

from cryptography import x509
from cryptography.hazmat.primitives import serialization

from pytest_k8sharden import worstof
from pytest_k8sharden.evidence.verdict import Finding, Outcome
from pytest_k8sharden.exposure import Answer, classify, weak_key_or_signature
from pytest_k8sharden.probes.handshake import CertificateFacts, TlsObservation
from pytest_k8sharden.probes.http import HttpObservation

HTTPS_PORT: Final = 443
HTTP_PORT: Final = 80
DEFAULT_CERT_DAYS: Final = 30
"""A served certificate expiring sooner than this many days is a finding (--ingress-cert-days)."""
HSTS_MIN_SECONDS: Final = 365 * 24 * 3600
PERMANENT_REDIRECTS: Final = frozenset({301, 308})
GATEWAY_API: Final = ("gateway.networking.k8s.io", "v1")


@dataclass(frozen=True)
class TlsTarget:
    """One published host: an Ingress rule host or a Gateway listener hostname."""

    source: str
    """The object that publishes it, e.g. "Ingress shop/web" or "Gateway infra/edge listener https"."""
    host: str
    tls: bool
    """Whether TLS is configured for the host (an Ingress tls entry covers it; an HTTPS listener)."""
    secret: tuple[str, str] | None
    """(namespace, name) of the TLS Secret referenced for the host; None when none is."""
    address: str | None
    """Where the controller answers (from the object's status, or --ingress-address); None: unknown."""
    https_port: int = HTTPS_PORT
    http_port: int = HTTP_PORT

    @property
    def url(self) -> str:
        """How the host is named in verdicts and evidence."""
        return f"https://{self.host}"


def ingress_targets(ingresses: Sequence[Mapping[str, Any]]) -> list[TlsTarget]:
    """One target per distinct rule host of each Ingress (in the API's camelCase JSON form)."""
    found: list[TlsTarget] = []
    for item in ingresses:
        meta, spec = item.get("metadata") or {}, item.get("spec") or {}
        namespace = meta.get("namespace", "default")
        statuses = ((item.get("status") or {}).get("loadBalancer") or {}).get("ingress") or []
        address = next(
            (s.get("ip") or s.get("hostname") for s in statuses if s.get("ip") or s.get("hostname")), None
        )
        hosts = dict.fromkeys(r["host"] for r in spec.get("rules") or () if r.get("host"))
        for host in hosts:
            entry = next((t for t in spec.get("tls") or () if _covers(t.get("hosts") or [], host)), None)
            secret = (namespace, entry["secretName"]) if entry and entry.get("secretName") else None
            found.append(
                TlsTarget(f"Ingress {namespace}/{meta.get('name')}", host, entry is not None, secret, address)
            )
    return found


def gateway_targets(gateways: Sequence[Mapping[str, Any]]) -> list[TlsTarget]:
    """One target per HTTPS or HTTP listener with a hostname of each Gateway (camelCase JSON form)."""
    found: list[TlsTarget] = []
    for item in gateways:
        meta, spec = item.get("metadata") or {}, item.get("spec") or {}
        namespace = meta.get("namespace", "default")
        addresses = [
            a.get("value") for a in (item.get("status") or {}).get("addresses") or () if a.get("value")
        ]
        listeners = spec.get("listeners") or []
        http_ports = [lst.get("port", HTTP_PORT) for lst in listeners if lst.get("protocol") == "HTTP"]
        for listener in listeners:
            protocol, host = listener.get("protocol"), listener.get("hostname")
            if protocol not in ("HTTP", "HTTPS") or not host:
                continue
            refs = [
                r
                for r in (listener.get("tls") or {}).get("certificateRefs") or ()
                if r.get("kind", "Secret") == "Secret"
            ]
            secret = (refs[0].get("namespace", namespace), refs[0]["name"]) if refs else None
            found.append(
                TlsTarget(
                    f"Gateway {namespace}/{meta.get('name')} listener {listener.get('name')}",
                    host,
                    protocol == "HTTPS",
                    secret,
                    addresses[0] if addresses else None,
                    https_port=listener.get("port", HTTPS_PORT) if protocol == "HTTPS" else HTTPS_PORT,
                    http_port=http_ports[0] if http_ports else HTTP_PORT,
                )
            )
    return found


def at_address(targets: Sequence[TlsTarget], address: tuple[str, int] | None) -> list[TlsTarget]:
    """The targets, sent to ``address`` (host, HTTPS port) instead of their status address when given."""
    if address is None:
        return list(targets)
    return [replace(t, address=address[0], https_port=address[1]) for t in targets]


def _covers(patterns: Sequence[str], host: str) -> bool:
    """Whether a tls entry's hosts cover ``host`` (exact or single-label wildcard; empty: every host)."""
    if not patterns:
        return True
    for pattern in (p.lower() for p in patterns):
        if pattern == host.lower():
            return True
        if (
            pattern.startswith("*.")
            and host.count(".") == pattern.count(".")
            and host.lower().endswith(pattern[1:])
        ):
            return True
    return False


# ------------------------------------------------------------------------------------------ verdicts
def combine(findings: Mapping[str, Finding], what: str) -> Finding:
    """One verdict from per-host findings: failed if any failed, inconclusive if any could not look."""
    return worstof.combine(findings.values(), f"no host to check for {what}")


def tls_configured(targets: Sequence[TlsTarget]) -> Finding:
    """Every published host has TLS configured."""
    if not targets:
        return Finding(Outcome.INCONCLUSIVE, "no Ingress rule host and no Gateway listener hostname found")
    missing = [t for t in targets if not t.tls]
    if missing:
        named = ", ".join(f"https://{t.host} ({t.source})" for t in missing)
        return Finding(Outcome.FAILED, f"no TLS configured for {named}")
    return Finding(Outcome.PASSED, f"TLS configured for {', '.join(t.host for t in targets)}")


def plain_http(target: TlsTarget, seen: HttpObservation) -> Finding:
    """Plain HTTP must be refused or permanently redirected (301/308) to https on the same host."""
    door = f"http://{target.host} (https://{target.host} over plain HTTP)"
    answer = classify(seen)
    if answer is Answer.CLOSED:
        return Finding(Outcome.PASSED, f"{door}: connection refused")
    if seen.status is None:
        return Finding(Outcome.INCONCLUSIVE, f"{door}: no answer ({seen.error})")
    location = _header(seen, "location") or ""
    if seen.status in PERMANENT_REDIRECTS and _same_https_host(location, target.host):
        return Finding(Outcome.PASSED, f"{door}: {seen.status} to {location}")
    if 300 <= seen.status < 400:
        where = location or "(no Location)"
        return Finding(
            Outcome.FAILED, f"{door}: {seen.status} to {where}, not 301/308 to https on the same host"
        )
    return Finding(Outcome.FAILED, f"{door}: served over plain HTTP ({seen.status})")


def certificate_verified(target: TlsTarget, verified: TlsObservation, reachable: bool) -> Finding:
    """The chain verifies against the trust, is within its validity window and names the host."""
    if verified.accepted:
        return Finding(
            Outcome.PASSED, f"{target.url}: certificate verifies ({verified.details.get('asked')})"
        )
    if not reachable:
        return Finding(Outcome.INCONCLUSIVE, f"{target.url}: no TLS handshake succeeded ({verified.error})")
    return Finding(Outcome.FAILED, f"{target.url}: {verified.error}")


def certificate_expiry(
    target: TlsTarget, facts: CertificateFacts | None, now: datetime.datetime, days: int
) -> Finding:
    """The served certificate is not expired and does not expire within ``days``."""
    if facts is None:
        return Finding(Outcome.INCONCLUSIVE, f"{target.url}: could not read the served certificate")
    left = facts.days_left(now)
    if left < 0:
        return Finding(Outcome.FAILED, f"{target.url}: certificate expired on {facts.not_after:%Y-%m-%d}")
    if left < days:
        return Finding(Outcome.FAILED, f"{target.url}: certificate expires in {left:.0f} days (< {days})")
    return Finding(Outcome.PASSED, f"{target.url}: certificate valid until {facts.not_after:%Y-%m-%d}")


def certificate_strength(target: TlsTarget, facts: CertificateFacts | None) -> Finding:
    """RSA >= 2048 or EC >= 256 bits, and no SHA-1/MD5 signature."""
    if facts is None:
        return Finding(Outcome.INCONCLUSIVE, f"{target.url}: could not read the served certificate")
    problems = weak_key_or_signature(facts)
    if problems:
        return Finding(Outcome.FAILED, f"{target.url}: {', '.join(problems)}")
    return Finding(Outcome.PASSED, f"{target.url}: {facts.key_type} {facts.key_bits}, {facts.signature_hash}")


def secret_certificate_sha256(secret_data: Mapping[str, str | bytes] | None) -> str | None:
    """SHA-256 of the first certificate (DER) in a TLS Secret's base64 ``tls.crt``; None if there is none."""
    encoded = (secret_data or {}).get("tls.crt")
    if not encoded:
        return None
    try:
        first = x509.load_pem_x509_certificates(base64.b64decode(encoded))[0]
    except ValueError:
        return None
    return hashlib.sha256(first.public_bytes(serialization.Encoding.DER)).hexdigest()


def certificate_matches_secret(
    target: TlsTarget, facts: CertificateFacts | None, secret_sha256: str | None, secret_state: str
) -> Finding:
    """The served certificate is the one in the referenced Secret.

    ``secret_state``: "read", "missing" (404), "forbidden" (the scanner may not read it) or "none"
    (no Secret referenced).
    """
    if facts is None:
        return Finding(Outcome.INCONCLUSIVE, f"{target.url}: could not read the served certificate")
    ref = "/".join(target.secret) if target.secret else ""
    if secret_state == "forbidden":
        return Finding(Outcome.INCONCLUSIVE, f"{target.url}: the scanner may not read Secret {ref}")
    if secret_state == "none":
        served = f"{facts.subject} (sha256 {facts.sha256[:16]}...)"
        return Finding(Outcome.FAILED, f"{target.url}: no TLS Secret referenced; serves {served}")
    if secret_state == "missing":
        return Finding(Outcome.FAILED, f"{target.url}: the referenced Secret {ref} does not exist")
    if secret_sha256 is None:
        return Finding(Outcome.FAILED, f"{target.url}: Secret {ref} holds no parsable tls.crt")
    if secret_sha256 != facts.sha256:
        return Finding(
            Outcome.FAILED,
            f"{target.url}: serves {facts.subject} (sha256 {facts.sha256[:16]}...), not the certificate in "
            f"Secret {ref} (sha256 {secret_sha256[:16]}...)",
        )
    return Finding(Outcome.PASSED, f"{target.url}: serves the certificate of Secret {ref}")


def hsts(target: TlsTarget, seen: HttpObservation, minimum: int = HSTS_MIN_SECONDS) -> Finding:
    """The HTTPS response carries Strict-Transport-Security with max-age of at least a year."""
    if seen.status is None:
        return Finding(Outcome.INCONCLUSIVE, f"{target.url}: no HTTPS answer ({seen.error})")
    header = _header(seen, "strict-transport-security")
    if header is None:
        return Finding(Outcome.FAILED, f"{target.url}: no Strict-Transport-Security header ({seen.status})")
    match = re.search(r"max-age\s*=\s*\"?(\d+)", header, re.I)
    age = int(match.group(1)) if match else 0
    if age < minimum:
        return Finding(Outcome.FAILED, f"{target.url}: HSTS max-age {age} < {minimum} ({header!r})")
    return Finding(Outcome.PASSED, f"{target.url}: HSTS {header!r}")


def _header(seen: HttpObservation, name: str) -> str | None:
    headers = seen.details.get("response_headers") or {}
    return next((str(v) for k, v in headers.items() if k.lower() == name), None)


def _same_https_host(location: str, host: str) -> bool:
    match = re.match(r"https://([^/:?#]+)(?::\d+)?(?:[/?#]|$)", location, re.I)
    return match is not None and match.group(1).lower() == host.lower()
