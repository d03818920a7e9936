"""The one TLS policy: which protocol versions, cipher suites, keys and signatures are strong enough.

Pure and free of probes: the profiles pick their suites from it, the control-plane configuration checks
judge ``--tls-min-version``/``--tls-cipher-suites`` by it and the exposure checks judge what a handshake
negotiated by it. Suites are named either way they are met: IANA names (``TLS_ECDHE_RSA_WITH_AES_128_GCM
_SHA256``, also Go's and Kubernetes' flag names) and OpenSSL names (``ECDHE-RSA-AES128-GCM-SHA256``).

A suite is strong only with forward secrecy (an ephemeral ECDHE or DHE key exchange, signed by RSA, ECDSA
or DSS) and an AEAD cipher (AES-GCM, AES-CCM with a full tag, ChaCha20-Poly1305), as in Mozilla's
"intermediate" configuration; every TLS 1.3 suite is strong. Everything else is weak: static RSA key
exchange, PSK, SRP and anonymous key exchange, CBC mode whatever its MAC, RC4, (3)DES, NULL and export.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import Final

MIN_PROTOCOL: Final = (1, 2)
"""TLS 1.2 or newer (CIS 1.2.29, NSA/CISA: encrypt traffic with TLS)."""

RECOMMENDED_SUITES: Final = (
    "TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256",
    "TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256",
    "TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384",
    "TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384",
    "TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256",
    "TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256",
)
"""The TLS 1.2 suites a hardened component is configured with (IANA names, as Go and Kubernetes take them)."""

MIN_KEY_BITS: Final = {"RSA": 2048, "EC": 256}
"""Smallest key per type; other key types (DSA ...) are weak."""
WEAK_SIGNATURE_HASHES: Final = frozenset({"sha1", "md5"})

_PROTOCOLS: Final = {
    "SSLv3": (0, 3),
    "TLSv1": (1, 0),
    "TLSv1.0": (1, 0),
    "TLSv1.1": (1, 1),
    "TLSv1.2": (1, 2),
    "TLSv1.3": (1, 3),
    "VersionTLS10": (1, 0),
    "VersionTLS11": (1, 1),
    "VersionTLS12": (1, 2),
    "VersionTLS13": (1, 3),
}
"""OpenSSL/Python names (``TLSv1.2``) and Go/Kubernetes flag names (``VersionTLS12``)."""

_FORWARD_SECRET_IANA: Final = frozenset({"ECDHE_RSA", "ECDHE_ECDSA", "DHE_RSA", "DHE_DSS"})
_FORWARD_SECRET_OPENSSL: Final = frozenset({"ECDHE-RSA", "ECDHE-ECDSA", "DHE-RSA", "DHE-DSS"})
_AEAD_IANA: Final = re.compile(r"^(AES_(128|256)_(GCM_SHA(256|384)|CCM)|CHACHA20_POLY1305(_SHA256)?)$")
_AEAD_OPENSSL: Final = re.compile(r"^(AES(128|256)-(GCM-SHA(256|384)|CCM)|CHACHA20-POLY1305)$")
_TLS13_SUITES: Final = frozenset(
    {
        "TLS_AES_128_GCM_SHA256",
        "TLS_AES_256_GCM_SHA384",
        "TLS_CHACHA20_POLY1305_SHA256",
        "TLS_AES_128_CCM_SHA256",
    }
)


def protocol_version(name: str) -> tuple[int, int] | None:
    """(major, minor) of a protocol in OpenSSL or Go spelling; None for a name the policy does not know."""
    return _PROTOCOLS.get(name.strip())


def legacy_protocol(name: str) -> bool:
    """Older than TLS 1.2 (an unknown name counts as legacy: it is not known to be strong)."""
    version = protocol_version(name)
    return version is None or version < MIN_PROTOCOL


def weak_suite(name: str) -> bool:
    """Whether a cipher suite (IANA or OpenSSL name) is weak under the policy in the module docstring."""
    name = name.strip()
    if name in _TLS13_SUITES:
        return False
    if name.startswith("TLS_"):
        exchange, sep, cipher = name[len("TLS_") :].partition("_WITH_")
        return not (sep and exchange in _FORWARD_SECRET_IANA and _AEAD_IANA.match(cipher))
    for prefix in _FORWARD_SECRET_OPENSSL:
        if name.startswith(f"{prefix}-"):
            return not _AEAD_OPENSSL.match(name[len(prefix) + 1 :])
    return True


def weak_suites(names: Iterable[str]) -> list[str]:
    """The weak ones among ``names``, sorted and without repeats."""
    return sorted({n for n in names if weak_suite(n)})


def key_problems(key_type: str, key_bits: int, signature_hash: str | None) -> list[str]:
    """What is weak about a certificate: its key (RSA < 2048, EC < 256, any other type) and its
    signature hash (SHA-1, MD5, or none known)."""
    problems = []
    if key_type not in MIN_KEY_BITS or key_bits < MIN_KEY_BITS[key_type]:
        problems.append(f"weak key ({key_type} {key_bits} bits)")
    if signature_hash is None or signature_hash.lower() in WEAK_SIGNATURE_HASHES:
        problems.append(f"weak signature ({signature_hash})")
    return problems
