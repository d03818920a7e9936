"""Cluster profiles: one definition of every security-relevant component flag and config file.

A profile says what the cluster's security posture is, component by component, in the terms of the
components' own flags and configuration files. The local cluster renders it into command lines and
files (adding only addresses and paths); kind-configs/ render the same settings as kubeadm patches.

- ``hardened``: what the seed documents, the CIS Benchmark and the NSA/CISA guidance ask for.
- ``default``: what a stock kubeadm (and kind) cluster does.
- ``insecure``: the opposite on every point the suites check.
"""

from __future__ import annotations

import base64
import os
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any, Final

from pytest_k8sharden import seeds, tlspolicy

PROFILE_NAMES: tuple[str, ...] = ("hardened", "default", "insecure")

STRONG_CIPHER_SUITES: Final = tlspolicy.RECOMMENDED_SUITES
WEAK_CIPHER_SUITES: Final = (
    "TLS_RSA_WITH_3DES_EDE_CBC_SHA",
    "TLS_RSA_WITH_AES_128_CBC_SHA",
    "TLS_RSA_WITH_AES_256_CBC_SHA",
    "TLS_ECDHE_RSA_WITH_AES_128_CBC_SHA",
)
"""Suites the TLS policy calls weak that the insecure profile offers besides the strong ones."""

AUDIT_POLICY: Final[Mapping[str, Any]] = MappingProxyType(
    {
        "apiVersion": "audit.k8s.io/v1",
        "kind": "Policy",
        "omitStages": ["RequestReceived"],
        "rules": [
            {"level": "Metadata", "resources": [{"group": "", "resources": ["secrets", "configmaps"]}]},
            {
                "level": "Metadata",
                "resources": [{"group": "authentication.k8s.io", "resources": ["tokenreviews"]}],
            },
            {"level": "Request", "verbs": ["create", "update", "patch", "delete", "deletecollection"]},
            {"level": "Metadata"},
        ],
    }
)


@dataclass(frozen=True)
class IngressSite:
    """One host behind the local cluster's ingress controller, and the certificate its TLS Secret holds."""

    host: str
    certificate: str | None = "valid"
    """valid, expired, other-name (issued for another host) or weak-key (RSA-1024), all from the cluster's
    ingress CA; None: the Ingress has no TLS entry for the host."""


@dataclass(frozen=True)
class IngressSettings:
    """The ingress controller's (Traefik's) TLS settings, in Traefik's terms, and the sites it serves."""

    min_version: str
    """Traefik TLS option minVersion (VersionTLS10 ... VersionTLS13)."""
    cipher_suites: tuple[str, ...]
    """Traefik TLS option cipherSuites (Go's names) for TLS 1.2 and older."""
    redirect_to_https: bool
    """The plain-HTTP entry point redirects to HTTPS (permanent) instead of serving the routes."""
    hsts_seconds: int
    """Strict-Transport-Security max-age sent on HTTPS responses; 0: no HSTS header."""
    sites: tuple[IngressSite, ...]
    """The Ingresses seeded at up, one host each, all routed to the same backend."""


INGRESS_DOMAIN: Final = "ingress.k8sharden.test"
_ONE_YEAR_S: Final = 365 * 24 * 3600


def _site(name: str, certificate: str | None = "valid") -> IngressSite:
    return IngressSite(f"{name}.{INGRESS_DOMAIN}", certificate)


HEALTH_PATHS: Final = ("/livez", "/readyz", "/healthz")
"""The API server's health endpoints (kubeadm's liveness, readiness and startup probes ask them)."""

CLUSTER_ACCESS_KINDS: Final = frozenset({"ClusterRole", "ClusterRoleBinding"})
"""Seeded kinds applied as soon as the API server answers, before any node registers."""


def _frozen(mapping: Mapping[str, Any]) -> Mapping[str, Any]:
    return MappingProxyType(dict(mapping))


def _frozen_all(manifests: Iterable[Mapping[str, Any]]) -> tuple[Mapping[str, Any], ...]:
    return tuple(_frozen(m) for m in manifests)


