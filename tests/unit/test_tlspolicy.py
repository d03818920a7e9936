"""The one TLS policy: protocols, suites by IANA and OpenSSL name, keys and signatures; and that the
configuration, exposure and profile checks all judge by it (they used to hold three disagreeing lists)."""

from __future__ import annotations

import shutil
import subprocess

import pytest

from pytest_k8sharden import exposure, profiles, tlspolicy
from pytest_k8sharden.evidence.verdict import Outcome
from pytest_k8sharden.posture import config
from pytest_k8sharden.probes.handshake import TlsObservation


def _negotiated(version: str, cipher: str | None) -> TlsObservation:
    return TlsObservation(
        kind="tls",
        summary="",
        vantage="runner",
        target="door:443",
        accepted=True,
        version=version,
        cipher=cipher,
    )


@pytest.mark.parametrize(
    ("iana", "openssl", "weak"),
    [
        ("TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256", "ECDHE-RSA-AES128-GCM-SHA256", False),
        ("TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384", "ECDHE-ECDSA-AES256-GCM-SHA384", False),
        ("TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256", "ECDHE-RSA-CHACHA20-POLY1305", False),
        ("TLS_DHE_RSA_WITH_AES_128_GCM_SHA256", "DHE-RSA-AES128-GCM-SHA256", False),
        ("TLS_AES_128_GCM_SHA256", "TLS_AES_128_GCM_SHA256", False),  # TLS 1.3
        # CBC with SHA-256: the old exposure list let it pass while the old config list failed it.
        ("TLS_ECDHE_RSA_WITH_AES_128_CBC_SHA256", "ECDHE-RSA-AES128-SHA256", True),
        ("TLS_ECDHE_ECDSA_WITH_AES_256_CBC_SHA384", "ECDHE-ECDSA-AES256-SHA384", True),
        ("TLS_ECDHE_RSA_WITH_AES_128_CBC_SHA", "ECDHE-RSA-AES128-SHA", True),
        ("TLS_RSA_WITH_AES_128_GCM_SHA256", "AES128-GCM-SHA256", True),  # no forward secrecy
        ("TLS_RSA_WITH_3DES_EDE_CBC_SHA", "DES-CBC3-SHA", True),
        ("TLS_DH_anon_WITH_AES_128_CBC_SHA", "ADH-AES128-SHA", True),
        ("TLS_PSK_WITH_AES_128_GCM_SHA256", "PSK-AES128-GCM-SHA256", True),
        ("TLS_ECDHE_PSK_WITH_CHACHA20_POLY1305_SHA256", "ECDHE-PSK-CHACHA20-POLY1305", True),
        ("TLS_DHE_RSA_WITH_AES_128_CCM_8", "DHE-RSA-AES128-CCM8", True),  # 64-bit tag
        ("TLS_ECDHE_ECDSA_WITH_ARIA_128_GCM_SHA256", "ECDHE-ECDSA-ARIA128-GCM-SHA256", True),
        ("TLS_ECDHE_RSA_WITH_RC4_128_SHA", "ECDHE-RSA-RC4-SHA", True),
        ("not-a-suite", "NOT-A-SUITE", True),
    ],
)
def test_one_verdict_per_suite_whatever_its_name_and_whoever_asks(
    iana: str, openssl: str, weak: bool
) -> None:
    assert tlspolicy.weak_suite(iana) is weak
    assert tlspolicy.weak_suite(openssl) is weak
    problem = config.tls_settings({"tls-min-version": "VersionTLS12", "tls-cipher-suites": iana})
    assert (problem is not None) is weak, problem
    negotiated = _negotiated("TLSv1.2", openssl)
    verdict = exposure.tls_cipher_suites([negotiated], "the door")
    assert verdict.outcome is (Outcome.FAILED if weak else Outcome.PASSED), verdict.message


