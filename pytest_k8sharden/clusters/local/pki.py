"""Certificates and keys of the local cluster (its CAs and every component's identity), via cryptography."""

from __future__ import annotations

import datetime
import ipaddress
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

VALIDITY = datetime.timedelta(days=365)
PrivateKey = ec.EllipticCurvePrivateKey | rsa.RSAPrivateKey


@dataclass(frozen=True)
class KeyPair:
    """A certificate and its private key, as written under the cluster's pki directory."""

    cert: Path
    key: Path


@dataclass(frozen=True)
class Identity:
    """What a certificate says about its holder and what it may be used for."""

    name: str
    common_name: str
    organizations: tuple[str, ...] = ()
    dns_names: tuple[str, ...] = ()
    ip_addresses: tuple[str, ...] = ()
    server: bool = False
    client: bool = False
    days: int = VALIDITY.days
    """How long the certificate is valid."""
    rsa_bits: int | None = None
    """An RSA key of this size (kubeadm issues RSA-2048 serving certificates) instead of ECDSA P-256."""
    backdate_days: int = 0
    """Shift the validity window this many days into the past (more than ``days``: already expired)."""


class CertificateAuthority:
    """A self-signed CA that issues the cluster's certificates into one directory."""

    def __init__(self, directory: Path, name: str, common_name: str) -> None:
        self.directory = directory
        self.paths = KeyPair(directory / f"{name}.crt", directory / f"{name}.key")
        if self.paths.cert.exists() and self.paths.key.exists():
            self._key = _load_key(self.paths.key)
            self._cert = x509.load_pem_x509_certificate(self.paths.cert.read_bytes())
            return
        directory.mkdir(parents=True, exist_ok=True)
        self._key = ec.generate_private_key(ec.SECP256R1())
        subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])
        now = _now()
        self._cert = (
            x509.CertificateBuilder()
            .subject_name(subject)
            .issuer_name(subject)
            .public_key(self._key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(minutes=5))
            .not_valid_after(now + 10 * VALIDITY)
            .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
            .add_extension(
                x509.KeyUsage(True, False, False, False, False, True, True, False, False), critical=True
            )
            .add_extension(x509.SubjectKeyIdentifier.from_public_key(self._key.public_key()), critical=False)
            .sign(self._key, hashes.SHA256())
        )
        _write_pair(self.paths, self._cert, self._key)

    def issue(self, identity: Identity) -> KeyPair:
        """Issue (or reuse, when already on disk) the certificate for ``identity``."""
        paths = KeyPair(self.directory / f"{identity.name}.crt", self.directory / f"{identity.name}.key")
        if paths.cert.exists() and paths.key.exists():
            return paths
        key: PrivateKey = (
            rsa.generate_private_key(public_exponent=65537, key_size=identity.rsa_bits)
            if identity.rsa_bits
            else ec.generate_private_key(ec.SECP256R1())
        )
        attributes = [x509.NameAttribute(NameOID.ORGANIZATION_NAME, o) for o in identity.organizations]
        attributes.append(x509.NameAttribute(NameOID.COMMON_NAME, identity.common_name))
        usages = [ExtendedKeyUsageOID.SERVER_AUTH] * identity.server + [
            ExtendedKeyUsageOID.CLIENT_AUTH
        ] * identity.client
        now = _now() - datetime.timedelta(days=identity.backdate_days)
        builder = (
            x509.CertificateBuilder()
            .subject_name(x509.Name(attributes))
            .issuer_name(self._cert.subject)
            .public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(minutes=5))
            .not_valid_after(now + datetime.timedelta(days=identity.days))
            .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
            .add_extension(
                x509.KeyUsage(True, False, True, False, False, False, False, False, False), critical=True
            )
            .add_extension(x509.ExtendedKeyUsage(usages), critical=False)
            .add_extension(
                x509.AuthorityKeyIdentifier.from_issuer_public_key(self._key.public_key()), critical=False
            )
        )
        alternative_names = _alternative_names(identity.dns_names, identity.ip_addresses)
        if alternative_names:
            builder = builder.add_extension(x509.SubjectAlternativeName(alternative_names), critical=False)
        _write_pair(paths, builder.sign(self._key, hashes.SHA256()), key)
        return paths


def signing_key(directory: Path, name: str) -> KeyPair:
    """A bare key pair (``.key`` private, ``.pub`` public) such as the service-account signing key."""
    paths = KeyPair(directory / f"{name}.pub", directory / f"{name}.key")
    if not paths.key.exists():
        directory.mkdir(parents=True, exist_ok=True)
        key = ec.generate_private_key(ec.SECP256R1())
        paths.key.write_bytes(_private_pem(key))
        paths.key.chmod(0o600)
        paths.cert.write_bytes(
            key.public_key().public_bytes(
                serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
            )
        )
    return paths


def _alternative_names(dns_names: Sequence[str], ip_addresses: Sequence[str]) -> list[x509.GeneralName]:
    names: list[x509.GeneralName] = [x509.DNSName(n) for n in dns_names]
    names += [x509.IPAddress(ipaddress.ip_address(a)) for a in ip_addresses]
    return names


def _now() -> datetime.datetime:
    return datetime.datetime.now(datetime.UTC)


def _private_pem(key: PrivateKey) -> bytes:
    return key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )


def _load_key(path: Path) -> ec.EllipticCurvePrivateKey:
    key = serialization.load_pem_private_key(path.read_bytes(), password=None)
    if not isinstance(key, ec.EllipticCurvePrivateKey):
        raise ValueError(f"{path} is not an EC private key")
    return key


def _write_pair(paths: KeyPair, cert: x509.Certificate, key: PrivateKey) -> None:
    paths.key.write_bytes(_private_pem(key))
    paths.key.chmod(0o600)
    paths.cert.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