@dataclass(frozen=True)
class Profile:
    """The security settings of every component for one profile."""

    name: str
    summary: str
    apiserver_flags: Mapping[str, str]
    """kube-apiserver flags (without dashes) beyond addresses and file paths."""
    controller_manager_flags: Mapping[str, str]
    scheduler_flags: Mapping[str, str]
    kubelet_config: Mapping[str, Any]
    """KubeletConfiguration fields (kubelet.config.k8s.io/v1beta1) beyond addresses and paths."""
    etcd_tls: bool
    """etcd serves TLS and requires client certificates (False: plaintext HTTP, no client auth)."""
    audit_policy: Mapping[str, Any] | None
    """The audit policy written for --audit-policy-file; None: no audit log."""
    encrypt_secrets: bool
    """Secrets encrypted at rest (aescbc) through --encryption-provider-config."""
    pod_security_defaults: Mapping[str, str] | None
    """Cluster-wide Pod Security Admission defaults (enforce/audit/warn levels); None: upstream defaults."""
    network_policy_enforced: bool
    """A NetworkPolicy enforcer runs on the node."""
    metadata_blocked: bool
    """Pods cannot reach 169.254.169.254 (a node-level firewall rule, as cloud metadata concealment does)."""
    control_plane_loopback_only: bool
    """kube-controller-manager and kube-scheduler serve on loopback only (CIS 1.3.7, 1.4.2)."""
    verify_kubelet_certificates: bool = False
    """The API server verifies the kubelets' serving certificates against the cluster CA
    (--kubelet-certificate-authority, CIS 1.2.5), and the kubelets serve certificates that CA issued."""
    serving_certificate_days: int = 365
    """Validity of the API server's and kubelet's serving certificates (RSA-2048, as kubeadm issues)."""
    plaintext_api_proxy: bool = False
    """An unauthenticated ``kubectl proxy`` with admin credentials listens on port 8080 of the control plane
    (the plaintext API listener that --insecure-port used to open, as it is still left behind today)."""
    images_by_digest: bool = False
    """Seeded workloads name their images by digest (``repository@sha256:...``), not by mutable tag."""
    static_token_file: bool = False
    """kube-apiserver authenticates a static bearer token from --token-auth-file (CIS 1.2.2)."""
    seed_manifests: tuple[Mapping[str, Any], ...] = field(default=())
    """Objects applied after the cluster is up (the insecure profile's misconfigurations)."""
    ingress: IngressSettings = field(
        default=IngressSettings(
            "VersionTLS12", (), redirect_to_https=False, hsts_seconds=0, sites=(_site("app"),)
        )
    )
    """The ingress controller's TLS settings and sites (default: Traefik's defaults, one valid site)."""
    outdated_kubernetes: bool = False
    """The cluster runs a Kubernetes patch release behind the newest one the provider has (the version
    checks find it); which builds those are is the provider's pin (clusters/local/components.py)."""
    anonymous_health_paths: tuple[str, ...] = ()
    """The only API server paths anonymous requests authenticate on: an AuthenticationConfiguration with
    ``anonymous.conditions`` passed by --authentication-config (CIS 1.2.1), so that anonymous health
    probes (kubeadm's, load balancers') get answers and nothing else does; --anonymous-auth must then be
    left unset. Empty: no such file, the --anonymous-auth flag of ``apiserver_flags`` decides."""

    def __post_init__(self) -> None:
        if self.anonymous_health_paths and "anonymous-auth" in self.apiserver_flags:
            raise ValueError(
                f"profile {self.name}: --anonymous-auth must not be set beside anonymous_health_paths "
                "(the API server refuses both)"
            )

    @property
    def access_seeds(self) -> tuple[Mapping[str, Any], ...]:
        """The seeded ClusterRoles and ClusterRoleBindings: a node may need them to register (without the
        Node authorizer, only RBAC lets a kubelet in), so they are applied before the node is awaited."""
        return tuple(m for m in self.seed_manifests if m["kind"] in CLUSTER_ACCESS_KINDS)

    @property
    def workload_seeds(self) -> tuple[Mapping[str, Any], ...]:
        """The other seeded objects, applied once the node is Ready."""
        return tuple(m for m in self.seed_manifests if m["kind"] not in CLUSTER_ACCESS_KINDS)