def _openssl_suites() -> list[tuple[str, str, str]]:
    """(IANA name, OpenSSL name, OpenSSL's own description) of every suite this machine's OpenSSL knows."""
    if shutil.which("openssl") is None:
        pytest.skip("no openssl command to list suites with")
    listing = subprocess.run(
        ["openssl", "ciphers", "-stdname", "ALL:COMPLEMENTOFALL:@SECLEVEL=0"],
        capture_output=True, text=True, check=True,
    ).stdout  # fmt: skip
    rows = []
    for line in listing.splitlines():
        iana, _, rest = line.partition(" - ")
        openssl, description = rest.split(None, 1)
        rows.append((iana.strip(), openssl, description))
    return rows


def _strong_by_description(description: str) -> bool:
    """An oracle independent of the policy's name parsing: OpenSSL's Kx/Au/Enc/Mac columns."""
    fields = dict(part.split("=", 1) for part in description.split()[1:])
    tls13 = description.startswith("TLSv1.3")
    forward_secret = fields["Kx"] in ("ECDH", "DH") and fields["Au"] in ("RSA", "ECDSA", "DSS")
    aead = fields["Enc"].startswith(("AESGCM(", "AESCCM(", "CHACHA20/POLY1305("))
    return fields["Mac"] == "AEAD" and aead and (tls13 or forward_secret)


def test_every_suite_openssl_knows_is_judged_alike_by_both_names() -> None:
    suites = _openssl_suites()
    assert len(suites) > 50
    disagreements = [
        (iana, openssl, description)
        for iana, openssl, description in suites
        if {tlspolicy.weak_suite(iana), tlspolicy.weak_suite(openssl)}
        != {not _strong_by_description(description)}
    ]
    assert disagreements == []


@pytest.mark.parametrize(
    ("name", "legacy"),
    [
        ("TLSv1", True), ("TLSv1.1", True), ("VersionTLS10", True), ("VersionTLS11", True), ("SSLv3", True),
        ("TLSv1.2", False), ("TLSv1.3", False), ("VersionTLS12", False), ("VersionTLS13", False),
        ("not set", True),
    ],
)  # fmt: skip
def test_protocols_below_tls_1_2_are_legacy_in_every_spelling(name: str, legacy: bool) -> None:
    assert tlspolicy.legacy_protocol(name) is legacy
    assert (config.tls_settings({"tls-min-version": name, "tls-cipher-suites": "TLS_AES_128_GCM_SHA256"})
            is not None) is legacy  # fmt: skip
    if tlspolicy.protocol_version(name) is not None and not name.startswith("Version"):
        seen = _negotiated(name, None)
        assert (exposure.tls_protocols([seen], "x").outcome is Outcome.FAILED) is legacy


@pytest.mark.parametrize(
    ("key", "bits", "signature", "problems"),
    [
        ("RSA", 2048, "sha256", []),
        ("EC", 256, "sha384", []),
        ("RSA", 1024, "sha256", ["weak key (RSA 1024 bits)"]),
        ("EC", 224, "sha256", ["weak key (EC 224 bits)"]),
        ("DSA", 3072, "sha256", ["weak key (DSA 3072 bits)"]),
        ("RSA", 4096, "sha1", ["weak signature (sha1)"]),
        ("RSA", 4096, None, ["weak signature (None)"]),
    ],
)
def test_key_and_signature_strength(key: str, bits: int, signature: str | None, problems: list[str]) -> None:
    assert tlspolicy.key_problems(key, bits, signature) == problems


def test_the_profiles_take_their_suites_from_the_policy() -> None:
    assert tlspolicy.weak_suites(profiles.STRONG_CIPHER_SUITES) == []
    assert tlspolicy.weak_suites(profiles.WEAK_CIPHER_SUITES) == sorted(profiles.WEAK_CIPHER_SUITES)
    hardened = profiles.PROFILES["hardened"].apiserver_flags
    assert config.tls_settings(hardened) is None
    assert config.tls_settings(profiles.PROFILES["insecure"].apiserver_flags) is not None