_TLS_HARDENED = {"tls-min-version": "VersionTLS12", "tls-cipher-suites": ",".join(STRONG_CIPHER_SUITES)}
_TLS_INSECURE = {
    "tls-min-version": "VersionTLS10",
    "tls-cipher-suites": ",".join(WEAK_CIPHER_SUITES + STRONG_CIPHER_SUITES),
}
_KUBELET_SECURE_AUTH: Final[Mapping[str, Any]] = _frozen(
    {
        "authentication": {"anonymous": {"enabled": False}, "webhook": {"enabled": True}},
        "authorization": {"mode": "Webhook"},
        "readOnlyPort": 0,
    }
)


HARDENED: Final = Profile(
    name="hardened",
    summary="anonymous auth on health paths only, Node,RBAC, NodeRestriction+PodSecurity, audit, "
    "encryption at rest, TLS 1.2+",
    apiserver_flags=_frozen(
        {
            "authorization-mode": "Node,RBAC",
            "enable-admission-plugins": "NodeRestriction,PodSecurity",
            "profiling": "false",
            "service-account-lookup": "true",
            **_TLS_HARDENED,
        }
    ),
    controller_manager_flags=_frozen({"profiling": "false", **_TLS_HARDENED}),
    scheduler_flags=_frozen({"profiling": "false", **_TLS_HARDENED}),
    kubelet_config=_frozen(
        {
            **_KUBELET_SECURE_AUTH,
            "tlsMinVersion": "VersionTLS12",
            "tlsCipherSuites": list(STRONG_CIPHER_SUITES),
            "enableDebuggingHandlers": True,
            "makeIPTablesUtilChains": True,
            "eventRecordQPS": 5,
        }
    ),
    etcd_tls=True,
    audit_policy=AUDIT_POLICY,
    encrypt_secrets=True,
    pod_security_defaults=_frozen({"enforce": "baseline", "audit": "restricted", "warn": "restricted"}),
    network_policy_enforced=True,
    metadata_blocked=True,
    control_plane_loopback_only=True,
    verify_kubelet_certificates=True,
    images_by_digest=True,
    anonymous_health_paths=HEALTH_PATHS,
    ingress=IngressSettings(
        min_version="VersionTLS12",
        cipher_suites=STRONG_CIPHER_SUITES,
        redirect_to_https=True,
        hsts_seconds=_ONE_YEAR_S,
        sites=(_site("app"), _site("shop")),
    ),
    seed_manifests=_frozen_all(
        (
            *seeds.shop(namespace_labels=seeds.ENFORCE_RESTRICTED),
            seeds.default_deny("default"),
            *seeds.hardened_posture(),
        )
    ),
)

DEFAULT: Final = Profile(
    name="default",
    summary="what a stock kubeadm/kind cluster does",
    apiserver_flags=_frozen(
        {"authorization-mode": "Node,RBAC", "enable-admission-plugins": "NodeRestriction"}
    ),
    controller_manager_flags=_frozen({}),
    scheduler_flags=_frozen({}),
    kubelet_config=_KUBELET_SECURE_AUTH,
    etcd_tls=True,
    audit_policy=None,
    encrypt_secrets=False,
    pod_security_defaults=None,
    network_policy_enforced=True,
    metadata_blocked=False,
    control_plane_loopback_only=True,
)

INSECURE: Final = Profile(
    name="insecure",
    summary="anonymous reads bound, RBAC without Node, kubelet anonymous+AlwaysAllow+10255, plaintext etcd, "
    "no audit, no encryption, TLS 1.0, a Kubernetes patch behind",
    apiserver_flags=_frozen(
        {
            "anonymous-auth": "true",
            "authorization-mode": "RBAC",
            "enable-admission-plugins": "NodeRestriction",
            "disable-admission-plugins": "PodSecurity",
            "service-account-lookup": "false",
            "profiling": "true",
            **_TLS_INSECURE,
        }
    ),
    controller_manager_flags=_frozen({"profiling": "true", **_TLS_INSECURE}),
    scheduler_flags=_frozen({"profiling": "true", **_TLS_INSECURE}),
    kubelet_config=_frozen(
        {
            "authentication": {"anonymous": {"enabled": True}, "webhook": {"enabled": False}},
            "authorization": {"mode": "AlwaysAllow"},
            "readOnlyPort": 10255,
            "tlsMinVersion": "VersionTLS10",
            "tlsCipherSuites": list(WEAK_CIPHER_SUITES + STRONG_CIPHER_SUITES),
        }
    ),
    etcd_tls=False,
    audit_policy=None,
    encrypt_secrets=False,
    pod_security_defaults=None,
    network_policy_enforced=False,
    metadata_blocked=False,
    control_plane_loopback_only=False,
    serving_certificate_days=7,
    plaintext_api_proxy=True,
    static_token_file=True,
    ingress=IngressSettings(
        min_version="VersionTLS10",
        cipher_suites=WEAK_CIPHER_SUITES + STRONG_CIPHER_SUITES,
        redirect_to_https=False,
        hsts_seconds=0,
        sites=(
            _site("app"),
            _site("expired", "expired"),
            _site("wrong-name", "other-name"),
            _site("weak-key", "weak-key"),
            _site("plain", None),
        ),
    ),
    seed_manifests=_frozen_all((*seeds.shop(), *seeds.insecure_posture())),
    outdated_kubernetes=True,
)


PROFILES: Final[Mapping[str, Profile]] = MappingProxyType({p.name: p for p in (HARDENED, DEFAULT, INSECURE)})


def plain(value: Any) -> Any:
    """Plain dicts and lists of a profile setting (profiles hold read-only mappings YAML cannot dump)."""
    if isinstance(value, Mapping):
        return {key: plain(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [plain(item) for item in value]
    return value


def get_profile(name: str) -> Profile:
    """The profile called ``name``; a ValueError lists the known names otherwise."""
    try:
        return PROFILES[name]
    except KeyError:
        raise ValueError(f"unknown cluster profile {name!r}; known: {', '.join(PROFILE_NAMES)}") from None


def new_encryption_key() -> str:
    """A fresh random 32-byte aescbc key, base64-encoded (never stored in the repository)."""
    return base64.b64encode(os.urandom(32)).decode()


def encryption_configuration(key: str) -> dict[str, Any]:
    """The EncryptionConfiguration of a profile that encrypts Secrets at rest (aescbc, then identity)."""
    return {
        "apiVersion": "apiserver.config.k8s.io/v1",
        "kind": "EncryptionConfiguration",
        "resources": [
            {
                "resources": ["secrets"],
                "providers": [{"aescbc": {"keys": [{"name": "key1", "secret": key}]}}, {"identity": {}}],
            }
        ],
    }


def authentication_configuration(anonymous_paths: Iterable[str]) -> dict[str, Any]:
    """The AuthenticationConfiguration (apiserver.config.k8s.io/v1, Kubernetes 1.34+) that authenticates
    anonymous requests on ``anonymous_paths`` only (every other anonymous request gets 401)."""
    return {
        "apiVersion": "apiserver.config.k8s.io/v1",
        "kind": "AuthenticationConfiguration",
        "anonymous": {"enabled": True, "conditions": [{"path": path} for path in anonymous_paths]},
    }


def admission_configuration(defaults: Mapping[str, str]) -> dict[str, Any]:
    """The AdmissionConfiguration that sets cluster-wide Pod Security Admission defaults."""
    return {
        "apiVersion": "apiserver.config.k8s.io/v1",
        "kind": "AdmissionConfiguration",
        "plugins": [
            {
                "name": "PodSecurity",
                "configuration": {
                    "apiVersion": "pod-security.admission.config.k8s.io/v1",
                    "kind": "PodSecurityConfiguration",
                    "defaults": {
                        **dict(defaults.items()),
                        **{f"{level}-version": "latest" for level in defaults},
                    },
                    "exemptions": {"namespaces": ["kube-system"], "usernames": [], "runtimeClasses": []},
                },
            }
        ],
    }
